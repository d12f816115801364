package federation

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ErrInvalidCacheConfig is wrapped by every RouteCacheConfig.Validate error.
var ErrInvalidCacheConfig = errors.New("federation: invalid route cache config")

// RouteCacheConfig configures a RouteCache. Start from
// DefaultRouteCacheConfig and set at least GNS and DataDir.
type RouteCacheConfig struct {
	// GNS lists the gRPC addresses (host:port) of the GNS nodes. The cache
	// follows one at a time and moves to the next when it fails; the
	// first one tried is picked at random, so gateways spread over the
	// cluster.
	GNS []string

	// TLS turns on TLS, verifying the nodes with the system roots (gnsctl
	// -tls). TLSCA, TLSCert or TLSKey imply it.
	TLS bool
	// TLSCA is a PEM CA bundle that verifies the nodes (gnsctl -tls-ca).
	TLSCA string
	// TLSCert and TLSKey are an optional client certificate, both or
	// neither, for a GNS (or a proxy in front of it) that asks for one.
	TLSCert, TLSKey string
	// Token, if set, is sent as "authorization: Bearer <token>" on every
	// call (gnsctl -token). Without TLS it crosses the network in clear.
	Token string

	// DataDir holds the persisted table (CacheFileName). It is created if
	// missing.
	DataDir string
	// PersistInterval is the most often the table is written to DataDir:
	// deltas arriving faster are coalesced, and the last table is written
	// when Run returns. A crash loses at most this much of the deltas, which
	// the cache fetches again from the GNS since it resumes from the
	// persisted revision.
	PersistInterval time.Duration
	// DiscardCorrupt makes a persisted file that does not read back (bad
	// checksum, truncated) move aside to CacheFileName+".corrupt" and the
	// cache start empty, logged at error level. By default such a file is
	// an error from NewRouteCache naming the file, so a gateway never
	// starts silently without routes.
	DiscardCorrupt bool

	// BackoffMin and BackoffMax bound the wait between connection
	// attempts: it doubles (with ±20% jitter) after each attempt that got
	// nowhere and starts over once a stream delivered an event. Moving to
	// the next node after a stream that worked is immediate.
	BackoffMin, BackoffMax time.Duration
	// ProbeInterval is how often the node being followed is asked for its
	// own status (NodeStatus) while the watch stream is open;
	// ProbeTimeout bounds each probe and the first one, which every
	// connection starts with. Two failed probes in a row, or a node
	// without a Raft leader for LeaderlessTimeout, make the cache move to
	// the next node.
	ProbeInterval     time.Duration
	ProbeTimeout      time.Duration
	LeaderlessTimeout time.Duration

	Logger     *slog.Logger          // nil discards
	Registerer prometheus.Registerer // nil means a private registry
	// Now is the wall clock of the event-age gauge; nil means time.Now.
	Now func() time.Time
}

// DefaultRouteCacheConfig returns a RouteCacheConfig with every tunable set.
func DefaultRouteCacheConfig() RouteCacheConfig {
	return RouteCacheConfig{
		PersistInterval:   time.Second,
		BackoffMin:        100 * time.Millisecond,
		BackoffMax:        10 * time.Second,
		ProbeInterval:     2 * time.Second,
		ProbeTimeout:      2 * time.Second,
		LeaderlessTimeout: 5 * time.Second,
	}
}

// Validate reports the first invalid field. It reads no file: NewRouteCache
// loads the TLS files and names the one that fails.
func (c RouteCacheConfig) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s %s", ErrInvalidCacheConfig, field, fmt.Sprintf(format, args...))
	}
	if len(c.GNS) == 0 {
		return bad("GNS", "is empty: name at least one GNS gRPC address")
	}
	seen := map[string]int{}
	for i, a := range c.GNS {
		if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
			return bad(fmt.Sprintf("GNS[%d]", i), "%q is not host:port", a)
		}
		if j, dup := seen[a]; dup {
			return bad(fmt.Sprintf("GNS[%d]", i), "%q already listed as GNS[%d]", a, j)
		}
		seen[a] = i
	}
	switch {
	case (c.TLSCert == "") != (c.TLSKey == ""):
		return bad("TLSCert/TLSKey", "must be set together")
	case c.DataDir == "":
		return bad("DataDir", "is empty")
	case c.PersistInterval <= 0:
		return bad("PersistInterval", "must be > 0, got %v", c.PersistInterval)
	case c.BackoffMin <= 0:
		return bad("BackoffMin", "must be > 0, got %v", c.BackoffMin)
	case c.BackoffMax < c.BackoffMin:
		return bad("BackoffMax", "must be >= BackoffMin (%v), got %v", c.BackoffMin, c.BackoffMax)
	case c.ProbeInterval <= 0:
		return bad("ProbeInterval", "must be > 0, got %v", c.ProbeInterval)
	case c.ProbeTimeout <= 0:
		return bad("ProbeTimeout", "must be > 0, got %v", c.ProbeTimeout)
	case c.LeaderlessTimeout < c.ProbeInterval:
		return bad("LeaderlessTimeout", "must be >= ProbeInterval (%v), got %v", c.ProbeInterval, c.LeaderlessTimeout)
	}
	return nil
}

// useTLS reports whether the connections use TLS.
func (c RouteCacheConfig) useTLS() bool {
	return c.TLS || c.TLSCA != "" || c.TLSCert != ""
}
