// Package smpptest runs real SMPP servers on loopback for tests, in the
// manner of net/http/httptest, and provides SMSC, a small in-memory SMSC
// Handler (binds, submit_sm with generated message ids, delivery receipts).
package smpptest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/tandem-sms/tandem/smpp"
)

// Server is an smpp.Server listening on 127.0.0.1.
type Server struct {
	Addr     string // host:port to dial
	Listener net.Listener
	SMPP     *smpp.Server

	serveErr chan error
	once     sync.Once
}

// Config returns a session configuration suited to tests: the defaults
// with a short request timeout, so a broken test fails in seconds.
func Config() smpp.Config {
	c := smpp.DefaultConfig()
	c.RequestTimeout = 5 * time.Second
	c.BindTimeout = 5 * time.Second
	return c
}

// NewServer starts a server with Config() and handler h. It panics if it
// cannot listen, as httptest does. Close it when done.
func NewServer(h smpp.Handler) *Server { return NewServerConfig(Config(), h) }

// NewServerConfig starts a server with the given session configuration.
func NewServerConfig(cfg smpp.Config, h smpp.Handler) *Server {
	s := NewUnstartedServer(cfg, h)
	s.Start()
	return s
}

// NewUnstartedServer listens but does not serve until Start, so the caller
// can set fields of s.SMPP (e.g. OnSession) first.
func NewUnstartedServer(cfg smpp.Config, h smpp.Handler) *Server {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("smpptest: listen: %v", err))
	}
	return &Server{
		Addr:     l.Addr().String(),
		Listener: l,
		SMPP:     &smpp.Server{Config: cfg, Handler: h},
		serveErr: make(chan error, 1),
	}
}

// StartTLS is Start on a TLS listener presenting cfg (certificates from
// internal/testcerts, say); dial it with smpp.Dialer{TLS: ...}.
func (s *Server) StartTLS(cfg *tls.Config) {
	s.Listener = tls.NewListener(s.Listener, cfg)
	s.Start()
}

// Start serves in a goroutine that Close waits for.
func (s *Server) Start() {
	go func() { s.serveErr <- s.SMPP.Serve(s.Listener) }()
}

// Close closes every session and waits for the server's goroutines. It
// returns the error Serve ended with, if it was not ErrServerClosed.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		_ = s.SMPP.Close()
		_ = s.Listener.Close()
		if e := <-s.serveErr; !errors.Is(e, smpp.ErrServerClosed) {
			err = e
		}
	})
	return err
}

// Shutdown shuts the server down gracefully, then waits for Serve.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.SMPP.Shutdown(ctx)
	_ = s.Close()
	return err
}

// Dial connects an ESME session to the server.
func (s *Server) Dial(ctx context.Context, cfg smpp.Config, h smpp.Handler) (*smpp.Session, error) {
	return smpp.Dial(ctx, s.Addr, cfg, h)
}

// SMSC is an in-memory SMSC Handler. The zero value accepts every bind and
// every submit_sm.
type SMSC struct {
	// Users maps system_id to password; nil accepts anyone.
	Users map[string]string
	// SystemID is returned in bind_resp; "" means "smpptest".
	SystemID string
	// SubmitStatus, if set, chooses the status of each submit_sm
	// (e.g. smpp.StatusThrottled); a non-OK status gets no message id.
	SubmitStatus func(*smpp.SubmitSM) smpp.Status
	// Receipts makes the SMSC send a DELIVRD delivery receipt for every
	// accepted submit_sm that asks for one (registered_delivery bit 0),
	// on the same session if it is bound as a receiver.
	Receipts bool

	mu      sync.Mutex
	next    uint64
	submits []smpp.SubmitSM
	notify  chan struct{}
	wg      sync.WaitGroup
}

