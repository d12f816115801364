package smpp

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("smpp: server closed")

// Server accepts ESME connections and runs an SMSC-side Session for each,
// in the manner of net/http: fill in the fields, then Serve.
type Server struct {
	// Config applies to every accepted session; the zero Config means
	// DefaultConfig().
	Config Config
	// Handler authenticates binds (answer the *Bind with a *BindResp and
	// StatusOK, or ESME_RINVPASWD...) and handles submit_sm and the other
	// requests. A nil Handler refuses every bind.
	Handler Handler
	// OnSession, if set, is called with each new session before it reads
	// anything (e.g. to keep a registry of bound receivers).
	OnSession func(*Session)

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	sessions  map[*Session]struct{}
	closed    bool
	resolved  bool
	cfg       Config
	wg        sync.WaitGroup // one count per live session
}

// resolve fixes the configuration on first use: the zero Config means
// DefaultConfig(), and all sessions share one Stats.
func (srv *Server) resolve() Config {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if !srv.resolved {
		srv.cfg = srv.Config
		if srv.cfg == (Config{}) {
			srv.cfg = DefaultConfig()
		}
		if srv.cfg.Stats == nil {
			srv.cfg.Stats = new(Stats)
		}
		srv.resolved = true
	}
	return srv.cfg
}

// ListenAndServe listens on TCP addr and serves.
func (srv *Server) ListenAndServe(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return srv.Serve(l)
}

// Serve accepts connections on l until it fails or the server is shut
// down, in which case it returns ErrServerClosed. It closes l. For SMPP
// over TLS pass a tls.NewListener: the handshake happens on the session's
// first read, within Config.BindTimeout like the bind itself.
func (srv *Server) Serve(l net.Listener) error {
	cfg := srv.resolve()
	if err := cfg.Validate(); err != nil {
		_ = l.Close()
		return err
	}
	if !srv.trackListener(l, true) {
		_ = l.Close()
		return ErrServerClosed
	}
	defer srv.trackListener(l, false)
	var delay time.Duration
	for {
		conn, err := l.Accept()
		if err != nil {
			if srv.isClosed() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Transient (e.g. EMFILE surfaces as a timeout-like error in
				// some stacks): back off like net/http instead of spinning.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		srv.startSession(conn, cfg)
	}
}

func (srv *Server) startSession(conn net.Conn, cfg Config) {
	srv.mu.Lock()
	if srv.closed {
		srv.mu.Unlock()
		_ = conn.Close()
		return
	}
	srv.wg.Add(1)
	srv.mu.Unlock()
	register := func(s *Session) {
		srv.mu.Lock()
		if srv.sessions == nil {
			srv.sessions = make(map[*Session]struct{})
		}
		srv.sessions[s] = struct{}{}
		closed := srv.closed
		srv.mu.Unlock()
		if closed {
			_ = s.Close() // raced with Close/Shutdown, which did not see it
		}
		if srv.OnSession != nil {
			srv.OnSession(s)
		}
	}
	unregister := func(s *Session) {
		srv.mu.Lock()
		delete(srv.sessions, s)
		srv.mu.Unlock()
		srv.wg.Done()
	}
	if _, err := newSession(conn, RoleSMSC, cfg, srv.Handler, register, unregister); err != nil {
		_ = conn.Close()
		srv.wg.Done()
	}
}

func (srv *Server) trackListener(l net.Listener, add bool) bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if add {
		if srv.closed {
			return false
		}
		if srv.listeners == nil {
			srv.listeners = make(map[net.Listener]struct{})
		}
		srv.listeners[l] = struct{}{}
	} else {
		delete(srv.listeners, l)
	}
	return true
}

func (srv *Server) isClosed() bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.closed
}

// stop marks the server closed, closes its listeners and returns the live
// sessions.
func (srv *Server) stop() []*Session {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	srv.closed = true
	for l := range srv.listeners {
		_ = l.Close()
	}
	out := make([]*Session, 0, len(srv.sessions))
	for s := range srv.sessions {
		out = append(out, s)
	}
	return out
}

// Sessions returns a snapshot of the live sessions.
func (srv *Server) Sessions() []*Session {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	out := make([]*Session, 0, len(srv.sessions))
	for s := range srv.sessions {
		out = append(out, s)
	}
	return out
}

// Stats returns the counters shared by the server's sessions.
func (srv *Server) Stats() *Stats { return srv.resolve().Stats }

// Close stops accepting, closes every session at once and waits for their
// goroutines to exit.
func (srv *Server) Close() error {
	for _, s := range srv.stop() {
		_ = s.Close()
	}
	srv.wg.Wait()
	return nil
}

// Shutdown stops accepting, then shuts every session down gracefully
// (drain, unbind, close) in parallel. If ctx ends first, the remaining
// sessions are closed and ctx's error is returned. Either way no session
// goroutine is left when it returns.
func (srv *Server) Shutdown(ctx context.Context) error {
	sessions := srv.stop()
	var wg sync.WaitGroup
	for _, s := range sessions {
		wg.Go(func() { _ = s.Shutdown(ctx) })
	}
	wg.Wait() // Session.Shutdown returns by ctx's end at the latest
	for _, s := range srv.Sessions() {
		_ = s.Close() // accepted while we were stopping
	}
	srv.wg.Wait()
	return ctx.Err()
}
