package cmpp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Session errors. Errors returned by a session wrap one of these, so test
// them with errors.Is.
var (
	// ErrWindowFull is returned by Send and SendAsync when Window requests
	// are already unanswered. The caller answers its own client with a
	// flow-control status rather than queueing.
	ErrWindowFull = errors.New("cmpp: window full")
	// ErrTimeout means no response arrived within ResponseTimeout.
	ErrTimeout = errors.New("cmpp: response timeout")
	// ErrClosed is returned by calls on a session that is closed or
	// terminating, and is the session's Err after Close.
	ErrClosed = errors.New("cmpp: session closed")
	// ErrTerminated is the session's Err after a graceful TERMINATE from
	// either side.
	ErrTerminated = errors.New("cmpp: session terminated")
	// ErrWriteQueueFull is returned by ReplyNoWait when the outbound queue
	// has no room: the reply was not queued.
	ErrWriteQueueFull = errors.New("cmpp: write queue full")
	// ErrPeerDead means ActiveTestMisses ACTIVE_TESTs in a row went
	// unanswered.
	ErrPeerDead = errors.New("cmpp: peer dead: ACTIVE_TEST unanswered")
	// ErrPeerClosed means the peer closed the connection without TERMINATE.
	ErrPeerClosed = errors.New("cmpp: connection closed by peer")
	// ErrInboundWindow means the peer kept more requests unanswered than
	// InboundWindow for longer than ResponseTimeout, with requests that
	// cannot be refused with a result code.
	ErrInboundWindow = errors.New("cmpp: peer exceeded the inbound window")
	// ErrUnexpectedResponse means a response's Command_Id does not match
	// the request with its Sequence_Id.
	ErrUnexpectedResponse = errors.New("cmpp: unexpected response")
)

// Log keys used by the session and server.
const (
	LogKeySession = "session"
	LogKeyPeer    = "peer"
	LogKeySource  = "source_addr"
	LogKeyCommand = "command"
	LogKeySeq     = "seq"
)

// Config configures one session. A zero field takes its DefaultConfig value;
// where a negative value is allowed it disables the feature.
type Config struct {
	// Window is the most requests we sent that may be unanswered at once
	// (W=16 in the spec).
	Window int
	// ResponseTimeout is how long a request waits for its response (T=60s).
	// It also bounds an ACTIVE_TEST probe, waiting for an inbound slot, and
	// draining the windows after TERMINATE.
	ResponseTimeout time.Duration
	// ActiveTestInterval is how long nothing may be received before we send
	// ACTIVE_TEST (C=3min). Negative disables keepalive.
	ActiveTestInterval time.Duration
	// ActiveTestMisses is how many ACTIVE_TESTs in a row may go unanswered
	// before the session closes with ErrPeerDead (N=3).
	ActiveTestMisses int
	// ReadTimeout closes the session when no byte arrives for this long.
	// Zero derives it from the keepalive (ActiveTestInterval +
	// (ActiveTestMisses+1)×ResponseTimeout) so it only fires if keepalive
	// somehow did not; negative disables it.
	ReadTimeout time.Duration
	// WriteTimeout bounds each write to the connection: a peer that stops
	// reading closes the session after this long. Negative disables it.
	WriteTimeout time.Duration
	// MaxPDU bounds Total_Length of received PDUs; it is checked before the
	// body is read. It also sizes the read buffer.
	MaxPDU uint32
	// WriteQueue is the capacity of the outbound queue between callers and
	// the writer goroutine. Callers block (with their context) when it is
	// full, which bounds our memory when the peer reads slowly.
	WriteQueue int
	// InboundWindow is the most requests from the peer that may be handled
	// at once. Over it, requests that implement ErrorResponder are answered
	// at once with ResultFlowControl; others wait up to ResponseTimeout for
	// a slot, then the session closes with ErrInboundWindow.
	InboundWindow int
	// InlineHandler runs the Handler on the reader goroutine instead of
	// handing each request to a handler goroutine. It saves a goroutine
	// switch per request, for handlers that never block (they answer later
	// from callbacks, as the ISMG's SUBMIT does after its group commit):
	// while the handler runs, nothing more is read from the peer.
	InlineHandler bool
	// Logger receives session events; nil discards them.
	Logger *slog.Logger
	// Stats, if set, is updated by the session; sessions may share one.
	// Nil gives each session its own.
	Stats *Stats
}

