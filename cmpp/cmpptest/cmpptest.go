// Package cmpptest runs real CMPP servers on loopback for tests, the way
// net/http/httptest does for HTTP, and offers a raw-bytes client for
// feeding a server exactly the bytes a test wants.
package cmpptest

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
)

// The account every test server accepts.
const (
	SourceAddr = "901234"
	Secret     = "s3cr3t"
)

// Timeout bounds every wait in this package, so a broken test fails
// instead of hanging.
const Timeout = 10 * time.Second

// Server is a cmpp.Server listening on 127.0.0.1.
type Server struct {
	*cmpp.Server
	Listener net.Listener
	Addr     string // host:port to dial

	mu       sync.Mutex
	accounts map[string]string
	sessions chan *cmpp.Session
	serveErr chan error
	closed   bool
}

// NewUnstartedServer returns a server that accepts SourceAddr/Secret and
// answers requests with h, not yet listening, so the test can change its
// fields (Config, MaxVersion, hooks...) before Start.
func NewUnstartedServer(h cmpp.Handler) *Server {
	ts := &Server{
		accounts: map[string]string{SourceAddr: Secret},
		sessions: make(chan *cmpp.Session, 64),
		serveErr: make(chan error, 1),
	}
	ts.Server = &cmpp.Server{
		Handler: h,
		Auth:    cmpp.AuthenticatorFunc(ts.authenticate),
	}
	return ts
}

// NewServer starts a server answering requests with h (nil refuses them)
// and closes it when the test ends.
func NewServer(t testing.TB, h cmpp.Handler) *Server {
	t.Helper()
	ts := NewUnstartedServer(h)
	ts.Start(t)
	return ts
}

// AddAccount lets sourceAddr log in with secret.
func (ts *Server) AddAccount(sourceAddr, secret string) {
	ts.mu.Lock()
	ts.accounts[sourceAddr] = secret
	ts.mu.Unlock()
}

func (ts *Server) authenticate(_ context.Context, _ net.Addr, c *cmpp.Connect) (string, uint32) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	secret, ok := ts.accounts[c.SourceAddr]
	if !ok {
		return "", cmpp.ConnectBadSource
	}
	return secret, cmpp.ConnectOK
}

// Start listens and serves; the server is closed when the test ends.
func (ts *Server) Start(t testing.TB) {
	t.Helper()
	ts.start(t, nil)
}

// StartTLS is Start on a TLS listener presenting cfg (certificates from
// internal/testcerts, say). Clients dial it with ClientConfig.TLS set.
func (ts *Server) StartTLS(t testing.TB, cfg *tls.Config) {
	t.Helper()
	ts.start(t, cfg)
}

func (ts *Server) start(t testing.TB, tlsCfg *tls.Config) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("cmpptest: listen: %v", err)
	}
	ts.Addr = l.Addr().String()
	if tlsCfg != nil {
		l = tls.NewListener(l, tlsCfg)
	}
	ts.Listener = l
	if ts.Logger == nil {
		ts.Logger = Logger(t)
	}
	next := ts.OnSession
	ts.OnSession = func(s *cmpp.Session) {
		select {
		case ts.sessions <- s:
		default: // nobody is collecting sessions
		}
		if next != nil {
			next(s)
		}
	}
	go func() { ts.serveErr <- ts.Serve(l) }()
	t.Cleanup(ts.Close)
}

// Close closes the server and every session and waits for Serve to return.
func (ts *Server) Close() {
	ts.mu.Lock()
	if ts.closed {
		ts.mu.Unlock()
		return
	}
	ts.closed = true
	ts.mu.Unlock()
	ts.Server.Close()
	<-ts.serveErr
}

// NextSession returns the next session the server logged in.
func (ts *Server) NextSession(t testing.TB) *cmpp.Session {
	t.Helper()
	select {
	case s := <-ts.sessions:
		return s
	case <-time.After(Timeout):
		t.Fatal("cmpptest: no session logged in")
		return nil
	}
}

// ClientConfig returns a client config that logs in to ts with version v.
func (ts *Server) ClientConfig(t testing.TB, v cmpp.Version) cmpp.ClientConfig {
	return cmpp.ClientConfig{
		SourceAddr: SourceAddr,
		Secret:     Secret,
		Version:    v,
		Session:    cmpp.Config{Logger: Logger(t)},
	}
}

// Dial logs in to ts with version v and closes the session when the test
// ends.
func (ts *Server) Dial(t testing.TB, v cmpp.Version) *cmpp.Session {
	t.Helper()
	return DialConfig(t, ts.Addr, ts.ClientConfig(t, v))
}

