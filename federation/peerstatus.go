package federation

import (
	"sync/atomic"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
)

// SessionState is where a link session slot is in its life cycle.
type SessionState uint8

const (
	SessionIdle       SessionState = iota // Run not started
	SessionConnecting                     // dialing or logging in
	SessionUp                             // logged in and serving
	SessionDown                           // its session just ended
	SessionBackoff                        // waiting before the next attempt
	SessionClosed                         // the slot is over (link stopped or address gone)
)

func (s SessionState) String() string {
	switch s {
	case SessionIdle:
		return "idle"
	case SessionConnecting:
		return "connecting"
	case SessionUp:
		return "up"
	case SessionDown:
		return "down"
	case SessionBackoff:
		return "backoff"
	}
	return "closed"
}

// LinkSession describes one session slot of a link.
type LinkSession struct {
	Addr        string
	Slot        int
	State       SessionState
	Retiring    bool         // its address went; it drains and ends
	Version     cmpp.Version // negotiated; zero unless up
	Since       time.Time    // zero unless up
	Outstanding int          // FWDs awaiting FWD_RESP on this session
	Reconnects  uint64       // connection attempts after the first
	LastError   string       // why the last session or attempt ended
}

// LinkStatus is a snapshot of a link.
type LinkStatus struct {
	Peer     string
	Addrs    []string
	Ready    int // sessions taking FWDs
	Sessions []LinkSession
}

// Status returns a snapshot of the link and its sessions.
func (l *Link) Status() LinkStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := LinkStatus{Peer: l.code, Addrs: append([]string(nil), l.addrs...), Ready: l.readyLocked()}
	for _, s := range l.slots {
		ls := LinkSession{Addr: s.addr, Slot: s.idx, State: s.state, Retiring: s.retired, Reconnects: s.reconnects, LastError: s.lastErr}
		if c := s.cur; c != nil {
			ls.Version, ls.Since, ls.Outstanding = c.sess.Version(), c.since, c.inflight
		}
		st.Sessions = append(st.Sessions, ls)
	}
	return st
}

// linkCounters are a link's counters, updated lock-free.
type linkCounters struct {
	sent, ok        atomic.Uint64
	errs            [numKinds]atomic.Uint64
	windowWaits     atomic.Uint64
	reconnects      atomic.Uint64
	connectFailures atomic.Uint64
	sessionsUp      atomic.Int64
}

// LinkCounters are cumulative counts since the link was made (SessionsUp
// is a gauge).
type LinkCounters struct {
	Sent            uint64          // SendAsync calls
	OK              uint64          // of which got FWD_RESP Result 0
	Errors          map[Kind]uint64 // the others, by kind (non-zero kinds only)
	WindowWaits     uint64          // sends that waited because every window was full
	Reconnects      uint64          // connection attempts after a slot's first
	ConnectFailures uint64          // attempts that failed to dial or log in
	SessionsUp      int64           // sessions logged in right now
}

// Counters returns a snapshot of the link's counters.
func (l *Link) Counters() LinkCounters {
	c := &l.counters
	out := LinkCounters{
		Sent:            c.sent.Load(),
		OK:              c.ok.Load(),
		Errors:          make(map[Kind]uint64),
		WindowWaits:     c.windowWaits.Load(),
		Reconnects:      c.reconnects.Load(),
		ConnectFailures: c.connectFailures.Load(),
		SessionsUp:      c.sessionsUp.Load(),
	}
	for k := range c.errs {
		if n := c.errs[k].Load(); n != 0 {
			out.Errors[Kind(k)] = n
		}
	}
	return out
}
