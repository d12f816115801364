package federation

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
)

// ErrInvalidPeerConfig is wrapped by every PeerConfig.Validate error.
var ErrInvalidPeerConfig = errors.New("federation: invalid peer config")

// PeerConfig configures this gateway's side of CMPP_FWD: the FWD server
// (listen.fwd) that peer gateways log in to, and the links this gateway
// opens to them. Start from DefaultPeerConfig and set at least Gateway and
// a secret (Default.Secret or one per peer).
type PeerConfig struct {
	// Gateway is this gateway's 6-digit code: the CONNECT Source_Addr and
	// FWD Source_Id of our links, and the only Destination_Id our server
	// accepts.
	Gateway string
	// Listen is the FWD server's address (listen.fwd, conventionally
	// :7930); empty means none is served (FwdServer.ListenAndServe
	// refuses).
	Listen string
	// ServerTLS, if set, makes the FWD server speak TLS only.
	ServerTLS *ServerTLS

	// Default applies to every peer gateway not listed in Peers, and
	// fills the zero fields of those listed.
	Default PeerSettings
	// Peers are per-gateway settings, Code set in each.
	Peers []PeerSettings
	// Siblings, with a Secret, lets the other nodes of this gateway log
	// in (CONNECT Source_Addr = this gateway's own code and this secret)
	// and makes the sibling links (peersiblings.go) log in to them:
	// status reports and MO pass between the nodes of a gateway over
	// them. Its zero fields take Default's; Code stays empty. Without a
	// Secret a login with our own code is refused, as before.
	Siblings PeerSettings

	// MaxPending caps the connections to the FWD server that have not
	// logged in yet, MaxPendingPerIP those from one address (cmpp.Server).
	MaxPending, MaxPendingPerIP int
	// ConnectTimeout bounds accept-to-login on the server, and dial (TLS
	// handshake included) plus login on a link.
	ConnectTimeout time.Duration
	// AuthFailures failed logins from one source IP as one gateway code
	// within AuthFailWindow lock that pair out until the window (started
	// at the first failure) ends; AuthFailuresPerIP, over all codes, locks
	// out the address.
	AuthFailures, AuthFailuresPerIP int
	AuthFailWindow                  time.Duration

	// ReconnectMin and ReconnectMax bound a link session's reconnect
	// backoff (exponential, full jitter; reset after a session that lasted
	// ReconnectMax).
	ReconnectMin, ReconnectMax time.Duration
	// ShutdownTimeout bounds a link session's graceful end (TERMINATE,
	// in-flight FWDs answered) when the link stops or an address goes.
	ShutdownTimeout time.Duration

	Logger  *slog.Logger // nil discards
	Metrics *PeerMetrics // nil: metrics on a private registry
}

// PeerSettings are one peer gateway's settings, or the defaults. A zero
// field of a listed peer takes Default's value.
type PeerSettings struct {
	// Code is the peer's 6-digit gateway code (empty in Default).
	Code string
	// Secret is the shared secret of CONNECT both ways: the peer logs in
	// to us with it, and our link logs in to the peer with it.
	Secret string
	// AllowedIPs are the CIDRs or addresses the peer may log in from. A
	// listed peer's nil list takes Default's; an empty list allows none;
	// "0.0.0.0/0" and "::/0" allow any.
	AllowedIPs []string
	// Window is the most FWDs unanswered at once per session, both ways
	// (W=16). Over it, our link waits and the server answers Result 8.
	Window int
	// Version is the CMPP version our link speaks (cmpp.V20, V21 or V30;
	// default V30). The server accepts what a peer logs in with.
	Version cmpp.Version
	// ResponseTimeout is T: how long a FWD waits for its FWD_RESP.
	ResponseTimeout time.Duration
	// ActiveTest is the idle time before an ACTIVE_TEST (C); negative
	// disables it.
	ActiveTest time.Duration
	// Sessions is how many sessions a link keeps to each of the peer's
	// FWD addresses.
	Sessions int
	// TLS, if set, makes our link to this peer speak TLS.
	TLS *ClientTLS
}

