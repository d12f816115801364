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
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/tandem-sms/tandem/billing"
	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/federation"
	"github.com/tandem-sms/tandem/internal/loginguard"
	"github.com/tandem-sms/tandem/ismg/queue"
	"github.com/tandem-sms/tandem/routing"
)

// Option customises a Node.
type Option func(*options)

type options struct {
	log        *slog.Logger
	reg        prometheus.Registerer
	gatherer   prometheus.Gatherer
	routes     *routing.Table
	spListener net.Listener
	smscDial   func(ctx context.Context, network, addr string) (net.Conn, error)
	noSync     bool
	level      *slog.LevelVar // WithLogLevel (admin.go)
	host       *Node          // withHost (adopt.go): an adopted store run for host
	hostLease  *heldLease
}

// WithLogger sets the node's logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithRegistry registers the node's metrics in reg. If reg is also a
// prometheus.Gatherer (a *prometheus.Registry is), listen.http serves it
// on /metrics; otherwise (a wrapping Registerer, say) the caller serves
// the metrics and /metrics answers 404. The default is a fresh registry
// per node.
func WithRegistry(reg prometheus.Registerer) Option {
	return func(o *options) {
		o.reg = reg
		o.gatherer, _ = reg.(prometheus.Gatherer)
	}
}

// WithSPListener serves SPs on l instead of listening on listen.cmpp
// (tests run a node on an in-memory network inside a synctest bubble).
func WithSPListener(l net.Listener) Option { return func(o *options) { o.spListener = l } }

// WithSMSCDialer opens every SMSC bind through dial instead of TCP.
func WithSMSCDialer(dial func(ctx context.Context, network, addr string) (net.Conn, error)) Option {
	return func(o *options) { o.smscDial = dial }
}

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
	loc    *time.Location
	m      *Metrics
	gather prometheus.Gatherer

	st     *queue.Store
	cdr    *billing.Writer
	cdrSeq atomic.Uint64 // the last id of the CDR outbox (cdrout.go)
	stats  *statsBook    // CMPP_QUERY counters
	// submitWaits pools the SUBMIT handlers' commit scratch (*submitWait).
	submitWaits sync.Pool
	ids         *msgIDs
	// batchSeq numbers the in-flight batch records (inflight.go); recover
	// deletes every record of the previous process before traffic flows.
	batchSeq atomic.Uint64
	routes   atomic.Pointer[routing.Table] // routes.file (or WithRoutes)
	cache    *federation.RouteCache        // routes.gns, else nil

	// The federation (federation.go), nil/empty without listen.fwd.
	peers   *federation.Peers
	members *federation.Membership // federation.membership, else nil
	fwdSrv  *federation.FwdServer
	fwdLn   net.Listener

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
	fw       *loginguard.Guard // failed logins (firewall.go)
	// connLog rate-limits the lines about refused logins and bad PDUs: a
	// flood of them must not become a flood of log lines (the metrics
	// count them all).
	connLog rate.Sometimes
	conns   sync.Map // *cmpp.Session → *spConn

	fwdMu    sync.Mutex
	fwdNames sync.Map          // gateway code → its fwd:<gw> queueRef
	fwdRun   map[queueRef]bool // fwd:<gw> queues: true once their sweeper runs

	msgLocks keyLocks // per Msg_Id: receipts of one message's parts
	tasks    tracker  // short tasks started from callbacks

	runCtx     context.Context // work context while running (for SPs added by Reload)
	hard       context.Context // in-flight work's context while running (hardCtx)
	runGroup   *errgroup.Group
	runMu      sync.Mutex
	storeBad   atomic.Bool
	billingBad atomic.Bool

	ha      haState      // region HA: store lease and adoption (adopt.go)
	console consoleState // the web console, /status, /trace (console.go)
	adm     adminState   // the admin API's state (admin.go)
}

