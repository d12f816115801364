package gns

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/internal/zone"
	"github.com/tandem-sms/tandem/raftstore"
)

// ErrInvalidConfig is wrapped by every Config.Validate error.
var ErrInvalidConfig = errors.New("gns: invalid config")

// PushPeer is a vendor ISMG that wants CMPP_PUSH_*_ROUTE_UPDATE
// notifications: the leader dials Addr (short connections, as §1.12 says)
// and logs in with the GNS's GatewayCode and Secret.
type PushPeer struct {
	Addr   string `yaml:"addr"`
	Secret string `yaml:"secret"`
}

// Config configures one GNS node. Start from DefaultConfig and set at least
// NodeID, DataDir and the addresses.
type Config struct {
	NodeID  string // Raft server ID; must stay the same across restarts
	DataDir string // Raft log, stable store and snapshots

	// RaftAddr is the Raft transport's listen address (port 0 picks one).
	// RaftAdvertise, if set, is what peers dial instead.
	RaftAddr      string
	RaftAdvertise string
	// GRPCAddr serves the admin, lookup and watch API. GRPCAdvertise, if
	// set, is what other nodes dial to forward writes; empty means the
	// listener's address.
	GRPCAddr      string
	GRPCAdvertise string
	// CMPPAddr serves the CMPP GNS route PDUs (conventionally port 9168).
	// Empty disables the CMPP service.
	CMPPAddr string
	// HTTPAddr serves /metrics and /healthz. Empty disables it.
	HTTPAddr string

	// Bootstrap forms a new single-node cluster if DataDir holds no state.
	Bootstrap bool
	// Join lists gRPC addresses of existing members; Run asks them, in
	// order, to add this node (a no-op when it already is a member), until
	// one accepts.
	Join []string

	// GatewayCode is the GNS's own 6-digit code, its Source_Addr when it
	// dials ISMGs with PUSH_*_ROUTE_UPDATE.
	GatewayCode string
	// CMPPSecrets maps the gateway code of each ISMG allowed to CONNECT to
	// the route-PDU service to its shared secret.
	CMPPSecrets map[string]string
	// PushPeers are notified of route changes by the leader (best effort).
	PushPeers []PushPeer
	// CMPPSession configures route-PDU sessions; zero fields take cmpp's
	// defaults.
	CMPPSession cmpp.Config
	// CMPPAllow, if not empty, lists the networks that may connect to the
	// CMPP route port; a connection from elsewhere is closed at once,
	// unread. The port changes routes (*_ROUTE_UPDATE), so list the ISMGs'
	// networks.
	CMPPAllow []netip.Prefix
	// CMPPConnectTimeout bounds the time from accept to login, and
	// CMPPMaxPending and CMPPMaxPendingPerIP cap the connections that have
	// not logged in, in all and per source address (cmpp.Server's
	// ConnectTimeout, MaxPending, MaxPendingPerIP: zero takes cmpp's
	// defaults, 5s, 256 and 16; a negative cap means none).
	CMPPConnectTimeout                  time.Duration
	CMPPMaxPending, CMPPMaxPendingPerIP int
	// CMPPLockout limits failed logins on the CMPP route port.
	CMPPLockout Lockout

	// Token, if set, is required as "authorization: Bearer <token>" on every
	// gRPC call, and sent by this node when it forwards to another.
	Token string
	// TLSCert and TLSKey, if both set, make the gRPC API serve TLS; nodes
	// then forward to each other over TLS too (TLSCA verifies them; empty
	// means the system roots).
	TLSCert, TLSKey, TLSCA string

	// RaftTLSCert, RaftTLSKey and RaftTLSCA (all three, or none) put the
	// Raft transport on mutual TLS: this node's certificate and key, and
	// the cluster CA that signs every node's certificate and nothing else,
	// since any certificate it signed is admitted as a peer. The
	// certificate must name RaftAdvertise (or RaftAddr) and allow serverAuth
	// and clientAuth. See raftstore.Config.TLS.
	RaftTLSCert, RaftTLSKey, RaftTLSCA string
	// InsecureRaft lets a node whose gRPC API requires Token run a
	// plaintext Raft port, which anyone who reaches it can write the table
	// through. Without it, Validate refuses that combination.
	InsecureRaft bool

	// WatchHistory is how many committed batches are kept for Watch
	// resumption; a watcher further behind gets a snapshot.
	WatchHistory int
	// WatchBuffer is each watcher's event buffer. A watcher that falls this
	// far behind has its stream ended with RESOURCE_EXHAUSTED rather than
	// slowing Apply.
	WatchBuffer int
	// ImportChunk is how many segments and ported numbers the leader packs
	// into one Raft entry of a table import.
	ImportChunk int
	// ShutdownTimeout bounds the graceful part of Run's shutdown.
	ShutdownTimeout time.Duration
	// ForwardTimeout bounds a write forwarded to the leader when the caller
	// set no deadline.
	ForwardTimeout time.Duration
	// Timezone is the zone the CMPP route PDUs' Time_stamp is written in
	// (CMPP times carry no zone and are China's local time): an IANA name,
	// "UTC", or "Local" for the host's zone. Empty means zone.Default,
	// Asia/Shanghai, whatever the host's zone (UTC in the images).
	Timezone string

	// Raft passes through timeouts and retention; NodeID, BindAddr,
	// DataDir, Bootstrap, Logger and the hooks are set by the node.
	Raft raftstore.Config

	Logger     *slog.Logger          // nil discards
	Registerer prometheus.Registerer // nil means a private registry
}

