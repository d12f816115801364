package ismg

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tandem-sms/tandem/ismg/queue"
)

// Metrics are the node's Prometheus series. Labels are bounded: SP ids and
// link names come from the configuration, reasons and results from fixed
// sets in this package.
type Metrics struct {
	Submits          *prometheus.CounterVec   // sp, result (ok|rejected), reason
	SubmitLatency    prometheus.Histogram     // SUBMIT read → SUBMIT_RESP (durable)
	Delivers         *prometheus.CounterVec   // sp, kind (report|mo), result (ok|error|expired)
	Cancels          *prometheus.CounterVec   // sp, result (ok|not_found|in_flight|store)
	SPConnections    *prometheus.GaugeVec     // sp
	ConnectRejected  *prometheus.CounterVec   // reason
	BadPDUs          *prometheus.CounterVec   // reason (cmpp.BadPDU*)
	SMSCBackpressure *prometheus.CounterVec   // link
	SMSCSubmits      *prometheus.CounterVec   // link, result (ok|temporary|permanent)
	SMSCFailures     *prometheus.CounterVec   // link, kind (smsclink.Kind)
	SMSCThrottled    *prometheus.CounterVec   // link
	SMSCLatency      *prometheus.HistogramVec // link: submit_sm → submit_sm_resp
	Resends          *prometheus.CounterVec   // link: in flight to the SMSC at a crash
	ReportRepeats    *prometheus.CounterVec   // sp: in flight to the SP at a crash
	Receipts         *prometheus.CounterVec   // link, result (matched|orphan|orphan_matched|duplicate|intermediate|bad)
	Reports          *prometheus.CounterVec   // sp, origin (smsc|expired|gateway)
	ReportLatency    prometheus.Histogram     // accepted → status report queued
	MO               *prometheus.CounterVec   // result (local|fwd|unknown|error)
	Expired          *prometheus.CounterVec   // queue kind (mt|fwd)
	StoreErrors      prometheus.Counter
	BillingErrors    prometheus.Counter
	CDRsMoved        prometheus.Counter // CDR lines moved from the store's outbox into the files
	OrphansExpired   prometheus.Counter

	// The federation: CMPP_FWD with peer gateways.
	FwdSent           *prometheus.CounterVec   // peer, type (mt|mo|mt_report|mo_report), result (ok|retry|refused)
	FwdReceived       *prometheus.CounterVec   // peer, type, outcome (ok|duplicate|loop|no_route|busy|early|store|...)
	FwdLatency        *prometheus.HistogramVec // peer: FWD → FWD_RESP
	FwdLoops          prometheus.Counter       // FWDs refused at federation.max_nodes
	FwdMOReports      prometheus.Counter       // MO status reports (type 3) received
	FwdReportsUnknown prometheus.Counter       // MT reports for no message waiting here
	FwdDedupForgotten prometheus.Counter       // dedup keys dropped past federation.dedup_window
	FwdRerouted       prometheus.Counter       // MTs in fwd:<gw> whose number's home changed before they were sent

	siblingMetrics // Region HA: the nodes of one gateway (siblingmetrics.go)
}

