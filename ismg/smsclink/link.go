package smsclink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/tandem-sms/tandem/smpp"
)

// Log keys used by this package (plus smpp's for session events).
const (
	LogKeyLink = "link"
	LogKeySlot = "slot"
	LogKeyMode = "mode"
)

// Handler receives what the SMSC sends: delivery receipts and MO messages.
type Handler interface {
	// HandleDeliver is called for every deliver_sm (and data_sm, converted
	// to a DeliverSM) from any bind of the link, possibly concurrently. Each link has its own Handler (New), so it
	// knows which link it serves. The
	// deliver_sm_resp goes back with the returned status only after it
	// returns, so persist before returning StatusOK; a temporary status
	// such as ESME_RX_T_APPN makes the SMSC deliver again later. ctx ends
	// when the link is shut down and its grace period is over. d and its
	// byte fields stay valid after the call; the handler may keep them.
	HandleDeliver(ctx context.Context, d *smpp.DeliverSM) smpp.Status
}

// ReceiptHandler is optionally implemented by a Handler: receipts (a
// deliver_sm whose IsReceipt is true) then come to HandleReceipt instead,
// with smpp.ParseDeliverReceipt's result, parsed on the bind's reader
// goroutine. Its time parsing needs a deep stack: the handler goroutines
// are many and a GC shrinks the stacks of the idle ones, so parsing there
// would grow a stack again for most receipts; the reader is one goroutine
// per bind and busy.
type ReceiptHandler interface {
	HandleReceipt(ctx context.Context, d *smpp.DeliverSM, info smpp.ReceiptInfo, err error) smpp.Status
}

// AsyncReceiptHandler is a ReceiptHandler that can answer a receipt later,
// without a goroutine waiting: HandleReceiptAsync runs on the bind's
// reader and must not block. It returns true after arranging for respond
// to be called exactly once, from any goroutine, with the status to answer
// (respond does not block either); it returns false, having done nothing,
// to have the receipt go to HandleReceipt on a Handler goroutine.
type AsyncReceiptHandler interface {
	ReceiptHandler
	HandleReceiptAsync(d *smpp.DeliverSM, info smpp.ReceiptInfo, err error, respond func(smpp.Status)) bool
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, d *smpp.DeliverSM) smpp.Status

// HandleDeliver calls f.
func (f HandlerFunc) HandleDeliver(ctx context.Context, d *smpp.DeliverSM) smpp.Status {
	return f(ctx, d)
}

// Link is the pool of binds to one SMSC. Create it with New, start it with
// Run, and call Submit from any number of goroutines.
type Link struct {
	cfg      Config
	h        Handler
	log      *slog.Logger
	clk      Clock
	sessCfg  smpp.Config
	lim      *rate.Limiter // nil: no rate cap
	jitter   func(n int64) int64
	counters counters
	started  atomic.Bool

	// hctx is the context of Handler calls: cancelled only once shutdown's
	// grace period is over, so an in-flight persist may finish.
	hctx     context.Context
	hcancel  context.CancelFunc
	handlers sync.WaitGroup // Handler goroutines

	mu      sync.Mutex
	slots   []*slot
	rr      int           // round-robin cursor for Submit
	ready   int           // bound sessions that can submit
	wake    chan struct{} // closed (and dropped) when bind availability changes
	closing bool
	stopped bool          // by Stop until Start (stop.go)
	stopCh  chan struct{} // closed by Stop; a fresh one after Start
	gen     uint64        // throttling generation: bumped when a pause starts
	backoff time.Duration // current throttling pause; 0 after a success

	// pauseUntil is the end of the throttling pause in Unix nanoseconds of
	// the link's clock (0: never paused). Written under mu, read without
	// it on the submit path.
	pauseUntil atomic.Int64
}

// slot is one bind position: it owns at most one socket at a time.
type slot struct {
	idx  int
	mode smpp.BindMode
	log  *slog.Logger
	sem  chan struct{} // bounds its Handler calls
	// idle Handler goroutines, most recently idle last: a delivery goes
	// to the last one, so a few goroutines do the work and keep grown
	// stacks (a FIFO hand-off rotates through all of them, and a GC
	// shrinks the stack of every idle one, so most deliveries would grow
	// a stack again).
	idleMu sync.Mutex
	idle   []*deliverWorker

	// Guarded by Link.mu.
	state      BindState
	cur        *conn // nil unless bound
	reconnects uint64
	lastErr    string
	lastRemote string
}