// ServerTLS is the FWD server's TLS: with ClientCA set, peers must present
// a certificate signed by it (mutual TLS); the CMPP login is checked
// either way.
type ServerTLS struct {
	Cert, Key string // PEM files of this node's certificate and key
	ClientCA  string // PEM CA bundle verifying peer certificates; empty: none asked
}

// ClientTLS is a link's TLS.
type ClientTLS struct {
	CA         string // PEM CA bundle verifying the peer; empty: the system roots
	Cert, Key  string // client certificate for mutual TLS, both or neither
	ServerName string // name checked in the peer's certificate; empty: the address's host
}

// DefaultPeerConfig returns the spec's values (W=16, T=60s, C=3min) and
// the login limits of the SP port.
func DefaultPeerConfig() PeerConfig {
	return PeerConfig{
		Default: PeerSettings{
			Window:          16,
			Version:         cmpp.V30,
			ResponseTimeout: 60 * time.Second,
			ActiveTest:      3 * time.Minute,
			Sessions:        1,
		},
		MaxPending:        64,
		MaxPendingPerIP:   8,
		ConnectTimeout:    5 * time.Second,
		AuthFailures:      5,
		AuthFailuresPerIP: 50,
		AuthFailWindow:    time.Minute,
		ReconnectMin:      200 * time.Millisecond,
		ReconnectMax:      30 * time.Second,
		ShutdownTimeout:   10 * time.Second,
	}
}

// Validate reports the first invalid field. It reads no file: NewFwdServer
// and NewPeers load the TLS files and name the one that fails.
func (c PeerConfig) Validate() error {
	if err := checkCode("Gateway", c.Gateway); err != nil {
		return err
	}
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			return badPeer("Listen", "%q is not host:port", c.Listen)
		}
	}
	if t := c.ServerTLS; t != nil && (t.Cert == "" || t.Key == "") {
		return badPeer("ServerTLS", "needs Cert and Key")
	}
	if c.Default.Code != "" {
		return badPeer("Default.Code", "must be empty (Default applies to every peer)")
	}
	if err := c.Default.check("Default", true); err != nil {
		return err
	}
	seen := map[string]int{}
	anySecret := c.Default.Secret != ""
	for i, p := range c.Peers {
		field := fmt.Sprintf("Peers[%d]", i)
		if err := checkCode(field+".Code", p.Code); err != nil {
			return err
		}
		if p.Code == c.Gateway {
			return badPeer(field+".Code", "%q is this gateway's own code", p.Code)
		}
		if j, dup := seen[p.Code]; dup {
			return badPeer(field+".Code", "%q already listed as Peers[%d]", p.Code, j)
		}
		seen[p.Code] = i
		if err := p.check(field, false); err != nil {
			return err
		}
		anySecret = anySecret || p.Secret != ""
	}
	if c.Siblings.Code != "" {
		return badPeer("Siblings.Code", "must be empty (the siblings share this gateway's code)")
	}
	if err := c.Siblings.check("Siblings", false); err != nil {
		return err
	}
	switch {
	case !anySecret:
		return badPeer("Default.Secret", "is empty and no peer has a secret")
	case c.MaxPending < 0:
		return badPeer("MaxPending", "must be >= 0, got %d", c.MaxPending)
	case c.MaxPendingPerIP < 0:
		return badPeer("MaxPendingPerIP", "must be >= 0, got %d", c.MaxPendingPerIP)
	case c.ConnectTimeout <= 0:
		return badPeer("ConnectTimeout", "must be > 0, got %v", c.ConnectTimeout)
	case c.AuthFailures <= 0:
		return badPeer("AuthFailures", "must be > 0, got %d", c.AuthFailures)
	case c.AuthFailuresPerIP < c.AuthFailures:
		return badPeer("AuthFailuresPerIP", "must be >= AuthFailures (%d), got %d", c.AuthFailures, c.AuthFailuresPerIP)
	case c.AuthFailWindow <= 0:
		return badPeer("AuthFailWindow", "must be > 0, got %v", c.AuthFailWindow)
	case c.ReconnectMin <= 0:
		return badPeer("ReconnectMin", "must be > 0, got %v", c.ReconnectMin)
	case c.ReconnectMax < c.ReconnectMin:
		return badPeer("ReconnectMax", "must be >= ReconnectMin (%v), got %v", c.ReconnectMin, c.ReconnectMax)
	case c.ShutdownTimeout <= 0:
		return badPeer("ShutdownTimeout", "must be > 0, got %v", c.ShutdownTimeout)
	}
	return nil
}

