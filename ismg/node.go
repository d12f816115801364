package ismg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/tandem-sms/tandem/billing"
	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/ismg/queue"
	"github.com/tandem-sms/tandem/routing"
	"github.com/tandem-sms/tandem/smpp"
)

// Queue and bucket names (see the package doc for the life cycle).
const (
	qMTPrefix  = "mt:" // + link name
	qAwait     = "await"
	qOrphan    = "orphan"
	qOutPrefix = "out:" // + SP_Id
	qFwdPrefix = "fwd:" // + gateway code
	kvMeta     = "meta"
)

// Option customises a Node.
type Option func(*options)

type options struct {
	log      *slog.Logger
	reg      prometheus.Registerer
	gatherer prometheus.Gatherer
	now      func() time.Time
	routes   *routing.Table
	noSync   bool
}

// WithLogger sets the node's logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithRegistry registers the node's metrics in reg and serves reg on
// /metrics. The default is a fresh registry per node.
func WithRegistry(reg *prometheus.Registry) Option {
	return func(o *options) { o.reg, o.gatherer = reg, reg }
}

// WithClock replaces time.Now for Msg_Ids, CDR times and report times.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithRoutes uses t instead of loading cfg.Routes.File.
func WithRoutes(t *routing.Table) Option { return func(o *options) { o.routes = t } }

// WithoutFsync turns fsync off in the queue. UNSAFE: only for benchmark
// comparisons.
func WithoutFsync() Option { return func(o *options) { o.noSync = true } }

// Node is one ISMG: the CMPP server, the durable queue, the SMSC links and
// dispatchers, receipts, SP delivery and billing.
type Node struct {
	cfg    Config
	gw     string // gateway code
	gwNum  uint32
	log    *slog.Logger
	now    func() time.Time
	loc    *time.Location
	m      *Metrics
	gather prometheus.Gatherer

	st      *queue.Store
	cdr     *billing.Writer
	cdrSync *groupSync
	stats   *statsBook // CMPP_QUERY counters
	// submitWaits pools the SUBMIT handlers' commit scratch (*submitWait).
	submitWaits sync.Pool
	ids         *msgIDs
	// batchSeq numbers the in-flight batch records (inflight.go); recover
	// deletes every record of the previous process before traffic flows.
	batchSeq atomic.Uint64
	routes   atomic.Pointer[routing.Table]

	limits atomic.Pointer[LimitsConfig]
	sps    atomic.Pointer[map[string]*spRuntime]
	spMu   sync.Mutex // serialises Reload's edits of sps

	links       map[string]*linkRuntime
	linkOrder   []string
	defaultLink string
	mtQueues    []string

	srv      *cmpp.Server
	cmppLn   net.Listener
	cmppTLS  net.Listener // listen.cmpp_tls, or nil
	httpLn   net.Listener
	httpSrv  *http.Server
	pprofLn  net.Listener // listen.pprof (loopback only), or nil
	pprofSrv *http.Server
	fw       *firewall
	connLog  logSampler // "CONNECT refused" lines
	conns    sync.Map   // *cmpp.Session → *spConn

	fwdMu  sync.Mutex
	fwdRun map[string]bool // fwd:<gw> queues with a sweeper

	msgLocks keyLocks // per Msg_Id: receipts of one message's parts

	runCtx     context.Context // work context while running (for SPs added by Reload)
	runGroup   *errgroup.Group
	runMu      sync.Mutex
	storeBad   atomic.Bool
	billingBad atomic.Bool
}