// conn is one bound session of a slot.
type conn struct {
	sess     *smpp.Session
	slot     *slot
	since    time.Time
	remote   string
	inflight int // submits on this session; guarded by Link.mu
}

// New checks cfg and returns a link that is not yet connected; h receives
// deliveries and may be nil for a transmitter-only link (deliveries are then
// answered ESME_RX_T_APPN).
func New(cfg Config, h Handler) (*Link, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Clock == nil {
		cfg.Clock = systemClock{}
	}
	if cfg.Dial == nil {
		var d net.Dialer
		cfg.Dial = d.DialContext
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With(LogKeyLink, cfg.Name)
	l := &Link{
		cfg:    cfg,
		h:      h,
		log:    log,
		clk:    cfg.Clock,
		lim:    newLimiter(cfg.Rate, cfg.Burst),
		jitter: rand.Int64N,
		stopCh: make(chan struct{}),
	}
	l.sessCfg = cfg.sessionConfig(nil)
	l.sessCfg.Stats = new(smpp.Stats)
	for range cfg.Binds {
		for _, m := range cfg.BindType.modes() {
			s := &slot{idx: len(l.slots), mode: m, sem: make(chan struct{}, cfg.MaxDeliverInFlight)}
			s.log = log.With(LogKeySlot, s.idx, LogKeyMode, m.String())
			l.slots = append(l.slots, s)
		}
	}
	return l, nil
}

// Name returns the link's name.
func (l *Link) Name() string { return l.cfg.Name }

// Run keeps every bind slot connected until ctx is done: one goroutine per
// slot dials, binds, serves until the session ends, then backs off and
// dials again. A slot never opens a new socket while its previous session
// is alive. When ctx is done Run refuses new submits, shuts every session
// down gracefully (outstanding submits and deliver handlers finish, then
// unbind), each bounded by ShutdownTimeout, and returns nil once no
// goroutine of the link is left. Run may be called once.
func (l *Link) Run(ctx context.Context) error {
	if !l.started.CompareAndSwap(false, true) {
		return ErrRunning
	}
	l.hctx, l.hcancel = context.WithCancel(context.WithoutCancel(ctx))
	defer l.hcancel()
	var wg sync.WaitGroup
	for _, s := range l.slots {
		wg.Go(func() { l.runSlot(ctx, s) })
	}
	<-ctx.Done()
	l.mu.Lock()
	l.closing = true
	l.notifyLocked()
	l.mu.Unlock()
	wg.Wait()
	// Every session is gone, so no new Handler call can start; the ones
	// still running had their grace period inside the sessions' Shutdown.
	l.hcancel()
	l.handlers.Wait()
	l.log.Info("link stopped")
	return nil
}

// runSlot is the life of one slot: connect, serve, back off, repeat.
func (l *Link) runSlot(ctx context.Context, s *slot) {
	attempt := 0
	for {
		if !l.waitStarted(ctx, s) {
			l.setState(s, BindClosed)
			return
		}
		stop := l.stopChan()
		c, err := l.connect(ctx, s)
		if err == nil {
			l.up(s, c)
			select {
			case <-stop:
				l.down(s, c, errStopped)
				l.unbind(s, c)
				attempt = 0
				continue
			case <-c.sess.Done():
				err = c.sess.Err()
				if err == nil {
					err = errors.New("unbound by the SMSC")
				}
				l.down(s, c, err)
				s.log.Warn("bind lost", smpp.LogKeyErr, err)
			case <-ctx.Done():
				l.down(s, c, nil)
				l.unbind(s, c)
				l.setState(s, BindClosed)
				return
			}
			if l.clk.Now().Sub(c.since) >= l.cfg.ReconnectMax {
				attempt = 0 // it was a stable session, not a flapping one
			}
		} else if ctx.Err() == nil {
			l.counters.bindFailures.Add(1)
			l.mu.Lock()
			s.lastErr = err.Error()
			l.mu.Unlock()
			s.log.Warn("bind failed", smpp.LogKeyErr, err)
		}
		if ctx.Err() != nil {
			l.setState(s, BindClosed)
			return
		}
		d := reconnectDelay(attempt, l.cfg.ReconnectMin, l.cfg.ReconnectMax, l.jitter)
		attempt++
		l.setState(s, BindBackoff)
		if !l.sleep(ctx, d) {
			l.setState(s, BindClosed)
			return
		}
		l.counters.reconnects.Add(1)
		l.mu.Lock()
		s.reconnects++
		l.mu.Unlock()
	}
}

// reconnectDelay is exponential backoff with full jitter: uniform in
// [0, min(hi, lo·2^attempt)].
func reconnectDelay(attempt int, lo, hi time.Duration, jitter func(int64) int64) time.Duration {
	c := lo
	for i := 0; i < attempt && c < hi; i++ {
		c *= 2
	}
	c = min(c, hi)
	return time.Duration(jitter(int64(c) + 1))
}

// sleep waits d on the link's clock; false if ctx ended first.
func (l *Link) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	ch, stop := l.clk.NewTimer(d)
	defer stop()
	select {
	case <-ch:
		return true
	case <-ctx.Done():
		return false
	}
}

