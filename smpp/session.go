package smpp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Session errors.
var (
	// ErrClosed: the session is closed (or closing); outstanding and new
	// requests fail with an error wrapping it and the cause.
	ErrClosed = errors.New("smpp: session closed")
	// ErrShuttingDown: Shutdown has begun; no new requests are accepted.
	ErrShuttingDown = errors.New("smpp: session shutting down")
	// ErrTimeout: no response within Config.RequestTimeout.
	ErrTimeout = errors.New("smpp: response timeout")
	// ErrPeerDead: the peer did not answer enquire_link in time.
	ErrPeerDead = errors.New("smpp: peer not answering enquire_link")
	// ErrBindTimeout: the peer did not bind within Config.BindTimeout.
	ErrBindTimeout = errors.New("smpp: no bind within the bind timeout")
	// ErrAlreadyResponded: Request.Respond was called twice.
	ErrAlreadyResponded = errors.New("smpp: request already answered")
	// ErrWriteQueueFull: RespondNoWait found the write queue full; nothing
	// was sent and the request may still be answered.
	ErrWriteQueueFull = errors.New("smpp: write queue full")
	// ErrPDUTimeout: a PDU did not arrive whole within Config.PDUTimeout of
	// its first byte.
	ErrPDUTimeout = errors.New("smpp: PDU not received whole in time")

	// errUnbound and errLocalClose are clean endings: Err reports nil.
	errUnbound    = errors.New("smpp: unbound")
	errLocalClose = errors.New("smpp: closed locally")
)

// Role is the side of the link a session plays.
type Role uint8

const (
	// RoleESME is the client side: it binds and submits.
	RoleESME Role = iota + 1
	// RoleSMSC is the server side: it authenticates binds and delivers.
	RoleSMSC
)

func (r Role) String() string {
	if r == RoleSMSC {
		return "smsc"
	}
	return "esme"
}

// SessionState is the bind state of a session (§2.8).
type SessionState uint8

const (
	SessionOpen      SessionState = iota // connected, not bound
	SessionBinding                       // SMSC: bind received, handler deciding
	SessionBound                         // bound; see Session.BindMode
	SessionUnbinding                     // unbind sent or received
	SessionClosed
)

func (s SessionState) String() string {
	switch s {
	case SessionOpen:
		return "open"
	case SessionBinding:
		return "binding"
	case SessionBound:
		return "bound"
	case SessionUnbinding:
		return "unbinding"
	}
	return "closed"
}

// Log keys used by this package. Package cmpp uses the same names for the
// same things (peer, command, seq, msg_id, reason, err), so one query
// follows a message across both sides of a gateway; callers logging about
// sessions use these too.
const (
	LogKeyPeer     = "peer"      // remote address
	LogKeyRole     = "role"      // esme or smsc
	LogKeySystemID = "system_id" // the peer's system_id once bound
	LogKeyCommand  = "command"   // command_id name, e.g. "submit_sm"
	LogKeySeq      = "seq"       // sequence_number
	LogKeyMsgID    = "msg_id"    // an SMSC message_id
	LogKeyStatus   = "status"    // command_status of a response
	LogKeyReason   = "reason"    // a bounded label: why something was refused
	LogKeyErr      = "err"
)