// DialConfig logs in to addr with cfg; the session is closed, and waited
// for, when the test ends.
func DialConfig(t testing.TB, addr string, cfg cmpp.ClientConfig) *cmpp.Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	s, err := cmpp.Dial(ctx, addr, cfg)
	if err != nil {
		t.Fatalf("cmpptest: dial %s: %v", addr, err)
	}
	t.Cleanup(func() {
		s.Close()
		WaitDone(t, s)
	})
	return s
}

// WaitDone waits for s to close and returns its Err.
func WaitDone(t testing.TB, s *cmpp.Session) error {
	t.Helper()
	select {
	case <-s.Done():
		return s.Err()
	case <-time.After(Timeout):
		t.Fatalf("cmpptest: session %d did not close", s.ID())
		return nil
	}
}

// Logger returns a logger that writes to the test's output.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// Conn is a raw client connection: the test writes and reads exact bytes.
type Conn struct {
	net.Conn
	Version cmpp.Version // layout for WritePDU and ReadPDU
	br      *bufio.Reader
	t       testing.TB
	seq     uint32
}

// DialRaw opens a TCP connection to addr, closed when the test ends.
func DialRaw(t testing.TB, addr string) *Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, Timeout)
	if err != nil {
		t.Fatalf("cmpptest: dial %s: %v", addr, err)
	}
	t.Cleanup(func() { nc.Close() })
	return &Conn{Conn: nc, Version: cmpp.V30, br: bufio.NewReader(nc), t: t}
}

// NextSeq returns a fresh Sequence_Id.
func (c *Conn) NextSeq() uint32 {
	c.seq++
	return c.seq
}

// WriteBytes writes b as is.
func (c *Conn) WriteBytes(b []byte) {
	c.t.Helper()
	c.SetWriteDeadline(time.Now().Add(Timeout))
	if _, err := c.Write(b); err != nil {
		c.t.Fatalf("cmpptest: write: %v", err)
	}
}

// WritePDU writes p with Sequence_Id seq in c.Version's layout.
func (c *Conn) WritePDU(seq uint32, p cmpp.PDU) {
	c.t.Helper()
	c.WriteBytes(cmpp.AppendPDU(nil, c.Version, seq, p))
}

// ReadPDU reads and decodes the next PDU in c.Version's layout.
func (c *Conn) ReadPDU() (cmpp.Header, cmpp.PDU, error) {
	c.SetReadDeadline(time.Now().Add(Timeout))
	h, err := cmpp.ReadHeader(c.br, cmpp.DefaultMaxPDU)
	if err != nil {
		return h, nil, err
	}
	b := make([]byte, h.Length)
	if _, err := io.ReadFull(c.br, b); err != nil {
		return h, nil, err
	}
	_, p, err := cmpp.DecodePDU(b, c.Version, cmpp.DefaultMaxPDU)
	return h, p, err
}

// MustReadPDU is ReadPDU failing the test on error.
func (c *Conn) MustReadPDU() (cmpp.Header, cmpp.PDU) {
	c.t.Helper()
	h, p, err := c.ReadPDU()
	if err != nil {
		c.t.Fatalf("cmpptest: read PDU: %v", err)
	}
	return h, p
}

// Connect logs in with sourceAddr/secret at version v and returns the
// CONNECT_RESP; later PDUs use v's layout.
func (c *Conn) Connect(sourceAddr, secret string, v cmpp.Version) *cmpp.ConnectResp {
	c.t.Helper()
	ts := cmpp.Timestamp(time.Now())
	c.Version = v
	c.WritePDU(c.NextSeq(), &cmpp.Connect{
		SourceAddr:    sourceAddr,
		Authenticator: cmpp.AuthSource(sourceAddr, secret, ts),
		Version:       v,
		Timestamp:     ts,
	})
	_, p := c.MustReadPDU()
	resp, ok := p.(*cmpp.ConnectResp)
	if !ok {
		c.t.Fatalf("cmpptest: got %v, want CONNECT_RESP", p.Command())
	}
	return resp
}

// ExpectClosed reads until the server closes the connection, discarding
// what it sends, and fails the test if that takes longer than Timeout.
func (c *Conn) ExpectClosed() {
	c.t.Helper()
	c.SetReadDeadline(time.Now().Add(Timeout))
	_, err := io.Copy(io.Discard, c.br)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatal("cmpptest: server did not close the connection")
	}
}
