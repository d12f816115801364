package federation

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/credentials"

	"github.com/tandem-sms/tandem/gns/gnspb"
	"github.com/tandem-sms/tandem/routing"
)

// Log keys of the route cache.
const (
	keyGNS      = "gns"
	keyRevision = "revision"
	keyFrom     = "from"
	keyReason   = "reason"
	keyErr      = "err"
	keyFile     = "file"
	keyRetryIn  = "retry_in"
	keyNode     = "node_id"
)

// RouteCache is a gateway's copy of the GNS route table. It follows the
// Watch stream of one GNS node at a time (snapshot, then deltas), resumes
// from its revision after a reconnect, and persists the table to its data
// dir so a restart with every GNS node down still routes.
//
// Table, Revision, Changed, Synced and ConnectedAddr are safe for
// concurrent use and take no lock. Run owns every goroutine the cache
// starts.
type RouteCache struct {
	cfg     RouteCacheConfig
	log     *slog.Logger
	metrics *CacheMetrics
	creds   credentials.TransportCredentials

	state     atomic.Pointer[cacheState]
	lastEvent atomic.Int64 // UnixNano of the last watch event (or the file's write)
	connected atomic.Pointer[string]
	synced    chan struct{}
	syncOnce  sync.Once

	// Owned by Run's follow loop.
	forceSnapshot bool
	// Owned by the persister (set by NewRouteCache before it starts).
	persistedRev uint64
	persistKick  chan struct{}

	running atomic.Bool
}

// cacheState is one published table and the channel closed when it is
// replaced: loading the state gives a table and its own change signal at
// once, so no swap between the two can be missed.
type cacheState struct {
	table   *routing.Table
	changed chan struct{}
}

// NewRouteCache validates cfg, loads the TLS files and the persisted table
// from cfg.DataDir, and registers the metrics. It starts nothing: Table
// answers from the persisted table (or an empty one) at once, and Run
// follows the GNS. A persisted file that does not read back is an error
// naming it, unless cfg.DiscardCorrupt.
func NewRouteCache(cfg RouteCacheConfig) (*RouteCache, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &RouteCache{
		cfg:         cfg,
		log:         cfg.Logger,
		synced:      make(chan struct{}),
		persistKick: make(chan struct{}, 1),
	}
	var err error
	if c.creds, err = cacheCredentials(cfg); err != nil {
		return nil, err
	}
	if cfg.Token != "" && !cfg.useTLS() {
		c.log.Warn("route cache: GNS bearer token is sent without TLS")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("federation: route cache data dir: %w", err)
	}
	if err := os.Remove(filepath.Join(cfg.DataDir, cacheTempName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("federation: remove leftover route cache file: %w", err)
	}
	t, written, err := loadCacheFile(cfg.DataDir)
	if err != nil {
		if !cfg.DiscardCorrupt {
			return nil, fmt.Errorf("federation: %w (remove it, or set DiscardCorrupt, to start empty and fetch the table from the GNS)", err)
		}
		moved, merr := moveAsideCorrupt(cfg.DataDir)
		if merr != nil {
			return nil, fmt.Errorf("federation: %w; %w", err, merr)
		}
		c.log.Error("route cache: persisted table unreadable, moved aside; starting empty until the GNS answers", keyFile, moved, keyErr, err)
		t = nil
	}
	if t != nil {
		c.persistedRev = t.Revision()
		c.lastEvent.Store(written.UnixNano())
		c.log.Info("route cache: loaded persisted table", keyFile, filepath.Join(cfg.DataDir, CacheFileName), keyRevision, t.Revision(),
			"segments", t.NumSegments(), "sps", t.NumSPs())
	} else {
		t = routing.Empty()
		c.lastEvent.Store(cfg.Now().UnixNano())
	}
	c.state.Store(&cacheState{table: t, changed: make(chan struct{})})
	c.metrics = NewCacheMetrics(cfg.Registerer, cfg.GNS, c.eventAge)
	c.metrics.Revision.Set(float64(t.Revision()))
	c.metrics.PersistedRevision.Set(float64(c.persistedRev))
	return c, nil
}

// Table returns the current table: immutable, so lookups on it take no
// lock and see one revision throughout. Load it once per message.
func (c *RouteCache) Table() *routing.Table { return c.state.Load().table }

// Revision is the revision of the current table (0: none yet).
func (c *RouteCache) Revision() uint64 { return c.Table().Revision() }

// Changed returns a channel closed when the table returned by the next
// Table call differs from the current one. Take it before reading the
// table, then wait on it.
func (c *RouteCache) Changed() <-chan struct{} { return c.state.Load().changed }

// TableAndChanged returns the current table and the channel closed when it
// is replaced, from one atomic load.
func (c *RouteCache) TableAndChanged() (*routing.Table, <-chan struct{}) {
	s := c.state.Load()
	return s.table, s.changed
}

// Synced returns a channel closed once the cache, in this process, has
// caught up with a GNS node: it holds at least the revision the node had
// when the cache connected.
func (c *RouteCache) Synced() <-chan struct{} { return c.synced }

// ConnectedAddr is the address of the GNS node whose stream the cache
// follows now, "" when none.
func (c *RouteCache) ConnectedAddr() string {
	if p := c.connected.Load(); p != nil {
		return *p
	}
	return ""
}

func (c *RouteCache) eventAge() float64 {
	return c.cfg.Now().Sub(time.Unix(0, c.lastEvent.Load())).Seconds()
}

// publish makes t the current table and wakes whoever waits on Changed.
// Only the follow loop calls it.
func (c *RouteCache) publish(t *routing.Table) {
	old := c.state.Load()
	c.state.Store(&cacheState{table: t, changed: make(chan struct{})})
	close(old.changed)
	c.metrics.Revision.Set(float64(t.Revision()))
	select {
	case c.persistKick <- struct{}{}:
	default:
	}
}

func (c *RouteCache) setConnected(addr string) {
	if prev := c.ConnectedAddr(); prev != "" {
		c.metrics.Connected.WithLabelValues(prev).Set(0)
	}
	c.connected.Store(&addr)
	if addr != "" {
		c.metrics.Connected.WithLabelValues(addr).Set(1)
	}
}

// Run follows the GNS until ctx ends, then writes the table to the data
// dir if it changed since the last write, and returns once every goroutine
// it started has exited. The error is that last write's, if it failed. Run
// may be called once; it unregisters the metrics when it returns.
func (c *RouteCache) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("federation: RouteCache.Run called twice")
	}
	defer c.metrics.unregister()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { c.persistLoop(stop) })
	c.followLoop(ctx)
	close(stop)
	wg.Wait()
	if t := c.Table(); t.Revision() != 0 && t.Revision() != c.persistedRev {
		return fmt.Errorf("federation: route table at revision %d not persisted (file holds %d)", t.Revision(), c.persistedRev)
	}
	return nil
}