// Lockout limits failed logins on the CMPP route port. Failures failed
// logins for one account (the CONNECT's Source_Addr) from one source IP
// within Window lock that account out from that IP until the window ends,
// its correct secret included; IPFailures failures from one IP, whatever
// the accounts, lock out the IP. The per-IP ceiling is the higher one, so
// that gateways sharing an address (a NAT) do not lock each other out. A
// locked-out login is answered CONNECT_RESP status 5 ("other"), so a
// guesser cannot tell a locked account from a wrong secret's 3. Zero
// disables a limit.
type Lockout struct {
	Failures   int
	IPFailures int
	Window     time.Duration
}

// DefaultConfig returns a Config with every tunable set.
func DefaultConfig() Config {
	r := raftstore.DefaultConfig()
	// Followers learn the commit index only from the next append or, when
	// the leader is idle, after a random 1-2x CommitTimeout. Watchers on
	// followers (most ISMG caches) see a change that much later than the
	// write, so keep it well under the 20ms propagation goal; the price is
	// a few hundred empty appends a second per follower when idle.
	r.CommitTimeout = 5 * time.Millisecond
	return Config{
		GRPCAddr:        "127.0.0.1:9190",
		CMPPAddr:        "127.0.0.1:9168",
		HTTPAddr:        "127.0.0.1:9191",
		GatewayCode:     "000000",
		WatchHistory:    4096,
		WatchBuffer:     4096,
		ImportChunk:     25000,
		ShutdownTimeout: 5 * time.Second,
		ForwardTimeout:  10 * time.Second,
		Timezone:        zone.Default,
		CMPPSession:     cmpp.DefaultConfig(),
		CMPPLockout:     Lockout{Failures: 5, IPFailures: 50, Window: 5 * time.Minute},
		Raft:            r,
	}
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s %s", ErrInvalidConfig, field, fmt.Sprintf(format, args...))
	}
	switch {
	case c.NodeID == "":
		return bad("NodeID", "is empty")
	case c.DataDir == "":
		return bad("DataDir", "is empty")
	case c.RaftAddr == "":
		return bad("RaftAddr", "is empty")
	case c.GRPCAddr == "":
		return bad("GRPCAddr", "is empty")
	case c.WatchHistory < 0:
		return bad("WatchHistory", "must be >= 0, got %d", c.WatchHistory)
	case c.WatchBuffer <= 0:
		return bad("WatchBuffer", "must be > 0, got %d", c.WatchBuffer)
	case c.ImportChunk <= 0:
		return bad("ImportChunk", "must be > 0, got %d", c.ImportChunk)
	case c.ShutdownTimeout <= 0:
		return bad("ShutdownTimeout", "must be > 0")
	case c.ForwardTimeout <= 0:
		return bad("ForwardTimeout", "must be > 0")
	case (c.TLSCert == "") != (c.TLSKey == ""):
		return bad("TLSCert/TLSKey", "must be set together")
	case (c.RaftTLSCert == "") != (c.RaftTLSKey == "") || (c.RaftTLSCert == "") != (c.RaftTLSCA == ""):
		return bad("RaftTLSCert/RaftTLSKey/RaftTLSCA", "must be set together (the node's certificate, its key and the cluster CA)")
	case c.Token != "" && c.RaftTLSCert == "" && c.Raft.TLS == nil && !c.InsecureRaft:
		return bad("RaftTLSCert", "is empty while Token protects the gRPC API: anyone who reaches the Raft port %s could still write the route table. "+
			"Put Raft on mutual TLS (gns -raft-tls-cert, -raft-tls-key, -raft-tls-ca) or accept a plaintext Raft port with InsecureRaft (gns -insecure-raft)", c.RaftAddr)
	case c.CMPPConnectTimeout < 0:
		return bad("CMPPConnectTimeout", "must be >= 0, got %v", c.CMPPConnectTimeout)
	case c.CMPPLockout.Failures < 0 || c.CMPPLockout.IPFailures < 0:
		return bad("CMPPLockout", "failure limits must be >= 0, got %d and %d", c.CMPPLockout.Failures, c.CMPPLockout.IPFailures)
	case (c.CMPPLockout.Failures > 0 || c.CMPPLockout.IPFailures > 0) && c.CMPPLockout.Window <= 0:
		return bad("CMPPLockout.Window", "must be > 0 when a failure limit is set, got %v", c.CMPPLockout.Window)
	}
	if _, err := zone.Load(c.Timezone); err != nil {
		return bad("Timezone", "%v", err)
	}
	for i, p := range c.CMPPAllow {
		if !p.IsValid() {
			return bad(fmt.Sprintf("CMPPAllow[%d]", i), "is not a valid network")
		}
	}
	for _, a := range []struct{ name, v string }{{"RaftAddr", c.RaftAddr}, {"GRPCAddr", c.GRPCAddr}, {"CMPPAddr", c.CMPPAddr}, {"HTTPAddr", c.HTTPAddr}} {
		if a.v == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.v); err != nil {
			return bad(a.name, "%q: %v", a.v, err)
		}
	}
	if c.CMPPAddr != "" || len(c.PushPeers) > 0 {
		if _, err := cmpp.GatewayCode(c.GatewayCode); err != nil {
			return bad("GatewayCode", "%q: %v", c.GatewayCode, err)
		}
	}
	for code := range c.CMPPSecrets {
		if _, err := cmpp.GatewayCode(code); err != nil {
			return bad("CMPPSecrets", "key %q: %v", code, err)
		}
	}
	for i, p := range c.PushPeers {
		if _, _, err := net.SplitHostPort(p.Addr); err != nil {
			return bad(fmt.Sprintf("PushPeers[%d].Addr", i), "%q: %v", p.Addr, err)
		}
	}
	if err := c.raftConfig().Validate(); err != nil {
		return fmt.Errorf("%w: Raft: %w", ErrInvalidConfig, err)
	}
	return nil
}

func (c Config) raftConfig() raftstore.Config {
	r := c.Raft
	r.NodeID, r.BindAddr, r.AdvertiseAddr, r.DataDir, r.Bootstrap = c.NodeID, c.RaftAddr, c.RaftAdvertise, c.DataDir, c.Bootstrap
	if r.Logger == nil {
		r.Logger = c.Logger
	}
	return r
}
