package ismg

import (
	"context"
	"errors"
	"fmt"
	"github.com/tandem-sms/tandem/cmpp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/tandem-sms/tandem/gns/gnspb"
)

// Adoption (region HA): a sibling node of this gateway died, and the
// messages its store holds — MTs it acknowledged, MTs awaiting their
// receipts, reports and MO for SPs — must not be stranded. The store lives
// on a volume this node reaches (shared storage, or the disk moved); once
// the sibling's lease lapsed ha.adopt_after ago (or on ismgctl adopt),
// this node takes the lease and runs the store as an adopted node: the
// sibling's own configuration (its data_dir, billing dir, SP accounts and
// SMSC accounts) with its listeners off, inside this process. It binds to
// the SMSCs with the sibling's accounts, so the receipts owed to the
// sibling come to it and map through the store's receipt mapping; its
// queued MTs go out over those binds; its status reports and MO go to the
// SPs logged in at this node (spRuntime.pick asks the host). When nothing
// is left to send or await, the adopted node stops and the lease is
// released: the sibling, back, may take its (empty) store again.
//
// Goroutines: runHA (in Run's group) owns the own lease's renewal, the
// lease poller and every adoption's run; an adoption's run owns its
// adopted node's Run and its lease's renewal and waits for both.

// Adoption states shown by ismgctl store list and the console.
const (
	adoptWatching = "watching" // the sibling holds its store (or we wait for adopt_after)
	adoptDraining = "draining" // adopted: sending and collecting
	adoptReleased = "released" // drained, lease released
	adoptFenced   = "fenced"   // lost the lease while draining
	adoptFailed   = "failed"   // the adopted node stopped on an error
)

// haState is the node's HA part; zero when ha: is absent.
type haState struct {
	cfg  *HAConfig
	conn *leaseConn
	own  *heldLease // this node's own store; nil when HA is off
	host *Node      // set on an adopted node: the node whose SPs get its DELIVERs
	m    *haMetrics

	mu        sync.Mutex
	group     *errgroup.Group // runHA's, while it runs
	groupCtx  context.Context
	adoptions map[string]*adoption
	last      atomic.Pointer[gnspb.ListStoreLeasesResponse]
}

// adoption is one adoptable sibling store.
type adoption struct {
	src  AdoptableStore
	path string // the sibling's config file

	mu      sync.Mutex // serialises adopt attempts
	state   atomic.Pointer[string]
	lease   atomic.Pointer[heldLease]
	node    atomic.Pointer[Node]
	pending atomic.Int64
	drained atomic.Int64
}

func (a *adoption) setState(s string) { a.state.Store(&s) }
func (a *adoption) getState() string  { return *a.state.Load() }

type haMetrics struct {
	leaseHeld *prometheus.GaugeVec
	adopted   prometheus.Gauge
	pending   *prometheus.GaugeVec
	drained   *prometheus.CounterVec
	fenced    prometheus.Counter
	resends   *prometheus.CounterVec // adopted stores' MTs in flight at the owner's death, sent again
	repeats   *prometheus.CounterVec // adopted stores' DELIVERs in flight at the owner's death, sent again
}

func newHAMetrics(reg prometheus.Registerer) *haMetrics {
	m := &haMetrics{
		leaseHeld: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ismg_ha_store_lease_held",
			Help: "1 while this node holds the GNS lease of the store (its own, or one it adopted)."}, []string{"store"}),
		adopted: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ismg_ha_adopted_stores",
			Help: "Sibling stores this node is draining."}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ismg_ha_adopted_pending",
			Help: "Messages left in an adopted store: MTs to send or awaiting receipts, reports and MO to deliver."}, []string{"store"}),
		drained: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ismg_ha_drained_total",
			Help: "Messages drained from adopted stores (the fall of their pending count)."}, []string{"store"}),
		fenced: prometheus.NewCounter(prometheus.CounterOpts{Name: "ismg_ha_fenced_total",
			Help: "Store leases this node lost while serving from the store."}),
	}
	m.resends = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ismg_ha_adopted_resends_total",
		Help: "MTs an adopted store had in flight to the SMSC when its node died, sent again (possible duplicates)."}, []string{"store"})
	m.repeats = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ismg_ha_adopted_report_repeats_total",
		Help: "DELIVERs an adopted store had in flight to its SP when its node died, sent again."}, []string{"store"})
	reg.MustRegister(m.leaseHeld, m.adopted, m.pending, m.drained, m.fenced, m.resends, m.repeats)
	return m
}

