package ismg

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

func (n *Node) serveHealth(w http.ResponseWriter, _ *http.Request) {
	// Which node answers: behind one address several nodes may serve a
	// gateway (sibling.go).
	g := n.cfg.Gateway
	w.Header().Set("X-Tandem-Gateway", n.gw)
	w.Header().Set("X-Tandem-Node", n.nodeName())
	id := fmt.Sprintf("gateway %s node %s (node_index %d, node_bits %d)", n.gw, n.nodeName(), g.NodeIndex, g.NodeBits)
	if probs := n.healthProblems(); len(probs) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, strings.Join(probs, "\n"))
		fmt.Fprintln(w, id)
		return
	}
	fmt.Fprintln(w, "ok")
	fmt.Fprintln(w, id)
}

// healthProblems are what makes /healthz answer 503 (none: healthy).
func (n *Node) healthProblems() []string {
	var probs []string
	if n.storeBad.Load() {
		probs = append(probs, "queue store failed")
	}
	if n.billingBad.Load() {
		probs = append(probs, "billing failed")
	}
	if t := n.table(); t.NumGateways() == 0 {
		// A route cache that never reached a GNS and had nothing
		// persisted: every SUBMIT would be refused.
		probs = append(probs, "no route table yet (routes.gns: no GNS node answered)")
	} else if _, ok := t.Gateway(n.gw); !ok {
		probs = append(probs, "this gateway ("+n.gw+") is not in the route table")
	}
	for _, name := range n.linkOrder {
		lr := n.links[name]
		if !lr.cfg.Optional && lr.link.Status().Ready == 0 {
			probs = append(probs, "smsc link "+name+": no bind up")
		}
	}
	return probs
}

// linkCollector exports link state read at scrape time.
type linkCollector struct{ n *Node }

var (
	descBindsUp     = prometheus.NewDesc("ismg_smsc_binds_up", "Bound SMPP sessions per link.", []string{"link"}, nil)
	descOutstanding = prometheus.NewDesc("ismg_smsc_outstanding", "submit_sm awaiting their response per link.", []string{"link"}, nil)
	descWindowBusy  = prometheus.NewDesc("ismg_smsc_window_busy", "Window slots in use per link: MTs leased whose submit_sm has no answer yet.", []string{"link"}, nil)
	descBusySeconds = prometheus.NewDesc("ismg_smsc_window_busy_seconds_total",
		"Window slots in use integrated over time: its rate is the average number of submit_sm outstanding on the link.", []string{"link"}, nil)
	descUnsettled   = prometheus.NewDesc("ismg_smsc_unsettled", "MTs leased whose outcome is not durable yet (each may be resent after a crash).", []string{"link"}, nil)
	descResendBound = prometheus.NewDesc("ismg_smsc_resend_bound", "Most MTs a crash can make the link send twice: the link's resend_bound (default 4 × binds × window).", []string{"link"}, nil)
)

func (c *linkCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descBindsUp
	ch <- descOutstanding
	ch <- descWindowBusy
	ch <- descBusySeconds
	ch <- descUnsettled
	ch <- descResendBound
}

func (c *linkCollector) Collect(ch chan<- prometheus.Metric) {
	for _, name := range c.n.linkOrder {
		st := c.n.links[name].link.Status()
		out := 0
		for _, b := range st.Binds {
			out += b.Outstanding
		}
		ch <- prometheus.MustNewConstMetric(descBindsUp, prometheus.GaugeValue, float64(c.n.links[name].link.Counters().BindsUp), name)
		ch <- prometheus.MustNewConstMetric(descOutstanding, prometheus.GaugeValue, float64(out), name)
		lr := c.n.links[name]
		busy, secs := lr.busy.read()
		ch <- prometheus.MustNewConstMetric(descWindowBusy, prometheus.GaugeValue, float64(busy), name)
		ch <- prometheus.MustNewConstMetric(descBusySeconds, prometheus.CounterValue, secs, name)
		ch <- prometheus.MustNewConstMetric(descUnsettled, prometheus.GaugeValue, float64(lr.durable.inUse()), name)
		ch <- prometheus.MustNewConstMetric(descResendBound, prometheus.GaugeValue, float64(lr.durable.size), name)
	}
}
