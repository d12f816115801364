package federation

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Reasons a route cache fetched a whole table, the values of the reason
// label of federation_routecache_resyncs_total.
const (
	ResyncInitial  = "initial"  // the cache had no table (revision 0)
	ResyncTooOld   = "too_old"  // the node no longer held the deltas after the cache's revision
	ResyncReplaced = "replaced" // the table was replaced as a whole (an import, a restore) while following
	ResyncDiverged = "diverged" // a delta did not apply to the cache's table; the cache asked for a snapshot
)

// Reasons a route cache left a GNS node, the values of the reason label of
// federation_routecache_reconnects_total.
const (
	ReconnectUnavailable = "unavailable" // node down, stopping, or unreachable
	ReconnectTimeout     = "timeout"     // a probe or the connection timed out
	ReconnectSlow        = "slow"        // the node dropped the cache as too slow (RESOURCE_EXHAUSTED)
	ReconnectAuth        = "auth"        // token or certificate refused
	ReconnectProbe       = "probe"       // two probes in a row failed
	ReconnectLeaderless  = "leaderless"  // the node had no Raft leader for LeaderlessTimeout
	ReconnectProtocol    = "protocol"    // the stream broke the Watch rules (or carried a bad change)
	ReconnectDiverged    = "diverged"    // a delta did not apply; reconnecting for a snapshot
	ReconnectClosed      = "closed"      // the node ended the stream without an error
	ReconnectError       = "error"       // anything else
)

// CacheMetrics are a RouteCache's Prometheus metrics. The event age is a
// GaugeFunc computed at scrape time. Labels are bounded: addr takes the
// configured GNS addresses only, reason the constants above.
type CacheMetrics struct {
	Revision          prometheus.Gauge       // revision of the table in use
	PersistedRevision prometheus.Gauge       // revision of the table in the data dir
	Connected         *prometheus.GaugeVec   // 1 for the node followed now, 0 for the others
	Resyncs           *prometheus.CounterVec // whole tables received, by reason
	Reconnects        *prometheus.CounterVec // streams ended other than by shutdown, by reason
	PersistErrors     prometheus.Counter     // failed writes of the table file
	collectors        []prometheus.Collector
	reg               prometheus.Registerer
}

// NewCacheMetrics creates a route cache's metrics and registers them on
// reg; age is read at each scrape as the seconds since the last event.
// addrs are the GNS addresses, whose connected series start at 0.
func NewCacheMetrics(reg prometheus.Registerer, addrs []string, age func() float64) *CacheMetrics {
	const ns, sub = "federation", "routecache"
	m := &CacheMetrics{
		reg: reg,
		Revision: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "revision",
			Help: "Revision (GNS Raft index) of the route table the cache answers from.",
		}),
		PersistedRevision: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "persisted_revision",
			Help: "Revision of the route table last written to the data dir.",
		}),
		Connected: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "connected",
			Help: "1 for the GNS node whose watch stream the cache follows now, 0 for the others.",
		}, []string{"addr"}),
		Resyncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "resyncs_total",
			Help: "Whole route tables received from the GNS, by reason.",
		}, []string{"reason"}),
		Reconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "reconnects_total",
			Help: "Watch streams given up (failed connections included), by reason.",
		}, []string{"reason"}),
		PersistErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "persist_errors_total",
			Help: "Failed writes of the persisted route table.",
		}),
	}
	for _, a := range addrs {
		m.Connected.WithLabelValues(a).Set(0)
	}
	ageGauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: ns, Subsystem: sub, Name: "last_event_age_seconds",
		Help: "Seconds since the last watch event (at start-up: since the persisted table was written).",
	}, age)
	m.collectors = []prometheus.Collector{m.Revision, m.PersistedRevision, m.Connected, m.Resyncs, m.Reconnects, m.PersistErrors, ageGauge}
	reg.MustRegister(m.collectors...)
	return m
}

// unregister removes the metrics from the Registerer, so a cache built
// again on the same registry (a restart in-process) can register anew.
func (m *CacheMetrics) unregister() {
	for _, c := range m.collectors {
		m.reg.Unregister(c)
	}
}