// New opens the node's store and billing, loads routes and binds the
// listeners (so Addr works before Run). Run starts serving.
func New(cfg Config, opts ...Option) (*Node, error) {
	o := options{now: time.Now}
	for _, f := range opts {
		f(&o)
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if o.reg == nil {
		r := prometheus.NewRegistry()
		o.reg, o.gatherer = r, r
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	gwNum, err := cmpp.GatewayCode(cfg.Gateway.Code)
	if err != nil {
		return nil, fmt.Errorf("ismg: gateway.code: %w", err)
	}
	n := &Node{
		cfg: cfg, gw: cfg.Gateway.Code, gwNum: gwNum, log: o.log, now: o.now, loc: time.Local,
		gather: o.gatherer, links: map[string]*linkRuntime{}, fwdRun: map[string]bool{},
		msgLocks: keyLocks{m: map[uint64]*keyLock{}},
	}
	lim := cfg.Limits
	n.limits.Store(&lim)
	n.fw = newFirewall()

	t := o.routes
	if t == nil {
		if t, err = routing.LoadFile(cfg.Routes.File); err != nil {
			return nil, fmt.Errorf("ismg: routes.file: %w", err)
		}
	}
	n.routes.Store(t)

	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("ismg: data_dir: %w", err)
	}
	qc := queue.DefaultConfig()
	qc.Logger = o.log.With("component", "queue")
	qc.NoSync = o.noSync
	qc.MaxDepth = 0 // depth is enforced per SP request (limits.queue_depth), not per queue
	// One CDR fsync per queue transaction, run by the committer when it
	// takes the batch, before the transaction: the SUBMITs in it wrote
	// their CDRs before committing, so that fsync covers them. Run
	// alongside the queue's fsyncs instead, it made ext4's journal stall
	// the queue's commits for 10-25 ms several times a minute under load
	// (commit max 5-7 ms in line), a worse tail than the 0.2 ms it adds to
	// each commit cycle.
	n.cdrSync = newGroupSync(nil)
	n.stats = newStatsBook(n.loc)
	qc.OnBatch = n.cdrSync.runRound
	if n.st, err = queue.Open(filepath.Join(cfg.DataDir, "ismg.db"), qc); err != nil {
		return nil, fmt.Errorf("ismg: open queue: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			n.closeResources()
		}
	}()
	bc := billing.DefaultConfig()
	bc.Dir, bc.Gateway, bc.Rotate, bc.Now = cfg.Billing.Dir, cfg.Gateway.Code, cfg.Billing.Rotate, o.now
	bc.Logger = o.log.With("component", "billing")
	if n.cdr, err = billing.Open(bc); err != nil {
		return nil, fmt.Errorf("ismg: billing: %w", err)
	}
	n.cdrSync.fn = n.cdr.Sync // before Run starts the syncer

	if n.ids, err = openMsgIDs(n.st, gwNum, o.now); err != nil {
		return nil, err
	}

	n.m = newMetrics(o.reg, n.st)
	sps := map[string]*spRuntime{}
	for i := range cfg.SPs {
		sps[cfg.SPs[i].SPID] = newSPRuntime(n, &cfg.SPs[i])
	}
	n.sps.Store(&sps)

	for i := range cfg.SMSCs {
		lc := cfg.SMSCs[i]
		lr, err := newLinkRuntime(n, lc)
		if err != nil {
			return nil, err
		}
		n.links[lc.Name] = lr
		n.linkOrder = append(n.linkOrder, lc.Name)
		n.mtQueues = append(n.mtQueues, qMTPrefix+lc.Name)
		if lc.Default && n.defaultLink == "" {
			n.defaultLink = lc.Name
		}
	}
	if n.defaultLink == "" && len(n.linkOrder) > 0 {
		n.defaultLink = n.linkOrder[0]
	}
	o.reg.MustRegister(&linkCollector{n: n})

	n.srv = &cmpp.Server{
		Config: cmpp.Config{
			// Our own per-SP window check answers first (reason "window");
			// the session's bound only caps handler goroutines.
			InboundWindow:      1024,
			Window:             1024,
			ResponseTimeout:    cfg.Limits.ResponseTimeout,
			ActiveTestInterval: cfg.Limits.ActiveTest,
			ReadTimeout:        cfg.Limits.ReadTimeout,
			MaxPDU:             uint32(cfg.Limits.MaxPDU),
			// serveCMPP never waits: a SUBMIT is answered from its commit
			// callbacks, everything else at once.
			InlineHandler: true,
			Logger:        o.log.With("component", "cmpp"),
		},
		Auth:            cmpp.AuthenticatorFunc(n.authenticate),
		Handler:         cmpp.HandlerFunc(n.serveCMPP),
		ConnectTimeout:  cfg.Limits.ConnectTimeout,
		MaxPending:      cfg.Limits.MaxPending,
		MaxPendingPerIP: cfg.Limits.MaxPendingIP,
		OnRefuse: func(_ net.Addr, reason string) {
			n.m.ConnectRejected.WithLabelValues(reason).Inc()
		},
		Logger:    o.log.With("component", "cmpp"),
		OnSession: n.onSession,
		OnClose:   n.onClose,
	}
	if err := n.listen(); err != nil {
		return nil, err
	}
	if err := n.recover(); err != nil {
		return nil, err
	}
	ok = true
	return n, nil
}

// CMPPAddr is the address SPs connect to.
func (n *Node) CMPPAddr() string { return n.cmppLn.Addr().String() }

// HTTPAddr is the /metrics and /healthz address, or "" when disabled.
func (n *Node) HTTPAddr() string {
	if n.httpLn == nil {
		return ""
	}
	return n.httpLn.Addr().String()
}

// Store exposes the node's queue store (tests and tools read depths).
func (n *Node) Store() *queue.Store { return n.st }

// Metrics returns the node's metrics.
func (n *Node) Metrics() *Metrics { return n.m }

func (n *Node) closeResources() {
	for _, l := range []net.Listener{n.cmppLn, n.cmppTLS, n.httpLn, n.pprofLn} {
		if l != nil {
			l.Close()
		}
	}
	if n.st != nil {
		n.st.Close()
	}
	if n.cdr != nil {
		n.cdr.Close()
	}
}

// recover counts what a previous process left in flight (start-up only,
// before traffic flows) and rebuilds the in-memory orphan index.
func (n *Node) recover() error {
	if err := n.stats.load(n.st); err != nil {
		return fmt.Errorf("ismg: load CMPP_QUERY counters: %w", err)
	}
	for _, q := range n.st.Queues() {
		switch {
		case strings.HasPrefix(q, qMTPrefix), strings.HasPrefix(q, qOutPrefix):
			bump := func(v []byte) []byte {
				if r, err := decodeMT(v); err == nil {
					r.Attempts++
					return r.Append(nil)
				}
				return nil
			}
			if strings.HasPrefix(q, qOutPrefix) {
				bump = func(v []byte) []byte {
					if o, err := decodeOut(v); err == nil {
						o.Attempts++
						return o.Append(nil)
					}
					return nil
				}
			}
			count, err := n.recoverInflight(context.Background(), q, bump)
			if err != nil {
				return err
			}
			if count == 0 {
				continue
			}
			if name, ok := strings.CutPrefix(q, qMTPrefix); ok {
				n.m.Resends.WithLabelValues(name).Add(float64(count))
				n.log.Warn("messages were in flight to the SMSC at the last stop; they are sent again", "link", name, "count", count)
			} else {
				sp := strings.TrimPrefix(q, qOutPrefix)
				n.m.ReportRepeats.WithLabelValues(sp).Add(float64(count))
				n.log.Warn("DELIVERs were in flight to the SP at the last stop; they are sent again", "sp", sp, "count", count)
			}
		case q == qAwait:
			// The SMSC id → Msg_Id index lives in memory only.
			err := n.st.Scan(q, func(it queue.Item) bool {
				r, err := decodeMT(it.Value)
				if err != nil {
					return true // the await sweeper drops it
				}
				if lr := n.links[r.Link]; lr != nil {
					lr.idx.remap(it.ID, r.SMSCID, r.Done)
				}
				return true
			})
			if err != nil {
				return fmt.Errorf("ismg: recover await: %w", err)
			}
		case q == qOrphan:
			err := n.st.Scan(q, func(it queue.Item) bool {
				o, err := decodeOrphan(it.Value)
				if err != nil {
					n.log.Error("bad orphan record", "id", it.ID, "err", err)
					return true
				}
				if lr := n.links[o.Link]; lr != nil {
					lr.idx.addDurableOrphan(o.SID, it.ID, o)
				}
				return true
			})
			if err != nil {
				return fmt.Errorf("ismg: recover orphans: %w", err)
			}
		case strings.HasPrefix(q, qFwdPrefix):
			n.fwdRun[q] = false
		}
	}
	return nil
}

// Run serves until ctx is done, then stops gracefully: stop accepting,
// CMPP_TERMINATE every SP session, stop dispatchers (in-flight submits
// finish), unbind the SMSC links, close the queue and billing. It returns
// nil after a clean stop.
func (n *Node) Run(ctx context.Context) error {
	shutdownTimeout := n.cfg.Delivery.ShutdownTimeout

	// hard is cancelled only when the shutdown deadline passes: in-flight
	// submits and commits use it so they may finish.
	hard, hardCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer hardCancel()
	work, workCancel := context.WithCancel(hard)
	defer workCancel()
	linkCtx, linkCancel := context.WithCancel(hard)
	defer linkCancel()

	var links errgroup.Group
	for _, name := range n.linkOrder {
		lr := n.links[name]
		links.Go(func() error { return lr.link.Run(linkCtx) })
	}

	g, gctx := errgroup.WithContext(work)
	n.runMu.Lock()
	n.runCtx, n.runGroup = gctx, g
	n.runMu.Unlock()
	g.Go(func() error { n.cdrSync.run(gctx); return nil })
	g.Go(func() error { return n.runStats(gctx) })
	g.Go(func() error {
		return n.ids.run(gctx, func(err error) {
			n.noteStoreErr(err)
			n.log.Error("Msg_Id reservation failed; SUBMITs get Result 8 once the lease runs out", "err", err)
		})
	})
	for _, name := range n.linkOrder {
		lr := n.links[name]
		g.Go(func() error { return lr.dispatch(gctx, hard) })
	}
	g.Go(func() error { return n.sweepAwait(gctx) })
	g.Go(func() error { return n.sweepOrphans(gctx) })
	n.fwdMu.Lock()
	for q := range n.fwdRun {
		n.startFwdSweeperLocked(q)
	}
	n.fwdMu.Unlock()
	for _, sp := range *n.sps.Load() {
		g.Go(func() error { return sp.deliverLoop(gctx, hard) })
	}

	serveErr := make(chan error, 4)
	go func() { serveErr <- n.srv.Serve(n.cmppLn) }()
	if n.cmppTLS != nil {
		go func() { serveErr <- n.srv.Serve(n.cmppTLS) }()
	}
	for _, h := range []struct {
		srv *http.Server
		ln  net.Listener
	}{{n.httpSrv, n.httpLn}, {n.pprofSrv, n.pprofLn}} {
		if h.srv != nil {
			go func() {
				if err := h.srv.Serve(h.ln); !errors.Is(err, http.ErrServerClosed) {
					serveErr <- err
				}
			}()
		}
	}
	n.log.Info("ismg running", "gateway", n.gw, "cmpp", n.CMPPAddr(), "http", n.HTTPAddr())

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		if !errors.Is(err, cmpp.ErrServerClosed) {
			runErr = fmt.Errorf("ismg: serve: %w", err)
		}
	case <-gctx.Done():
		runErr = fmt.Errorf("ismg: worker stopped: %w", context.Cause(gctx))
	}

	// Graceful stop, bounded by ShutdownTimeout overall.
	deadline := time.AfterFunc(shutdownTimeout, hardCancel)
	defer deadline.Stop()
	sctx, scancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer scancel()
	if err := n.srv.Shutdown(sctx); err != nil {
		n.log.Warn("SP sessions forced closed", "err", err)
	}
	workCancel()
	if err := g.Wait(); err != nil && runErr == nil && !errors.Is(err, context.Canceled) {
		runErr = err
	}
	linkCancel()
	_ = links.Wait()
	for _, h := range []*http.Server{n.httpSrv, n.pprofSrv} {
		if h != nil {
			_ = h.Shutdown(sctx)
		}
	}
	if err := n.ids.saveUsed(context.Background()); err != nil {
		n.log.Warn("save the last Msg_Id second", "err", err)
	}
	if err := n.st.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("ismg: close queue: %w", err)
	}
	if err := n.cdr.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("ismg: close billing: %w", err)
	}
	n.log.Info("ismg stopped")
	return runErr
}

