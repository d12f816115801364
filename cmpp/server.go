package cmpp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("cmpp: server closed")

// Defaults of the Server's login limits.
const (
	DefaultConnectTimeout  = 5 * time.Second
	DefaultMaxPending      = 256
	DefaultMaxPendingPerIP = 16
)

// Reasons passed to Server.OnRefuse.
const (
	RefusePending      = "pending_cap"        // MaxPending connections not logged in
	RefusePendingPerIP = "pending_cap_per_ip" // MaxPendingPerIP from that address
)

// Authenticator decides whether a CONNECT may log in. It returns the
// shared secret of c.SourceAddr and a CONNECT_RESP status: ConnectOK to
// let the server check AuthenticatorSource against the secret (a mismatch
// becomes ConnectAuthFailed), or ConnectBadSource, ConnectAuthFailed,
// ConnectOther... to refuse (unknown SP, address not allowed, too many
// connections). ctx ends when the CONNECT timeout does.
type Authenticator interface {
	Authenticate(ctx context.Context, remote net.Addr, c *Connect) (secret string, status uint32)
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(ctx context.Context, remote net.Addr, c *Connect) (string, uint32)

func (f AuthenticatorFunc) Authenticate(ctx context.Context, remote net.Addr, c *Connect) (string, uint32) {
	return f(ctx, remote, c)
}

// Server accepts CMPP connections (2.0, 2.1 and 3.0 on one port), logs
// them in and serves their requests. Set the fields before Serve; the zero
// values of the optional ones are usable.
type Server struct {
	Config  Config        // per session; zero fields take defaults
	Auth    Authenticator // required
	Handler Handler       // serves requests; nil refuses them
	// MaxVersion is the highest version served and the one announced in
	// CONNECT_RESP; zero means V30. Clients with a higher major version get
	// status 4; others speak their own version.
	MaxVersion Version
	// ConnectTimeout bounds the time from accept to a logged-in session;
	// zero means DefaultConnectTimeout. A real client sends CONNECT at
	// once, so this is short: it is how long an idle connection holds a
	// file descriptor.
	ConnectTimeout time.Duration
	// MaxPending caps the connections that have not logged in yet, across
	// the server, and MaxPendingPerIP those from one source address; zero
	// means DefaultMaxPending and DefaultMaxPendingPerIP, negative means no
	// cap. A connection over a cap is closed at once, unread, and counted
	// in OnRefuse: a flood of idle connects cannot use up the descriptors
	// a valid login or the node's other ports need.
	MaxPending, MaxPendingPerIP int
	// OnRefuse, if set, is called for each connection closed before its
	// CONNECT was read, with the reason: RefusePending or
	// RefusePendingPerIP. Metrics hook; it must not block.
	OnRefuse func(remote net.Addr, reason string)
	Logger   *slog.Logger // nil discards; also the sessions' logger unless Config.Logger is set
	// OnSession is called once a session has logged in, before its first
	// request is read, so the owner can register it (e.g. to push DELIVERs).
	OnSession func(*Session)
	// OnClose is called once the session's goroutines and handlers have
	// returned, with the reason it closed.
	OnClose func(*Session, error)

	mu        sync.Mutex
	closed    bool
	quit      chan struct{} // closed with closed = true
	listeners map[net.Listener]struct{}
	pending   map[net.Conn]struct{} // connections still in CONNECT
	pendingIP map[netip.Addr]int    // pending, per source address
	connLog   logSampler            // "connect failed" lines, rate-limited
	sessions  map[*Session]struct{}
	wg        sync.WaitGroup // every goroutine the server started
	nextID    atomic.Uint64
}

func (srv *Server) initLocked() {
	if srv.listeners == nil {
		srv.listeners = make(map[net.Listener]struct{})
		srv.pending = make(map[net.Conn]struct{})
		srv.pendingIP = make(map[netip.Addr]int)
		srv.sessions = make(map[*Session]struct{})
		srv.quit = make(chan struct{})
	}
}

func (srv *Server) logger() *slog.Logger {
	if srv.Logger != nil {
		return srv.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (srv *Server) maxVersion() Version {
	if srv.MaxVersion == 0 {
		return V30
	}
	return srv.MaxVersion
}

func (srv *Server) sessionConfig() Config {
	c := srv.Config
	if c.Logger == nil {
		c.Logger = srv.Logger
	}
	return c.withDefaults()
}

// track registers a goroutine about to start, refusing once the server is
// closing (etcd GoAttach): nothing starts after Shutdown or Close.
func (srv *Server) track() bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	srv.initLocked()
	if srv.closed {
		return false
	}
	srv.wg.Add(1)
	return true
}

// Serve accepts connections on l until Shutdown or Close, serving each in
// its own goroutine. It always returns a non-nil error: ErrServerClosed
// after Shutdown or Close. l is closed on return.
//
// For CMPP over TLS, pass a tls.NewListener: the TLS handshake then happens
// on the connection's first read, inside ConnectTimeout and while the
// connection counts against MaxPending and MaxPendingPerIP, so a flood of
// unfinished handshakes is bounded like one of idle connects; the source
// address the caps and the Authenticator see is the TCP peer's.
func (srv *Server) Serve(l net.Listener) error {
	if srv.Auth == nil {
		l.Close()
		return errors.New("cmpp: Server.Auth is nil")
	}
	if err := srv.Config.Validate(); err != nil {
		l.Close()
		return err
	}
	srv.mu.Lock()
	srv.initLocked()
	if srv.closed {
		srv.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	srv.listeners[l] = struct{}{}
	quit := srv.quit
	srv.mu.Unlock()
	defer func() {
		srv.mu.Lock()
		delete(srv.listeners, l)
		srv.mu.Unlock()
		l.Close()
	}()

	var backoff time.Duration
	for {
		conn, err := l.Accept()
		if err != nil {
			select {
			case <-quit:
				return ErrServerClosed
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Out of file descriptors and the like: wait and retry
			// instead of spinning or giving up (net/http does the same).
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			srv.logger().Warn("accept failed", LogKeyErr, err, "retry_in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-quit:
				t.Stop()
				return ErrServerClosed
			}
			continue
		}
		backoff = 0
		if !srv.track() {
			conn.Close()
			return ErrServerClosed
		}
		go func() {
			defer srv.wg.Done()
			srv.serveConn(conn)
		}()
	}
}

// ServeConn logs in and serves one connection the caller accepted, and
// returns when the session ends. It is how a server is fed by something
// other than a net.Listener (tests, proxies).
func (srv *Server) ServeConn(conn net.Conn) {
	if srv.Auth == nil || !srv.track() {
		conn.Close()
		return
	}
	defer srv.wg.Done()
	srv.serveConn(conn)
}

func (srv *Server) serveConn(conn net.Conn) {
	ip := remoteIP(conn.RemoteAddr())
	srv.mu.Lock()
	if srv.closed {
		srv.mu.Unlock()
		conn.Close()
		return
	}
	if reason := srv.overPendingLocked(ip); reason != "" {
		srv.mu.Unlock()
		conn.Close()
		if srv.OnRefuse != nil {
			srv.OnRefuse(conn.RemoteAddr(), reason)
		}
		return
	}
	srv.pending[conn] = struct{}{}
	srv.pendingIP[ip]++
	srv.mu.Unlock()

	s, err := srv.handshake(conn)

	srv.mu.Lock()
	delete(srv.pending, conn)
	if srv.pendingIP[ip]--; srv.pendingIP[ip] <= 0 {
		delete(srv.pendingIP, ip)
	}
	if err == nil && srv.closed {
		err = ErrServerClosed
	}
	if err == nil {
		srv.sessions[s] = struct{}{}
	}
	srv.mu.Unlock()
	if err != nil {
		// Rate-limited: a flood of bad connects must not become a flood of
		// log lines. The first line after a quiet spell says how many
		// were left out.
		if ok, dropped := srv.connLog.allow(time.Now()); ok {
			srv.logger().Info("connect failed", LogKeyPeer, conn.RemoteAddr().String(), LogKeyErr, err, "unlogged_before", dropped)
		}
		conn.Close()
		return
	}

	if srv.OnSession != nil {
		srv.OnSession(s)
	}
	s.serve()

	srv.mu.Lock()
	delete(srv.sessions, s)
	srv.mu.Unlock()
	if srv.OnClose != nil {
		srv.OnClose(s, s.Err())
	}
}

// handshake reads the CONNECT, authenticates it and answers CONNECT_RESP.
// The session it returns is not yet running.
func (srv *Server) handshake(conn net.Conn) (_ *Session, err error) {
	timeout := srv.ConnectTimeout
	if timeout <= 0 {
		timeout = DefaultConnectTimeout
	}
	deadline := time.Now().Add(timeout)
	cfg := srv.sessionConfig()
	s := newSession(conn, cfg, srv.Handler)
	s.id = srv.nextID.Add(1)
	s.log = s.log.With(LogKeySession, s.id)
	s.rdeadline = deadline
	conn.SetWriteDeadline(deadline)
	defer func() {
		if err != nil {
			s.closeWith(err)
		}
	}()

	h, b, err := s.readPDU()
	if err != nil {
		return nil, fmt.Errorf("cmpp: connect: %w", err)
	}
	if h.Command != CmdConnect {
		return nil, fmt.Errorf("cmpp: connect: first PDU is %v (Sequence_Id %d), want CONNECT", h.Command, h.Seq)
	}
	var c Connect
	err = c.DecodeBody(b[HeaderLen:], 0)
	if err != nil {
		// Answer status 1 in the layout the Version byte (offset 22 of
		// the body) asks for, if the body reaches that far.
		v := V20
		if body := b[HeaderLen:]; len(body) > 22 && Version(body[22]).Is3() {
			v = V30
		}
		s.br.Discard(int(h.Length))
		conn.Write(AppendPDU(nil, v, h.Seq, &ConnectResp{Status: ConnectBadStructure, Version: srv.maxVersion()}))
		if cfg.Stats != nil {
			cfg.Stats.ConnectRejected.Add(1)
		}
		return nil, fmt.Errorf("%w (Sequence_Id %d)", err, h.Seq)
	}
	s.br.Discard(int(h.Length))

	maxV := srv.maxVersion()
	v := min(c.Version, maxV)
	var status uint32
	var secret string
	switch {
	case c.Version>>4 > maxV>>4:
		status = ConnectVersionTooHigh
		v = maxV
	case c.Version < V20:
		status = ConnectOther
		v = V20
	default:
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		secret, status = srv.Auth.Authenticate(ctx, conn.RemoteAddr(), &c)
		cancel()
		if status == ConnectOK && !c.VerifySource(secret) {
			status = ConnectAuthFailed
		}
	}

	resp := &ConnectResp{Status: status, Version: maxV}
	if status == ConnectOK {
		resp.Authenticator = AuthISMG(status, c.Authenticator, secret, v)
	}
	if _, err := conn.Write(AppendPDU(nil, v, h.Seq, resp)); err != nil {
		return nil, fmt.Errorf("cmpp: connect: write CONNECT_RESP: %w", err)
	}
	if status != ConnectOK {
		if cfg.Stats != nil {
			cfg.Stats.ConnectRejected.Add(1)
		}
		closeWrite(conn)
		return nil, fmt.Errorf("cmpp: connect from %q (version %v): %w", c.SourceAddr, c.Version,
			&ConnectError{Status: status, ServerVersion: maxV})
	}
	s.version = v
	s.source = c.SourceAddr
	s.log = s.log.With(LogKeySource, c.SourceAddr)
	return s, nil
}

// Shutdown stops the server gracefully: it stops accepting, sends
// CMPP_TERMINATE to every session and lets their windows drain until ctx
// ends, then closes whatever is left. It returns ctx's error if it had to
// force.
func (srv *Server) Shutdown(ctx context.Context) error {
	sessions := srv.stop()
	var wg sync.WaitGroup
	for _, s := range sessions {
		wg.Go(func() { _ = s.Terminate(ctx) })
	}
	done := make(chan struct{})
	go func() {
		srv.wg.Wait()
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		srv.closeAll()
		<-done
		return ctx.Err()
	}
}

// Close closes the listeners and every connection at once and waits for
// the server's goroutines (and handlers) to return.
func (srv *Server) Close() error {
	srv.stop()
	srv.closeAll()
	srv.wg.Wait()
	return nil
}

// stop marks the server closed, closes the listeners and the connections
// still logging in, and returns the sessions to terminate.
func (srv *Server) stop() []*Session {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	srv.initLocked()
	if !srv.closed {
		srv.closed = true
		close(srv.quit)
	}
	for l := range srv.listeners {
		l.Close()
	}
	for c := range srv.pending {
		c.Close()
	}
	out := make([]*Session, 0, len(srv.sessions))
	for s := range srv.sessions {
		out = append(out, s)
	}
	return out
}

func (srv *Server) closeAll() {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for c := range srv.pending {
		c.Close()
	}
	for s := range srv.sessions {
		s.closeWith(fmt.Errorf("%w: %w", ErrClosed, ErrServerClosed))
	}
}

// Sessions returns the sessions currently logged in.
func (srv *Server) Sessions() []*Session {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	out := make([]*Session, 0, len(srv.sessions))
	for s := range srv.sessions {
		out = append(out, s)
	}
	return out
}

// overPendingLocked says which cap, if any, a new connection from ip would
// exceed. srv.mu is held.
func (srv *Server) overPendingLocked(ip netip.Addr) string {
	limit := func(v, def int) int {
		if v == 0 {
			return def
		}
		return v
	}
	if max := limit(srv.MaxPending, DefaultMaxPending); max > 0 && len(srv.pending) >= max {
		return RefusePending
	}
	if max := limit(srv.MaxPendingPerIP, DefaultMaxPendingPerIP); max > 0 && srv.pendingIP[ip] >= max {
		return RefusePendingPerIP
	}
	return ""
}

// PendingConns returns how many connections have not logged in yet.
func (srv *Server) PendingConns() int {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return len(srv.pending)
}

// remoteIP is the address part of a connection's peer, unmapped, or the
// zero Addr when the peer is not an IP endpoint (net.Pipe in tests).
func remoteIP(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// logSampler lets through logBurst lines per second and counts the rest.
type logSampler struct {
	mu      sync.Mutex
	second  int64
	n       int
	dropped int
}

const logBurst = 10

// allow reports whether a line may be logged now, and how many were
// dropped since the last one that was.
func (l *logSampler) allow(now time.Time) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if sec := now.Unix(); sec != l.second {
		l.second, l.n = sec, 0
	}
	if l.n >= logBurst {
		l.dropped++
		return false, 0
	}
	l.n++
	d := l.dropped
	l.dropped = 0
	return true, d
}

// closeWrite half-closes conn, so that a refusal just written is delivered
// before the connection closes: closing with unread input would send a
// reset that can overtake it. Over TLS it sends close_notify first.
func closeWrite(conn net.Conn) {
	if tc, ok := conn.(*tls.Conn); ok {
		tc.CloseWrite()
		conn = tc.NetConn()
	}
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}
