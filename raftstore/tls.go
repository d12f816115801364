package raftstore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Reasons a TLS handshake on the Raft transport failed (TLSFailure.Reason).
// The set is closed, so it can label a metric.
const (
	TLSReasonPlaintext      = "plaintext"       // the peer does not speak TLS (an old or misconfigured node, or a forger)
	TLSReasonNoCertificate  = "no_certificate"  // the client sent no certificate
	TLSReasonBadCertificate = "bad_certificate" // not signed by the cluster CA, expired, or not naming the dialled host
	TLSReasonPeerRefused    = "peer_refused"    // the peer refused our certificate or our TLS (an alert)
	TLSReasonTimeout        = "timeout"         // no complete handshake within HandshakeTimeout
	TLSReasonOther          = "other"
)

// TLSFailure describes one refused Raft connection: an inbound one whose
// handshake failed, or an outbound one whose peer failed our checks.
type TLSFailure struct {
	Inbound bool   // a peer dialled us; false: we dialled the peer
	Remote  string // the peer's address
	Reason  string // one of the TLSReason constants
	Err     error
}

// tlsConfigs derives the transport's two sides from Config.TLS: the server
// requires a client certificate signed by the cluster CA, the client checks
// the server's certificate against the CA and the dialled host.
func tlsConfigs(base *tls.Config) (server, client *tls.Config) {
	server = base.Clone()
	server.ClientAuth = tls.RequireAndVerifyClientCert
	if server.ClientCAs == nil {
		server.ClientCAs = base.RootCAs
	}
	server.MinVersion = max(server.MinVersion, tls.VersionTLS12)
	client = base.Clone()
	client.MinVersion = max(client.MinVersion, tls.VersionTLS12)
	client.InsecureSkipVerify = false
	if client.GetClientCertificate == nil && len(client.Certificates) > 0 {
		// Always present our certificate, even when the server's list of
		// acceptable CAs does not name its issuer: a misconfigured node
		// is then refused as bad_certificate by the peer, which says what
		// is wrong, rather than as no_certificate.
		cert := &client.Certificates[0]
		client.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	return server, client
}

// checkCertNames fails when this node's certificate does not name the host
// its peers dial: they would refuse every connection to it.
func checkCertNames(tc *tls.Config, advertise string) error {
	if len(tc.Certificates) == 0 {
		return nil // GetCertificate: the caller chooses per connection
	}
	leaf := tc.Certificates[0].Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(tc.Certificates[0].Certificate[0]); err != nil {
			return fmt.Errorf("%w: TLS certificate: %w", ErrInvalidConfig, err)
		}
	}
	host, _, err := net.SplitHostPort(advertise)
	if err != nil {
		return fmt.Errorf("%w: advertise address %q: %w", ErrInvalidConfig, advertise, err)
	}
	if err := leaf.VerifyHostname(host); err != nil {
		return fmt.Errorf("%w: TLS certificate %q does not name this node's Raft address %s, so its peers would refuse it (issue it for that IP or DNS name): %w",
			ErrInvalidConfig, leaf.Subject.CommonName, advertise, err)
	}
	return nil
}

// tlsStream is the Raft transport's StreamLayer over mutual TLS.
//
// Accept hands raft the connection before its handshake, which runs on
// raft's per-connection goroutine at the first Read (bounded by
// HandshakeTimeout), so a peer that never completes one cannot stall the
// accept loop. A failed handshake reads as io.EOF, which raft closes
// quietly; the failure is counted and logged here, rate-limited.
type tlsStream struct {
	ln        net.Listener
	advertise net.Addr
	server    *tls.Config
	client    *tls.Config
	timeout   time.Duration
	log       *slog.Logger
	onFail    func(TLSFailure)
	limit     logLimiter
}

