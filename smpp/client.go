package smpp

import (
	"context"
	"fmt"
	"net"
)

// Dial connects to an SMSC over TCP and starts an ESME session; call Bind
// next. h answers deliver_sm, data_sm and alert_notification from the SMSC
// and may be nil for a transmitter. ctx bounds only the connect.
func Dial(ctx context.Context, addr string, cfg Config, h Handler) (*Session, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var d net.Dialer
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
func DialBind(ctx context.Context, addr string, cfg Config, b *Bind, h Handler) (*Session, *BindResp, error) {
	s, err := Dial(ctx, addr, cfg, h)
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