// goRun starts a worker in the running node's group (for SPs added by
// Reload); it reports false when the node is not running.
func (n *Node) goRun(f func(ctx context.Context) error) bool {
	n.runMu.Lock()
	defer n.runMu.Unlock()
	if n.runGroup == nil || n.runCtx.Err() != nil {
		return false
	}
	ctx := n.runCtx
	n.runGroup.Go(func() error { return f(ctx) })
	return true
}

// commit wraps Store.Commit, remembering a failed store for /healthz.
func (n *Node) commit(ctx context.Context, ops ...queue.Op) error {
	err := n.st.Commit(ctx, ops...)
	if err != nil {
		n.noteStoreErr(err)
	}
	return err
}

func (n *Node) noteStoreErr(err error) {
	if errors.Is(err, queue.ErrFailed) || errors.Is(err, queue.ErrStoreFull) {
		n.storeBad.Store(true)
	}
	if !errors.Is(err, queue.ErrDuplicate) && !errors.Is(err, queue.ErrNotFound) {
		n.m.StoreErrors.Inc()
	}
}

// writeCDR buffers one bill record; a failure marks billing broken, which
// refuses new SUBMITs (flow control) rather than accepting unbilled ones.
func (n *Node) writeCDR(r billing.Record) {
	if err := n.cdr.Write(r); err != nil {
		n.m.BillingErrors.Inc()
		if n.billingBad.CompareAndSwap(false, true) {
			n.log.Error("billing failed: SUBMITs are refused until restart", "err", err)
		}
	}
}

