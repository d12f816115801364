package ismg

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

func (n *Node) serveHealth(w http.ResponseWriter, _ *http.Request) {
	var probs []string
	if n.storeBad.Load() {
		probs = append(probs, "queue store failed")
	}
	if n.billingBad.Load() {
		probs = append(probs, "billing failed")
	}
	for _, name := range n.linkOrder {
		lr := n.links[name]
		if !lr.cfg.Optional && lr.link.Status().Ready == 0 {
			probs = append(probs, "smsc link "+name+": no bind up")
		}
	}
	if len(probs) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, strings.Join(probs, "\n"))
		return
	}
	fmt.Fprintln(w, "ok")
}

// linkCollector exports link state read at scrape time.
type linkCollector struct{ n *Node }

var (
	descBindsUp     = prometheus.NewDesc("ismg_smsc_binds_up", "Bound SMPP sessions per link.", []string{"link"}, nil)
	descOutstanding = prometheus.NewDesc("ismg_smsc_outstanding", "submit_sm awaiting their response per link.", []string{"link"}, nil)
)

func (c *linkCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descBindsUp
	ch <- descOutstanding
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
	}
}
