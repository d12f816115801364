package ismg

import (
	"fmt"
	"net"
	"time"

	"github.com/tandem-sms/tandem/federation"
)

// FederationConfig governs this gateway's CMPP_FWD exchange with its
// peers: the other gateways of the route table, reached at their fwd_addr.
// Forwarding is on when listen.fwd is set.
type FederationConfig struct {
	// MaxNodes is the hop limit: a FWD that has passed this many gateways
	// is refused (Result 9) and its MT reported failed to its SP, so a
	// routing loop between tables that disagree ends. Default 4.
	MaxNodes int `yaml:"max_nodes"`
	// DedupWindow is how long a received FWD's key (Source_Id,
	// Msg_Fwd_Type, Msg_Id, Pk_number) is remembered to drop a resend: at
	// least the longest a sender keeps resending (the message's validity).
	// Default 72h.
	DedupWindow time.Duration `yaml:"dedup_window"`
	// RetryMin and RetryMax bound the backoff of a FWD that failed
	// (timeout, refused, peer down): resent until its validity ends.
	// Defaults 5s and 5m.
	RetryMin time.Duration `yaml:"retry_min"`
	RetryMax time.Duration `yaml:"retry_max"`
	// ReconnectMin and ReconnectMax bound the backoff of a peer link
	// session that lost its connection or could not log in (exponential,
	// full jitter). After a network cut the link is back at most
	// ReconnectMax after the peer is reachable again. Defaults 200ms, 30s.
	ReconnectMin time.Duration `yaml:"reconnect_min"`
	ReconnectMax time.Duration `yaml:"reconnect_max"`
	// Secret, AllowedIPs, Window, Version, ResponseTimeout and ActiveTest
	// are the defaults of every peer gateway; Peers overrides them per
	// gateway code.
	Secret     string   `yaml:"secret"`
	AllowedIPs []string `yaml:"allowed_ips"`
	Window     int      `yaml:"window"`
	// Sessions is how many sessions a link keeps to each FWD address of a
	// peer, each with its own window: a FWD's answer waits for the peer's
	// commit, so window × sessions FWDs in flight is what carries a
	// gateway-to-gateway load (Little's law). Default 4.
	Sessions        int                 `yaml:"sessions"`
	Version         string              `yaml:"version"` // "2.0" or "3.0"
	ResponseTimeout time.Duration       `yaml:"response_timeout"`
	ActiveTest      time.Duration       `yaml:"active_test"`
	TLS             *TLSClientConfig    `yaml:"tls"` // our links to the peers speak TLS
	Peers           []PeerGatewayConfig `yaml:"peers"`
	// Membership, if set, gossips with the other ISMG nodes
	// (hashicorp/memberlist): a dead peer node is known within seconds
	// and skipped, and a gateway served by several nodes gets its FWDs
	// spread over the live ones. Forwarding never needs it: a peer that
	// does not gossip is reached at the route table's fwd_addr.
	Membership *MembershipConfig `yaml:"membership"`
	// Siblings, if set, links this node with the other nodes of its
	// gateway (siblingconfig.go).
	Siblings *SiblingsConfig `yaml:"siblings"`
}

// MembershipConfig is this node's part in the gossip among ISMG nodes.
type MembershipConfig struct {
	NodeName  string   `yaml:"node_name"` // unique in the federation; default <gateway code>-<host:port of listen.fwd>
	Bind      string   `yaml:"bind"`      // gossip address, UDP and TCP
	Advertise string   `yaml:"advertise"` // the address others reach Bind at, if different
	FwdAddr   string   `yaml:"fwd_addr"`  // what peers dial for this node; default listen.fwd
	Seeds     []string `yaml:"seeds"`     // gossip addresses of nodes to join through
	// Key is the shared gossip key, base64 of 16, 24 or 32 bytes: every
	// packet is encrypted and authenticated with it (required).
	Key     string   `yaml:"key"`
	OldKeys []string `yaml:"old_keys"` // accepted while a new key rolls out
	Cluster string   `yaml:"cluster"`  // bound into every message
}

// PeerGatewayConfig overrides the defaults for one peer gateway.
type PeerGatewayConfig struct {
	Code            string           `yaml:"code"`
	Secret          string           `yaml:"secret"`
	AllowedIPs      []string         `yaml:"allowed_ips"`
	Window          int              `yaml:"window"`
	Version         string           `yaml:"version"`
	ResponseTimeout time.Duration    `yaml:"response_timeout"`
	TLS             *TLSClientConfig `yaml:"tls"`
	// HTTPAddr is the peer's HTTP port (its listen.http), host:port or a
	// URL: the message trace asks it about the messages that went there.
	HTTPAddr string `yaml:"http_addr"`
}

func defaultFederation(f *FederationConfig) {
	if f.MaxNodes == 0 {
		f.MaxNodes = 4
	}
	if f.DedupWindow == 0 {
		f.DedupWindow = 72 * time.Hour
	}
	if f.RetryMin == 0 {
		f.RetryMin = 5 * time.Second
	}
	if f.Sessions == 0 {
		f.Sessions = 4
	}
	if f.RetryMax == 0 {
		f.RetryMax = 5 * time.Minute
	}
	if f.ReconnectMin == 0 {
		f.ReconnectMin = 200 * time.Millisecond
	}
	if f.ReconnectMax == 0 {
		f.ReconnectMax = 30 * time.Second
	}
}