// noteCDRSync accounts for a failed CDR fsync: billing is marked broken,
// which refuses new SUBMITs (flow control) rather than accepting unbilled
// ones.
func (n *Node) noteCDRSync(err error) {
	if err == nil || errors.Is(err, errSyncStopped) {
		return
	}
	n.m.BillingErrors.Inc()
	if n.billingBad.CompareAndSwap(false, true) {
		n.log.Error("billing sync failed: SUBMITs are refused until restart", "err", err)
	}
}

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

// groupSync coalesces concurrent requests for one expensive sync (the CDR
// fsync): every callback registered when a round starts gets that round's
// result. The queue's committer runs a round each time it takes a batch
// (Config.OnBatch = runRound), so that there is one CDR fsync per queue
// transaction; the syncer goroutine runs one when poked (a commit refused
// before reaching the committer) and a last one when it stops.
type groupSync struct {
	fn     func() error
	mu     sync.Mutex
	wait   []func(error)
	closed bool // the syncer has stopped: join answers at once
	kick   chan struct{}
}

// errSyncStopped answers joins after the syncer stopped.
var errSyncStopped = errors.New("ismg: CDR syncer stopped")

func newGroupSync(fn func() error) *groupSync {
	return &groupSync{fn: fn, kick: make(chan struct{}, 1)}
}

