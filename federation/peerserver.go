package federation

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/internal/loginguard"
)

// Log keys of the peer links, the FWD server and membership (plus cmpp's
// for session events).
const (
	keyPeerCode = "peer_code" // a peer's gateway code
	keyAddr     = "addr"      // a peer's FWD address
	keySlot     = "slot"      // a link session's index at its address
	keyMember   = "member"    // a memberlist node name
	keyGateway  = "gateway"   // a member's gateway code
)

// FwdServer is the FWD server (listen.fwd): a cmpp.Server whose logins are
// peer gateways. A peer logs in with CONNECT Source_Addr = its 6-digit
// gateway code and the secret configured for it (or Default's), from an
// address on its allow list; each FWD it sends is checked and handed to
// the FwdReceiver. Create it with NewFwdServer, then Serve or
// ListenAndServe; Shutdown or Close ends it.
type FwdServer struct {
	gateway string
	listen  string
	book    *peerBook
	isPeer  func(string) bool
	tls     *tls.Config
	guard   *loginguard.Guard
	limits  loginguard.Limits
	intake  *fwdIntake
	m       *PeerMetrics
	log     *slog.Logger
	logs    *rate.Sometimes // refused logins

	srv      cmpp.Server
	sessions sync.Map // *cmpp.Session → *peerSession
}

// NewFwdServer validates cfg, loads the TLS files and returns a server
// that hands FWDs to recv. isPeer, if not nil, says which gateway codes
// may log in at all (the route table's gateways, say); nil admits any
// code that has a secret.
func NewFwdServer(cfg PeerConfig, recv FwdReceiver, isPeer func(code string) bool) (*FwdServer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if recv == nil {
		return nil, fmt.Errorf("%w: FwdReceiver is nil", ErrInvalidPeerConfig)
	}
	book, err := resolvePeers(cfg)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := cfg.Metrics
	if m == nil {
		m = NewPeerMetrics(nil)
	}
	s := &FwdServer{
		gateway: cfg.Gateway,
		listen:  cfg.Listen,
		book:    book,
		isPeer:  isPeer,
		guard:   loginguard.New(),
		limits:  loginguard.Limits{PerAccount: cfg.AuthFailures, PerIP: cfg.AuthFailuresPerIP, Window: cfg.AuthFailWindow},
		intake:  newFwdIntake(cfg.Gateway, recv, m, log),
		m:       m,
		log:     log,
		logs:    &rate.Sometimes{First: 10, Interval: time.Second},
	}
	if cfg.ServerTLS != nil {
		if s.tls, err = cfg.ServerTLS.Load(); err != nil {
			return nil, fmt.Errorf("federation: ServerTLS: %w", err)
		}
	}
	// The server's sessions take Default's timers; the inbound window is
	// one more than the largest any peer has (see sessionConfig), and each
	// peer's own is enforced per FWD (Result 8 over it).
	window := book.def.window
	for _, p := range book.listed {
		window = max(window, p.window)
	}
	sc := book.def.sessionConfig(log)
	sc.InboundWindow = window + 1
	sc.OnBadPDU = func(sess *cmpp.Session, h cmpp.Header, reason string, err error) {
		s.intake.badPDU(sess, sess.SourceAddr(), h, reason, err)
	}
	s.srv = cmpp.Server{
		Config:          sc,
		Auth:            cmpp.AuthenticatorFunc(s.authenticate),
		Handler:         cmpp.HandlerFunc(s.serveCMPP),
		MaxVersion:      cmpp.V30,
		ConnectTimeout:  cfg.ConnectTimeout,
		MaxPending:      cfg.MaxPending,
		MaxPendingPerIP: cfg.MaxPendingPerIP,
		OnRefuse: func(_ net.Addr, reason string) {
			m.LoginsRefused.WithLabelValues(reason).Inc()
		},
		Logger:    log,
		OnSession: s.onSession,
		OnClose:   s.onClose,
	}
	return s, nil
}

// ListenAndServe listens on cfg.Listen and serves until Shutdown or Close.
func (s *FwdServer) ListenAndServe() error {
	if s.listen == "" {
		return fmt.Errorf("%w: Listen is empty", ErrInvalidPeerConfig)
	}
	l, err := net.Listen("tcp", s.listen)
	if err != nil {
		return fmt.Errorf("federation: listen.fwd: %w", err)
	}
	return s.Serve(l)
}

// Serve accepts peer connections on l (wrapped in TLS when ServerTLS is
// set) until Shutdown or Close; it returns cmpp.ErrServerClosed then.
func (s *FwdServer) Serve(l net.Listener) error {
	if s.tls != nil {
		l = tls.NewListener(l, s.tls)
	}
	return s.srv.Serve(l)
}

