package smsclink

import (
	"context"
	"errors"

	"github.com/tandem-sms/tandem/smpp"
)

var (
	// ErrNoBind: no bind of the link can submit (the SMSC is down, every
	// slot is reconnecting, or the link only receives). Submit returns it
	// at once rather than queueing; retry later or WaitReady first.
	ErrNoBind = errors.New("smsclink: no transmitter bound")
	// ErrPaused: the link is pausing after ESME_RTHROTTLED or
	// ESME_RMSGQFUL, and the caller's deadline ends before the pause does.
	ErrPaused = errors.New("smsclink: paused after throttling")
	// ErrRateWait: the rate cap would delay the submit past the caller's
	// deadline.
	ErrRateWait = errors.New("smsclink: rate limit wait exceeds deadline")
	// ErrClosed: Run has returned (or is shutting down); the link takes no
	// more submits.
	ErrClosed = errors.New("smsclink: link closed")
	// ErrRunning: Run was called twice.
	ErrRunning = errors.New("smsclink: link already running")
)

// Kind classifies a Submit error, for counters and metric labels (a small
// fixed set, so a label built from it stays bounded).
type Kind uint8

const (
	KindNone       Kind = iota // no error
	KindThrottled              // ESME_RTHROTTLED (0x58)
	KindQueueFull              // ESME_RMSGQFUL (0x14)
	KindTempStatus             // another temporary status (ESME_RX_T_APPN 0x64)
	KindRejected               // a permanent command_status
	KindPaused                 // ErrPaused: refused during a throttling pause
	KindRateWait               // ErrRateWait
	KindNoBind                 // ErrNoBind
	KindTimeout                // no submit_sm_resp in time, or the caller's deadline
	KindCanceled               // the caller's context was canceled
	KindConnection             // the session died under the request
	KindInvalid                // the submit_sm failed validation; never sent
	KindClosed                 // ErrClosed
	KindOther
	numKinds
)

var kindNames = [numKinds]string{
	"none", "throttled", "queue_full", "temp_status", "rejected", "paused",
	"rate_wait", "no_bind", "timeout", "canceled", "connection", "invalid",
	"closed", "other",
}

func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "other"
}

// Kinds lists every Kind but KindNone, e.g. to pre-create metric series.
func Kinds() []Kind {
	out := make([]Kind, 0, numKinds-1)
	for k := KindThrottled; k < numKinds; k++ {
		out = append(out, k)
	}
	return out
}

// Classify returns the Kind of an error returned by Submit.
func Classify(err error) Kind {
	var se *smpp.StatusError
	var fe *smpp.FieldError
	switch {
	case err == nil:
		return KindNone
	case errors.As(err, &se):
		switch {
		case se.Status == smpp.StatusThrottled:
			return KindThrottled
		case se.Status == smpp.StatusMsgQFul:
			return KindQueueFull
		case se.Status.Temporary():
			return KindTempStatus
		}
		return KindRejected
	case errors.Is(err, ErrPaused):
		return KindPaused
	case errors.Is(err, ErrRateWait):
		return KindRateWait
	case errors.Is(err, ErrNoBind):
		return KindNoBind
	case errors.Is(err, ErrClosed):
		return KindClosed
	case errors.Is(err, smpp.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return KindTimeout
	case errors.Is(err, context.Canceled):
		return KindCanceled
	case errors.As(err, &fe):
		return KindInvalid
	case errors.Is(err, smpp.ErrClosed), errors.Is(err, smpp.ErrShuttingDown), errors.Is(err, smpp.ErrWindowFull):
		return KindConnection
	}
	return KindOther
}

// Temporary reports whether a Submit error is worth retrying later
// (protocols.md §2.7): ESME_RMSGQFUL, ESME_RTHROTTLED, ESME_RX_T_APPN, a
// throttling pause or rate wait, no bind, timeouts and connection loss.
// Permanent command_status values and invalid PDUs are not.
//
// A timeout or a connection lost after the submit_sm was written is
// ambiguous: the SMSC may have accepted the message. Retrying then risks a
// duplicate, which for SMS is the lesser evil than a loss.
func Temporary(err error) bool {
	switch Classify(err) {
	case KindNone, KindRejected, KindInvalid:
		return false
	}
	return true
}