// DefaultConfig returns the spec's values: W=16, T=60s, C=3min, N=3.
func DefaultConfig() Config {
	return Config{
		Window:             16,
		ResponseTimeout:    60 * time.Second,
		ActiveTestInterval: 3 * time.Minute,
		ActiveTestMisses:   3,
		WriteTimeout:       30 * time.Second,
		MaxPDU:             DefaultMaxPDU,
		InboundWindow:      16,
	}
}

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Window == 0 {
		c.Window = d.Window
	}
	if c.ResponseTimeout == 0 {
		c.ResponseTimeout = d.ResponseTimeout
	}
	if c.ActiveTestInterval == 0 {
		c.ActiveTestInterval = d.ActiveTestInterval
	}
	if c.ActiveTestMisses == 0 {
		c.ActiveTestMisses = d.ActiveTestMisses
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = d.WriteTimeout
	}
	if c.MaxPDU == 0 {
		c.MaxPDU = d.MaxPDU
	}
	if c.InboundWindow == 0 {
		c.InboundWindow = d.InboundWindow
	}
	if c.ReadTimeout == 0 && c.ActiveTestInterval > 0 {
		c.ReadTimeout = c.ActiveTestInterval + time.Duration(c.ActiveTestMisses+1)*c.ResponseTimeout
	}
	if c.WriteQueue == 0 {
		// Room for every reply and request the windows allow plus the
		// session's own ACTIVE_TEST/TERMINATE answers, so a healthy peer
		// never makes a caller block on the queue.
		c.WriteQueue = c.Window + c.InboundWindow + 8
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// maxMaxPDU caps MaxPDU because it sizes every session's read buffer.
const maxMaxPDU = 1 << 20

// Validate reports a configuration that cannot work, after zero fields
// have taken their defaults.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Window < 0:
		return fmt.Errorf("cmpp: config: Window %d < 0", c.Window)
	case c.ResponseTimeout < 0:
		return fmt.Errorf("cmpp: config: ResponseTimeout %v < 0", c.ResponseTimeout)
	case c.ActiveTestMisses < 0:
		return fmt.Errorf("cmpp: config: ActiveTestMisses %d < 0", c.ActiveTestMisses)
	case c.MaxPDU < 64 || c.MaxPDU > maxMaxPDU:
		return fmt.Errorf("cmpp: config: MaxPDU %d outside [64, %d]", c.MaxPDU, maxMaxPDU)
	case c.WriteQueue < 0:
		return fmt.Errorf("cmpp: config: WriteQueue %d < 0", c.WriteQueue)
	case c.InboundWindow < 0:
		return fmt.Errorf("cmpp: config: InboundWindow %d < 0", c.InboundWindow)
	case c.ReadTimeout > 0 && c.ActiveTestInterval > 0 && c.ReadTimeout <= c.ActiveTestInterval:
		// An idle but healthy peer would be cut off before we ever probe it.
		return fmt.Errorf("cmpp: config: ReadTimeout %v must exceed ActiveTestInterval %v",
			c.ReadTimeout, c.ActiveTestInterval)
	}
	return nil
}

// Stats counts session events. The fields are atomics so an owner (ismg)
// can read them into metrics at scrape time.
type Stats struct {
	RequestsSent      atomic.Uint64
	ResponsesReceived atomic.Uint64
	RequestsReceived  atomic.Uint64
	ResponsesSent     atomic.Uint64
	WindowFull        atomic.Uint64 // Send/SendAsync refused with ErrWindowFull
	Timeouts          atomic.Uint64 // requests unanswered within ResponseTimeout
	FlowControl       atomic.Uint64 // peer requests answered ResultFlowControl
	DuplicateSeq      atomic.Uint64 // peer requests answered ResultDuplicateSeq
	Unmatched         atomic.Uint64 // responses no request waited for
	ActiveTestsSent   atomic.Uint64
	ActiveTestMisses  atomic.Uint64
	ProtocolErrors    atomic.Uint64 // sessions closed for malformed input
	ConnectRejected   atomic.Uint64 // CONNECTs answered with a non-zero status
	QueueHighWater    atomic.Int64  // longest outbound queue seen
}

func (st *Stats) queueLen(n int) {
	for {
		old := st.QueueHighWater.Load()
		if int64(n) <= old || st.QueueHighWater.CompareAndSwap(old, int64(n)) {
			return
		}
	}
}