// New opens the node's store and billing, loads routes and binds the
// listeners (so Addr works before Run). Run starts serving. Its phases:
// the node's state from the config, the durable parts (store, billing,
// Msg_Id reservation), the SPs and SMSC links, the SP server and its
// listeners, then recovery of what a previous process left in flight.
func New(cfg Config, opts ...Option) (*Node, error) {
	o := buildOptions(opts)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	gwNum, err := cmpp.GatewayCode(cfg.Gateway.Code)
	if err != nil {
		return nil, fmt.Errorf("ismg: gateway.code: %w", err)
	}
	n := &Node{
		connLog: rate.Sometimes{First: 10, Interval: 100 * time.Millisecond},
		cfg:     cfg, gw: cfg.Gateway.Code, gwNum: gwNum, log: o.log, loc: cfg.Location(),
		gather: o.gatherer, links: map[string]*linkRuntime{}, fwdRun: map[queueRef]bool{},
		msgLocks: keyLocks{m: map[uint64]*keyLock{}}, fw: loginguard.New(),
	}
	// Every component logs through the console's ring of recent errors.
	o.log = n.console.wrapLogger(o.log)
	n.log = o.log
	lim := cfg.Limits
	n.limits.Store(&lim)
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("ismg: data_dir: %w", err)
	}
	if err := n.openRoutes(o.routes, o); err != nil {
		return nil, err
	}
	if err := n.openHA(o); err != nil {
		n.closeResources()
		return nil, err
	}
	if err := n.openDurable(o); err != nil {
		n.closeResources()
		return nil, err
	}
	n.m = newMetrics(o.reg, n.st)
	if err := n.openAdmin(o, o.reg); err != nil {
		n.closeResources()
		return nil, err
	}
	if err := n.buildSPsAndLinks(o.smscDial); err != nil {
		n.closeResources()
		return nil, err
	}
	n.afterSPsBuilt()
	o.reg.MustRegister(&linkCollector{n: n})
	n.srv = n.newSPServer()
	if err := n.openFederation(o); err != nil {
		n.closeResources()
		return nil, err
	}
	if err := n.listen(o.spListener); err != nil {
		n.closeResources()
		return nil, err
	}
	if err := n.listenAdmin(); err != nil {
		n.closeResources()
		return nil, err
	}
	if err := n.recover(); err != nil {
		n.closeResources()
		return nil, err
	}
	return n, nil
}

func buildOptions(opts []Option) options {
	var o options
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
	return o
}

// openDurable opens the queue store, the CDR writer and the Msg_Id
// reservation.
func (n *Node) openDurable(o options) error {
	cfg := n.cfg
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return fmt.Errorf("ismg: data_dir: %w", err)
	}
	qc := queue.DefaultConfig()
	qc.Logger = o.log.With("component", "queue")
	qc.NoSync = o.noSync
	qc.MinInterval = cfg.Runtime.CommitInterval
	qc.MaxDepth = 0 // depth is enforced per SP request (limits.queue_depth), not per queue
	n.stats = newStatsBook(n.loc)
	var err error
	if n.st, err = queue.Open(filepath.Join(cfg.DataDir, "ismg.db"), qc); err != nil {
		return fmt.Errorf("ismg: open queue: %w", err)
	}
	bc := billing.DefaultConfig()
	bc.Dir, bc.Gateway, bc.Rotate, bc.Location = cfg.Billing.Dir, cfg.Gateway.Code, cfg.Billing.Rotate, n.loc
	bc.Logger = o.log.With("component", "billing")
	if n.cdr, err = billing.Open(bc); err != nil {
		return fmt.Errorf("ismg: billing: %w", err)
	}
	if err := n.openCDRSeq(); err != nil {
		return fmt.Errorf("ismg: CDR outbox: %w", err)
	}
	n.ids, err = openMsgIDs(n.st, n.gwNum, n.cfg.Gateway.NodeIndex, n.cfg.Gateway.NodeBits, msgIDClock(n.loc))
	return err
}

