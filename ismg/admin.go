package ismg

import (
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
)

// Runtime administration of the node: the state behind the admin API
// (adminserver.go), one file per mechanism —
//
//	adminsp.go      SP accounts: the admin overlay over the file's sps
//	adminlist.go    destination black/white lists
//	admindrain.go   drain before maintenance, log level, SMSC link stop/start
//	adminreload.go  what a reload applied and what needs a restart
//	adminaudit.go   the audit log of every change
//	adminserver.go  the gRPC server: TLS, token, health, reflection
//
// Locks: Node.spMu serialises account changes (admin and Reload) and
// guards yamlSPs and overlay; destMu serialises list changes. Neither is
// held with the other.
type adminState struct {
	yamlSPs []SPAccount          // the file's accounts, as last loaded
	overlay map[string]spOverlay // the admin records, by SP_Id
	gns     *gnsAccounts         // the accounts from the GNS table (gnsaccounts.go)

	destMu sync.Mutex
	dest   atomic.Pointer[destLists]

	draining atomic.Bool
	level    *slog.LevelVar // nil: the log level is fixed

	audit  *auditLog
	reload *reloadMetrics
	last   atomic.Pointer[ReloadResult]

	destRefused *prometheus.CounterVec
	drainGauge  prometheus.Gauge

	ln     net.Listener // listen.admin, or nil
	srv    *grpc.Server
	health *health.Server
}

// reasonDestBlocked and reasonDraining label SUBMIT refusals.
const (
	reasonDestBlocked = "dest_blocked" // a destination list refused the number
	reasonDraining    = "draining"     // the node drains before maintenance
	reasonSuspended   = "suspended"    // an operator suspended the SP
)

// WithLogLevel lets the admin API change the node's log level through v
// (the level the logger's handler was built with).
func WithLogLevel(v *slog.LevelVar) Option { return func(o *options) { o.level = v } }

// openAdmin loads the admin overlay and lists from the store and merges
// the accounts before the SPs are built; the listener opens in
// listenAdmin.
func (n *Node) openAdmin(o options, reg prometheus.Registerer) error {
	n.adm.level = o.level
	n.adm.yamlSPs = slices.Clone(n.cfg.SPs)
	var err error
	if n.adm.overlay, err = loadOverlay(n.st); err != nil {
		return err
	}
	d, err := loadDestLists(n.st)
	if err != nil {
		return err
	}
	n.adm.dest.Store(d)
	n.openGNSAccounts(reg)
	accts, err := n.mergeAccounts(n.cfg.SPs, n.adm.overlay)
	if err != nil {
		return err
	}
	n.cfg.SPs = accts
	n.adm.reload = newReloadMetrics(reg)
	n.adm.destRefused = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ismg_dest_refused_total",
		Help: "SUBMITs refused by a destination list, by SP and list (black or white)."}, []string{"sp", "list"})
	n.adm.drainGauge = prometheus.NewGauge(prometheus.GaugeOpts{Name: "ismg_draining",
		Help: "1 while the node drains before maintenance (new SUBMITs get Result 8)."})
	reg.MustRegister(n.adm.destRefused, n.adm.drainGauge)
	n.adm.audit, err = openAuditLog(n.cfg.auditPath(), n.log)
	return err
}

// afterSPsBuilt marks the suspended SPs once their runtimes exist.
func (n *Node) afterSPsBuilt() {
	for id, sp := range *n.sps.Load() {
		sp.suspended.Store(n.adm.overlay[id].Suspended)
	}
}

// refuseAdmin is the SUBMIT check of an operator's decisions: a draining
// node and a suspended SP answer Result 8 (flow control: the SP retries
// later or elsewhere).
func (n *Node) refuseAdmin(sp *spRuntime) (reason string, refused bool) {
	switch {
	case n.adm.draining.Load():
		return reasonDraining, true
	case sp.suspended.Load():
		return reasonSuspended, true
	}
	return "", false
}