// Shutdown stops accepting, sends CMPP_TERMINATE to every peer session and
// lets their windows drain (FWDs in the receiver answered) until ctx ends,
// then closes what is left.
func (s *FwdServer) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	s.intake.tasks.close()
	return err
}

// Close closes the listeners and every session at once.
func (s *FwdServer) Close() error {
	err := s.srv.Close()
	s.intake.tasks.close()
	return err
}

// ServerSession describes one peer session logged in to the FWD server.
type ServerSession struct {
	Peer      string // gateway code
	Remote    string
	Version   cmpp.Version
	Receiving int // FWDs handed to the receiver and not yet answered
}

// Sessions lists the peer sessions logged in now.
func (s *FwdServer) Sessions() []ServerSession {
	var out []ServerSession
	for _, sess := range s.srv.Sessions() {
		v, ok := s.sessions.Load(sess)
		if !ok {
			continue
		}
		ps := v.(*peerSession)
		out = append(out, ServerSession{Peer: ps.code, Remote: sess.RemoteAddr().String(), Version: sess.Version(), Receiving: int(ps.inflight.Load())})
	}
	return out
}

// authenticate decides a peer's CONNECT. A sibling (another node of this
// gateway) logs in with our own code and PeerConfig.Siblings' secret.
// Refusals: locked out → status 5; not a gateway code, our own code
// without siblings, not a known peer, or no secret for it
// → 2 (illegal source address); source IP not allowed → 5; bad
// AuthenticatorSource → 3. Unknown codes and bad secrets count towards
// the lockout.
func (s *FwdServer) authenticate(_ context.Context, remote net.Addr, c *cmpp.Connect) (string, uint32) {
	now := time.Now()
	ip := addrIP(remote)
	code := c.SourceAddr
	refuse := func(reason string, status uint32, fail bool) (string, uint32) {
		if fail {
			s.guard.Fail(ip, code, now, s.limits)
		}
		s.m.LoginsRefused.WithLabelValues(reason).Inc()
		s.logs.Do(func() {
			s.log.Warn("peer login refused", cmpp.LogKeyReason, reason, keyPeerCode, code, cmpp.LogKeyPeer, remote.String())
		})
		return "", status
	}
	if s.guard.Blocked(ip, code, now, s.limits) {
		return refuse(LoginBlocked, cmpp.ConnectOther, false)
	}
	sibling := code == s.gateway && s.book.sibling != nil // another node of this gateway
	if !isGatewayCode(code) || code == s.gateway && !sibling || !sibling && s.isPeer != nil && !s.isPeer(code) {
		return refuse(LoginUnknownPeer, cmpp.ConnectBadSource, true)
	}
	p := s.book.get(code)
	if p.secret == "" {
		return refuse(LoginUnknownPeer, cmpp.ConnectBadSource, true)
	}
	if !p.allows(ip) {
		return refuse(LoginIP, cmpp.ConnectOther, false)
	}
	if !c.VerifySource(p.secret) {
		return refuse(LoginAuth, cmpp.ConnectAuthFailed, true)
	}
	return p.secret, cmpp.ConnectOK
}

func (s *FwdServer) onSession(sess *cmpp.Session) {
	code := sess.SourceAddr()
	s.sessions.Store(sess, s.intake.newPeerSession(code, s.book.get(code).window))
	s.m.ServerSessions.WithLabelValues(code).Inc()
	s.log.Info("peer gateway logged in", keyPeerCode, code, cmpp.LogKeyPeer, sess.RemoteAddr().String(),
		cmpp.LogKeyVersion, sess.Version().String())
}

func (s *FwdServer) onClose(sess *cmpp.Session, err error) {
	if _, ok := s.sessions.LoadAndDelete(sess); !ok {
		return
	}
	s.m.ServerSessions.WithLabelValues(sess.SourceAddr()).Dec()
	s.log.Info("peer gateway session closed", keyPeerCode, sess.SourceAddr(), cmpp.LogKeyPeer, sess.RemoteAddr().String(), cmpp.LogKeyErr, err)
}

// serveCMPP runs on the session's reader (InlineHandler): the checks and
// the hand-off to the receiver never block.
func (s *FwdServer) serveCMPP(sess *cmpp.Session, h cmpp.Header, req cmpp.PDU) {
	v, ok := s.sessions.Load(sess)
	if !ok {
		// Not registered (cannot happen: OnSession runs before the first
		// read); refuse rather than hand on.
		v = s.intake.newPeerSession(sess.SourceAddr(), 0)
	}
	s.intake.serve(sess, v.(*peerSession), h, req)
}

// addrIP is the address part of a peer, unmapped, or the zero Addr.
func addrIP(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok {
			return ip.Unmap()
		}
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}