// buildSPsAndLinks makes the runtime of every SP account and SMSC link.
func (n *Node) buildSPsAndLinks(dial func(ctx context.Context, network, addr string) (net.Conn, error)) error {
	sps := map[string]*spRuntime{}
	for i := range n.cfg.SPs {
		sps[n.cfg.SPs[i].SPID] = newSPRuntime(n, &n.cfg.SPs[i])
	}
	n.sps.Store(&sps)
	for i := range n.cfg.SMSCs {
		lc := n.cfg.SMSCs[i]
		lr, err := newLinkRuntime(n, lc, dial)
		if err != nil {
			return err
		}
		n.links[lc.Name] = lr
		n.linkOrder = append(n.linkOrder, lc.Name)
		n.mtQueues = append(n.mtQueues, lr.q.queue())
		if lc.Default && n.defaultLink == "" {
			n.defaultLink = lc.Name
		}
	}
	if n.defaultLink == "" && len(n.linkOrder) > 0 {
		n.defaultLink = n.linkOrder[0]
	}
	return nil
}

// newSPServer is the CMPP server SPs log in to (spserver.go).
func (n *Node) newSPServer() *cmpp.Server {
	lim := n.cfg.Limits
	return &cmpp.Server{
		Config: cmpp.Config{
			// Our own per-SP window check answers first (reason "window");
			// the session's bound only caps handler goroutines.
			InboundWindow:      1024,
			Window:             1024,
			ResponseTimeout:    lim.ResponseTimeout,
			ActiveTestInterval: lim.ActiveTest,
			ReadTimeout:        lim.ReadTimeout,
			MaxPDU:             uint32(lim.MaxPDU),
			// serveCMPP never waits: a SUBMIT is answered from its commit
			// callbacks, everything else at once.
			InlineHandler: true,
			Logger:        n.log.With("component", "cmpp"),
			OnBadPDU:      n.onBadPDU,
		},
		Auth:            cmpp.AuthenticatorFunc(n.authenticate),
		Handler:         cmpp.HandlerFunc(n.serveCMPP),
		ConnectTimeout:  lim.ConnectTimeout,
		MaxPending:      lim.MaxPending,
		MaxPendingPerIP: lim.MaxPendingIP,
		OnRefuse: func(_ net.Addr, reason string) {
			n.m.ConnectRejected.WithLabelValues(reason).Inc()
		},
		Logger:    n.log.With("component", "cmpp"),
		OnSession: n.onSession,
		OnClose:   n.onClose,
	}
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
	for _, l := range []net.Listener{n.cmppLn, n.cmppTLS, n.fwdLn, n.httpLn, n.pprofLn} {
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
	if n.members != nil {
		n.members.Close()
	}
	n.closeAdmin()
	n.ha.close()
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
	if n.cache != nil {
		// Routes follow the GNS until the very end: the last messages
		// routed during the drain use the current table.
		links.Go(func() error { return n.cache.Run(linkCtx) })
	}
	if n.peers != nil {
		// Peer links stay up through the drain, like the SMSC links.
		links.Go(func() error { return n.peers.Run(linkCtx) })
		links.Go(func() error { return n.followPeers(linkCtx) })
	}
	if n.members != nil {
		links.Go(func() error { return n.members.Run(linkCtx) })
	}
	for _, name := range n.linkOrder {
		lr := n.links[name]
		links.Go(func() error { return lr.link.Run(linkCtx) })
	}

	g, gctx := errgroup.WithContext(work)
	n.runMu.Lock()
	n.runCtx, n.runGroup, n.hard = gctx, g, hard
	n.runMu.Unlock()
	g.Go(func() error { return n.runCDRMover(gctx) })
	g.Go(func() error { return n.runStats(gctx) })
	g.Go(func() error {
		return n.ids.run(gctx, func(err error) {
			n.noteStoreErr(err)
			n.log.Error("Msg_Id reservation failed; SUBMITs get Result 8 once the lease runs out", LogKeyErr, err)
		})
	})
	for _, name := range n.linkOrder {
		lr := n.links[name]
		g.Go(func() error { return lr.dispatch(gctx, hard) })
	}
	g.Go(func() error { return n.runHA(gctx) })
	g.Go(func() error { return n.sweepAwait(gctx) })
	g.Go(func() error { return n.followGNSAccounts(gctx) })
	g.Go(func() error { return n.sweepOrphans(gctx) })
	n.fwdMu.Lock()
	for q := range n.fwdRun {
		n.startFwdQueueLocked(q)
	}
	n.fwdMu.Unlock()
	for _, sp := range *n.sps.Load() {
		g.Go(func() error { return sp.deliverLoop(gctx, hard) })
	}

	// The servers' accept loops; they return once their Shutdown does.
	var serving sync.WaitGroup
	serveErr := make(chan error, 5)
	serving.Go(func() { serveErr <- n.srv.Serve(n.cmppLn) })
	if n.cmppTLS != nil {
		serving.Go(func() { serveErr <- n.srv.Serve(n.cmppTLS) })
	}
	if n.fwdSrv != nil {
		g.Go(func() error { return n.runDedupForget(gctx) })
		serving.Go(func() {
			if err := n.fwdSrv.Serve(n.fwdLn); !errors.Is(err, cmpp.ErrServerClosed) {
				serveErr <- err
			}
		})
	}
	serving.Go(func() {
		if err := n.serveAdmin(); err != nil {
			serveErr <- err
		}
	})
	for _, h := range []struct {
		srv *http.Server
		ln  net.Listener
	}{{n.httpSrv, n.httpLn}, {n.pprofSrv, n.pprofLn}} {
		if h.srv != nil {
			serving.Go(func() {
				if err := h.srv.Serve(h.ln); !errors.Is(err, http.ErrServerClosed) {
					serveErr <- err
				}
			})
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
		n.log.Warn("SP sessions forced closed", LogKeyErr, err)
	}
	if n.members != nil {
		// Peers stop choosing this node before it stops answering.
		_ = n.members.SetHealth(federation.HealthDraining)
	}
	if n.fwdSrv != nil {
		// Peers stop sending to us; what they sent is answered first.
		if err := n.fwdSrv.Shutdown(sctx); err != nil {
			n.log.Warn("peer sessions forced closed", LogKeyErr, err)
		}
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
	n.stopAdmin()
	serving.Wait()
	// The last retries and answers started from callbacks finish before
	// the store closes under them.
	n.tasks.closeAndWait()
	if err := n.ids.saveUsed(context.Background()); err != nil {
		n.log.Warn("save the last Msg_Id second", LogKeyErr, err)
	}
	// Nothing commits any more: the last CDRs go to the files now (a
	// failure leaves them in the store for the next start).
	if !n.billingBad.Load() {
		if err := n.moveCDRs(); err != nil {
			n.noteBillingErr("move the last CDRs to the files", err)
		}
	}
	if err := n.st.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("ismg: close queue: %w", err)
	}
	if err := n.cdr.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("ismg: close billing: %w", err)
	}
	n.ha.close()
	n.log.Info("ismg stopped")
	return runErr
}

// tracker runs the node's short tasks (one commit, one answer) started
// from callbacks that must not block: Run waits for them before the store
// closes. Once closed it runs a task on the caller's goroutine, which by
// then cannot block for long (the sessions are closed).
type tracker struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// Go runs f on its own goroutine while the tracker is open, else inline.
func (t *tracker) Go(f func()) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		f()
		return
	}
	t.wg.Add(1)
	t.mu.Unlock()
	go func() {
		defer t.wg.Done()
		f()
	}()
}

func (t *tracker) closeAndWait() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.wg.Wait()
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