// openHA takes this node's own store lease before the store opens: a
// store whose lease another live node holds is not opened at all (its
// bbolt lock could not be had anyway, and waiting on it would hang).
func (n *Node) openHA(o options) error {
	h := n.cfg.haConfig()
	if o.host != nil {
		// An adopted store: the adopter holds its lease and fences it.
		n.ha.host, n.ha.own = o.host, o.hostLease
		return nil
	}
	if h == nil {
		return nil
	}
	n.ha.cfg = h
	n.ha.m = newHAMetrics(o.reg)
	var err error
	if n.ha.conn, err = newLeaseConn(n.cfg.Routes); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), max(h.LeaseTTL, 5*time.Second))
	defer cancel()
	own, err := acquireLease(ctx, n.ha.conn, h, n.gw, h.StoreID, 0, n.log)
	if err != nil {
		return fmt.Errorf("ismg: ha: refusing to start from store %s: %w", h.StoreID, err)
	}
	own.onState = n.ha.leaseGauge(h.StoreID)
	n.ha.own = own
	n.ha.adoptions = map[string]*adoption{}
	for _, a := range h.Adoptable {
		ad := &adoption{src: a, path: n.cfg.adoptableConfigPath(a)}
		ad.setState(adoptWatching)
		n.ha.adoptions[a.StoreID] = ad
	}
	return nil
}

func (ha *haState) leaseGauge(store string) func(bool) {
	return func(held bool) {
		v := 0.0
		if held {
			v = 1
		}
		ha.m.leaseHeld.WithLabelValues(store).Set(v)
		if !held {
			ha.m.fenced.Inc()
		}
	}
}

func (ha *haState) close() {
	if ha.conn != nil {
		ha.conn.close()
	}
}

// fenced reports whether this node must not send from its store now: its
// own lease (or, on an adopted node, the adopter's lease of it) is gone.
func (n *Node) fenced() bool { return !n.ha.own.valid(time.Now()) }

// runHA renews the own lease and watches the adoptable stores until ctx
// ends; a lost own lease ends it with errFenced, which stops the node.
func (n *Node) runHA(ctx context.Context) error {
	ha := &n.ha
	if ha.cfg == nil {
		return nil
	}
	g, gctx := errgroup.WithContext(ctx)
	ha.mu.Lock()
	ha.group, ha.groupCtx = g, gctx
	ha.mu.Unlock()
	g.Go(func() error { return ha.own.run(gctx) })
	if len(ha.adoptions) > 0 {
		g.Go(func() error { return n.pollLeases(gctx) })
	}
	err := g.Wait()
	ha.mu.Lock()
	ha.group = nil
	ha.mu.Unlock()
	return err
}