// checkFederation validates listen.fwd and the federation section.
func (c *Config) checkFederation(bad badFunc) {
	if c.Listen.FWD == "" {
		return
	}
	if _, _, err := net.SplitHostPort(c.Listen.FWD); err != nil {
		bad("listen.fwd", "want host:port: %v", err)
	}
	if c.Listen.FWDTLS && c.Listen.TLS == nil {
		bad("listen.fwd_tls", "needs listen.tls (cert and key)")
	}
	f := c.Federation
	if f.MaxNodes < 1 || f.MaxNodes > 255 {
		bad("federation.max_nodes", "want 1..255, got %d", f.MaxNodes)
	}
	if f.DedupWindow < time.Hour {
		bad("federation.dedup_window", "want at least 1h (the longest a peer resends), got %v", f.DedupWindow)
	}
	if f.RetryMin <= 0 || f.RetryMax < f.RetryMin {
		bad("federation.retry_min", "retry_min %v and retry_max %v: want 0 < min <= max", f.RetryMin, f.RetryMax)
	}
	if f.ReconnectMin <= 0 || f.ReconnectMax < f.ReconnectMin {
		bad("federation.reconnect_min", "reconnect_min %v and reconnect_max %v: want 0 < min <= max", f.ReconnectMin, f.ReconnectMax)
	}
	if _, err := c.peerConfig(nil); err != nil {
		bad("federation", "%v", err)
	}
	if m := f.Membership; m != nil {
		if err := c.membershipConfig().Validate(); err != nil {
			bad("federation.membership", "%v", err)
		}
	}
}

// peerConfig maps the configuration onto federation.PeerConfig.
func (c *Config) peerConfig(m *federation.PeerMetrics) (federation.PeerConfig, error) {
	f := c.Federation
	pc := federation.DefaultPeerConfig()
	pc.Gateway, pc.Listen, pc.Metrics = c.Gateway.Code, c.Listen.FWD, m
	if c.Listen.FWDTLS && c.Listen.TLS != nil {
		pc.ServerTLS = &federation.ServerTLS{Cert: c.Listen.TLS.Cert, Key: c.Listen.TLS.Key, ClientCA: c.Listen.TLS.ClientCA}
	}
	pc.MaxPending, pc.MaxPendingPerIP = c.Limits.MaxPending, c.Limits.MaxPendingIP
	pc.ReconnectMin, pc.ReconnectMax = c.Federation.ReconnectMin, c.Federation.ReconnectMax
	pc.AuthFailures, pc.AuthFailuresPerIP, pc.AuthFailWindow = c.Limits.AuthFailures, c.Limits.AuthFailuresIP, c.Limits.AuthFailWindow
	set := func(s *federation.PeerSettings, secret string, ips []string, window int, version string, rt time.Duration, tc *TLSClientConfig) error {
		if secret != "" {
			s.Secret = secret
		}
		if len(ips) > 0 {
			s.AllowedIPs = ips
		}
		if window > 0 {
			s.Window = window
		}
		if version != "" {
			v, err := federation.ParseVersion(version)
			if err != nil {
				return err
			}
			s.Version = v
		}
		if rt > 0 {
			s.ResponseTimeout = rt
		}
		if tc != nil {
			s.TLS = &federation.ClientTLS{CA: tc.CA, Cert: tc.Cert, Key: tc.Key, ServerName: tc.ServerName}
		}
		return nil
	}
	if err := set(&pc.Default, f.Secret, f.AllowedIPs, f.Window, f.Version, f.ResponseTimeout, f.TLS); err != nil {
		return pc, fmt.Errorf("federation.version: %w", err)
	}
	if f.ActiveTest != 0 {
		pc.Default.ActiveTest = f.ActiveTest
	}
	if f.Sessions > 0 {
		pc.Default.Sessions = f.Sessions
	}
	if sc := f.Siblings; sc != nil {
		pc.Siblings = federation.PeerSettings{Secret: sc.Secret, AllowedIPs: sc.AllowedIPs, Window: sc.Window}
	}
	for i, p := range f.Peers {
		s := federation.PeerSettings{Code: p.Code}
		if err := set(&s, p.Secret, p.AllowedIPs, p.Window, p.Version, p.ResponseTimeout, p.TLS); err != nil {
			return pc, fmt.Errorf("federation.peers[%d].version: %w", i, err)
		}
		pc.Peers = append(pc.Peers, s)
	}
	return pc, pc.Validate()
}

// membershipConfig maps federation.membership onto the library's config.
func (c *Config) membershipConfig() federation.MembershipConfig {
	m := c.Federation.Membership
	mc := federation.DefaultMembershipConfig()
	mc.NodeName, mc.Gateway, mc.Region = m.NodeName, c.Gateway.Code, c.Gateway.Region
	mc.NodeBits, mc.NodeIndex = uint8(c.Gateway.NodeBits), uint8(c.Gateway.NodeIndex)
	if mc.NodeName == "" {
		mc.NodeName = c.Gateway.Node
	}
	if mc.NodeName == "" {
		mc.NodeName = c.Gateway.Code + "-" + c.Listen.FWD
	}
	mc.FwdAddr = m.FwdAddr
	if mc.FwdAddr == "" {
		mc.FwdAddr = c.Listen.FWD
	}
	mc.Bind, mc.Advertise, mc.Seeds, mc.Key, mc.OldKeys, mc.Cluster = m.Bind, m.Advertise, m.Seeds, m.Key, m.OldKeys, m.Cluster
	return mc
}