// Handler answers requests from the peer: binds (on the SMSC side),
// submit_sm, deliver_sm, data_sm... It runs on the session's reader
// goroutine, so it must not block: answer at once, or keep the Request and
// answer later from any goroutine. Request.Respond called on the reader
// blocks it while the write queue is full (a peer that stopped reading);
// RespondNoWait never does. enquire_link, unbind, generic_nack and
// requests whose body did not decode (see BadPDUField) never reach the
// Handler.
type Handler interface {
	ServeSMPP(r *Request)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(r *Request)

// ServeSMPP calls f(r).
func (f HandlerFunc) ServeSMPP(r *Request) { f(r) }

// Request is one request received from the peer.
type Request struct {
	Header Header
	PDU    PDU
	s      *Session
	done   atomic.Bool
}

// Session returns the session the request arrived on.
func (r *Request) Session() *Session { return r.s }

// Respond sends the response to r, exactly once. resp nil sends the empty
// response for the command (e.g. a header-only submit_sm_resp with an
// error status). For a bind, a successful status binds the session and a
// BindResp with Mode unset gets the request's mode. It blocks while the
// write queue is full and fails once the session is closed. Requests
// without a response (outbind, alert_notification) need no Respond.
func (r *Request) Respond(resp PDU, status Status) error {
	id := r.Header.ID
	if !id.HasResponse() {
		return fmt.Errorf("smpp: respond to %v: it has no response", id)
	}
	resp, err := r.claim(resp, status)
	if err != nil {
		return err
	}
	s := r.s
	defer s.win.owe(-1)
	if b, ok := r.PDU.(*Bind); ok {
		if status == StatusOK {
			s.systemID.Store(&b.SystemID)
			s.setState(SessionBound, b.Mode)
		} else {
			s.casState(SessionBinding, SessionOpen, 0)
		}
	}
	return s.enqueue(context.Background(), frame{p: resp, seq: r.Header.Seq, status: status})
}

// claim checks resp (nil: the empty response) as the answer to r with
// status and marks r answered; a bind response gets the request's mode.
func (r *Request) claim(resp PDU, status Status) (PDU, error) {
	id := r.Header.ID
	if resp == nil {
		resp, _ = New(id.Response())
	}
	if br, ok := resp.(*BindResp); ok && br.Mode == 0 {
		if b, ok := r.PDU.(*Bind); ok {
			br.Mode = b.Mode
		}
	}
	if resp.CommandID() != id.Response() {
		return nil, fmt.Errorf("smpp: respond to %v seq %d with %v", id, r.Header.Seq, resp.CommandID())
	}
	if status == StatusOK {
		if err := resp.Validate(); err != nil {
			return nil, err
		}
	}
	if !r.done.CompareAndSwap(false, true) {
		return nil, fmt.Errorf("%w: %v seq %d", ErrAlreadyResponded, id, r.Header.Seq)
	}
	return resp, nil
}

// RespondNoWait is Respond for callers that must never block (a store's
// commit callback): when the write queue is full it returns
// ErrWriteQueueFull and r stays unanswered, for a later Respond. Binds are
// answered with Respond only.
func (r *Request) RespondNoWait(resp PDU, status Status) error {
	if _, isBind := r.PDU.(*Bind); isBind || !r.Header.ID.HasResponse() {
		return fmt.Errorf("smpp: respond without waiting to %v: use Respond", r.Header.ID)
	}
	resp, err := r.claim(resp, status)
	if err != nil {
		return err
	}
	s := r.s
	if s.ctx.Err() != nil {
		s.win.owe(-1)
		return s.closedErr()
	}
	select {
	case s.out <- frame{p: resp, seq: r.Header.Seq, status: status}:
		s.win.owe(-1)
		return nil
	default:
		r.done.Store(false)
		return ErrWriteQueueFull
	}
}

// frame is one PDU queued for the writer. The writer encodes it, so the
// PDU must not change after it is queued.
type frame struct {
	p        PDU
	seq      uint32
	status   Status
	closeErr error // after writing and flushing this frame, end the session with closeErr
}

// Session is one SMPP connection, ESME or SMSC side. It owns exactly three
// goroutines, a reader, a writer and a timeout sweeper, which start with the session and end
// together; see the package doc for ownership and lock order.
type Session struct {
	cfg   Config
	role  Role
	conn  net.Conn
	h     Handler
	log   *slog.Logger
	stats *Stats

	br   *bufio.Reader // reader goroutine only
	bw   *bufio.Writer // writer goroutine only
	wbuf []byte        // writer goroutine only: encode scratch

	// The reader's deadline state (reader goroutine only, see connReader):
	// when we began reading the current PDU (zero until its first byte),
	// whether bytes of it were buffered when we began, whether the
	// deadline set last was the PDU's, and the deadline set last.
	pduStart time.Time
	pduBegun bool
	pduBound bool
	rdl      time.Time

	seq      atomic.Uint32
	state    atomic.Uint32 // SessionState<<8 | BindMode
	systemID atomic.Pointer[string]
	draining atomic.Bool
	unbound  atomic.Bool // an unbind exchange happened: EOF is clean

	win *window
	out chan frame

	lastRead    atomic.Int64 // unix nanos of the last PDU read
	enquireSeq  atomic.Uint32
	enquireSent atomic.Int64
	started     time.Time

	ctx     context.Context // done when the session is ending
	cancel  context.CancelFunc
	done    chan struct{} // closed after both goroutines exited
	running atomic.Int32
	onClose func(*Session)

	mu    sync.Mutex
	cause error
}

// NewSession starts a session over conn, which it then owns; conn may be
// a *tls.Conn (see Dialer for dialing one). h answers the
// peer's requests; it may be nil for an ESME that only submits (deliveries
// are then refused with ESME_RX_T_APPN so the SMSC retries them).
func NewSession(conn net.Conn, role Role, cfg Config, h Handler) (*Session, error) {
	return newSession(conn, role, cfg, h, nil, nil)
}

// newSession builds a session; onStart runs before its goroutines start and
// onClose after both have exited.
func newSession(conn net.Conn, role Role, cfg Config, h Handler, onStart, onClose func(*Session)) (*Session, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if role != RoleESME && role != RoleSMSC {
		return nil, fmt.Errorf("smpp: invalid role %d", role)
	}
	s := &Session{
		cfg:     cfg,
		role:    role,
		conn:    conn,
		h:       h,
		log:     cfg.Logger,
		stats:   cfg.Stats,
		bw:      bufio.NewWriterSize(conn, 16<<10),
		win:     newWindow(cfg.Window),
		out:     make(chan frame, cfg.WriteQueue),
		started: time.Now(),
		done:    make(chan struct{}),
		onClose: onClose,
	}
	s.br = bufio.NewReaderSize(connReader{s}, 16<<10)
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With(LogKeyRole, role.String(), LogKeyPeer, conn.RemoteAddr().String())
	if s.stats == nil {
		s.stats = new(Stats)
	}
	s.stats.SessionsOpened.Add(1)
	s.lastRead.Store(s.started.UnixNano())
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if onStart != nil {
		onStart(s)
	}
	s.running.Store(3)
	go s.run(s.readLoop)
	go s.run(s.writeLoop)
	go s.run(s.sweepLoop)
	return s, nil
}

func (s *Session) run(loop func() error) {
	defer s.exit()
	if err := loop(); err != nil {
		s.fail(err)
	}
}

// fail records the first cause and tears the connection down; closing the
// conn is the only way to unblock the reader.
func (s *Session) fail(err error) {
	s.mu.Lock()
	if s.cause == nil {
		s.cause = err
	}
	s.mu.Unlock()
	s.cancel()
	_ = s.conn.Close()
}

// exit runs as each goroutine ends; the last one out finishes the session.
func (s *Session) exit() {
	if s.running.Add(-1) != 0 {
		return
	}
	s.setState(SessionClosed, 0)
	err := s.closedErr()
	s.win.close(err)
	s.stats.SessionsClosed.Add(1)
	if e := s.Err(); e != nil {
		s.log.Warn("session closed", LogKeyErr, e)
	} else {
		s.log.Debug("session closed")
	}
	close(s.done)
	if s.onClose != nil {
		s.onClose(s)
	}
}

func (s *Session) closedErr() error {
	s.mu.Lock()
	cause := s.cause
	s.mu.Unlock()
	if cause == nil || cause == errLocalClose {
		return ErrClosed
	}
	return fmt.Errorf("%w: %w", ErrClosed, cause)
}

// Err returns why the session ended: nil while it runs and after a clean
// end (Close, or an unbind exchange), else the cause (ErrPeerDead, a read
// or write error, a protocol error naming the PDU...).
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cause == errLocalClose || s.cause == errUnbound {
		return nil
	}
	if s.unbound.Load() && (errors.Is(s.cause, io.EOF) || errors.Is(s.cause, net.ErrClosed)) {
		return nil
	}
	return s.cause
}

