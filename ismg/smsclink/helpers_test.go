package smsclink

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/internal/waitfor"
	"github.com/tandem-sms/tandem/smpp"
	"github.com/tandem-sms/tandem/smpp/smpptest"
)

// fakeClock is a Clock that moves only when the test says so. Tests learn
// that a goroutine is waiting on it through waitTimers, not by sleeping.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*fakeTimer
	changed chan struct{} // closed when timers are added
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.ch <- c.now
		return t.ch, func() bool { return false }
	}
	c.timers = append(c.timers, t)
	if c.changed != nil {
		close(c.changed)
		c.changed = nil
	}
	stop := func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		i := slices.Index(c.timers, t)
		if i < 0 {
			return false
		}
		c.timers = slices.Delete(c.timers, i, i+1)
		return true
	}
	return t.ch, stop
}

// Advance moves the clock and fires the timers that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.timers = slices.DeleteFunc(c.timers, func(t *fakeTimer) bool {
		if t.at.After(c.now) {
			return false
		}
		t.ch <- c.now
		return true
	})
}

// waitTimers waits until at least n timers are pending and returns how far
// in the future each is due, sorted.
func (c *fakeClock) waitTimers(t *testing.T, n int) []time.Duration {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		if len(c.timers) >= n {
			out := make([]time.Duration, len(c.timers))
			for i, tm := range c.timers {
				out[i] = tm.at.Sub(c.now)
			}
			c.mu.Unlock()
			slices.Sort(out)
			return out
		}
		if c.changed == nil {
			c.changed = make(chan struct{})
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("timeout waiting for %d pending timers", n)
		}
	}
}

// testSMSC is an SMSC handler that counts what it sees, per session, and
// can hold submit_sm responses until the test releases them.
type testSMSC struct {
	status func(n int) smpp.Status // status of the n-th submit_sm (1-based); nil: OK
	hold   bool                    // keep submit_sm unanswered until release

	mu          sync.Mutex
	changed     chan struct{}
	binds       int
	submits     int
	inflight    map[*smpp.Session]int
	maxInflight map[*smpp.Session]int
	perSession  map[*smpp.Session]int
	held        []heldSubmit
}

type heldSubmit struct {
	r *smpp.Request
	n int
}

func (m *testSMSC) ServeSMPP(r *smpp.Request) {
	switch r.PDU.(type) {
	case *smpp.Bind:
		_ = r.Respond(&smpp.BindResp{SystemID: "testsmsc"}, smpp.StatusOK)
		m.mu.Lock()
		m.binds++
		m.notifyLocked()
		m.mu.Unlock()
	case *smpp.SubmitSM:
		s := r.Session()
		m.mu.Lock()
		if m.inflight == nil {
			m.inflight = map[*smpp.Session]int{}
			m.maxInflight = map[*smpp.Session]int{}
			m.perSession = map[*smpp.Session]int{}
		}
		m.submits++
		n := m.submits
		m.inflight[s]++
		m.maxInflight[s] = max(m.maxInflight[s], m.inflight[s])
		m.perSession[s]++
		if m.hold {
			m.held = append(m.held, heldSubmit{r, n})
		}
		m.notifyLocked()
		m.mu.Unlock()
		if !m.hold {
			m.respond(r, n)
		}
	default:
		_ = r.Respond(nil, smpp.StatusOK)
	}
}

// respond answers a submit_sm. The in-flight count drops before the
// response is written, so the ESME's next submit cannot be counted early.
func (m *testSMSC) respond(r *smpp.Request, n int) {
	st := smpp.StatusOK
	if m.status != nil {
		st = m.status(n)
	}
	m.mu.Lock()
	m.inflight[r.Session()]--
	m.mu.Unlock()
	var resp smpp.PDU
	if st == smpp.StatusOK {
		resp = &smpp.SubmitSMResp{MessageID: fmt.Sprintf("M%d", n)}
	}
	_ = r.Respond(resp, st)
}

// release answers the k oldest held submits (all if k < 0) and returns
// the sessions they came from.
func (m *testSMSC) release(k int) []*smpp.Session {
	m.mu.Lock()
	if k < 0 || k > len(m.held) {
		k = len(m.held)
	}
	hs := slices.Clone(m.held[:k])
	m.held = m.held[k:]
	m.mu.Unlock()
	var out []*smpp.Session
	for _, h := range hs {
		out = append(out, h.r.Session())
		m.respond(h.r, h.n)
	}
	return out
}

func (m *testSMSC) notifyLocked() {
	if m.changed != nil {
		close(m.changed)
		m.changed = nil
	}
}

// waitFor waits until cond (called with m.mu held) is true.
func (m *testSMSC) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		m.mu.Lock()
		if cond() {
			m.mu.Unlock()
			return
		}
		if m.changed == nil {
			m.changed = make(chan struct{})
		}
		ch := m.changed
		m.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("timeout waiting for the SMSC: %s", what)
		}
	}
}

func (m *testSMSC) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.submits
}

// sockets counts the link's client sockets through Config.Dial.
type sockets struct {
	mu      sync.Mutex
	dials   int
	open    int
	maxOpen int
}

func (s *sockets) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.dials++
	s.open++
	s.maxOpen = max(s.maxOpen, s.open)
	s.mu.Unlock()
	return &countedConn{Conn: c, s: s}, nil
}

func (s *sockets) snapshot() (dials, open, maxOpen int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dials, s.open, s.maxOpen
}

type countedConn struct {
	net.Conn
	s    *sockets
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() {
		c.s.mu.Lock()
		c.s.open--
		c.s.mu.Unlock()
	})
	return c.Conn.Close()
}

// startSMSC serves h on a loopback port.
func startSMSC(t testing.TB, h smpp.Handler) *smpptest.Server {
	srv := smpptest.NewServer(h)
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

func testConfig(t testing.TB, addr string) Config {
	c := DefaultConfig()
	c.Name = "smsc-test"
	c.Address = addr
	c.SystemID = "ismg"
	c.Password = "secret"
	c.ReconnectMin = time.Millisecond
	c.ReconnectMax = 20 * time.Millisecond
	c.ResponseTimeout = 5 * time.Second
	c.ShutdownTimeout = 5 * time.Second
	c.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	return c
}

// runningLink is a Link whose Run is stopped when the test ends.
type runningLink struct {
	*Link
	cancel context.CancelFunc
	done   chan error
}

func (r *runningLink) stop(t testing.TB) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // so a second stop (the cleanup) returns too
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return")
		return nil
	}
}

func startLink(t testing.TB, cfg Config, h Handler) *runningLink {
	t.Helper()
	l, err := New(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningLink{Link: l, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- l.Run(ctx) }()
	t.Cleanup(func() { _ = r.stop(t) })
	return r
}

func waitBound(t testing.TB, l *Link, n int) {
	t.Helper()
	waitfor.Cond(t, fmt.Sprintf("%d binds up", n), func() bool { return l.Status().Ready == n })
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newSubmit(dest string) *smpp.SubmitSM {
	return &smpp.SubmitSM{
		SourceAddr:   smpp.Addr{TON: 5, Addr: "Tandem"},
		DestAddr:     smpp.Addr{TON: 1, NPI: 1, Addr: dest},
		ShortMessage: []byte("hello"),
	}
}
