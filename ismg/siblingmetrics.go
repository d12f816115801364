package ismg

import "github.com/prometheus/client_golang/prometheus"

// siblingMetrics are the series of Region HA (sibling.go). Those labelled
// gateway and node let a dashboard sum per gateway and split per node;
// ismg_node_info joins the node's identity onto any other series of the
// same scrape target.
type siblingMetrics struct {
	NodeInfo         *prometheus.GaugeVec   // gateway, node, node_index, node_bits: 1
	SiblingsLive     *prometheus.GaugeVec   // gateway, node: healthy other nodes of the gateway
	SiblingConflicts *prometheus.GaugeVec   // gateway, node: live siblings with a clashing node_index/node_bits
	SiblingHandoffs  *prometheus.CounterVec // gateway, node: reports and MO moved to a sibling's queue
	SiblingReceived  *prometheus.CounterVec // gateway, node, type (mt_report|mo): taken from a sibling
	SiblingReturned  prometheus.Counter     // records taken back from a sibling queue (sibling gone or refused)
	SiblingHopLimit  prometheus.Counter     // records kept here at the sibling hop limit
}

func newSiblingMetrics(reg prometheus.Registerer) siblingMetrics {
	gn := []string{"gateway", "node"}
	m := siblingMetrics{
		NodeInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ismg_node_info", Help: "This node's identity in its gateway (always 1).",
		}, []string{"gateway", "node", "node_index", "node_bits"}),
		SiblingsLive: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ismg_siblings_live", Help: "Other nodes of this gateway alive and healthy in the gossip.",
		}, gn),
		SiblingConflicts: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ismg_sibling_conflicts", Help: "Live siblings whose gateway.node_index equals ours or whose node_bits differ (their Msg_Ids may collide).",
		}, gn),
		SiblingHandoffs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ismg_sibling_handoffs_total", Help: "Status reports and MO moved to a sibling's queue because their SP is logged in there.",
		}, gn),
		SiblingReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ismg_sibling_received_total", Help: "Status reports and MO a sibling passed to this node for its SP.",
		}, []string{"gateway", "node", "type"}),
		SiblingReturned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ismg_sibling_returned_total", Help: "Records taken back from a sibling queue into the SP's queue (the sibling went away or refused them).",
		}),
		SiblingHopLimit: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ismg_sibling_hop_limit_total", Help: "Records not handed to a sibling again: they passed between siblings too often.",
		}),
	}
	reg.MustRegister(m.NodeInfo, m.SiblingsLive, m.SiblingConflicts, m.SiblingHandoffs, m.SiblingReceived, m.SiblingReturned, m.SiblingHopLimit)
	return m
}