// check validates one PeerSettings; in Default every tunable must be set.
func (p PeerSettings) check(field string, isDefault bool) error {
	for i, a := range p.AllowedIPs {
		if _, err := parseAllowed(a); err != nil {
			return badPeer(fmt.Sprintf("%s.AllowedIPs[%d]", field, i), "%v", err)
		}
	}
	switch {
	case p.Window < 0 || isDefault && p.Window == 0:
		return badPeer(field+".Window", "must be > 0, got %d", p.Window)
	case p.Version != 0 && p.Version != cmpp.V20 && p.Version != cmpp.V21 && p.Version != cmpp.V30,
		isDefault && p.Version == 0:
		return badPeer(field+".Version", "must be 2.0, 2.1 or 3.0, got %v", p.Version)
	case p.ResponseTimeout < 0 || isDefault && p.ResponseTimeout == 0:
		return badPeer(field+".ResponseTimeout", "must be > 0, got %v", p.ResponseTimeout)
	case isDefault && p.ActiveTest == 0:
		return badPeer(field+".ActiveTest", "must be set (negative disables keepalive)")
	case p.Sessions < 0 || isDefault && p.Sessions == 0:
		return badPeer(field+".Sessions", "must be > 0, got %d", p.Sessions)
	}
	if t := p.TLS; t != nil && (t.Cert == "") != (t.Key == "") {
		return badPeer(field+".TLS", "Cert and Key go together")
	}
	return nil
}

// ParseVersion reads a CMPP version as written in a config file: "2.0",
// "2.1" or "3.0".
func ParseVersion(s string) (cmpp.Version, error) {
	switch s {
	case "2.0":
		return cmpp.V20, nil
	case "2.1":
		return cmpp.V21, nil
	case "3.0":
		return cmpp.V30, nil
	}
	return 0, fmt.Errorf("CMPP version %q: want 2.0, 2.1 or 3.0", s)
}

func badPeer(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s %s", ErrInvalidPeerConfig, field, fmt.Sprintf(format, args...))
}

// checkCode requires a 6-digit gateway code.
func checkCode(field, code string) error {
	if !isGatewayCode(code) {
		return badPeer(field, "%q is not a 6-digit gateway code", code)
	}
	return nil
}