// connect dials and binds one session for s, bounded by ConnectTimeout.
func (l *Link) connect(ctx context.Context, s *slot) (*conn, error) {
	l.setState(s, BindConnecting)
	ctx, cancel := context.WithTimeout(ctx, l.cfg.ConnectTimeout)
	defer cancel()
	nc, err := l.cfg.Dial(ctx, "tcp", l.cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", l.cfg.Address, err)
	}
	cfg := l.sessCfg
	cfg.Logger = s.log
	sess, err := smpp.NewSession(nc, smpp.RoleESME, cfg, &deliverHandler{l: l, s: s})
	if err != nil {
		_ = nc.Close()
		return nil, err
	}
	_, err = sess.Bind(ctx, &smpp.Bind{
		Mode:         s.mode,
		SystemID:     l.cfg.SystemID,
		Password:     l.cfg.Password,
		SystemType:   l.cfg.SystemType,
		AddrTON:      l.cfg.AddrTON,
		AddrNPI:      l.cfg.AddrNPI,
		AddressRange: l.cfg.AddressRange,
	})
	if err != nil {
		_ = sess.Close()
		<-sess.Done() // one socket per slot: the old one is gone before we redial
		return nil, fmt.Errorf("%v to %s: %w", s.mode, l.cfg.Address, err)
	}
	return &conn{sess: sess, slot: s, since: l.clk.Now(), remote: sess.RemoteAddr().String()}, nil
}

func (l *Link) up(s *slot, c *conn) {
	l.mu.Lock()
	s.cur = c
	s.state = BindBound
	s.lastRemote = c.remote
	if s.mode.CanSubmit() {
		l.ready++
	}
	l.notifyLocked()
	l.mu.Unlock()
	l.counters.bindsUp.Add(1)
	s.log.Info("bound", smpp.LogKeyPeer, c.remote, smpp.LogKeySystemID, c.sess.SystemID())
}

// down takes c out of the submit rotation.
func (l *Link) down(s *slot, c *conn, err error) {
	l.mu.Lock()
	if s.cur == c {
		s.cur = nil
		if s.mode.CanSubmit() {
			l.ready--
		}
		l.counters.bindsUp.Add(-1)
	}
	s.state = BindDown
	if err != nil {
		s.lastErr = err.Error()
	}
	l.notifyLocked()
	l.mu.Unlock()
}

func (l *Link) setState(s *slot, st BindState) {
	l.mu.Lock()
	s.state = st
	l.mu.Unlock()
}

// notifyLocked wakes everyone waiting for bind availability to change.
// The channel exists only while someone waits, so the submit hot path
// does not allocate.
func (l *Link) notifyLocked() {
	if l.wake != nil {
		close(l.wake)
		l.wake = nil
	}
}

// waitChanLocked returns the channel notifyLocked will close.
func (l *Link) waitChanLocked() <-chan struct{} {
	if l.wake == nil {
		l.wake = make(chan struct{})
	}
	return l.wake
}

// WaitReady blocks until at least one bind can submit, or ctx ends.
func (l *Link) WaitReady(ctx context.Context) error {
	l.mu.Lock()
	for {
		if l.closing {
			l.mu.Unlock()
			return ErrClosed
		}
		if l.ready > 0 {
			l.mu.Unlock()
			return nil
		}
		w := l.waitChanLocked()
		l.mu.Unlock()
		select {
		case <-w:
		case <-ctx.Done():
			return fmt.Errorf("smsclink %s: wait ready: %w", l.cfg.Name, ctx.Err())
		}
		l.mu.Lock()
	}
}