// Handler serves requests from the peer. ServeCMPP runs in its own
// goroutine, at most InboundWindow at once per session, and answers with
// s.Reply(h, resp), then or later from any goroutine. Until it replies the
// request holds an inbound slot. A handler must return once s.Context() is
// done: the session's Done waits for its handlers.
//
// ACTIVE_TEST and TERMINATE never reach the handler.
type Handler interface {
	ServeCMPP(s *Session, h Header, req PDU)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(s *Session, h Header, req PDU)

func (f HandlerFunc) ServeCMPP(s *Session, h Header, req PDU) { f(s, h, req) }

// refuseHandler answers every request it can with Result 2 (bad command):
// a session without a handler does not serve requests.
type refuseHandler struct{}

func (refuseHandler) ServeCMPP(s *Session, h Header, req PDU) {
	if er, ok := req.(ErrorResponder); ok {
		_ = s.Reply(h, er.ErrorResponse(ResultBadCommand))
		return
	}
	// Nothing to answer with; free the slot so the window does not leak.
	s.inDone(h.Seq)
}

// Session is one CMPP connection after CONNECT, in either role. It owns
// the Sequence_Id counter, the outbound window and the keepalive. Its
// methods are safe for concurrent use.
type Session struct {
	conn    net.Conn
	cfg     Config
	version Version
	handler Handler
	log     *slog.Logger
	stats   *Stats
	id      uint64
	source  string // Source_Addr of the CONNECT: the peer's as server, ours as client

	seq atomic.Uint32
	win *window
	in  *inbound

	probeAck  chan uint32 // Sequence_Id of an answered ACTIVE_TEST, to the writer
	br        *bufio.Reader
	rdeadline time.Time // handshake deadline; zero once the session runs
	out       chan frame
	work      chan job  // unbuffered: to a handler goroutine that is idle
	bufs      sync.Pool // *[]byte encode buffers, returned by the writer
	calls     sync.Pool // *call for Send

	ctx      context.Context
	cancel   context.CancelCauseFunc
	done     chan struct{}
	handlers sync.WaitGroup

	epoch    time.Time
	lastRead atomic.Int64 // since epoch, updated on every read that returns bytes

	closing    atomic.Bool // no new requests; set by TERMINATE either way
	draining   atomic.Bool // closes drained once both windows are empty
	drainOnce  sync.Once
	drained    chan struct{}
	drainMu    sync.Mutex
	drainTimer *time.Timer
}

// frame is one encoded PDU waiting for the writer.
type frame struct {
	buf *[]byte
}

func newSession(conn net.Conn, cfg Config, h Handler) *Session {
	if h == nil {
		h = refuseHandler{}
	}
	s := &Session{
		conn:     conn,
		cfg:      cfg,
		handler:  h,
		stats:    cfg.Stats,
		win:      newWindow(cfg.Window),
		in:       newInbound(cfg.InboundWindow),
		out:      make(chan frame, cfg.WriteQueue),
		work:     make(chan job),
		done:     make(chan struct{}),
		drained:  make(chan struct{}),
		probeAck: make(chan uint32, 1),
		epoch:    time.Now(),
	}
	if s.stats == nil {
		s.stats = new(Stats)
	}
	s.win.onRemove = s.checkDrained
	s.log = cfg.Logger.With(LogKeyPeer, conn.RemoteAddr().String())
	s.ctx, s.cancel = context.WithCancelCause(context.Background())
	// Closing the connection is the only way to unblock a Read or a Write
	// stuck on a peer (STYLE rule 7).
	context.AfterFunc(s.ctx, func() { conn.Close() })
	s.br = bufio.NewReaderSize(connReader{s}, int(cfg.MaxPDU))
	return s
}

// Version returns the negotiated protocol version.
func (s *Session) Version() Version { return s.version }

// SourceAddr returns the Source_Addr of the CONNECT: the peer's SP_Id or
// gateway code on a server session, our own on a client session.
func (s *Session) SourceAddr() string { return s.source }

// ID returns the identifier a Server gave the session (0 for a client).
func (s *Session) ID() uint64 { return s.id }

func (s *Session) RemoteAddr() net.Addr { return s.conn.RemoteAddr() }
func (s *Session) LocalAddr() net.Addr  { return s.conn.LocalAddr() }

// Stats returns the counters the session updates.
func (s *Session) Stats() *Stats { return s.stats }

// Context is cancelled when the session starts closing; handlers watch it.
func (s *Session) Context() context.Context { return s.ctx }

// Done is closed once the session's goroutines and handlers have returned.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err returns why the session closed, or nil while it is open.
func (s *Session) Err() error {
	if s.ctx.Err() == nil {
		return nil
	}
	return context.Cause(s.ctx)
}

// Outstanding returns how many of our requests await a response.
func (s *Session) Outstanding() int { return s.win.len() }

// Handling returns how many peer requests await our reply.
func (s *Session) Handling() int { return s.in.len() }

// Close closes the connection at once, failing pending requests with
// ErrClosed. It does not wait; use Done. Prefer Terminate.
func (s *Session) Close() error {
	s.closeWith(ErrClosed)
	return nil
}

func (s *Session) closeWith(err error) {
	if err == nil {
		err = ErrClosed
	}
	s.cancel(err)
}

// closedErr is what calls on a closed session return: ErrClosed wrapping
// the reason the session closed.
func (s *Session) closedErr() error {
	cause := context.Cause(s.ctx)
	if cause == nil || errors.Is(cause, ErrClosed) {
		return ErrClosed
	}
	return fmt.Errorf("%w: %w", ErrClosed, cause)
}

func (s *Session) nextSeq() uint32 {
	for {
		if n := s.seq.Add(1); n != 0 {
			return n
		}
	}
}

// register gives c a free Sequence_Id and puts it in the window.
func (s *Session) register(c *call) error {
	for {
		c.seq = s.nextSeq()
		err := s.win.add(c)
		if err == nil {
			return nil
		}
		if !errors.Is(err, errSeqInUse) {
			return err
		}
	}
}

func (s *Session) checkRequest(p PDU) error {
	if p == nil {
		return errors.New("cmpp: send: nil PDU")
	}
	switch cmd := p.Command(); {
	case cmd.IsResponse():
		return fmt.Errorf("cmpp: send: %v is a response: use Reply", cmd)
	case cmd == CmdConnect:
		return errors.New("cmpp: send: CONNECT is sent by Dial only")
	case cmd == CmdTerminate:
		return errors.New("cmpp: send: TERMINATE is sent by Terminate only")
	}
	if s.ctx.Err() != nil {
		return s.closedErr()
	}
	if s.closing.Load() {
		return fmt.Errorf("%w: terminating", ErrClosed)
	}
	return nil
}

// Send sends request p and waits for its response. It fails at once with
// ErrWindowFull when Window requests are unanswered, with ErrTimeout after
// ResponseTimeout, and with ctx's error when ctx ends first; either way the
// window slot is freed and a late response is dropped.
func (s *Session) Send(ctx context.Context, p PDU) (PDU, error) {
	return s.send(ctx, p, false)
}

// SendWait is Send, but waits (until ctx ends) for a free window slot
// instead of failing with ErrWindowFull.
func (s *Session) SendWait(ctx context.Context, p PDU) (PDU, error) {
	return s.send(ctx, p, true)
}

func (s *Session) send(ctx context.Context, p PDU, wait bool) (PDU, error) {
	if err := s.checkRequest(p); err != nil {
		return nil, err
	}
	if wait {
		if err := s.win.acquire(ctx, s.ctx.Done()); err != nil {
			if errors.Is(err, ErrClosed) {
				return nil, s.closedErr()
			}
			return nil, err
		}
	} else if !s.win.tryAcquire() {
		s.stats.WindowFull.Add(1)
		return nil, ErrWindowFull
	}
	c := s.getCall()
	c.want, c.slot, c.deadline = p.Command().Response(), true, s.since()+s.cfg.ResponseTimeout
	if err := s.register(c); err != nil {
		s.win.release()
		s.calls.Put(c)
		return nil, s.closedErr()
	}
	if err := s.enqueue(ctx, s.encode(c.seq, p)); err != nil {
		return s.abandon(c, err)
	}
	s.stats.RequestsSent.Add(1)
	// The response, the sweeper's ErrTimeout or the session's end arrives
	// on c.ch.
	select {
	case r := <-c.ch:
		s.calls.Put(c)
		return r.p, r.err
	case <-ctx.Done():
		return s.abandon(c, ctx.Err())
	}
}

// abandon removes c from the window and returns err, unless the response
// (or the session's end) won the race, in which case that is returned.
func (s *Session) abandon(c *call, err error) (PDU, error) {
	if s.win.takeIf(c.seq, c) {
		s.calls.Put(c)
		return nil, err
	}
	r := <-c.ch
	s.calls.Put(c)
	return r.p, r.err
}

func (s *Session) getCall() *call {
	if c, ok := s.calls.Get().(*call); ok {
		return c
	}
	return &call{ch: make(chan callResult, 1)}
}

// SendAsync sends request p without waiting: fn is called once with the
// response or an error (ErrTimeout, ErrClosed), from the read goroutine,
// the timeout sweeper or the closing session, so it must not block. If SendAsync returns an error, fn is not
// called. It fails at once with ErrWindowFull like Send, and blocks only
// while the outbound queue is full.
func (s *Session) SendAsync(p PDU, fn func(resp PDU, err error)) error {
	if err := s.checkRequest(p); err != nil {
		return err
	}
	if !s.win.tryAcquire() {
		s.stats.WindowFull.Add(1)
		return ErrWindowFull
	}
	c := &call{want: p.Command().Response(), slot: true, fn: fn, deadline: s.since() + s.cfg.ResponseTimeout}
	if err := s.register(c); err != nil {
		s.win.release()
		return s.closedErr()
	}
	seq := c.seq
	if err := s.enqueue(context.Background(), s.encode(seq, p)); err != nil {
		if s.win.takeIf(seq, c) {
			return err
		}
		return nil // the session's end already reported err to fn
	}
	s.stats.RequestsSent.Add(1)
	return nil
}

// sweepPeriod is how often the sweeper looks for requests past
// ResponseTimeout: a timeout fires up to an eighth late, which a timer per
// request would avoid at a cost paid on every request.
func (s *Session) sweepPeriod() time.Duration {
	return min(max(s.cfg.ResponseTimeout/8, time.Millisecond), time.Second)
}

// sweepLoop fails the requests left unanswered for ResponseTimeout; it
// runs with the session (owned by serve) and ends with its context.
func (s *Session) sweepLoop() {
	t := time.NewTicker(s.sweepPeriod())
	defer t.Stop()
	var buf []*call
	for {
		select {
		case <-t.C:
		case <-s.ctx.Done():
			return
		}
		buf = s.win.expire(s.since(), buf[:0])
		for i, c := range buf {
			buf[i] = nil
			s.stats.Timeouts.Add(1)
			c.complete(nil, fmt.Errorf("%w: %v (Sequence_Id %d) unanswered after %v",
				ErrTimeout, c.want.Request(), c.seq, s.cfg.ResponseTimeout))
		}
	}
}

// Reply answers the peer's request h with resp, which must be its response
// type, and frees the request's inbound slot. It blocks only while the
// outbound queue is full.
func (s *Session) Reply(h Header, resp PDU) error {
	if resp == nil || resp.Command() != h.Command.Response() {
		got := "nil"
		if resp != nil {
			got = resp.Command().String()
		}
		return fmt.Errorf("cmpp: reply to %v (Sequence_Id %d) with %s", h.Command, h.Seq, got)
	}
	// The slot is freed after the reply is queued so that a drain that
	// completes on it still finds the reply in the queue.
	defer s.inDone(h.Seq)
	return s.reply(h.Seq, resp)
}

// ReplyNoWait is Reply for callers that must never block (a store's commit
// callback): when the outbound queue is full it returns ErrWriteQueueFull
// without queueing, and the request stays unanswered for a later Reply.
// The queue holds WriteQueue frames, by default a reply to every request
// of a full inbound window plus a window of our own requests, so it is
// full only when the peer stopped reading.
func (s *Session) ReplyNoWait(h Header, resp PDU) error {
	if resp == nil || resp.Command() != h.Command.Response() {
		return s.Reply(h, resp) // the same error
	}
	if s.ctx.Err() != nil {
		s.inDone(h.Seq)
		return s.closedErr()
	}
	f := s.encode(h.Seq, resp)
	select {
	case s.out <- f:
	default:
		s.putBuf(f.buf)
		return ErrWriteQueueFull
	}
	s.stats.queueLen(len(s.out))
	s.stats.ResponsesSent.Add(1)
	s.inDone(h.Seq)
	return nil
}

func (s *Session) inDone(seq uint32) {
	if s.in.done(seq) {
		s.checkDrained()
	}
}

func (s *Session) reply(seq uint32, resp PDU) error {
	if s.ctx.Err() != nil {
		return s.closedErr()
	}
	if err := s.enqueue(context.Background(), s.encode(seq, resp)); err != nil {
		return err
	}
	s.stats.ResponsesSent.Add(1)
	return nil
}

func (s *Session) encode(seq uint32, p PDU) frame {
	bp, ok := s.bufs.Get().(*[]byte)
	if !ok {
		b := make([]byte, 0, 256)
		bp = &b
	}
	*bp = AppendPDU((*bp)[:0], s.version, seq, p)
	return frame{buf: bp}
}

func (s *Session) putBuf(bp *[]byte) {
	if cap(*bp) <= 64<<10 {
		s.bufs.Put(bp)
	}
}

// enqueue hands f to the writer, waiting while the queue is full until ctx
// or the session ends.
func (s *Session) enqueue(ctx context.Context, f frame) error {
	select {
	case s.out <- f:
	default:
		select {
		case s.out <- f:
		case <-s.ctx.Done():
			return s.closedErr()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.stats.queueLen(len(s.out))
	return nil
}

// Terminate closes the session gracefully: no new requests, CMPP_TERMINATE
// to the peer, then both windows drain (our requests answered, the peer's
// requests replied to) for at most ResponseTimeout before the connection
// closes. It returns nil on a graceful close; if ctx ends first the session
// is closed at once and ctx's error returned.
func (s *Session) Terminate(ctx context.Context) error {
	if s.closing.CompareAndSwap(false, true) {
		s.sendTerminate(ctx)
	}
	s.armDrain()
	select {
	case <-s.done:
	case <-ctx.Done():
		s.closeWith(fmt.Errorf("%w: terminate: %w", ErrClosed, ctx.Err()))
		return ctx.Err()
	}
	if err := s.Err(); !errors.Is(err, ErrTerminated) {
		return err
	}
	return nil
}

func (s *Session) sendTerminate(ctx context.Context) {
	c := &call{want: CmdTerminateResp, ch: make(chan callResult, 1)}
	if s.register(c) != nil {
		return
	}
	if err := s.enqueue(ctx, s.encode(c.seq, &Terminate{})); err != nil {
		s.win.takeIf(c.seq, c)
		return
	}
	s.stats.RequestsSent.Add(1)
	// Drain from now on: the TERMINATE itself sits in the window until
	// answered, so the connection stays up at least that long.
	s.armDrain()
	t := time.NewTimer(s.cfg.ResponseTimeout)
	defer t.Stop()
	select {
	case <-c.ch:
	case <-t.C:
		s.win.takeIf(c.seq, c)
	case <-ctx.Done():
	}
}

// armDrain starts watching for both windows to empty, bounded by
// ResponseTimeout.
func (s *Session) armDrain() {
	s.drainMu.Lock()
	if !s.draining.Load() {
		s.draining.Store(true)
		s.drainTimer = time.AfterFunc(s.cfg.ResponseTimeout, func() {
			s.closeWith(fmt.Errorf("%w: windows not drained within %v", ErrTerminated, s.cfg.ResponseTimeout))
		})
	}
	s.drainMu.Unlock()
	s.checkDrained()
}

func (s *Session) checkDrained() {
	if s.draining.Load() && s.win.len() == 0 && s.in.len() == 0 {
		s.drainOnce.Do(func() { close(s.drained) })
	}
}

// serve runs the session until it closes: the writer in a new goroutine,
// the reader in this one.
func (s *Session) serve() {
	s.rdeadline = time.Time{}
	s.conn.SetDeadline(time.Time{}) // the handshake's
	s.lastRead.Store(int64(time.Since(s.epoch)))
	s.log.Debug("session open", "version", s.version.String())
	var wg sync.WaitGroup
	wg.Go(func() { s.closeWith(s.writeLoop()) })
	wg.Go(s.sweepLoop)
	s.closeWith(s.readLoop())
	wg.Wait()
	s.conn.Close()

	s.drainMu.Lock()
	if s.drainTimer != nil {
		s.drainTimer.Stop()
	}
	s.drainMu.Unlock()
	s.win.fail(s.closedErr())
	s.handlers.Wait()

	err := context.Cause(s.ctx)
	switch {
	case errors.Is(err, ErrTerminated), errors.Is(err, ErrClosed):
		s.log.Debug("session closed", "reason", err)
	case errors.Is(err, ErrPeerClosed):
		s.log.Info("session closed", "reason", err)
	default:
		s.log.Warn("session closed", "reason", err)
	}
	close(s.done)
}

// connReader sets the read deadline before every read that would block
// (bufio calls Read only when its buffer is empty) and notes when bytes
// arrive, which is what the keepalive calls idle.
type connReader struct{ s *Session }

func (r connReader) Read(b []byte) (int, error) {
	s := r.s
	switch {
	case !s.rdeadline.IsZero():
		s.conn.SetReadDeadline(s.rdeadline)
	case s.cfg.ReadTimeout > 0:
		s.conn.SetReadDeadline(time.Now().Add(s.cfg.ReadTimeout))
	}
	n, err := s.conn.Read(b)
	if n > 0 {
		s.lastRead.Store(int64(time.Since(s.epoch)))
	}
	return n, err
}

// readPDU reads one whole PDU. The returned slice aliases the read buffer
// and is valid until the next call; Decode copies what it keeps.
func (s *Session) readPDU() (Header, []byte, error) {
	h, err := ReadHeader(s.br, s.cfg.MaxPDU)
	if err != nil {
		if errors.Is(err, ErrBadLength) {
			return h, nil, err
		}
		return h, nil, s.ioErr(err, "header", HeaderLen)
	}
	b, err := s.br.Peek(int(h.Length))
	if err != nil {
		return h, nil, s.ioErr(err, fmt.Sprintf("%v (Sequence_Id %d) body", h.Command, h.Seq), int(h.Length))
	}
	return h, b, nil
}

func (s *Session) ioErr(err error, what string, need int) error {
	if errors.Is(err, io.EOF) {
		if n := s.br.Buffered(); n > 0 {
			return fmt.Errorf("cmpp: read %s: truncated: %d of %d bytes: %w", what, n, need, io.ErrUnexpectedEOF)
		}
		if s.closing.Load() {
			return ErrTerminated
		}
		return ErrPeerClosed
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		if !s.rdeadline.IsZero() {
			return fmt.Errorf("cmpp: read %s: login deadline: %w", what, err)
		}
		return fmt.Errorf("cmpp: read %s: nothing received for %v: %w", what, s.cfg.ReadTimeout, err)
	}
	return fmt.Errorf("cmpp: read %s: %w", what, err)
}

func (s *Session) readLoop() error {
	for {
		h, b, err := s.readPDU()
		if err != nil {
			if s.ctx.Err() != nil {
				return nil // we closed the connection; the cause is set
			}
			if !errors.Is(err, ErrPeerClosed) && !errors.Is(err, ErrTerminated) {
				s.stats.ProtocolErrors.Add(1)
			}
			return err
		}
		if !h.Command.Known() {
			s.stats.ProtocolErrors.Add(1)
			return fmt.Errorf("cmpp: read: %w 0x%08x (Sequence_Id %d, Total_Length %d)",
				ErrUnknownCommand, uint32(h.Command), h.Seq, h.Length)
		}
		p, err := Decode(h, b[HeaderLen:], s.version)
		s.br.Discard(int(h.Length))
		if err != nil {
			s.stats.ProtocolErrors.Add(1)
			return fmt.Errorf("%w (Sequence_Id %d)", err, h.Seq)
		}
		if err := s.dispatch(h, p); err != nil {
			return err
		}
	}
}

func (s *Session) dispatch(h Header, p PDU) error {
	if h.Command.IsResponse() {
		s.stats.ResponsesReceived.Add(1)
		s.deliver(h, p)
		return nil
	}
	s.stats.RequestsReceived.Add(1)
	switch h.Command {
	case CmdActiveTest:
		// Answered here, never queued behind the handlers, so a busy
		// session still looks alive.
		return s.reply(h.Seq, &ActiveTestResp{})
	case CmdTerminate:
		s.closing.Store(true)
		err := s.reply(h.Seq, &TerminateResp{})
		s.armDrain()
		return err
	case CmdConnect:
		s.stats.ProtocolErrors.Add(1)
		return fmt.Errorf("cmpp: CONNECT (Sequence_Id %d) on an established session", h.Seq)
	}
	er, canRefuse := p.(ErrorResponder)
	if s.in.has(h.Seq) {
		if !canRefuse {
			s.stats.ProtocolErrors.Add(1)
			return fmt.Errorf("cmpp: %v reuses Sequence_Id %d of an unanswered request", h.Command, h.Seq)
		}
		s.stats.DuplicateSeq.Add(1)
		return s.reply(h.Seq, er.ErrorResponse(ResultDuplicateSeq))
	}
	if !s.in.tryAdd(h.Seq) {
		if canRefuse {
			s.stats.FlowControl.Add(1)
			s.log.Debug("inbound window full", LogKeyCommand, h.Command.String(), LogKeySeq, h.Seq)
			return s.reply(h.Seq, er.ErrorResponse(ResultFlowControl))
		}
		if !s.in.addWait(h.Seq, s.cfg.ResponseTimeout, s.ctx.Done()) {
			if s.ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("%w: %v (Sequence_Id %d) found all %d slots busy for %v",
				ErrInboundWindow, h.Command, h.Seq, s.cfg.InboundWindow, s.cfg.ResponseTimeout)
		}
	}
	if s.cfg.InlineHandler {
		s.handler.ServeCMPP(s, h, p)
		return nil
	}
	select {
	case s.work <- job{h, p}:
	default:
		s.handlers.Add(1)
		go s.handle(job{h, p})
	}
	return nil
}

// job is one peer request for a handler goroutine.
type job struct {
	h Header
	p PDU
}

// handle runs j, then stays for further requests until the session ends:
// reusing the goroutine keeps its grown stack, where a goroutine per
// request would grow a fresh one every time. The pool only grows to the
// number of requests handled at once.
func (s *Session) handle(j job) {
	defer s.handlers.Done()
	for {
		s.handler.ServeCMPP(s, j.h, j.p)
		j = job{}
		select {
		case j = <-s.work:
		case <-s.ctx.Done():
			return
		}
	}
}

func (s *Session) deliver(h Header, p PDU) {
	c := s.win.take(h.Seq)
	if c == nil {
		s.stats.Unmatched.Add(1)
		s.log.Debug("response matches no request", LogKeyCommand, h.Command.String(), LogKeySeq, h.Seq)
		return
	}
	if h.Command != c.want {
		c.complete(nil, fmt.Errorf("%w: %v for Sequence_Id %d, want %v", ErrUnexpectedResponse, h.Command, h.Seq, c.want))
		return
	}
	c.complete(p, nil)
}

// keepalive is the writer's ACTIVE_TEST state; only the writer touches it.
type keepalive struct {
	probe  *call
	sent   time.Duration // since epoch
	misses int
}

func (s *Session) since() time.Duration { return time.Since(s.epoch) }

// writeLoop is the only writer of the connection: it drains the queue into
// a bufio.Writer and flushes when the queue is momentarily empty, so a
// burst costs one syscall (STYLE rule 8). It also owns the keepalive timer.
func (s *Session) writeLoop() error {
	bw := bufio.NewWriterSize(connWriter{s}, 4096)
	var (
		ka   keepalive
		tick <-chan time.Time
		t    *time.Timer
	)
	if s.cfg.ActiveTestInterval > 0 {
		t = time.NewTimer(s.cfg.ActiveTestInterval)
		defer t.Stop()
		tick = t.C
	}
	yielded := false
	for {
		select {
		case f := <-s.out:
			if err := s.writeFrame(bw, f); err != nil {
				return err
			}
			continue
		default:
		}
		if bw.Buffered() > 0 {
			if !yielded {
				// Let the goroutines that are about to queue (the
				// handlers a group commit just released) run first, so
				// that their replies share this write.
				yielded = true
				runtime.Gosched()
				continue
			}
			if err := bw.Flush(); err != nil {
				return s.writeErr(err)
			}
		}
		yielded = false
		select {
		case f := <-s.out:
			if err := s.writeFrame(bw, f); err != nil {
				return err
			}
		case <-tick:
			if err := s.keepalive(bw, &ka, t); err != nil {
				return err
			}
		case seq := <-s.probeAck:
			if ka.probe != nil && ka.probe.seq == seq {
				// Measure the next idle period from the answer rather
				// than waiting out ResponseTimeout.
				ka.probe, ka.misses = nil, 0
				t.Reset(s.cfg.ActiveTestInterval)
			}
		case <-s.drained:
			// Every reply that freed a slot was queued before the slot
			// was freed, so what is queued now is all there is to send.
			for {
				select {
				case f := <-s.out:
					if err := s.writeFrame(bw, f); err != nil {
						return err
					}
					continue
				default:
				}
				break
			}
			if err := bw.Flush(); err != nil {
				return s.writeErr(err)
			}
			return ErrTerminated
		case <-s.ctx.Done():
			return nil
		}
	}
}

func (s *Session) writeFrame(bw *bufio.Writer, f frame) error {
	_, err := bw.Write(*f.buf)
	s.putBuf(f.buf)
	if err != nil {
		return s.writeErr(err)
	}
	return nil
}

func (s *Session) writeErr(err error) error {
	if s.ctx.Err() != nil {
		return nil
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("cmpp: write: peer read nothing for %v: %w", s.cfg.WriteTimeout, err)
	}
	return fmt.Errorf("cmpp: write: %w", err)
}

// keepalive runs when the keepalive timer fires. Anything received counts
// as a sign of life, not only ACTIVE_TEST_RESP, so a busy peer is never
// probed.
func (s *Session) keepalive(bw *bufio.Writer, ka *keepalive, t *time.Timer) error {
	now := s.since()
	last := time.Duration(s.lastRead.Load())
	if ka.probe != nil {
		switch {
		case last >= ka.sent:
			s.win.takeIf(ka.probe.seq, ka.probe)
			ka.probe, ka.misses = nil, 0
		case now-ka.sent >= s.cfg.ResponseTimeout:
			s.win.takeIf(ka.probe.seq, ka.probe)
			ka.probe = nil
			ka.misses++
			s.stats.ActiveTestMisses.Add(1)
			if ka.misses >= s.cfg.ActiveTestMisses {
				return fmt.Errorf("%w: %d in a row, %v apart", ErrPeerDead, ka.misses, s.cfg.ResponseTimeout)
			}
			s.log.Debug("ACTIVE_TEST unanswered", "misses", ka.misses)
			return s.probe(bw, ka, t, now)
		default:
			t.Reset(ka.sent + s.cfg.ResponseTimeout - now)
			return nil
		}
	}
	if idle := now - last; idle < s.cfg.ActiveTestInterval {
		t.Reset(s.cfg.ActiveTestInterval - idle)
		return nil
	}
	return s.probe(bw, ka, t, now)
}

func (s *Session) probe(bw *bufio.Writer, ka *keepalive, t *time.Timer, now time.Duration) error {
	c := &call{want: CmdActiveTestResp}
	c.fn = func(_ PDU, err error) {
		if err == nil {
			select {
			case s.probeAck <- c.seq:
			default: // the writer has an older ack pending; the timer covers this one
			}
		}
	}
	if err := s.register(c); err != nil {
		return nil // the session is closing
	}
	ka.probe, ka.sent = c, now
	t.Reset(s.cfg.ResponseTimeout)
	s.stats.ActiveTestsSent.Add(1)
	s.stats.RequestsSent.Add(1)
	if _, err := bw.Write(AppendPDU(bw.AvailableBuffer(), s.version, c.seq, &ActiveTest{})); err != nil {
		return s.writeErr(err)
	}
	return nil
}

// connWriter sets the write deadline before every write: bufio calls
// Write only when it flushes, so this costs one deadline per syscall.
type connWriter struct{ s *Session }

func (w connWriter) Write(b []byte) (int, error) {
	if w.s.cfg.WriteTimeout > 0 {
		w.s.conn.SetWriteDeadline(time.Now().Add(w.s.cfg.WriteTimeout))
	}
	return w.s.conn.Write(b)
}
