package gns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/gns/gnspb"
	"github.com/tandem-sms/tandem/internal/zone"
	"github.com/tandem-sms/tandem/raftstore"
)

// Log keys used by the node.
const (
	LogKeyNode   = "node"
	LogKeyLeader = "leader"
	LogKeyPeer   = "peer"
)

// Node is one GNS server: a Raft member holding the route table, serving the
// gRPC API, the CMPP route PDUs and /metrics + /healthz.
type Node struct {
	cfg     Config
	log     *slog.Logger
	metrics *Metrics
	gather  prometheus.Gatherer
	hub     *hub
	fsm     *fsm
	store   *raftstore.Store
	health  *nodeHealth // grpc.health.v1 status, following the leader

	grpcLn, cmppLn, httpLn net.Listener
	grpcSrv                *grpc.Server
	cmppSrv                *cmpp.Server
	httpSrv                *http.Server
	grpcAdvertise          string
	conns                  *connPool
	cursors                sync.Map       // *cmpp.Session → *routeCursor (GET_*_ROUTE paging)
	lock                   *lockout       // CMPP route-port logins
	loc                    *time.Location // Config.Timezone: route PDUs' Time_stamp

	leaderEv  chan struct{} // poked on every leadership change
	readyTerm atomic.Uint64 // term whose Barrier has completed on this leader

	running  atomic.Bool
	kill     chan struct{}
	killOnce sync.Once
	stopped  chan struct{} // closed when Run has released everything
}

// New validates cfg, binds the listeners and starts Raft. The node serves
// nothing until Run, which must be called to release what New opened (or
// call Close).
func New(cfg Config) (_ *Node, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	reg := cfg.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	n := &Node{
		cfg:      cfg,
		log:      cfg.Logger.With(LogKeyNode, cfg.NodeID),
		leaderEv: make(chan struct{}, 1),
		kill:     make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	n.loc, _ = zone.Load(cfg.Timezone) // Validate checked it
	n.gather = prometheus.DefaultGatherer
	if g, ok := reg.(prometheus.Gatherer); ok {
		n.gather = g
	}
	var closers []func()
	defer func() {
		if err != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				closers[i]()
			}
		}
	}()
	listen := func(addr string) (net.Listener, error) {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("gns: listen %s: %w", addr, err)
		}
		closers = append(closers, func() { l.Close() })
		return l, nil
	}
	if n.grpcLn, err = listen(cfg.GRPCAddr); err != nil {
		return nil, err
	}
	n.grpcAdvertise = cfg.GRPCAdvertise
	if n.grpcAdvertise == "" {
		n.grpcAdvertise = n.grpcLn.Addr().String()
	}
	if cfg.CMPPAddr != "" {
		if n.cmppLn, err = listen(cfg.CMPPAddr); err != nil {
			return nil, err
		}
	}
	if cfg.HTTPAddr != "" {
		if n.httpLn, err = listen(cfg.HTTPAddr); err != nil {
			return nil, err
		}
	}

	n.metrics = NewMetrics(reg)
	closers = append(closers, n.metrics.unregister)
	n.hub = newHub(cfg.WatchHistory, cfg.WatchBuffer, func(k int) { n.metrics.WatchSubs.Set(float64(k)) })
	n.fsm = newFSM(n.log, n.hub)
	n.fsm.onApply = func(t cmdType) { n.metrics.Applies.WithLabelValues(t.String()).Inc() }

	rc := cfg.raftConfig()
	if cfg.RaftTLSCert != "" {
		if rc.TLS, err = raftstore.LoadTLS(cfg.RaftTLSCert, cfg.RaftTLSKey, cfg.RaftTLSCA); err != nil {
			return nil, fmt.Errorf("gns: raft TLS: %w", err)
		}
	}
	rc.OnTLSFailure = func(f raftstore.TLSFailure) {
		dir := "out"
		if f.Inbound {
			dir = "in"
		}
		n.metrics.RaftTLSFailures.WithLabelValues(dir, f.Reason).Inc()
	}
	if rc.TLS == nil {
		level := slog.LevelInfo
		if cfg.Token != "" {
			level = slog.LevelWarn // -insecure-raft
		}
		n.log.Log(context.Background(), level, "raft transport is plaintext: anyone who reaches it can change the route table; put it on mutual TLS (RaftTLSCert, RaftTLSKey, RaftTLSCA)",
			"raft", cfg.RaftAddr)
	}
	rc.OnApply = func(d time.Duration) { n.metrics.CommitLatency.Observe(d.Seconds()) }
	n.health = newNodeHealth()
	rc.OnLeaderChange = func(lc raftstore.LeaderChange) {
		n.metrics.LeaderChanges.Inc()
		n.health.follow(lc)
		select {
		case n.leaderEv <- struct{}{}:
		default:
		}
	}
	if n.store, err = raftstore.Open(rc, n.fsm); err != nil {
		return nil, fmt.Errorf("gns: open raft: %w", err)
	}
	closers = append(closers, func() { _ = n.store.Shutdown() })
	// A change raft made before its observer was registered has no
	// callback; later ones do.
	st := n.store.Status()
	n.health.follow(raftstore.LeaderChange{State: st.State, LeaderID: st.LeaderID})
	n.registerGauges(n.metrics)

	if n.conns, err = newConnPool(cfg); err != nil {
		return nil, err
	}
	if n.grpcSrv, err = n.newGRPCServer(); err != nil {
		return nil, err
	}
	if n.cmppLn != nil {
		n.cmppSrv = n.newCMPPServer()
	}
	if n.httpLn != nil {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(n.gather, promhttp.HandlerOpts{}))
		mux.HandleFunc("/healthz", n.serveHealth)
		n.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	}
	return n, nil
}

