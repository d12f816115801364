package raftstore

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"
)

// Config configures one Raft node. Start from DefaultConfig and set NodeID,
// BindAddr and DataDir.
type Config struct {
	// NodeID is this server's Raft ID. It must stay the same across restarts:
	// the cluster configuration names servers by ID.
	NodeID string

	// BindAddr is the host:port the Raft TCP transport listens on. Port 0
	// picks a free port (tests); Store.Addr reports the result.
	BindAddr string

	// AdvertiseAddr is the host:port other servers dial. Empty means the
	// listener's address, which only works when BindAddr names a concrete IP
	// (raft refuses to advertise 0.0.0.0).
	AdvertiseAddr string

	// DataDir holds raft.db (log and stable store) and snapshots/.
	DataDir string

	// Bootstrap forms a new single-node cluster with this node as its only
	// voter, but only if DataDir holds no Raft state yet; on a restart it is
	// ignored, so it is safe to leave set on the first node.
	Bootstrap bool

	// HeartbeatTimeout is how long a follower goes without hearing from the
	// leader before it stands for election (raft randomises it up to 2x).
	// ElectionTimeout bounds a candidate's wait for votes and must be >=
	// HeartbeatTimeout. LeaderLeaseTimeout is how long a leader keeps leading
	// without reaching a quorum and must be <= HeartbeatTimeout.
	// CommitTimeout is the idle time after which the leader sends a
	// heartbeat to push the commit index.
	//
	// The defaults are tuned for a LAN: a new leader takes writes well within
	// 1s of the old one dying (raft's own defaults take about 3s). Raise them
	// for a WAN or for loaded hosts that stall for hundreds of milliseconds,
	// or elections will start without cause.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration

	// SnapshotInterval is how often raft checks whether a snapshot is due;
	// one is taken when more than SnapshotThreshold entries are past the last
	// snapshot. SnapshotRetain snapshots are kept on disk. TrailingLogs
	// entries are kept in the log after a snapshot so slow followers can catch
	// up without a snapshot install.
	SnapshotInterval  time.Duration
	SnapshotThreshold uint64
	SnapshotRetain    int
	TrailingLogs      uint64

	// MaxPool is the number of pooled outbound TCP connections per peer.
	// TransportTimeout is the I/O deadline on transport RPCs.
	MaxPool          int
	TransportTimeout time.Duration

	// TLS, when set, makes the transport speak mutual TLS (LoadTLS builds
	// it from PEM files): it must hold this node's certificate and, in
	// RootCAs, the cluster CA (ClientCAs defaults to it). Every inbound
	// connection must present a certificate the CA signed
	// (tls.RequireAndVerifyClientCert) and every outbound one checks the
	// peer's certificate against the CA and the dialled host, so this
	// node's certificate must name its advertised address. A peer that
	// does not speak TLS is refused at the handshake. Nil means plaintext
	// TCP: anyone who reaches BindAddr can append entries to the log.
	TLS *tls.Config

	// HandshakeTimeout bounds an inbound TLS handshake: a connection that
	// has not completed one by then is closed.
	HandshakeTimeout time.Duration

	// OnTLSFailure, if set, is called for each connection refused at the
	// TLS handshake, inbound or outbound (a metrics hook; it must not
	// block). The store also logs them, at most one line per 10s.
	OnTLSFailure func(TLSFailure)

	// ApplyTimeout bounds how long Apply, Barrier, Join and Remove wait to get
	// their entry into the leader's queue (a full queue means an overloaded
	// leader). Waiting for the commit itself is bounded by the caller's ctx.
	ApplyTimeout time.Duration

	// Logger receives this package's and raft's logs (raft's under
	// logger=raft, raft-net and raft-snap). Nil discards them.
	Logger *slog.Logger

	// OnApply, if set, is called after each Apply whose entry committed
	// (including one the FSM answered with an error) with the time from
	// submission to the FSM's response: commit latency for a histogram. It
	// runs on the caller's goroutine and must be quick.
	OnApply func(d time.Duration)

	// OnLeaderChange, if set, is called on one store-owned goroutine, in
	// order, whenever this node's view of the leader changes. It must not
	// block for long: raft drops observations while the buffer is full (the
	// next call still reports the current state).
	OnLeaderChange func(LeaderChange)
}