// Done is closed once the session's goroutines have exited.
func (s *Session) Done() <-chan struct{} { return s.done }

// Wait blocks until the session has ended and returns Err.
func (s *Session) Wait() error {
	<-s.done
	return s.Err()
}

// Close tears the session down without unbinding. Outstanding requests fail
// with ErrClosed. It does not wait; use Wait or Done for that. Safe to call
// from a Handler and more than once.
func (s *Session) Close() error {
	s.fail(errLocalClose)
	return nil
}

// Role returns the side this session plays.
func (s *Session) Role() Role { return s.role }

// State returns the bind state.
func (s *Session) State() SessionState { return SessionState(s.state.Load() >> 8) }

// BindMode returns how the session is bound (0 while unbound).
func (s *Session) BindMode() BindMode { return BindMode(s.state.Load() & 0xFF) }

// SystemID returns the peer's system_id once bound: the ESME's on the SMSC
// side, the SMSC's on the ESME side.
func (s *Session) SystemID() string {
	if p := s.systemID.Load(); p != nil {
		return *p
	}
	return ""
}

// RemoteAddr returns the peer's address.
func (s *Session) RemoteAddr() net.Addr { return s.conn.RemoteAddr() }

// Stats returns the session's counters (shared if Config.Stats was set).
func (s *Session) Stats() *Stats { return s.stats }