// GRPCAddr is the address the gRPC API listens on (with the real port).
func (n *Node) GRPCAddr() string { return n.grpcLn.Addr().String() }

// RaftAddr is the address the Raft transport advertises.
func (n *Node) RaftAddr() string { return n.store.Addr() }

// CMPPAddr is the route-PDU service address, "" when disabled.
func (n *Node) CMPPAddr() string {
	if n.cmppLn == nil {
		return ""
	}
	return n.cmppLn.Addr().String()
}

// HTTPAddr is the /metrics and /healthz address, "" when disabled.
func (n *Node) HTTPAddr() string {
	if n.httpLn == nil {
		return ""
	}
	return n.httpLn.Addr().String()
}

// ID is the node's Raft ID.
func (n *Node) ID() string { return n.cfg.NodeID }

// IsLeader reports whether this node believes it leads the cluster.
func (n *Node) IsLeader() bool { return n.store.IsLeader() }

// Revision is the revision of this node's current table.
func (n *Node) Revision() uint64 { return n.fsm.table.Load().Revision() }

// Run serves until ctx ends or Close is called, then shuts down: watch
// streams end, gRPC stops gracefully (forced after ShutdownTimeout), the
// CMPP sessions terminate, Raft stops. After Close the stop is immediate,
// which to the other members looks like a crash.
func (n *Node) Run(ctx context.Context) error {
	if !n.running.CompareAndSwap(false, true) {
		return errors.New("gns: Run called twice")
	}
	defer close(n.stopped)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	serveErr := make(chan error, 3)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := n.grpcSrv.Serve(n.grpcLn); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			serveErr <- fmt.Errorf("gns: serve grpc: %w", err)
		}
	})
	if n.cmppSrv != nil {
		wg.Go(func() {
			if err := n.cmppSrv.Serve(n.cmppLn); err != nil && !errors.Is(err, cmpp.ErrServerClosed) {
				serveErr <- fmt.Errorf("gns: serve cmpp: %w", err)
			}
		})
	}
	if n.httpSrv != nil {
		wg.Go(func() {
			if err := n.httpSrv.Serve(n.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				serveErr <- fmt.Errorf("gns: serve http: %w", err)
			}
		})
	}
	wg.Go(func() { n.leaderLoop(runCtx) })
	if len(n.cfg.Join) > 0 {
		wg.Go(func() { n.joinLoop(runCtx) })
	}
	if len(n.cfg.PushPeers) > 0 {
		wg.Go(func() { n.pushLoop(runCtx) })
	}
	n.log.Info("gns node running", "grpc", n.GRPCAddr(), "raft", n.RaftAddr(), "cmpp", n.CMPPAddr(), "http", n.HTTPAddr())

	var err error
	hard := false
	select {
	case <-ctx.Done():
	case <-n.kill:
		hard = true
	case err = <-serveErr:
	}
	cancel()
	n.health.shutdown() // NOT_SERVING from here on: balancers drain first
	n.hub.close()
	if hard {
		n.grpcSrv.Stop()
		if n.cmppSrv != nil {
			_ = n.cmppSrv.Close()
		}
		if n.httpSrv != nil {
			_ = n.httpSrv.Close()
		}
	} else {
		n.shutdownGracefully()
	}
	if serr := n.store.Shutdown(); serr != nil && err == nil {
		err = fmt.Errorf("gns: raft shutdown: %w", serr)
	}
	wg.Wait()
	n.conns.close()
	n.metrics.unregister()
	n.log.Info("gns node stopped", "hard", hard)
	return err
}

