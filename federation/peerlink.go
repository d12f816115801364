package federation

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tandem-sms/tandem/cmpp"
)

// Link is this gateway's link to one peer gateway: sessions kept logged in
// to each of the peer's FWD addresses (Sessions per address), FWDs spread
// over them, at most Window unanswered per session. Create links with
// Peers (or NewLink), start one with Run, and call SendAsync from any
// number of goroutines.
type Link struct {
	code   string // the peer's gateway code
	self   string // ours
	p      *peer
	timing linkTiming
	intake *fwdIntake // nil: FWDs the peer sends on our sessions are refused
	log    *slog.Logger
	m      *PeerMetrics
	jitter func(n int64) int64

	sentOK   prometheus.Counter
	sessUp   prometheus.Gauge
	inUse    prometheus.Gauge
	counters linkCounters
	started  atomic.Bool
	kick     chan struct{} // cap 1: the addresses changed

	mu      sync.Mutex
	addrs   []string
	slots   []*linkSlot
	rr      int           // round-robin cursor over slots
	wake    chan struct{} // closed (and dropped) when sessions or windows change
	closing bool
}

// linkTiming is what a link takes from PeerConfig besides the peer's own
// settings.
type linkTiming struct {
	connect, reconnectMin, reconnectMax, shutdown time.Duration
}

// linkSlot is one session position, (address, index): it owns at most one
// socket at a time.
type linkSlot struct {
	addr   string
	idx    int
	log    *slog.Logger
	cancel context.CancelFunc

	// Guarded by Link.mu.
	retired    bool // its address went: it takes no new FWDs, drains and ends
	state      SessionState
	cur        *linkConn // nil unless logged in
	reconnects uint64
	lastErr    string
}

// linkConn is one logged-in session of a slot.
type linkConn struct {
	sess     *cmpp.Session
	slot     *linkSlot
	since    time.Time
	inflight int // FWDs awaiting FWD_RESP; guarded by Link.mu
	// refused is set once the session refused a FWD as closed (it is
	// terminating, or ended and its slot has not noticed yet): it takes
	// no more. Guarded by Link.mu.
	refused bool
}

// takes reports whether c takes new FWDs. Link.mu is held.
func (c *linkConn) takes() bool {
	return c != nil && !c.slot.retired && !c.refused && c.sess.Err() == nil
}

// NewLink returns a link to the peer gateway code at addrs, not yet
// running. cfg must validate; recv (may be nil) takes FWDs the peer sends
// on our sessions.
func NewLink(cfg PeerConfig, code string, addrs []string, recv FwdReceiver) (*Link, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	book, err := resolvePeers(cfg)
	if err != nil {
		return nil, err
	}
	m := cfg.Metrics
	if m == nil {
		m = NewPeerMetrics(nil)
	}
	return newLink(cfg, book, m, code, addrs, recv)
}

func newLink(cfg PeerConfig, book *peerBook, m *PeerMetrics, code string, addrs []string, recv FwdReceiver) (*Link, error) {
	if err := checkCode("peer code", code); err != nil {
		return nil, err
	}
	if code == cfg.Gateway {
		return nil, badPeer("peer code", "%q is this gateway's own code", code)
	}
	p := book.get(code)
	if p.secret == "" {
		return nil, badPeer("Peers", "has no entry for %q with a secret, and Default.Secret is empty", code)
	}
	return newLinkTo(cfg, book, m, code, p, addrs, recv)
}