func newMetrics(reg prometheus.Registerer, st *queue.Store) *Metrics {
	lat := []float64{.0005, .001, .002, .003, .004, .005, .0075, .01, .015, .02, .05, .1, .25, .5, 1, 2.5}
	m := &Metrics{
		Submits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ismg_sp_submits_total", Help: "CMPP_SUBMITs per SP by result and rejection reason (one per destination when accepted).",
		}, []string{"sp", "result", "reason"}),
		SubmitLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ismg_submit_resp_seconds", Help: "Time from reading a SUBMIT to answering SUBMIT_RESP after the durable commit.",
			Buckets: lat,
		}),
		Delivers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ismg_sp_delivers_total", Help: "CMPP_DELIVERs to SPs by kind and outcome.",
		}, []string{"sp", "kind", "result"}),
		Cancels: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ismg_sp_cancels_total", Help: "CMPP_CANCELs by outcome.",
		}, []string{"sp", "result"}),
		SPConnections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ismg_sp_connections", Help: "Logged-in CMPP sessions per SP.",
		}, []string{"sp"}),
		SMSCBackpressure: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ismg_smsc_backpressure_total", Help: "SUBMITs refused with Result 8 because their link's queue was over its high_water.",
		}, []string{"link"}),
		BadPDUs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ismg_sp_bad_pdus_total", Help: "PDUs from SPs that did not decode: answered with Result 1 and the session kept, or (bad_length) the session closed.",
		}, []string{"reason"}),
		ConnectRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ismg_connect_rejected_total", Help: "CONNECTs refused, by reason.",
		}, []string{"reason"}),
		SMSCSubmits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ismg_smsc_submits_total", Help: "submit_sm per SMSC link by result.",
		}, []string{"link", "result"}),
		SMSCFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ismg_smsc_failures_total", Help: "Failed submit_sm per SMSC link by kind.",
		}, []string{"link", "kind"}),
		SMSCThrottled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ismg_smsc_throttled_total", Help: "submit_sm answered ESME_RTHROTTLED / ESME_RMSGQFUL or refused during the pause.",
		}, []string{"link"}),
		SMSCLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ismg_smsc_submit_seconds", Help: "Time from submit_sm to submit_sm_resp.", Buckets: lat,
		}, []string{"link"}),
		Resends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ismg_smsc_resends_total", Help: "Messages found in flight to the SMSC at start-up (sent again: possible duplicates).",
		}, []string{"link"}),
		ReportRepeats: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ismg_sp_report_repeats_total", Help: "DELIVERs found in flight to the SP at start-up (sent again: possible duplicates).",
		}, []string{"sp"}),
		Receipts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ismg_receipts_total", Help: "Delivery receipts from SMSCs by outcome.",
		}, []string{"link", "result"}),
		Reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ismg_reports_total", Help: "Final status reports built, by origin.",
		}, []string{"sp", "origin"}),
		ReportLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ismg_report_seconds", Help: "Time from SUBMIT_RESP to the status report being queued for the SP.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 5, 30, 60, 300, 3600},
		}),
		MO: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ismg_mo_total", Help: "MO messages from SMSCs by outcome.",
		}, []string{"result"}),
		Expired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ismg_expired_total", Help: "Messages that reached Valid_Time before delivery.",
		}, []string{"queue"}),
		StoreErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ismg_store_errors_total", Help: "Failed queue commits.",
		}),
		BillingErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ismg_billing_errors_total", Help: "Failed CDR encodings, file writes or syncs.",
		}),
		CDRsMoved: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ismg_cdrs_filed_total", Help: "CDRs moved from the store (where each is committed with what it bills) into the CDR files.",
		}),
		OrphansExpired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ismg_orphans_expired_total", Help: "Receipts held for a mapping that never came.",
		}),
	}
	m.FwdSent = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ismg_fwd_sent_total", Help: "CMPP_FWD sent to peer gateways, by type and result (ok: FWD_RESP Result 0; retry: resent later; refused: ended).",
	}, []string{"peer", "type", "result"})
	m.FwdReceived = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ismg_fwd_received_total", Help: "CMPP_FWD received from peer gateways, by type and outcome (duplicate: a resend, answered and dropped).",
	}, []string{"peer", "type", "outcome"})
	m.FwdLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "ismg_fwd_seconds", Help: "CMPP_FWD to its FWD_RESP, per peer gateway.", Buckets: lat,
	}, []string{"peer"})
	m.FwdLoops = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "ismg_fwd_loops_total", Help: "FWDs refused because they had passed federation.max_nodes gateways (a routing loop).",
	})
	m.FwdMOReports = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "ismg_fwd_mo_reports_total", Help: "MO status reports (Msg_Fwd_Type 3) received from the SPs' gateways.",
	})
	m.FwdReportsUnknown = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "ismg_fwd_reports_unknown_total", Help: "MT status reports received for no message waiting here (already reported, or expired).",
	})
	m.FwdDedupForgotten = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "ismg_fwd_dedup_forgotten_total", Help: "Received-FWD keys dropped once older than federation.dedup_window.",
	})
	m.FwdRerouted = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "ismg_fwd_rerouted_total", Help: "MTs waiting for a peer gateway that went to the number's new home instead (a route change, or tables that disagreed).",
	})
	reg.MustRegister(m.FwdSent, m.FwdReceived, m.FwdLatency, m.FwdLoops, m.FwdMOReports, m.FwdReportsUnknown, m.FwdDedupForgotten, m.FwdRerouted)
	reg.MustRegister(m.Submits, m.SubmitLatency, m.Delivers, m.Cancels, m.SPConnections, m.ConnectRejected, m.BadPDUs, m.SMSCBackpressure,
		m.SMSCSubmits, m.SMSCFailures, m.SMSCThrottled, m.SMSCLatency,
		m.Resends, m.ReportRepeats, m.Receipts, m.Reports, m.ReportLatency, m.MO, m.Expired,
		m.StoreErrors, m.BillingErrors, m.CDRsMoved, m.OrphansExpired, &storeCollector{st: st})
	m.siblingMetrics = newSiblingMetrics(reg)
	return m
}

