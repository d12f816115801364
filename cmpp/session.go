package cmpp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
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
	// ErrPDUTimeout means a PDU did not arrive whole within
	// Config.PDUTimeout of its first byte.
	ErrPDUTimeout = errors.New("cmpp: PDU not received whole in time")
)

// Log keys used by this package. Package smpp uses the same names for the
// same things (peer, command, seq, msg_id, reason, err), so one query
// follows a message across both sides of a gateway; callers logging about
// sessions use these too.
const (
	LogKeySession = "session"     // the id a Server gave the session
	LogKeyPeer    = "peer"        // remote address
	LogKeySource  = "source_addr" // Source_Addr of the CONNECT: SP_Id or gateway code
	LogKeyVersion = "version"     // negotiated protocol version, e.g. "3.0"
	LogKeyCommand = "command"     // Command_Id name, e.g. "SUBMIT"
	LogKeySeq     = "seq"         // Sequence_Id
	LogKeyMsgID   = "msg_id"      // Msg_Id
	LogKeyResult  = "result"      // Result / Status of a response
	LogKeyReason  = "reason"      // a bounded label: why something was refused
	LogKeyErr     = "err"
)

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
	// The reader's deadline state (reader goroutine only, see connReader):
	// when we began reading the current PDU (zero until its first byte),
	// whether bytes of it were buffered when we began, whether the
	// deadline set last was the PDU's, and the deadline set last.
	pduStart time.Time
	pduBegun bool
	pduBound bool
	rdl      time.Time
	out      chan frame
	work     chan job  // unbuffered: to a handler goroutine that is idle
	bufs     sync.Pool // *[]byte encode buffers, returned by the writer
	calls    sync.Pool // *call for Send

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
	s.rdeadline, s.rdl = time.Time{}, time.Time{}
	s.conn.SetDeadline(time.Time{}) // the handshake's
	s.lastRead.Store(int64(time.Since(s.epoch)))
	s.log.Debug("session open", LogKeyVersion, s.version.String())
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
		s.log.Debug("session closed", LogKeyErr, err)
	case errors.Is(err, ErrPeerClosed):
		s.log.Info("session closed", LogKeyErr, err)
	default:
		s.log.Warn("session closed", LogKeyErr, err)
	}
	close(s.done)
}