// newLinkTo builds a link to code with settings p: a peer gateway's
// (newLink), or a sibling node's (code is our own, p the Siblings
// settings).
func newLinkTo(cfg PeerConfig, _ *peerBook, m *PeerMetrics, code string, p *peer, addrs []string, recv FwdReceiver) (*Link, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With(keyPeerCode, code)
	l := &Link{
		code: code,
		self: cfg.Gateway,
		p:    p,
		timing: linkTiming{
			connect: cfg.ConnectTimeout, reconnectMin: cfg.ReconnectMin,
			reconnectMax: cfg.ReconnectMax, shutdown: cfg.ShutdownTimeout,
		},
		log:    log,
		m:      m,
		jitter: rand.Int64N,
		sentOK: m.Sent.WithLabelValues(code, ResultName(cmpp.ResultOK)),
		sessUp: m.LinkSessions.WithLabelValues(code),
		inUse:  m.WindowInUse.WithLabelValues(code),
		kick:   make(chan struct{}, 1),
		addrs:  cleanAddrs(addrs),
	}
	if recv != nil {
		l.intake = newFwdIntake(cfg.Gateway, recv, m, log)
	}
	return l, nil
}

// Peer returns the peer's gateway code.
func (l *Link) Peer() string { return l.code }

// SetAddrs replaces the peer's FWD addresses (a route table change, a
// member joining or dying). Sessions to addresses that stay are kept;
// sessions to addresses that went take no new FWDs and end gracefully
// (CMPP_TERMINATE after the FWDs in flight on them are answered, bounded
// by ShutdownTimeout), so the in-flight window is not dropped.
func (l *Link) SetAddrs(addrs []string) {
	addrs = cleanAddrs(addrs)
	l.mu.Lock()
	same := slices.Equal(addrs, l.addrs)
	if !same {
		l.addrs = addrs
	}
	l.mu.Unlock()
	if !same {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
}

// cleanAddrs drops empty and repeated addresses, keeping the order.
func cleanAddrs(addrs []string) []string {
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		if a != "" && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// Run keeps Sessions sessions logged in to each address until ctx is done:
// one goroutine per slot dials, logs in (CONNECT with our gateway code and
// the peer's secret), serves until the session ends, backs off and dials
// again; address changes start and retire slots. When ctx is done Run
// refuses new FWDs, ends every session gracefully (in-flight FWDs
// answered, CMPP_TERMINATE), each bounded by ShutdownTimeout, and returns
// nil once no goroutine of the link is left. Run may be called once.
func (l *Link) Run(ctx context.Context) error {
	if !l.started.CompareAndSwap(false, true) {
		return ErrRunning
	}
	var wg sync.WaitGroup
	for {
		l.reconcile(ctx, &wg)
		select {
		case <-l.kick:
		case <-ctx.Done():
			l.mu.Lock()
			l.closing = true
			l.notifyLocked()
			l.mu.Unlock()
			wg.Wait()
			if l.intake != nil {
				l.intake.tasks.close()
			}
			l.log.Info("peer link stopped")
			return nil
		}
	}
}

// reconcile starts a slot for each (address, index) wanted and not served,
// and retires the slots whose address went.
func (l *Link) reconcile(ctx context.Context, wg *sync.WaitGroup) {
	l.mu.Lock()
	defer l.mu.Unlock()
	type key struct {
		addr string
		idx  int
	}
	want := make(map[key]bool, len(l.addrs)*l.p.sessions)
	for _, a := range l.addrs {
		for i := range l.p.sessions {
			want[key{a, i}] = true
		}
	}
	for _, s := range l.slots {
		if s.retired {
			continue
		}
		k := key{s.addr, s.idx}
		if want[k] {
			delete(want, k)
			continue
		}
		s.retired = true
		s.cancel()
		s.log.Info("peer address gone: draining its session")
	}
	for _, a := range l.addrs {
		for i := range l.p.sessions {
			if !want[key{a, i}] {
				continue
			}
			sctx, cancel := context.WithCancel(ctx)
			s := &linkSlot{addr: a, idx: i, cancel: cancel, log: l.log.With(keyAddr, a, keySlot, i)}
			l.slots = append(l.slots, s)
			wg.Go(func() {
				defer cancel()
				l.runSlot(sctx, s)
				l.removeSlot(s)
			})
		}
	}
	l.notifyLocked()
}

func (l *Link) removeSlot(s *linkSlot) {
	l.mu.Lock()
	l.slots = slices.DeleteFunc(l.slots, func(x *linkSlot) bool { return x == s })
	l.notifyLocked()
	l.mu.Unlock()
}

// runSlot is the life of one slot: connect, serve, back off, repeat.
func (l *Link) runSlot(ctx context.Context, s *linkSlot) {
	attempt := 0
	streak, lastReason := 0, "" // logins failed in a row, and why the last one did
	for {
		c, err := l.connect(ctx, s)
		if err == nil {
			streak, lastReason = 0, ""
			l.up(s, c)
			select {
			case <-c.sess.Done():
				err = c.sess.Err()
				l.down(s, c, err)
				s.log.Warn("peer session lost", cmpp.LogKeyErr, err)
			case <-ctx.Done():
				l.down(s, c, nil)
				tctx, cancel := context.WithTimeout(context.Background(), l.timing.shutdown)
				if err := c.sess.Terminate(tctx); err != nil {
					s.log.Warn("peer session terminate", cmpp.LogKeyErr, err)
				}
				cancel()
				l.setState(s, SessionClosed)
				return
			}
			if time.Since(c.since) >= l.timing.reconnectMax {
				attempt = 0 // a stable session, not a flapping one
			}
		} else if ctx.Err() == nil {
			reason := connectFailReason(err)
			l.counters.connectFailures.Add(1)
			l.m.LinkConnects.WithLabelValues(l.code, reason).Inc()
			l.mu.Lock()
			s.lastErr = err.Error()
			l.mu.Unlock()
			// A peer down for hours must not fill the log: the first
			// failure of a streak, a new reason, and then every 2^k-th
			// attempt are logged; the metric counts them all.
			if streak++; reason != lastReason || streak&(streak-1) == 0 {
				s.log.Warn("peer login failed", cmpp.LogKeyReason, reason, cmpp.LogKeyErr, err, "failures_in_a_row", streak)
			}
			lastReason = reason
		}
		if ctx.Err() != nil {
			l.setState(s, SessionClosed)
			return
		}
		d := backoffDelay(attempt, l.timing.reconnectMin, l.timing.reconnectMax, l.jitter)
		attempt++
		l.setState(s, SessionBackoff)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			l.setState(s, SessionClosed)
			return
		}
		l.counters.reconnects.Add(1)
		l.mu.Lock()
		s.reconnects++
		l.mu.Unlock()
	}
}

// backoffDelay is exponential backoff with full jitter: uniform in
// [0, lo·2^attempt] capped at hi.
func backoffDelay(attempt int, lo, hi time.Duration, jitter func(int64) int64) time.Duration {
	ceil := hi
	if attempt < 30 && lo<<attempt < hi {
		ceil = lo << attempt
	}
	return time.Duration(jitter(int64(ceil) + 1))
}

// connect dials and logs in one session for s, bounded by ConnectTimeout.
func (l *Link) connect(ctx context.Context, s *linkSlot) (*linkConn, error) {
	l.setState(s, SessionConnecting)
	ctx, cancel := context.WithTimeout(ctx, l.timing.connect)
	defer cancel()
	sc := l.p.sessionConfig(s.log)
	sc.OnBadPDU = func(sess *cmpp.Session, h cmpp.Header, reason string, err error) {
		l.m.Rejected.WithLabelValues(l.code, RejectBadPDU).Inc()
		s.log.Debug("bad PDU from peer", cmpp.LogKeyCommand, h.Command.String(), cmpp.LogKeyReason, reason, cmpp.LogKeyErr, err)
	}
	cc := cmpp.ClientConfig{
		SourceAddr: l.self,
		Secret:     l.p.secret,
		Version:    l.p.version,
		Session:    sc,
		TLS:        l.p.tls,
	}
	if l.intake != nil {
		ps := l.intake.newPeerSession(l.code, l.p.window)
		sc.OnBadPDU = func(sess *cmpp.Session, h cmpp.Header, reason string, err error) {
			l.intake.badPDU(sess, l.code, h, reason, err)
		}
		cc.Session = sc
		cc.Handler = cmpp.HandlerFunc(func(sess *cmpp.Session, h cmpp.Header, req cmpp.PDU) {
			l.intake.serve(sess, ps, h, req)
		})
	}
	sess, err := cmpp.Dial(ctx, s.addr, cc)
	if err != nil {
		return nil, fmt.Errorf("federation: peer %s at %s: %w", l.code, s.addr, err)
	}
	return &linkConn{sess: sess, slot: s, since: time.Now()}, nil
}

// connectFailReason is the bounded reason label of a failed login.
func connectFailReason(err error) string {
	var ce *cmpp.ConnectError
	var op *net.OpError
	var cv *tls.CertificateVerificationError
	var alert tls.AlertError
	switch {
	case errors.As(err, &ce):
		switch ce.Status {
		case cmpp.ConnectBadSource:
			return "source"
		case cmpp.ConnectAuthFailed:
			return "auth"
		case cmpp.ConnectVersionTooHigh:
			return "version"
		}
		return "refused"
	case errors.Is(err, cmpp.ErrAuthISMG):
		return "impostor"
	case errors.As(err, &cv), errors.As(err, &alert):
		return "tls"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, cmpp.ErrTimeout):
		return "timeout"
	case errors.As(err, &op) && op.Op == "dial":
		return "dial"
	case errors.As(err, &op) && op.Op == "remote error":
		return "tls"
	}
	return "other"
}

