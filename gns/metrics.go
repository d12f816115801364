package gns

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the GNS node's Prometheus metrics, registered on the
// Registerer given to NewMetrics. Gauges of raft and table state are read at
// scrape time from the node (see Node.registerGauges).
type Metrics struct {
	CommitLatency prometheus.Histogram     // raftstore OnApply: submit → FSM response
	Applies       *prometheus.CounterVec   // FSM applies by command type
	WatchSubs     prometheus.Gauge         // open watch streams
	WatchEvents   prometheus.Counter       // watch events sent
	GRPCRequests  *prometheus.CounterVec   // by method and status code
	CMPPRequests  *prometheus.CounterVec   // route PDUs by command and GNS result
	Pushes        *prometheus.CounterVec   // PUSH_*_ROUTE_UPDATE by outcome
	LeaderChanges prometheus.Counter       // leadership changes seen by this node
	GRPCDurations *prometheus.HistogramVec // by method
	// RaftTLSFailures counts Raft connections refused at the TLS
	// handshake, by direction (in, out) and raftstore.TLSReason*.
	RaftTLSFailures *prometheus.CounterVec
	// CMPPRejected counts CMPP route-port connections and logins refused,
	// by reason (see cmppsvc.go).
	CMPPRejected *prometheus.CounterVec
	reg          prometheus.Registerer
	collectors   []prometheus.Collector
}

// NewMetrics creates the node's metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		reg: reg,
		CommitLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "gns", Name: "raft_commit_seconds",
			Help:    "Time from submitting a Raft command to the FSM's response.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		Applies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gns", Name: "fsm_applies_total",
			Help: "Raft commands applied by the FSM, by command type.",
		}, []string{"type"}),
		WatchSubs: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "gns", Name: "watch_subscribers",
			Help: "Open Watch streams on this node.",
		}),
		WatchEvents: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "gns", Name: "watch_events_sent_total",
			Help: "Watch events sent to watchers.",
		}),
		GRPCRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gns", Name: "grpc_requests_total",
			Help: "gRPC calls served, by method and status code.",
		}, []string{"method", "code"}),
		GRPCDurations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "gns", Name: "grpc_request_seconds",
			Help:    "Duration of unary gRPC calls, by method.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}, []string{"method"}),
		CMPPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gns", Name: "cmpp_route_requests_total",
			Help: "CMPP route PDUs answered, by command and GNS result code.",
		}, []string{"command", "result"}),
		Pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gns", Name: "cmpp_pushes_total",
			Help: "PUSH_*_ROUTE_UPDATE notifications sent to vendor ISMGs, by outcome.",
		}, []string{"outcome"}),
		LeaderChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "gns", Name: "raft_leader_changes_total",
			Help: "Changes of the leader as seen by this node.",
		}),
		RaftTLSFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gns", Name: "raft_tls_handshake_failures_total",
			Help: "Raft connections refused at the TLS handshake, by direction (in: a peer dialled us) and reason (plaintext, no_certificate, bad_certificate, peer_refused, timeout, other).",
		}, []string{"direction", "reason"}),
		CMPPRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gns", Name: "cmpp_connect_rejected_total",
			Help: "CMPP route-port connections and logins refused, by reason (not_allowed, pending_cap, pending_cap_per_ip, unknown_gateway, auth, account_locked, ip_locked).",
		}, []string{"reason"}),
	}
	m.collectors = []prometheus.Collector{m.CommitLatency, m.Applies, m.WatchSubs, m.WatchEvents,
		m.GRPCRequests, m.GRPCDurations, m.CMPPRequests, m.Pushes, m.LeaderChanges, m.RaftTLSFailures, m.CMPPRejected}
	reg.MustRegister(m.collectors...)
	return m
}

func (m *Metrics) gaugeFunc(name, help string, f func() float64) {
	g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "gns", Name: name, Help: help}, f)
	m.reg.MustRegister(g)
	m.collectors = append(m.collectors, g)
}

// registerGauges adds the scrape-time gauges that read the node.
func (n *Node) registerGauges(m *Metrics) {
	st := func() raftStatus { return n.raftStatus() }
	m.gaugeFunc("raft_state", "Raft state of this node: 0 follower, 1 candidate, 2 leader, 3 shutdown.",
		func() float64 { return float64(st().state) })
	m.gaugeFunc("raft_term", "Current Raft term.", func() float64 { return float64(st().term) })
	m.gaugeFunc("raft_commit_index", "Raft commit index.", func() float64 { return float64(st().commit) })
	m.gaugeFunc("raft_applied_index", "Index of the last entry the FSM applied.",
		func() float64 { return float64(n.fsm.appliedIndex()) })
	m.gaugeFunc("table_revision", "Revision of the current route table.",
		func() float64 { return float64(n.fsm.table.Load().Revision()) })
	m.gaugeFunc("table_gateways", "Gateways in the route table.",
		func() float64 { return float64(n.fsm.table.Load().NumGateways()) })
	m.gaugeFunc("table_segments", "Number segments in the route table.",
		func() float64 { return float64(n.fsm.table.Load().NumSegments()) })
	m.gaugeFunc("table_ported", "Ported numbers in the route table.",
		func() float64 { return float64(n.fsm.table.Load().NumPorted()) })
	m.gaugeFunc("table_sps", "SPs in the route table.",
		func() float64 { return float64(n.fsm.table.Load().NumSPs()) })
	// A hash is no quantity, but as a gauge's value it costs one series
	// per node; as a label (an _info metric) it would start a new series
	// at every write. 52 bits fit a float64 exactly and make an accidental
	// match between different tables a one in 4.5e15 event.
	m.gaugeFunc("table_digest", "Low 52 bits of the content digest of the route table (gnsctl cluster status shows it whole). "+
		"Nodes at the same gns_table_revision must show the same value; a difference means their tables diverged.",
		func() float64 { return n.fsm.digest.Load().gauge() })
}

// unregister removes every collector, so a registry that outlives the node
// (a process restarting a node on the same registry) neither calls into the
// stopped node nor refuses the new one's metrics.
func (m *Metrics) unregister() {
	for _, c := range m.collectors {
		m.reg.Unregister(c)
	}
	m.collectors = nil
}