// poke starts a round unless one is already due to start.
func (g *groupSync) poke() {
	select {
	case g.kick <- struct{}{}:
	default:
	}
}

// join registers done for the next round to start, without starting it:
// the caller sees to a poke after the join (a SUBMIT's commit does, through
// OnBatch). done runs on the syncer goroutine and must be quick; after the
// syncer stopped it runs at once with errSyncStopped.
func (g *groupSync) join(done func(error)) {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		done(errSyncStopped)
		return
	}
	g.wait = append(g.wait, done)
	g.mu.Unlock()
}

// run is the syncer goroutine; on exit it syncs once more for the callbacks
// left.
func (g *groupSync) run(ctx context.Context) {
	for {
		select {
		case <-g.kick:
			g.round(false)
		case <-ctx.Done():
			g.round(true)
			return
		}
	}
}

// runRound runs a round on the caller's goroutine.
func (g *groupSync) runRound() { g.round(false) }

func (g *groupSync) round(last bool) {
	g.mu.Lock()
	ws := g.wait
	g.wait = nil
	if last {
		g.closed = true
	}
	g.mu.Unlock()
	// Synced even with nobody waiting: REPORT and MO CDRs are written
	// before their commits and must be durable with them (reportCDR).
	err := g.fn()
	for _, w := range ws {
		w(err)
	}
}

// smppStatusText is the MB:xxxx gateway code for an SMPP error status.
func smppStatusText(st smpp.Status) string { return fmt.Sprintf("MB:%04d", uint32(st)%10000) }

// keyLocks is a mutex per Msg_Id, held across that message's commit. A
// fixed set of stripes would make unrelated receipts wait for each
// other's commits: with a thousand receipts in flight, 64 stripes queued
// about sixteen commits behind each one, which was most of the report
// latency.
type keyLocks struct {
	mu sync.Mutex // leaf: guards m and the refs
	m  map[uint64]*keyLock
}

type keyLock struct {
	mu   sync.Mutex
	refs int
}

func (k *keyLocks) lock(id uint64) *keyLock {
	k.mu.Lock()
	l := k.m[id]
	if l == nil {
		l = &keyLock{}
		k.m[id] = l
	}
	l.refs++
	k.mu.Unlock()
	l.mu.Lock()
	return l
}

// tryLock is lock for callers that must not wait: nil when id's lock is
// held or wanted.
func (k *keyLocks) tryLock(id uint64) *keyLock {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m[id] != nil {
		return nil
	}
	l := &keyLock{refs: 1}
	l.mu.Lock()
	k.m[id] = l
	return l
}

func (k *keyLocks) unlock(id uint64, l *keyLock) {
	l.mu.Unlock()
	k.mu.Lock()
	if l.refs--; l.refs == 0 {
		delete(k.m, id)
	}
	k.mu.Unlock()
}