func newTLSStream(cfg Config, advertise net.Addr, logger *slog.Logger) (*tlsStream, error) {
	ln, err := net.Listen("tcp", cfg.BindAddr)
	if err != nil {
		return nil, err
	}
	s := &tlsStream{ln: ln, advertise: advertise, timeout: cfg.HandshakeTimeout, log: logger, onFail: cfg.OnTLSFailure}
	s.server, s.client = tlsConfigs(cfg.TLS)
	addr, ok := s.Addr().(*net.TCPAddr)
	if !ok || addr.IP == nil || addr.IP.IsUnspecified() {
		ln.Close()
		return nil, fmt.Errorf("address %v is not advertisable", s.Addr())
	}
	if err := checkCertNames(cfg.TLS, s.Addr().String()); err != nil {
		ln.Close()
		return nil, err
	}
	return s, nil
}

func (s *tlsStream) Accept() (net.Conn, error) {
	c, err := s.ln.Accept()
	if err != nil {
		return nil, err
	}
	return &serverConn{Conn: tls.Server(c, s.server), s: s}, nil
}

func (s *tlsStream) Close() error { return s.ln.Close() }

func (s *tlsStream) Addr() net.Addr {
	if s.advertise != nil {
		return s.advertise
	}
	return s.ln.Addr()
}

// Dial connects and completes the handshake, so a peer that fails our
// checks is refused here, with the reason, before raft sends anything.
func (s *tlsStream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	raw, err := (&net.Dialer{}).DialContext(ctx, "tcp", string(address))
	if err != nil {
		return nil, err
	}
	cfg := s.client
	if host, _, err := net.SplitHostPort(string(address)); err == nil {
		cfg = cfg.Clone()
		cfg.ServerName = host
	}
	c := tls.Client(raw, cfg)
	if err := c.HandshakeContext(ctx); err != nil {
		raw.Close()
		s.failed(false, string(address), err)
		return nil, fmt.Errorf("raft TLS handshake with %s: %w", address, err)
	}
	return c, nil
}

// failed counts and logs a refused connection; the log line is
// rate-limited so a flood of plaintext connects cannot flood the log.
func (s *tlsStream) failed(inbound bool, remote string, err error) {
	f := TLSFailure{Inbound: inbound, Remote: remote, Reason: tlsReason(err), Err: err}
	if s.onFail != nil {
		s.onFail(f)
	}
	if ok, skipped := s.limit.allow(time.Now()); ok {
		s.log.Warn("raft connection refused: TLS handshake failed", "inbound", inbound, "peer", remote,
			"reason", f.Reason, "err", err, "unlogged_before", skipped)
	}
}

// tlsReason classifies a handshake error for TLSFailure.Reason.
func tlsReason(err error) string {
	var rec tls.RecordHeaderError
	var verify *tls.CertificateVerificationError
	var alert tls.AlertError
	var ne net.Error
	switch {
	case errors.As(err, &rec):
		return TLSReasonPlaintext
	case errors.As(err, &verify):
		return TLSReasonBadCertificate
	case errors.As(err, &alert):
		return TLSReasonPeerRefused
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return TLSReasonTimeout
	case strings.Contains(err.Error(), "didn't provide a certificate"):
		// crypto/tls has no typed error for it.
		return TLSReasonNoCertificate
	}
	return TLSReasonOther
}

// serverConn runs the server handshake at its first use, on the goroutine
// raft gave the connection.
type serverConn struct {
	*tls.Conn
	s    *tlsStream
	once sync.Once
	err  error
}

func (c *serverConn) handshake() error {
	c.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), c.s.timeout)
		defer cancel()
		if err := c.Conn.HandshakeContext(ctx); err != nil {
			c.err = err
			c.s.failed(true, c.RemoteAddr().String(), err)
		}
	})
	return c.err
}

// Read reports a failed handshake as io.EOF: raft closes such a connection
// without logging, as the failure has been counted and logged already.
func (c *serverConn) Read(b []byte) (int, error) {
	if c.handshake() != nil {
		return 0, io.EOF
	}
	return c.Conn.Read(b)
}

func (c *serverConn) Write(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

// logLimiter lets one line through per logEvery and counts the others.
type logLimiter struct {
	mu      sync.Mutex
	next    time.Time
	skipped int
}

const logEvery = 10 * time.Second

func (l *logLimiter) allow(now time.Time) (ok bool, skipped int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Before(l.next) {
		l.skipped++
		return false, 0
	}
	l.next = now.Add(logEvery)
	skipped, l.skipped = l.skipped, 0
	return true, skipped
}