// storeCollector reads the queue depths and commit counters at scrape
// time, so the hot path keeps no gauges for them.
type storeCollector struct{ st *queue.Store }

var (
	descDepth  = prometheus.NewDesc("ismg_queue_depth", "Items per queue, leased included.", []string{"queue"}, nil)
	descLeased = prometheus.NewDesc("ismg_queue_leased", "Items per queue being worked on.", []string{"queue"}, nil)
	descTxs    = prometheus.NewDesc("ismg_store_transactions_total", "bbolt transactions (one fsync each).", nil, nil)
	descOps    = prometheus.NewDesc("ismg_store_ops_total", "Queue ops committed.", nil, nil)
	descPages  = prometheus.NewDesc("ismg_store_page_writes_total", "Pages the committed transactions wrote: what their fsyncs flushed.", nil, nil)
	descSync   = prometheus.NewDesc("ismg_store_commit_seconds", "bbolt transaction commit time (page writes and fsyncs).", nil, nil)
	descSyncMx = prometheus.NewDesc("ismg_store_commit_max_seconds", "Slowest bbolt transaction commit so far.", nil, nil)
)

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descDepth
	ch <- descLeased
	ch <- descTxs
	ch <- descOps
	ch <- descPages
	ch <- descSync
	ch <- descSyncMx
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.st.Stats()
	for name, q := range st.Queues {
		ch <- prometheus.MustNewConstMetric(descDepth, prometheus.GaugeValue, float64(q.Depth), name)
		ch <- prometheus.MustNewConstMetric(descLeased, prometheus.GaugeValue, float64(q.Leased), name)
	}
	ch <- prometheus.MustNewConstMetric(descTxs, prometheus.CounterValue, float64(st.Txs))
	ch <- prometheus.MustNewConstMetric(descOps, prometheus.CounterValue, float64(st.Ops))
	ch <- prometheus.MustNewConstMetric(descPages, prometheus.CounterValue, float64(st.PageWrites))
	bounds := queue.SyncBuckets()
	buckets := make(map[float64]uint64, len(bounds))
	var cum uint64
	for i, b := range bounds {
		cum += st.SyncHist[i]
		buckets[b.Seconds()] = cum
	}
	ch <- prometheus.MustNewConstHistogram(descSync, cum+st.SyncHist[len(bounds)], st.SyncTime.Seconds(), buckets)
	ch <- prometheus.MustNewConstMetric(descSyncMx, prometheus.GaugeValue, st.SyncMax.Seconds())
}
