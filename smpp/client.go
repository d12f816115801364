package smpp

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
)

// Dialer connects ESME sessions to an SMSC, over TCP or TLS. The zero
// Dialer dials plain TCP.
type Dialer struct {
	// NetDialer makes the TCP connection; nil means a zero net.Dialer.
	NetDialer *net.Dialer
	// TLS, if set, runs TLS over the connection (the handshake within the
	// dial's ctx) before the session starts, so the bind and everything
	// after it are encrypted. An empty ServerName is taken from the
	// address's host, which the SMSC's certificate must then name; set
	// RootCAs for a private CA and Certificates for a client certificate.
	TLS *tls.Config
}

// DialContext returns the connection alone, TCP or TLS as d says. Its
// signature is net.Dialer.DialContext's, for callers that start the
// session themselves with NewSession.
func (d Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	nd := d.NetDialer
	if nd == nil {
		nd = new(net.Dialer)
	}
	if d.TLS != nil {
		return (&tls.Dialer{NetDialer: nd, Config: d.TLS}).DialContext(ctx, network, addr)
	}
	return nd.DialContext(ctx, network, addr)
}

// Dial connects to an SMSC and starts an ESME session; call Bind next. h
// answers deliver_sm, data_sm and alert_notification from the SMSC and may
// be nil for a transmitter. ctx bounds only the connect (and the TLS
// handshake).
func (d Dialer) Dial(ctx context.Context, addr string, cfg Config, h Handler) (*Session, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("smpp: dial %s: %w", addr, err)
	}
	s, err := NewSession(conn, RoleESME, cfg, h)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	return s, nil
}

// DialBind is Dial followed by Bind; the session is closed if the bind
// fails.
func (d Dialer) DialBind(ctx context.Context, addr string, cfg Config, b *Bind, h Handler) (*Session, *BindResp, error) {
	s, err := d.Dial(ctx, addr, cfg, h)
	if err != nil {
		return nil, nil, err
	}
	resp, err := s.Bind(ctx, b)
	if err != nil {
		_ = s.Close()
		<-s.Done()
		return nil, resp, err
	}
	return s, resp, nil
}

// Dial connects to an SMSC over plain TCP and starts an ESME session; see
// Dialer.Dial, and Dialer for TLS.
func Dial(ctx context.Context, addr string, cfg Config, h Handler) (*Session, error) {
	return Dialer{}.Dial(ctx, addr, cfg, h)
}

// DialBind is Dial followed by Bind; see Dialer.DialBind.
func DialBind(ctx context.Context, addr string, cfg Config, b *Bind, h Handler) (*Session, *BindResp, error) {
	return Dialer{}.DialBind(ctx, addr, cfg, b, h)
}