func (n *Node) shutdownGracefully() {
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ShutdownTimeout)
	defer cancel()
	done := make(chan struct{})
	go func() { n.grpcSrv.GracefulStop(); close(done) }()
	var wg sync.WaitGroup
	if n.cmppSrv != nil {
		wg.Go(func() { _ = n.cmppSrv.Shutdown(ctx) })
	}
	if n.httpSrv != nil {
		wg.Go(func() { _ = n.httpSrv.Shutdown(ctx) })
	}
	select {
	case <-done:
	case <-ctx.Done():
		n.grpcSrv.Stop()
		<-done
	}
	wg.Wait()
}

// Close stops the node at once, without draining anything, and waits for
// Run to return. Without a running Run it releases what New opened.
func (n *Node) Close() {
	n.killOnce.Do(func() { close(n.kill) })
	if n.running.CompareAndSwap(false, true) {
		// Run never started: nothing serves, release New's resources.
		n.hub.close()
		n.grpcSrv.Stop()
		for _, l := range []net.Listener{n.grpcLn, n.cmppLn, n.httpLn} {
			if l != nil {
				l.Close()
			}
		}
		_ = n.store.Shutdown()
		n.conns.close()
		n.metrics.unregister()
		close(n.stopped)
		return
	}
	<-n.stopped
}

// leaderLoop does the leader's chores whenever this node becomes leader:
// a Barrier so linearizable reads see every entry of earlier terms, and
// recording its own gRPC address for followers that forward.
func (n *Node) leaderLoop(ctx context.Context) {
	retry := time.NewTimer(0)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.leaderEv:
		case <-retry.C:
		}
		if !n.store.IsLeader() {
			continue
		}
		if err := n.leaderChores(ctx); err != nil && ctx.Err() == nil {
			n.log.Warn("leader chores failed, retrying", "err", err)
			retry.Reset(100 * time.Millisecond)
		}
	}
}

func (n *Node) leaderChores(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := n.ensureBarrier(ctx); err != nil {
		return err
	}
	if n.fsm.member(n.cfg.NodeID) != n.grpcAdvertise {
		if _, _, err := n.store.Apply(ctx, encodeMember(n.cfg.NodeID, n.grpcAdvertise)); err != nil {
			return fmt.Errorf("record own member address: %w", err)
		}
	}
	return nil
}

// ensureBarrier runs one Barrier per leadership term.
func (n *Node) ensureBarrier(ctx context.Context) error {
	term := n.store.Status().Term
	if n.readyTerm.Load() == term {
		return nil
	}
	if err := n.store.Barrier(ctx); err != nil {
		return err
	}
	n.readyTerm.Store(term)
	return nil
}

// joinLoop asks the configured members to add this node until one accepts.
// Joining is idempotent, so a restarted member does it again harmlessly
// (and so refreshes its gRPC address).
func (n *Node) joinLoop(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for {
		for _, addr := range n.cfg.Join {
			if addr == n.grpcAdvertise {
				continue
			}
			err := n.joinVia(ctx, addr)
			if err == nil {
				n.log.Info("joined cluster", LogKeyPeer, addr)
				return
			}
			n.log.Warn("join failed", LogKeyPeer, addr, "err", err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func (n *Node) joinVia(ctx context.Context, addr string) error {
	c, err := n.conns.client(addr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(n.outgoing(ctx, false), 10*time.Second)
	defer cancel()
	_, err = c.Join(ctx, &gnspb.JoinRequest{Id: n.cfg.NodeID, RaftAddr: n.store.Addr(), GrpcAddr: n.grpcAdvertise})
	return err
}

// raftStatus is what the gauges and /healthz read.
type raftStatus struct {
	state  raft.RaftState
	term   uint64
	commit uint64
}

func (n *Node) raftStatus() raftStatus {
	st := n.store.Status()
	return raftStatus{state: st.State, term: st.Term, commit: st.CommitIndex}
}

// serveHealth answers 200 when the cluster has a leader and this node's FSM
// has applied everything it knows to be committed, else 503 with the reason.
func (n *Node) serveHealth(w http.ResponseWriter, _ *http.Request) {
	st := n.store.Status()
	var reason string
	switch {
	case st.State == raft.Shutdown:
		reason = "raft is shut down"
	case st.LeaderID == "":
		reason = "no raft leader"
	case st.AppliedIndex < st.CommitIndex:
		reason = fmt.Sprintf("fsm catching up: applied %d of %d", st.AppliedIndex, st.CommitIndex)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if reason != "" {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, reason)
		return
	}
	fmt.Fprintf(w, "ok: %s %s, leader %s, revision %d\n", n.cfg.NodeID, st.State, st.LeaderID, n.Revision())
}