// followLoop runs one stream after another, moving to the next address
// after each, until ctx ends.
func (c *RouteCache) followLoop(ctx context.Context) {
	i := rand.IntN(len(c.cfg.GNS))
	fails := 0
	var wait *time.Timer
	defer func() {
		if wait != nil {
			wait.Stop()
		}
	}()
	for {
		addr := c.cfg.GNS[i]
		healthy, err := c.follow(ctx, addr)
		if ctx.Err() != nil {
			return
		}
		reason := reconnectReason(err)
		c.metrics.Reconnects.WithLabelValues(reason).Inc()
		if healthy {
			fails = 0
		} else {
			fails++
		}
		d := c.backoff(fails)
		c.log.Warn("route cache: left GNS node", keyGNS, addr, keyReason, reason, keyErr, err, keyRevision, c.Revision(), keyRetryIn, d)
		i = (i + 1) % len(c.cfg.GNS)
		if d == 0 {
			continue
		}
		if wait == nil {
			wait = time.NewTimer(d)
		} else {
			wait.Reset(d)
		}
		select {
		case <-wait.C:
		case <-ctx.Done():
			return
		}
	}
}

// backoff is the wait before the next attempt after fails attempts in a
// row that got nowhere: none after a stream that worked, then BackoffMin
// doubling up to BackoffMax, ±20%.
func (c *RouteCache) backoff(fails int) time.Duration {
	if fails == 0 {
		return 0
	}
	d := c.cfg.BackoffMin << min(fails-1, 30)
	if d > c.cfg.BackoffMax || d <= 0 {
		d = c.cfg.BackoffMax
	}
	return d*4/5 + rand.N(d*2/5+1)
}