// ServeSMPP implements smpp.Handler.
func (m *SMSC) ServeSMPP(r *smpp.Request) {
	switch p := r.PDU.(type) {
	case *smpp.Bind:
		if m.Users != nil {
			pw, ok := m.Users[p.SystemID]
			if !ok {
				_ = r.Respond(nil, smpp.StatusInvSysID)
				return
			}
			if pw != p.Password {
				_ = r.Respond(nil, smpp.StatusInvPaswd)
				return
			}
		}
		id := m.SystemID
		if id == "" {
			id = "smpptest"
		}
		resp := &smpp.BindResp{SystemID: id}
		resp.TLVs.SetSCInterfaceVersion(smpp.InterfaceVersion34)
		_ = r.Respond(resp, smpp.StatusOK)
	case *smpp.SubmitSM:
		st := smpp.StatusOK
		if m.SubmitStatus != nil {
			st = m.SubmitStatus(p)
		}
		if st != smpp.StatusOK {
			_ = r.Respond(nil, st)
			return
		}
		m.mu.Lock()
		m.next++
		id := fmt.Sprintf("%08X", m.next)
		m.submits = append(m.submits, *p)
		if m.notify != nil {
			close(m.notify)
			m.notify = nil
		}
		m.mu.Unlock()
		if err := r.Respond(&smpp.SubmitSMResp{MessageID: id}, smpp.StatusOK); err != nil {
			return
		}
		if m.Receipts && p.RegisteredDelivery&smpp.RegDeliveryReceiptMask == smpp.RegDeliveryFinal {
			m.sendReceipt(r.Session(), p, id)
		}
	case *smpp.QuerySM:
		_ = r.Respond(&smpp.QuerySMResp{MessageID: p.MessageID, MessageState: smpp.StateDelivered}, smpp.StatusOK)
	default:
		_ = r.Respond(nil, smpp.StatusOK)
	}
}

// sendReceipt delivers a receipt from a goroutine, since the Handler must
// not block the reader; Wait waits for these goroutines.
func (m *SMSC) sendReceipt(s *smpp.Session, p *smpp.SubmitSM, id string) {
	if !s.BindMode().CanReceive() {
		return
	}
	now := time.Now().UTC().Truncate(time.Minute)
	text := smpp.Receipt{ID: id, Sub: 1, Dlvrd: 1, SubmitDate: now, DoneDate: now, Stat: smpp.StatDelivered, Err: "000"}
	d := &smpp.DeliverSM{
		SourceAddr:   p.DestAddr,
		DestAddr:     p.SourceAddr,
		ESMClass:     smpp.ESMClassReceipt,
		ShortMessage: text.Append(nil),
	}
	d.TLVs.SetReceiptedMessageID(id)
	d.TLVs.SetMessageState(smpp.StateDelivered)
	// SendWait returns when the session closes or the request times out,
	// so the goroutine cannot outlive the session by much.
	m.wg.Go(func() { _, _ = s.SendWait(context.Background(), d) })
}

// Submitted returns a copy of the submit_sm PDUs accepted so far.
func (m *SMSC) Submitted() []smpp.SubmitSM {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]smpp.SubmitSM(nil), m.submits...)
}

// WaitSubmitted blocks until at least n submit_sm were accepted or ctx ends.
func (m *SMSC) WaitSubmitted(ctx context.Context, n int) error {
	for {
		m.mu.Lock()
		if len(m.submits) >= n {
			m.mu.Unlock()
			return nil
		}
		if m.notify == nil {
			m.notify = make(chan struct{})
		}
		c := m.notify
		m.mu.Unlock()
		select {
		case <-c:
		case <-ctx.Done():
			return fmt.Errorf("smpptest: %d of %d submits: %w", len(m.Submitted()), n, ctx.Err())
		}
	}
}

// Wait waits for the receipt goroutines to finish.
func (m *SMSC) Wait() { m.wg.Wait() }

// MessageID formats the n-th message id this SMSC hands out (1-based).
func MessageID(n uint64) string { return fmt.Sprintf("%08X", n) }