// Outstanding returns the number of our requests awaiting a response.
func (s *Session) Outstanding() int { return s.win.len() }

func (s *Session) setState(st SessionState, m BindMode) {
	s.state.Store(uint32(st)<<8 | uint32(m))
}

func (s *Session) casState(from, to SessionState, m BindMode) bool {
	for {
		old := s.state.Load()
		if SessionState(old>>8) != from {
			return false
		}
		if s.state.CompareAndSwap(old, uint32(to)<<8|uint32(m)) {
			return true
		}
	}
}

// nextSeq returns the next sequence number in 1..MaxSeq, wrapping.
func (s *Session) nextSeq() uint32 {
	for {
		if v := s.seq.Add(1) & MaxSeq; v != 0 {
			return v
		}
	}
}

// enqueue hands f to the writer, blocking while the queue is full.
func (s *Session) enqueue(ctx context.Context, f frame) error {
	select {
	case s.out <- f:
		return nil
	case <-s.ctx.Done():
		return s.closedErr()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Send sends request p and waits for its response. If the window is full it
// fails at once with ErrWindowFull. A response with a non-zero status is
// returned together with a *StatusError (errors.Is ErrThrottled,
// ErrQueueFull...). For outbind and alert_notification, which have no
// response, it returns (nil, nil) once the PDU is queued.
func (s *Session) Send(ctx context.Context, p PDU) (PDU, error) { return s.send(ctx, p, false, false) }

// SendWait is Send, but waits for a window slot until ctx is done.
func (s *Session) SendWait(ctx context.Context, p PDU) (PDU, error) {
	return s.send(ctx, p, true, false)
}

func (s *Session) send(ctx context.Context, p PDU, wait, internal bool) (PDU, error) {
	id := p.CommandID()
	if id.IsResponse() {
		return nil, fmt.Errorf("smpp: send %v: not a request (use Request.Respond)", id)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if s.ctx.Err() != nil {
		return nil, s.closedErr()
	}
	if !internal && s.draining.Load() {
		return nil, fmt.Errorf("smpp: send %v: %w", id, ErrShuttingDown)
	}
	if !id.HasResponse() {
		return nil, s.enqueue(ctx, frame{p: p, seq: s.nextSeq()})
	}
	if err := s.win.acquire(ctx, wait, s.ctx.Done()); err != nil {
		if errors.Is(err, ErrWindowFull) {
			s.stats.WindowFull.Add(1)
		}
		if errors.Is(err, ErrClosed) {
			err = s.closedErr()
		}
		return nil, fmt.Errorf("smpp: send %v: %w", id, err)
	}
	wt := &waiter{cmd: id, ch: make(chan result, 1), deadline: time.Now().Add(s.cfg.RequestTimeout).UnixNano()}
	seq, err := s.win.add(s.nextSeq, wt)
	if err != nil {
		return nil, fmt.Errorf("smpp: send %v: %w", id, err)
	}
	if err := s.enqueue(ctx, frame{p: p, seq: seq}); err != nil {
		s.win.take(seq)
		return nil, fmt.Errorf("smpp: send %v seq %d: %w", id, seq, err)
	}
	s.stats.Requests.Add(1)
	// The response, the sweeper's ErrTimeout or the session's end arrives
	// on wt.ch.
	select {
	case r := <-wt.ch:
		return r.p, r.err
	case <-ctx.Done():
		if !s.win.takeIf(seq, wt) {
			return s.late(wt)
		}
		return nil, fmt.Errorf("smpp: %v seq %d: %w", id, seq, ctx.Err())
	}
}

// sweepPeriod is how often the sweeper looks for requests past
// RequestTimeout: a timeout fires up to an eighth late, which a timer per
// request would avoid at a cost paid on every request.
func (s *Session) sweepPeriod() time.Duration {
	return min(max(s.cfg.RequestTimeout/8, time.Millisecond), time.Second)
}

// sweepLoop fails the requests left unanswered for RequestTimeout; it is
// one of the session's goroutines and ends with its context.
func (s *Session) sweepLoop() error {
	t := time.NewTicker(s.sweepPeriod())
	defer t.Stop()
	var buf []*waiter
	for {
		select {
		case <-t.C:
		case <-s.ctx.Done():
			return nil
		}
		buf = s.win.expire(time.Now().UnixNano(), buf[:0])
		for i, wt := range buf {
			buf[i] = nil
			s.stats.Timeouts.Add(1)
			wt.finish(result{err: fmt.Errorf("smpp: %v seq %d: %w after %v", wt.cmd, wt.seq, ErrTimeout, s.cfg.RequestTimeout)})
		}
	}
}

// SendAsync sends request p without waiting for its response: fn is
// called exactly once with the response or the error (as Send would
// return them: *StatusError, ErrTimeout after RequestTimeout, ErrClosed),
// from the reader goroutine, the timeout sweeper or the closing session,
// so it must not block. SendAsync itself waits for a window slot until ctx is done;
// if it returns an error, fn is not called. It serves callers that keep a
// whole window in flight without a goroutine per request.
func (s *Session) SendAsync(ctx context.Context, p PDU, fn func(PDU, error)) error {
	id := p.CommandID()
	switch {
	case id.IsResponse():
		return fmt.Errorf("smpp: send %v: not a request (use Request.Respond)", id)
	case !id.HasResponse():
		return fmt.Errorf("smpp: send %v: has no response (use Send)", id)
	case fn == nil:
		return fmt.Errorf("smpp: send %v: nil callback", id)
	}
	if err := p.Validate(); err != nil {
		return err
	}
	if s.ctx.Err() != nil {
		return s.closedErr()
	}
	if s.draining.Load() {
		return fmt.Errorf("smpp: send %v: %w", id, ErrShuttingDown)
	}
	if err := s.win.acquire(ctx, true, s.ctx.Done()); err != nil {
		if errors.Is(err, ErrClosed) {
			err = s.closedErr()
		}
		return fmt.Errorf("smpp: send %v: %w", id, err)
	}
	wt := &waiter{cmd: id, fn: fn, deadline: time.Now().Add(s.cfg.RequestTimeout).UnixNano()}
	seq, err := s.win.add(s.nextSeq, wt)
	if err != nil {
		return fmt.Errorf("smpp: send %v: %w", id, err)
	}
	if err := s.enqueue(ctx, frame{p: p, seq: seq}); err != nil {
		if s.win.takeIf(seq, wt) {
			return fmt.Errorf("smpp: send %v seq %d: %w", id, seq, err)
		}
		return nil // the closing session already reported to fn
	}
	s.stats.Requests.Add(1)
	return nil
}

// late collects a result that raced with a timeout: whoever removed the
// waiter from the window also delivered to it.
func (s *Session) late(wt *waiter) (PDU, error) {
	r := <-wt.ch
	return r.p, r.err
}

// Bind sends a bind and waits for the answer; on success the session is
// bound in b.Mode. InterfaceVersion 0 is sent as 0x34.
func (s *Session) Bind(ctx context.Context, b *Bind) (*BindResp, error) {
	if b.InterfaceVersion == 0 {
		b.InterfaceVersion = InterfaceVersion34
	}
	if b.Mode == 0 {
		b.Mode = BindTransceiver
	}
	p, err := s.Send(ctx, b)
	r, _ := p.(*BindResp)
	return r, err
}

// Submit sends submit_sm and returns the SMSC's response.
func (s *Session) Submit(ctx context.Context, p *SubmitSM) (*SubmitSMResp, error) {
	r, err := s.Send(ctx, p)
	resp, _ := r.(*SubmitSMResp)
	return resp, err
}

// Deliver sends deliver_sm (SMSC side) and returns the ESME's response.
func (s *Session) Deliver(ctx context.Context, p *DeliverSM) (*DeliverSMResp, error) {
	r, err := s.Send(ctx, p)
	resp, _ := r.(*DeliverSMResp)
	return resp, err
}

// DataSM sends data_sm and returns the response.
func (s *Session) DataSM(ctx context.Context, p *DataSM) (*DataSMResp, error) {
	r, err := s.Send(ctx, p)
	resp, _ := r.(*DataSMResp)
	return resp, err
}

// Query sends query_sm and returns the response.
func (s *Session) Query(ctx context.Context, p *QuerySM) (*QuerySMResp, error) {
	r, err := s.Send(ctx, p)
	resp, _ := r.(*QuerySMResp)
	return resp, err
}

// EnquireLink sends enquire_link and waits for the answer.
func (s *Session) EnquireLink(ctx context.Context) error {
	_, err := s.Send(ctx, new(EnquireLink))
	return err
}

// Unbind sends unbind, waits for unbind_resp (or ctx), then closes the
// session. Outstanding requests are not waited for; see Shutdown.
func (s *Session) Unbind(ctx context.Context) error {
	if s.State() == SessionClosed {
		return s.closedErr()
	}
	s.unbound.Store(true)
	s.setState(SessionUnbinding, s.BindMode())
	_, err := s.send(ctx, new(Unbind), true, true)
	if err == nil {
		s.fail(errUnbound)
	} else {
		s.fail(errLocalClose)
	}
	<-s.done
	if err != nil {
		return fmt.Errorf("smpp: unbind: %w", err)
	}
	return nil
}

// Shutdown closes gracefully: it refuses new requests (ours with
// ErrShuttingDown, the peer's with a temporary status: ESME_RMSGQFUL on the
// SMSC side, ESME_RX_T_APPN on the ESME side), waits until every request is
// answered in both directions (ours outstanding, the peer's still owed by
// the Handler), unbinds, and closes. When ctx ends first it
// closes at once and returns ctx's error.
func (s *Session) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	err := s.win.waitIdle(ctx)
	if err == nil && s.ctx.Err() == nil {
		err = s.Unbind(ctx)
		if errors.Is(err, ErrClosed) {
			err = nil // the peer hung up first: nothing left to drain
		}
	}
	s.fail(errLocalClose)
	<-s.done
	return err
}