// DefaultConfig returns the tuned timeouts and retention settings; identity
// and addresses are left for the caller.
func DefaultConfig() Config {
	return Config{
		// A follower notices a dead leader 200-600ms after its last heartbeat
		// (raft re-arms a random 1-2x timer and requires a full
		// HeartbeatTimeout of silence); the pre-vote and vote rounds then
		// take milliseconds on a LAN, unless the other survivor still
		// believes in the old leader, which costs one more 200-400ms election
		// timer. Measured on loopback (BenchmarkFailover): mean ~440ms, worst
		// of 40 ~630ms. 250ms timers gave mean ~525ms and a tail at 1s.
		HeartbeatTimeout:   200 * time.Millisecond,
		ElectionTimeout:    200 * time.Millisecond,
		LeaderLeaseTimeout: 150 * time.Millisecond,
		CommitTimeout:      20 * time.Millisecond,

		SnapshotInterval:  30 * time.Second,
		SnapshotThreshold: 8192,
		SnapshotRetain:    2,
		TrailingLogs:      10240,

		MaxPool:          3,
		TransportTimeout: 10 * time.Second,
		HandshakeTimeout: 5 * time.Second,
		ApplyTimeout:     5 * time.Second,
	}
}

// Validate reports the first invalid field. It checks raft's own
// constraints too, so Open does not fail later with raft's vaguer message.
func (c Config) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s %s", ErrInvalidConfig, field, fmt.Sprintf(format, args...))
	}
	if c.NodeID == "" {
		return bad("NodeID", "is empty")
	}
	bindHost, _, err := splitHostPort(c.BindAddr)
	if err != nil {
		return bad("BindAddr", "%q: %v", c.BindAddr, err)
	}
	if c.AdvertiseAddr != "" {
		advHost, advPort, err := splitHostPort(c.AdvertiseAddr)
		if err != nil {
			return bad("AdvertiseAddr", "%q: %v", c.AdvertiseAddr, err)
		}
		if advPort == 0 {
			return bad("AdvertiseAddr", "%q: port 0 cannot be dialled", c.AdvertiseAddr)
		}
		if ip := net.ParseIP(advHost); advHost == "" || (ip != nil && ip.IsUnspecified()) {
			return bad("AdvertiseAddr", "%q: host must be a reachable address", c.AdvertiseAddr)
		}
	} else if ip := net.ParseIP(bindHost); ip == nil || ip.IsUnspecified() {
		return bad("AdvertiseAddr", "is required when BindAddr %q does not name a concrete IP", c.BindAddr)
	}
	if c.DataDir == "" {
		return bad("DataDir", "is empty")
	}
	const floor = 5 * time.Millisecond // raft's own minimum
	switch {
	case c.HeartbeatTimeout < floor:
		return bad("HeartbeatTimeout", "%v is below %v", c.HeartbeatTimeout, floor)
	case c.ElectionTimeout < c.HeartbeatTimeout:
		return bad("ElectionTimeout", "%v must be >= HeartbeatTimeout %v", c.ElectionTimeout, c.HeartbeatTimeout)
	case c.LeaderLeaseTimeout < floor:
		return bad("LeaderLeaseTimeout", "%v is below %v", c.LeaderLeaseTimeout, floor)
	case c.LeaderLeaseTimeout > c.HeartbeatTimeout:
		return bad("LeaderLeaseTimeout", "%v must be <= HeartbeatTimeout %v", c.LeaderLeaseTimeout, c.HeartbeatTimeout)
	case c.CommitTimeout < time.Millisecond:
		return bad("CommitTimeout", "%v is below 1ms", c.CommitTimeout)
	case c.SnapshotInterval < floor:
		return bad("SnapshotInterval", "%v is below %v", c.SnapshotInterval, floor)
	case c.SnapshotThreshold == 0:
		return bad("SnapshotThreshold", "must be > 0")
	case c.SnapshotRetain < 1:
		return bad("SnapshotRetain", "%d must be >= 1", c.SnapshotRetain)
	case c.MaxPool < 1:
		return bad("MaxPool", "%d must be >= 1", c.MaxPool)
	case c.TransportTimeout <= 0:
		return bad("TransportTimeout", "%v must be > 0", c.TransportTimeout)
	case c.ApplyTimeout <= 0:
		return bad("ApplyTimeout", "%v must be > 0", c.ApplyTimeout)
	case c.HandshakeTimeout <= 0:
		return bad("HandshakeTimeout", "%v must be > 0", c.HandshakeTimeout)
	}
	if t := c.TLS; t != nil {
		switch {
		case len(t.Certificates) == 0 && t.GetCertificate == nil:
			return bad("TLS", "has no certificate for this node")
		case t.RootCAs == nil:
			return bad("TLS", "has no RootCAs: give the cluster CA (the system roots would admit anyone holding a public certificate)")
		case t.InsecureSkipVerify:
			return bad("TLS", "InsecureSkipVerify would accept any peer's certificate")
		}
	}
	return nil
}

// splitHostPort accepts host:port with a numeric port; the host may be empty
// (all interfaces).
func splitHostPort(addr string) (string, uint16, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("port %q is not a number 0-65535", port)
	}
	return host, uint16(p), nil
}
