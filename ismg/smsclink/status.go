package smsclink

import (
	"sync/atomic"
	"time"

	"github.com/tandem-sms/tandem/smpp"
)

// BindState is where a bind slot is in its life cycle.
type BindState uint8

const (
	BindIdle       BindState = iota // Run not started
	BindConnecting                  // dialing or binding
	BindBound                       // bound and serving
	BindDown                        // its session just ended
	BindBackoff                     // waiting before the next attempt
	BindClosed                      // Run is over for this slot
	BindStopped                     // held down by Link.Stop until Start
)

func (s BindState) String() string {
	switch s {
	case BindIdle:
		return "idle"
	case BindConnecting:
		return "connecting"
	case BindBound:
		return "bound"
	case BindDown:
		return "down"
	case BindBackoff:
		return "backoff"
	case BindStopped:
		return "stopped"
	}
	return "closed"
}

// BindStatus describes one bind slot.
type BindStatus struct {
	Slot           int
	Mode           smpp.BindMode
	State          BindState
	Remote         string    // the SMSC address of the current or last session
	ConnectedSince time.Time // zero unless bound
	Outstanding    int       // submits awaiting submit_sm_resp on this bind
	Reconnects     uint64    // connection attempts after the first
	LastError      string    // why the last session or attempt ended
}

// LinkStatus is a snapshot of a link.
type LinkStatus struct {
	Name    string
	Address string
	// Ready counts bound binds that can submit.
	Ready int
	// PausedUntil is the end of the current throttling pause, zero if the
	// link is not paused.
	PausedUntil time.Time
	// ThrottleBackoff is the length of the last pause while the SMSC keeps
	// throttling; zero once a submit succeeded after it.
	ThrottleBackoff time.Duration
	Binds           []BindStatus
}

// Status returns a snapshot of the link and its binds.
func (l *Link) Status() LinkStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := LinkStatus{
		Name:            l.cfg.Name,
		Address:         l.cfg.Address,
		Ready:           l.ready,
		ThrottleBackoff: l.backoff,
		Binds:           make([]BindStatus, len(l.slots)),
	}
	if u := l.pauseUntil.Load(); u != 0 {
		if t := time.Unix(0, u); t.After(l.clk.Now()) {
			st.PausedUntil = t
		}
	}
	for i, s := range l.slots {
		b := BindStatus{
			Slot:       s.idx,
			Mode:       s.mode,
			State:      s.state,
			Remote:     s.lastRemote,
			Reconnects: s.reconnects,
			LastError:  s.lastErr,
		}
		if c := s.cur; c != nil {
			b.ConnectedSince = c.since
			b.Outstanding = c.inflight
		}
		st.Binds[i] = b
	}
	return st
}

// counters are the link's metrics, updated lock-free.
type counters struct {
	submits, submitOK atomic.Uint64
	errs              [numKinds]atomic.Uint64
	throttled, pauses atomic.Uint64
	pauseWaits        atomic.Uint64
	rateWaits         atomic.Uint64
	windowWaits       atomic.Uint64
	reconnects        atomic.Uint64
	bindFailures      atomic.Uint64
	bindsUp           atomic.Int64
	delivers          atomic.Uint64
	deliverErrors     atomic.Uint64
	deliverRejected   atomic.Uint64
}

// Counters are cumulative counts since New (BindsUp is a gauge). The ISMG
// turns them into Prometheus series; this package imports no metrics
// library.
type Counters struct {
	Submits      uint64          // Submit calls
	SubmitOK     uint64          // of which got a message_id
	SubmitErrors map[Kind]uint64 // the others, by kind (non-zero kinds only)
	Throttled    uint64          // submit_sm_resp with ESME_RTHROTTLED or ESME_RMSGQFUL
	Pauses       uint64          // throttling pauses started
	PauseWaits   uint64          // submits that waited out a pause
	RateWaits    uint64          // submits that waited for the rate cap
	WindowWaits  uint64          // submits that waited because every window was full
	Reconnects   uint64          // connection attempts after a slot's first
	BindFailures uint64          // attempts that failed to dial or bind
	BindsUp      int64           // sessions bound right now

	Delivers        uint64 // deliver_sm (and data_sm) received
	DeliverErrors   uint64 // of which the Handler answered with a non-zero status
	DeliverRejected uint64 // of which were refused (ESME_RX_T_APPN) for lack of a Handler or capacity
}

// Counters returns a snapshot of the link's counters.
func (l *Link) Counters() Counters {
	c := &l.counters
	out := Counters{
		Submits:         c.submits.Load(),
		SubmitOK:        c.submitOK.Load(),
		SubmitErrors:    make(map[Kind]uint64),
		Throttled:       c.throttled.Load(),
		Pauses:          c.pauses.Load(),
		PauseWaits:      c.pauseWaits.Load(),
		RateWaits:       c.rateWaits.Load(),
		WindowWaits:     c.windowWaits.Load(),
		Reconnects:      c.reconnects.Load(),
		BindFailures:    c.bindFailures.Load(),
		BindsUp:         c.bindsUp.Load(),
		Delivers:        c.delivers.Load(),
		DeliverErrors:   c.deliverErrors.Load(),
		DeliverRejected: c.deliverRejected.Load(),
	}
	for k := range c.errs {
		if n := c.errs[k].Load(); n != 0 {
			out.SubmitErrors[Kind(k)] = n
		}
	}
	return out
}

// SessionStats returns the SMPP counters shared by all the link's
// sessions (PDUs in and out, timeouts, enquire_links, decode errors...).
func (l *Link) SessionStats() *smpp.Stats { return l.sessCfg.Stats }