func isGatewayCode(s string) bool {
	if len(s) != 6 {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseAllowed reads an allow-list entry: a CIDR or a single address.
func parseAllowed(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is neither a CIDR nor an IP address", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// peer is one peer gateway's settings resolved against Default: parsed
// allow list, TLS loaded.
type peer struct {
	code            string
	secret          string
	allowed         []netip.Prefix
	window          int
	version         cmpp.Version
	responseTimeout time.Duration
	activeTest      time.Duration
	sessions        int
	tls             *tls.Config // nil: plain TCP
}

func (p *peer) allows(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, a := range p.allowed {
		if a.Contains(ip) {
			return true
		}
	}
	return false
}

// sessionConfig is the cmpp session config of our link to p.
func (p *peer) sessionConfig(log *slog.Logger) cmpp.Config {
	c := cmpp.DefaultConfig()
	c.Window = p.window
	// One more inbound slot than the window, so the FWD over the window
	// reaches fwdIntake, which answers Result 8 and counts it, instead of
	// being refused uncounted inside the session.
	c.InboundWindow = p.window + 1
	c.ResponseTimeout = p.responseTimeout
	c.ActiveTestInterval = p.activeTest
	c.InlineHandler = true
	c.Logger = log
	return c
}

// peerBook holds every resolved peer: the listed ones by code, and Default
// for the others.
type peerBook struct {
	listed  map[string]*peer
	def     *peer
	self    string
	sibling *peer // PeerConfig.Siblings resolved, or nil: siblings off
}

// resolvePeers resolves cfg (validated) and loads the client TLS files.
func resolvePeers(cfg PeerConfig) (*peerBook, error) {
	def, err := resolvePeer(cfg.Default, PeerSettings{}, "Default")
	if err != nil {
		return nil, err
	}
	b := &peerBook{listed: make(map[string]*peer, len(cfg.Peers)), def: def, self: cfg.Gateway}
	if cfg.Siblings.Secret != "" {
		if b.sibling, err = resolvePeer(cfg.Siblings, cfg.Default, "Siblings"); err != nil {
			return nil, err
		}
		b.sibling.code = cfg.Gateway
	}
	for i, s := range cfg.Peers {
		p, err := resolvePeer(s, cfg.Default, fmt.Sprintf("Peers[%d]", i))
		if err != nil {
			return nil, err
		}
		b.listed[s.Code] = p
	}
	return b, nil
}

// get returns the settings of code: its own, or Default's under its code.
func (b *peerBook) get(code string) *peer {
	if code == b.self && b.sibling != nil {
		return b.sibling
	}
	if p := b.listed[code]; p != nil {
		return p
	}
	p := *b.def
	p.code = code
	return &p
}

func resolvePeer(s, def PeerSettings, field string) (*peer, error) {
	p := &peer{
		code:            s.Code,
		secret:          orDefault(s.Secret, def.Secret),
		window:          orDefault(s.Window, def.Window),
		version:         orDefault(s.Version, def.Version),
		responseTimeout: orDefault(s.ResponseTimeout, def.ResponseTimeout),
		activeTest:      orDefault(s.ActiveTest, def.ActiveTest),
		sessions:        orDefault(s.Sessions, def.Sessions),
	}
	allowed := s.AllowedIPs
	if allowed == nil {
		allowed = def.AllowedIPs
	}
	for _, a := range allowed {
		pr, err := parseAllowed(a)
		if err != nil {
			return nil, badPeer(field+".AllowedIPs", "%v", err)
		}
		p.allowed = append(p.allowed, pr)
	}
	t := s.TLS
	if t == nil {
		t = def.TLS
	}
	if t != nil {
		tc, err := t.Load()
		if err != nil {
			return nil, fmt.Errorf("federation: %s.TLS: %w", field, err)
		}
		p.tls = tc
	}
	return p, nil
}

// orDefault is v, or d when v is the zero value.
func orDefault[T comparable](v, d T) T {
	var zero T
	if v == zero {
		return d
	}
	return v
}

// load builds the client tls.Config. Errors name the file.
// Load builds the client tls.Config. Errors name the file.
func (c *ClientTLS) Load() (*tls.Config, error) {
	tc := &tls.Config{ServerName: c.ServerName, MinVersion: tls.VersionTLS12}
	if c.Cert != "" {
		kp, err := tls.LoadX509KeyPair(c.Cert, c.Key)
		if err != nil {
			return nil, fmt.Errorf("cert %s, key %s: %w", c.Cert, c.Key, err)
		}
		tc.Certificates = []tls.Certificate{kp}
	}
	if c.CA != "" {
		pool, err := loadCertPool(c.CA)
		if err != nil {
			return nil, err
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// Load builds the server tls.Config: with ClientCA, clients must present
// a certificate signed by it. Errors name the file.
func (c *ServerTLS) Load() (*tls.Config, error) {
	kp, err := tls.LoadX509KeyPair(c.Cert, c.Key)
	if err != nil {
		return nil, fmt.Errorf("cert %s, key %s: %w", c.Cert, c.Key, err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{kp}, MinVersion: tls.VersionTLS12}
	if c.ClientCA != "" {
		if tc.ClientCAs, err = loadCertPool(c.ClientCA); err != nil {
			return nil, err
		}
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

func loadCertPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no PEM certificate in it", file)
	}
	return p, nil
}