// follow runs one stream from addr: a probe (NodeStatus, which also checks
// the token and that the node answers at all), then Watch from the cache's
// revision, applying events until the stream fails, the prober gives up on
// the node, or ctx ends. healthy reports whether the stream proved itself
// (an event arrived, or a later probe found the node with a leader), which
// resets the backoff. Errors do not repeat addr: the caller logs it.
func (c *RouteCache) follow(ctx context.Context, addr string) (healthy bool, err error) {
	cc, cl, err := c.dial(addr)
	if err != nil {
		return false, err
	}
	defer cc.Close()
	st, err := c.probe(ctx, cl)
	if err != nil {
		return false, fmt.Errorf("probe: %w", err)
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	forced := c.forceSnapshot
	from := c.Revision()
	if forced {
		from = 0
	}
	stream, err := cl.Watch(c.outgoing(sctx), &gnspb.WatchRequest{FromRevision: from, WithSecrets: c.asksSecrets(addr)})
	if err != nil {
		return false, fmt.Errorf("watch: %w", err)
	}
	c.setConnected(addr)
	defer c.setConnected("")
	c.log.Info("route cache: following GNS node", keyGNS, addr, keyNode, st.GetNodeId(), keyFrom, from,
		"node_revision", st.GetTableDigestRevision(), "node_state", st.GetState())

	var proven atomic.Bool
	probeErr := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := c.probeLoop(sctx, cl, st, &proven); err != nil {
			probeErr <- err
			cancel()
		}
	})

	target := st.GetTableDigestRevision() // the node's table revision when asked
	needSnapshot := from == 0
	ap := newEventApplier(from, forced)
	c.checkSynced(target, needSnapshot)
	for {
		ev, rerr := stream.Recv()
		if rerr != nil {
			err = rerr
			break
		}
		c.lastEvent.Store(c.cfg.Now().UnixNano())
		proven.Store(true)
		t, resync, aerr := ap.apply(c.Table(), ev)
		if aerr != nil {
			if errors.Is(aerr, errDiverged) {
				c.forceSnapshot = true
				c.log.Error("route cache: delta does not apply; asking for the whole table", keyGNS, addr, keyErr, aerr)
			}
			err = aerr
			break
		}
		if t == nil {
			continue
		}
		if resync != "" {
			c.forceSnapshot, needSnapshot = false, false
			c.metrics.Resyncs.WithLabelValues(resync).Inc()
			c.log.Info("route cache: whole table received", keyGNS, addr, keyReason, resync, keyRevision, t.Revision(),
				"segments", t.NumSegments(), "sps", t.NumSPs())
		}
		c.publish(t)
		c.checkSynced(target, needSnapshot)
	}
	cancel() // the prober ends with the stream
	wg.Wait()
	select {
	case perr := <-probeErr:
		err = perr // the prober ended the stream; its reason is the one to tell
	default:
	}
	return proven.Load(), err
}

// checkSynced closes Synced once the cache holds the revision the node had
// when the stream started (and, for a stream from 0, its snapshot).
func (c *RouteCache) checkSynced(target uint64, needSnapshot bool) {
	if !needSnapshot && c.Revision() >= target {
		c.syncOnce.Do(func() { close(c.synced) })
	}
}

// probeLoop asks the followed node for its status every ProbeInterval and
// returns an error (ending the stream) when the node should be left: two
// probes in a row failed, or it has had no Raft leader for
// LeaderlessTimeout. It returns nil when ctx ends. A probe that finds a
// leader marks the stream proven.
func (c *RouteCache) probeLoop(ctx context.Context, cl gnspb.GNSClient, first *gnspb.NodeStatusResponse, proven *atomic.Bool) error {
	tick := time.NewTicker(c.cfg.ProbeInterval)
	defer tick.Stop()
	maxLeaderless := int(c.cfg.LeaderlessTimeout / c.cfg.ProbeInterval)
	leaderless, failures := 0, 0
	if first.GetLeaderId() == "" {
		leaderless = 1
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		st, err := c.probe(ctx, cl)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			if failures++; failures >= 2 {
				return fmt.Errorf("%w: %w", errProbeFailed, err)
			}
			continue
		}
		failures = 0
		if st.GetLeaderId() == "" {
			if leaderless++; leaderless > maxLeaderless {
				return fmt.Errorf("%w for %d probes (state %s)", errLeaderless, leaderless, st.GetState())
			}
		} else {
			leaderless = 0
			proven.Store(true)
		}
	}
}
