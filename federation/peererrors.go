package federation

import (
	"context"
	"errors"
	"fmt"

	"github.com/tandem-sms/tandem/cmpp"
)

var (
	// ErrNoSession: the link has no session logged in to the peer (it is
	// down, or every session is reconnecting). SendAsync returns it at once
	// rather than queueing; keep the FWD queued and WaitReady.
	ErrNoSession = errors.New("federation: no session to the peer")
	// ErrWindowWait: every session's window stayed full until the
	// caller's deadline.
	ErrWindowWait = errors.New("federation: no window slot before the deadline")
	// ErrLinkClosed: the link was stopped or removed; it sends no more.
	ErrLinkClosed = errors.New("federation: peer link closed")
	// ErrNoPeer: Peers has no link for that gateway code.
	ErrNoPeer = errors.New("federation: no link to that peer gateway")
	// ErrInvalidFwd: the FWD cannot go over this link (its Source_Id is
	// not this gateway or its Destination_Id not the peer); never sent.
	ErrInvalidFwd = errors.New("federation: FWD does not fit the link")
	// ErrRunning: Run was called twice.
	ErrRunning = errors.New("federation: already running")
)

// ResultError is a FWD_RESP whose Result is not 0. SendAsync's callback
// gets it together with the response.
type ResultError struct {
	Result uint32
}

func (e *ResultError) Error() string {
	return fmt.Sprintf("federation: FWD_RESP Result %d (%s)", e.Result, ResultName(e.Result))
}

// Kind classifies a send error, for counters and metric labels (a small
// fixed set, so a label built from it stays bounded).
type Kind uint8

const (
	KindNone        Kind = iota // no error: FWD_RESP Result 0
	KindFlowControl             // Result 8: the peer is busy, resend later
	KindDuplicate               // Result 3 (duplicate Sequence_Id): resend
	KindDecision                // Result 9: the peer says it is the wrong gateway for this message
	KindRejected                // another non-zero Result: the peer will not take the message
	KindNoSession               // ErrNoSession
	KindWindowWait              // ErrWindowWait
	KindTimeout                 // no FWD_RESP within T, or the caller's deadline
	KindCanceled                // the caller's context was canceled
	KindConnection              // the session ended under the FWD
	KindInvalid                 // ErrInvalidFwd: never sent
	KindClosed                  // ErrLinkClosed
	KindNoPeer                  // ErrNoPeer
	KindOther
	numKinds
)

var kindNames = [numKinds]string{
	"ok", "flow_control", "duplicate_seq", "decision", "rejected", "no_session",
	"window_wait", "timeout", "canceled", "connection", "invalid", "closed",
	"no_peer", "other",
}

func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "other"
}

// Classify returns the Kind of an error from SendAsync or its callback.
func Classify(err error) Kind {
	var re *ResultError
	switch {
	case err == nil:
		return KindNone
	case errors.As(err, &re):
		switch re.Result {
		case cmpp.ResultFlowControl:
			return KindFlowControl
		case cmpp.ResultDuplicateSeq:
			return KindDuplicate
		case cmpp.ResultFwdDecision:
			return KindDecision
		}
		return KindRejected
	case errors.Is(err, ErrNoSession):
		return KindNoSession
	case errors.Is(err, ErrWindowWait):
		return KindWindowWait
	case errors.Is(err, ErrInvalidFwd):
		return KindInvalid
	case errors.Is(err, ErrLinkClosed):
		return KindClosed
	case errors.Is(err, ErrNoPeer):
		return KindNoPeer
	case errors.Is(err, cmpp.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return KindTimeout
	case errors.Is(err, context.Canceled):
		return KindCanceled
	case errors.Is(err, cmpp.ErrClosed), errors.Is(err, cmpp.ErrWindowFull),
		errors.Is(err, cmpp.ErrPeerClosed), errors.Is(err, cmpp.ErrPeerDead),
		errors.Is(err, cmpp.ErrTerminated), errors.Is(err, cmpp.ErrUnexpectedResponse):
		return KindConnection
	}
	return KindOther
}

// Temporary reports whether a send error is worth resending later: flow
// control, a duplicate Sequence_Id, no session, a full window, timeouts,
// a lost session, a link not (or no longer) there. A non-zero Result
// other than 3 and 8, and an invalid FWD, are not.
//
// A timeout or a session lost after the FWD was written is ambiguous: the
// peer may have stored it. Resending is safe because the receiver drops
// duplicates by (Source_Id, Msg_Fwd_Type, Msg_Id, Pk_number).
func Temporary(err error) bool {
	switch Classify(err) {
	case KindNone, KindDecision, KindRejected, KindInvalid:
		return false
	}
	return true
}

// LinkFailure reports whether a temporary send error came from the link
// rather than from the peer's answer: no session, a full window, a lost or
// closed connection, a timeout, no link. Such a FWD needs no growing
// backoff — nothing is sent while the link is down, and the link's own
// reconnect backoff paces the retries — so that what piled up during an
// outage flows as soon as the link is back. Flow control (Result 8) and a
// duplicate Sequence_Id are the peer's answers, and back off.
func LinkFailure(err error) bool {
	switch Classify(err) {
	case KindNoSession, KindWindowWait, KindTimeout, KindConnection, KindClosed, KindNoPeer:
		return true
	}
	return false
}