// pollLeases reads the GNS leases every poll_interval and adopts a store
// whose lease lapsed adopt_after ago.
func (n *Node) pollLeases(ctx context.Context) error {
	ha := &n.ha
	t := time.NewTicker(ha.cfg.PollInterval)
	defer t.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, max(ha.cfg.PollInterval, time.Second))
		r, err := ha.conn.list(rctx)
		cancel()
		if err == nil {
			ha.last.Store(r)
			for _, l := range r.GetLeases() {
				a := ha.adoptions[l.GetStoreId()]
				// A lease in our own name that lapsed is adopted too: it is
				// one this node held while draining before a restart.
				if a == nil || a.src.Manual {
					continue
				}
				// A released store may be taken again once its owner,
				// back, has lapsed again; fenced or failed ones wait for
				// an operator (ismgctl adopt).
				if st := a.getState(); st != adoptWatching && st != adoptReleased {
					continue
				}
				if time.Duration(r.GetNowUnixNano()-l.GetExpiresUnixNano()) >= ha.cfg.AdoptAfter {
					if _, err := n.adopt(ctx, l.GetStoreId(), false); err != nil {
						n.log.Warn("adoption failed; retried at the next poll", "store", l.GetStoreId(), LogKeyErr, err)
					}
				}
			}
		} else if ctx.Err() == nil {
			n.log.Warn("read the store leases", LogKeyErr, err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Errors of adopt, for the admin API.
var (
	errNoSuchStore = errors.New("ismg: not an adoptable store of this node (ha.adoptable)")
	errHAOff       = errors.New("ismg: region HA is off (no ha: block) or the node is not running")
	errAdopting    = errors.New("ismg: store is being drained already")
)

// adopt takes the lease of a sibling's store (lapsed adopt_after ago, or
// just lapsed when forced) and starts draining it.
func (n *Node) adopt(ctx context.Context, store string, force bool) (*adoption, error) {
	ha := &n.ha
	if ha.cfg == nil {
		return nil, errHAOff
	}
	a := ha.adoptions[store]
	if a == nil {
		return nil, fmt.Errorf("%w: %q", errNoSuchStore, store)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if st := a.getState(); st == adoptDraining {
		return a, fmt.Errorf("%w: %s", errAdopting, store)
	}
	ha.mu.Lock()
	g, gctx := ha.group, ha.groupCtx
	ha.mu.Unlock()
	if g == nil {
		return nil, errHAOff
	}
	// Read the sibling's configuration before taking its lease: a bad
	// file must not leave the store leased and undrained.
	sc, err := LoadConfig(a.path)
	if err != nil {
		return nil, fmt.Errorf("ismg: adopt store %s: ha.adoptable config: %w", store, err)
	}
	minExpired := ha.cfg.AdoptAfter
	if force {
		minExpired = 0
	}
	lease, err := acquireLease(ctx, ha.conn, ha.cfg, n.gw, store, minExpired, n.log)
	if err != nil {
		return nil, fmt.Errorf("ismg: adopt store %s: %w", store, err)
	}
	lease.onState = ha.leaseGauge(store)
	// The adopted node's own metrics stay in a registry of their own (its
	// names would collide with ours); what matters is copied out here.
	reg := prometheus.NewRegistry()
	an, err := New(adoptedConfig(sc), WithLogger(n.log.With("adopted_store", store)),
		WithRegistry(reg), withHost(n, lease))
	if err != nil {
		// Leave the lease to lapse rather than release it: the store may
		// be half-read, and no one else should take it before a look.
		return nil, fmt.Errorf("ismg: adopt store %s: open: %w", store, err)
	}
	// Recovery (in New) counted what the dead node had in flight.
	ha.m.resends.WithLabelValues(store).Add(sumCounter(reg, "ismg_smsc_resends_total"))
	ha.m.repeats.WithLabelValues(store).Add(sumCounter(reg, "ismg_sp_report_repeats_total"))
	a.lease.Store(lease)
	a.node.Store(an)
	a.drained.Store(0)
	a.pending.Store(an.pendingHA())
	a.setState(adoptDraining)
	ha.m.adopted.Inc()
	n.log.Warn("adopted a sibling's store: draining it", "store", store, "token", lease.token.Load(),
		"data_dir", sc.DataDir, "pending", a.pending.Load())
	g.Go(func() error { n.drainAdopted(gctx, a, an, lease); return nil })
	return a, nil
}

// adoptedConfig is a sibling's configuration run inside this process: no
// listener of its own but a loopback SP port nobody is told about (the
// CMPP server needs one), no HA of its own (the adopter holds its lease),
// no gossip; it keeps a FWD port so its fwd: queues drain to the peers.
func adoptedConfig(sc Config) Config {
	l := sc.Listen
	sc.Listen = ListenConfig{CMPP: "127.0.0.1:0", TLS: l.TLS, FWDTLS: l.FWDTLS}
	if l.FWD != "" {
		sc.Listen.FWD = "127.0.0.1:0"
	}
	// No gossip, no siblings of its own (they need gossip), no HA: the
	// adopted store only drains, through this node's sessions.
	sc.Federation.Membership = nil
	sc.Federation.Siblings = nil
	sc.HA = nil
	return sc
}

// withHost makes the node an adopted store of host, fenced by lease.
func withHost(host *Node, lease *heldLease) Option {
	return func(o *options) { o.host, o.hostLease = host, lease }
}

// drainAdopted runs the adopted node until its store is drained (then
// releases the lease), its lease is lost, it fails, or ctx ends (the
// lease is then left to lapse, for another sibling to adopt).
func (n *Node) drainAdopted(ctx context.Context, a *adoption, an *Node, lease *heldLease) {
	store := a.src.StoreID
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- an.Run(runCtx) }()
	leaseDone := make(chan error, 1)
	go func() { leaseDone <- lease.run(runCtx) }()
	stop := func() {
		// First: no more peer reports handed to it (adoptedOwner).
		a.node.Store(nil)
		cancel()
		<-done
		<-leaseDone
		n.ha.m.adopted.Dec()
	}
	t := time.NewTicker(n.ha.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			stop()
			return
		case err := <-leaseDone:
			leaseDone <- err // stop waits for it
			a.setState(adoptFenced)
			stop()
			return
		case err := <-done:
			done <- err
			n.log.Error("adopted store stopped", "store", store, LogKeyErr, err)
			a.setState(adoptFailed)
			stop()
			return
		case <-t.C:
		}
		p := an.pendingHA()
		if d := a.pending.Load() - p; d > 0 {
			a.drained.Add(d)
			n.ha.m.drained.WithLabelValues(store).Add(float64(d))
		}
		a.pending.Store(p)
		n.ha.m.pending.WithLabelValues(store).Set(float64(p))
		if p > 0 {
			continue
		}
		stop()
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		err := lease.release(rctx)
		rcancel()
		if err != nil {
			n.log.Warn("release the drained store's lease (it lapses instead)", "store", store, LogKeyErr, err)
		}
		a.setState(adoptReleased)
		n.log.Warn("adopted store drained and released", "store", store, "drained", a.drained.Load())
		return
	}
}

// pendingHA counts what the store still holds for someone: MTs to send
// (mt:, fwd:) or awaiting receipts, reports and MO for SPs, CDRs not yet
// filed. Orphan receipts are left out: with nothing awaiting they can
// match nothing.
func (n *Node) pendingHA() int64 {
	var p int64
	for _, q := range n.st.Queues() {
		if q == qOrphan {
			continue
		}
		p += int64(n.st.Len(q))
	}
	return p
}

// hostSP is the host's runtime of SP id, for an adopted node's DELIVERs;
// nil on a node that is not adopted or when the host has no such SP.
func (n *Node) hostSP(id string) *spRuntime {
	if n.ha.host == nil {
		return nil
	}
	return (*n.ha.host.sps.Load())[id]
}

// sumCounter adds up every series of a counter in g.
func sumCounter(g prometheus.Gatherer, name string) float64 {
	mfs, err := g.Gather()
	if err != nil {
		return 0
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// adoptedOwner returns the adopted store running here whose node issued
// Msg_Id id (the node index its sequence carries), or nil. A peer's status
// report for an MT the dead node forwarded comes to a live node of the
// gateway; the MT waits in the dead node's store, so when this node drains
// that store the report goes there (ReceiveFwd), not to a sibling relay
// that would wait for the dead node forever.
func (n *Node) adoptedOwner(id uint64) *Node {
	if len(n.ha.adoptions) == 0 {
		return nil
	}
	m := cmpp.UnpackMsgID(id)
	if m.Gateway != n.gwNum {
		return nil
	}
	for _, a := range n.ha.adoptions {
		an := a.node.Load()
		if an == nil {
			continue
		}
		bits := an.cfg.Gateway.NodeBits
		if bits > 0 && int(m.Seq>>(16-bits)) == an.cfg.Gateway.NodeIndex {
			return an
		}
	}
	return nil
}
