package ismg

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tandem-sms/tandem/cmpp"
	"golang.org/x/time/rate"
)

// spRuntime is the live state of one SP account: its current settings
// (swapped by Reload), the rate limiter shared by its connections, its
// sessions and the deliverer of its out queue.
type spRuntime struct {
	n    *Node
	id   string
	acct atomic.Pointer[SPAccount] // nil once removed by Reload
	// suspended by an operator (adminsp.go): logins and SUBMITs refused
	suspended atomic.Bool
	lim       *rate.Limiter
	q         queueRef // out:<spid>

	mu       sync.Mutex
	sessions []*cmpp.Session
	reserved map[string]time.Time // remote address → CONNECT accepted, session not yet registered
	rr       int
	wake     chan struct{} // closed when sessions change

	// Metric children used per message, looked up once.
	mSubmitOK, mReportOK, mReportErr, mMOOK, mMOErr prometheus.Counter
	mReportExpired, mMOExpired                      prometheus.Counter
}

func newSPRuntime(n *Node, a *SPAccount) *spRuntime {
	sp := &spRuntime{n: n, id: a.SPID, q: outQueue(a.SPID), reserved: map[string]time.Time{}, wake: make(chan struct{})}
	sp.acct.Store(a)
	sp.lim = rate.NewLimiter(limitOf(a), a.Burst)
	sp.mSubmitOK = n.m.Submits.WithLabelValues(sp.id, "ok", "")
	sp.mReportOK = n.m.Delivers.WithLabelValues(sp.id, "report", "ok")
	sp.mReportErr = n.m.Delivers.WithLabelValues(sp.id, "report", "error")
	sp.mMOOK = n.m.Delivers.WithLabelValues(sp.id, "mo", "ok")
	sp.mReportExpired = n.m.Delivers.WithLabelValues(sp.id, "report", "expired")
	sp.mMOExpired = n.m.Delivers.WithLabelValues(sp.id, "mo", "expired")
	sp.mMOErr = n.m.Delivers.WithLabelValues(sp.id, "mo", "error")
	return sp
}

func limitOf(a *SPAccount) rate.Limit {
	if a.SubmitRate <= 0 {
		return rate.Inf
	}
	return rate.Limit(a.SubmitRate)
}

// reserve takes a connection slot for a CONNECT that passed authentication;
// onSession turns it into a session. A reservation whose handshake failed
// afterwards lapses after the CONNECT timeout.
func (sp *spRuntime) reserve(remote string, max int, now time.Time, ttl time.Duration) bool {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	for k, t := range sp.reserved {
		if now.Sub(t) > ttl {
			delete(sp.reserved, k)
		}
	}
	if len(sp.sessions)+len(sp.reserved) >= max {
		return false
	}
	sp.reserved[remote] = now
	return true
}

func (sp *spRuntime) addSession(s *cmpp.Session) {
	sp.mu.Lock()
	delete(sp.reserved, s.RemoteAddr().String())
	sp.sessions = append(sp.sessions, s)
	close(sp.wake)
	sp.wake = make(chan struct{})
	sp.mu.Unlock()
}

func (sp *spRuntime) removeSession(s *cmpp.Session) {
	sp.mu.Lock()
	for i, x := range sp.sessions {
		if x == s {
			sp.sessions = append(sp.sessions[:i], sp.sessions[i+1:]...)
			break
		}
	}
	close(sp.wake)
	sp.wake = make(chan struct{})
	sp.mu.Unlock()
}

// pick returns a live session round robin (nil if none) and the channel
// closed on the next change of the session set.
func (sp *spRuntime) pick() (*cmpp.Session, <-chan struct{}) {
	if h := sp.n.hostSP(sp.id); h != nil {
		return h.pick() // an adopted store delivers to the host's SPs (adopt.go)
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	for range sp.sessions {
		sp.rr++
		s := sp.sessions[sp.rr%len(sp.sessions)]
		if s.Err() == nil {
			return s, sp.wake
		}
	}
	return nil, sp.wake
}

// spConn is the per-connection state of a logged-in SP.
type spConn struct {
	sp       *spRuntime
	inflight atomic.Int64 // SUBMITs being handled (the SP's window)
}
