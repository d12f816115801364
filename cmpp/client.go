package cmpp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

// ErrAuthISMG means the server's AuthenticatorISMG does not prove that it
// knows our secret: we may be talking to an impostor.
var ErrAuthISMG = errors.New("cmpp: CONNECT_RESP AuthenticatorISMG does not match the secret")

// ConnectError is a CONNECT refused by the server (CONNECT_RESP Status ≠ 0).
type ConnectError struct {
	Status        uint32
	ServerVersion Version // the highest version the server supports
}

func (e *ConnectError) Error() string {
	msg := "other error"
	switch e.Status {
	case ConnectBadStructure:
		msg = "bad message structure"
	case ConnectBadSource:
		msg = "illegal source address"
	case ConnectAuthFailed:
		msg = "authentication failed"
	case ConnectVersionTooHigh:
		msg = "version too high (server supports " + e.ServerVersion.String() + ")"
	}
	return fmt.Sprintf("cmpp: connect refused: status %d: %s", e.Status, msg)
}

// ClientConfig configures Dial.
type ClientConfig struct {
	SourceAddr string  // SP_Id, or the gateway code between gateways
	Secret     string  // shared secret
	Version    Version // the version we speak; zero means V30
	Session    Config
	Handler    Handler     // serves the server's requests (DELIVER); nil refuses them
	Dialer     *net.Dialer // nil means a zero net.Dialer
	// TLS, if set, makes Dial speak TLS: the handshake (within ctx) comes
	// before CONNECT, and the whole session, CMPP's MD5 login included,
	// runs inside it. An empty ServerName is taken from addr's host, so
	// the server's certificate must name that host or IP address; set
	// Certificates to present a client certificate. Nil dials plain TCP.
	TLS *tls.Config
}

// Dial connects to a CMPP server, logs in with CONNECT and returns the
// running session. ctx bounds the dial (and the TLS handshake) and the
// login only; the login also gives up after Session.ResponseTimeout. The
// session version is the lower of ours and the server's. A refused login
// returns a *ConnectError.
func Dial(ctx context.Context, addr string, cfg ClientConfig) (*Session, error) {
	if err := cfg.Session.Validate(); err != nil {
		return nil, err
	}
	d := cfg.Dialer
	if d == nil {
		d = new(net.Dialer)
	}
	var conn net.Conn
	var err error
	if cfg.TLS != nil {
		conn, err = (&tls.Dialer{NetDialer: d, Config: cfg.TLS}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("cmpp: dial: %w", err)
	}
	return NewClient(ctx, conn, cfg)
}

// NewClient logs in over an established connection, which the session then
// owns (it is closed on failure too). conn may be a *tls.Conn; cfg.TLS is
// not used.
func NewClient(ctx context.Context, conn net.Conn, cfg ClientConfig) (*Session, error) {
	if err := cfg.Session.Validate(); err != nil {
		conn.Close()
		return nil, err
	}
	if cfg.Version == 0 {
		cfg.Version = V30
	}
	s := newSession(conn, cfg.Session.withDefaults(), cfg.Handler)
	s.source = cfg.SourceAddr
	s.log = s.log.With(LogKeySource, cfg.SourceAddr)
	if err := s.clientHandshake(ctx, cfg); err != nil {
		s.closeWith(err)
		return nil, err
	}
	go s.serve()
	return s, nil
}

func (s *Session) clientHandshake(ctx context.Context, cfg ClientConfig) error {
	deadline := time.Now().Add(s.cfg.ResponseTimeout)
	ctxDeadline := false
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline, ctxDeadline = d, true
	}
	s.rdeadline = deadline
	s.conn.SetWriteDeadline(deadline)
	// A deadline in the past is how a cancelled ctx unblocks the I/O.
	stop := context.AfterFunc(ctx, func() { s.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	fail := func(err error) error {
		if ctx.Err() != nil {
			return fmt.Errorf("cmpp: connect: %w", ctx.Err())
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// The connection's deadline can fire a hair before ctx's.
			if ctxDeadline {
				return fmt.Errorf("cmpp: connect: %w", context.DeadlineExceeded)
			}
			return fmt.Errorf("cmpp: connect: %w: no CONNECT_RESP within %v", ErrTimeout, s.cfg.ResponseTimeout)
		}
		return fmt.Errorf("cmpp: connect: %w", err)
	}

	ts := Timestamp(time.Now())
	req := &Connect{
		SourceAddr:    cfg.SourceAddr,
		Authenticator: AuthSource(cfg.SourceAddr, cfg.Secret, ts),
		Version:       cfg.Version,
		Timestamp:     ts,
	}
	s.version = cfg.Version
	seq := s.nextSeq()
	if _, err := s.conn.Write(AppendPDU(nil, cfg.Version, seq, req)); err != nil {
		return fail(err)
	}
	h, b, err := s.readPDU()
	if err != nil {
		return fail(err)
	}
	if h.Command != CmdConnectResp || h.Seq != seq {
		return fail(fmt.Errorf("got %v (Sequence_Id %d), want CONNECT_RESP (Sequence_Id %d)", h.Command, h.Seq, seq))
	}
	var resp ConnectResp
	body := b[HeaderLen:]
	err = resp.DecodeBody(body, cfg.Version)
	wire := V20
	if len(body) == 21 {
		wire = V30
	}
	s.br.Discard(int(h.Length))
	if err != nil {
		return fail(err)
	}
	if resp.Status != ConnectOK {
		return &ConnectError{Status: resp.Status, ServerVersion: resp.Version}
	}
	if !resp.VerifyISMG(req.Authenticator, cfg.Secret, wire) {
		return ErrAuthISMG
	}
	if resp.Version < V20 {
		return fail(fmt.Errorf("server version %v is not CMPP 2.0 or later", resp.Version))
	}
	s.version = min(cfg.Version, resp.Version)
	return nil
}