func (l *Link) up(s *linkSlot, c *linkConn) {
	l.mu.Lock()
	s.cur = c
	s.state = SessionUp
	s.lastErr = ""
	// Counted before waiters wake: whoever WaitReady releases sees the
	// session in the counters and the gauge.
	l.sessUp.Inc()
	l.counters.sessionsUp.Add(1)
	l.notifyLocked()
	l.mu.Unlock()
	s.log.Info("peer session up", cmpp.LogKeyVersion, c.sess.Version().String())
}

// down takes c out of the rotation.
func (l *Link) down(s *linkSlot, c *linkConn, err error) {
	l.mu.Lock()
	if s.cur == c {
		s.cur = nil
		l.sessUp.Dec()
		l.counters.sessionsUp.Add(-1)
	}
	s.state = SessionDown
	if err != nil {
		s.lastErr = err.Error()
	}
	l.notifyLocked()
	l.mu.Unlock()
}

func (l *Link) setState(s *linkSlot, st SessionState) {
	l.mu.Lock()
	s.state = st
	l.mu.Unlock()
}

// notifyLocked wakes everyone waiting for a session or a window slot. The
// channel exists only while someone waits, so the send path does not
// allocate.
func (l *Link) notifyLocked() {
	if l.wake != nil {
		close(l.wake)
		l.wake = nil
	}
}

func (l *Link) waitChanLocked() <-chan struct{} {
	if l.wake == nil {
		l.wake = make(chan struct{})
	}
	return l.wake
}

// readyLocked counts the sessions that take FWDs.
func (l *Link) readyLocked() int {
	n := 0
	for _, s := range l.slots {
		if s.cur.takes() {
			n++
		}
	}
	return n
}

// WaitReady blocks until at least one session takes FWDs, or ctx ends.
func (l *Link) WaitReady(ctx context.Context) error {
	l.mu.Lock()
	for {
		if l.closing {
			l.mu.Unlock()
			return fmt.Errorf("federation: peer %s: %w", l.code, ErrLinkClosed)
		}
		if l.readyLocked() > 0 {
			l.mu.Unlock()
			return nil
		}
		w := l.waitChanLocked()
		l.mu.Unlock()
		select {
		case <-w:
		case <-ctx.Done():
			return fmt.Errorf("federation: peer %s: wait ready: %w", l.code, ctx.Err())
		}
		l.mu.Lock()
	}
}
