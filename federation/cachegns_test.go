package federation_test

// Helpers of the route cache tests: real GNS nodes (real Raft, real gRPC on
// loopback) started in-process through package gns's exported API, a gnspb
// client that writes to them, and a running RouteCache with its registry.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/tandem-sms/tandem/federation"
	"github.com/tandem-sms/tandem/gns"
	"github.com/tandem-sms/tandem/gns/gnspb"
	"github.com/tandem-sms/tandem/internal/waitfor"
	"github.com/tandem-sms/tandem/routing"
)

const sampleTable = "../testdata/routes/sample.yaml"

// testLog sends the cache's logs to the test's output (shown on failure
// or with -v). The GNS nodes log nowhere: raft goes on logging during its
// shutdown, after a test may have ended.
func testLog(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// gnsNode is one running GNS node.
type gnsNode struct {
	*gns.Node
	addr   string
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returned
}

// kill stops the node at once (to its peers and clients, a crash) and
// waits until it has released everything.
func (n *gnsNode) kill() {
	n.Close()
	n.cancel()
	<-n.done
}

// gnsCluster is a set of GNS nodes and the options to talk to them.
type gnsCluster struct {
	nodes []*gnsNode
	creds credentials.TransportCredentials
	token string
}

// startGNS runs size real GNS nodes on loopback: the first bootstraps, the
// others join it. It returns once every node lists every member with its
// gRPC address, so any node can forward writes. tweak adjusts each
// node's config (TLS, token, watch history).
func startGNS(tb testing.TB, size int, tweak func(*gns.Config)) *gnsCluster {
	tb.Helper()
	c := &gnsCluster{creds: insecure.NewCredentials()}
	for i := range size {
		cfg := gns.DefaultConfig()
		cfg.NodeID = fmt.Sprintf("gns%d", i+1)
		cfg.DataDir = filepath.Join(tb.TempDir(), cfg.NodeID)
		cfg.RaftAddr, cfg.GRPCAddr, cfg.CMPPAddr, cfg.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0", "", ""
		cfg.Bootstrap = i == 0
		if i > 0 {
			cfg.Join = []string{c.nodes[0].addr}
		}
		if tweak != nil {
			tweak(&cfg)
		}
		if i == 0 {
			c.token = cfg.Token
			if cfg.TLSCert != "" {
				creds, err := credentials.NewClientTLSFromFile(cfg.TLSCA, "")
				if err != nil {
					tb.Fatal(err)
				}
				c.creds = creds
			}
		}
		n, err := gns.New(cfg)
		if err != nil {
			tb.Fatalf("gns.New(%s): %v", cfg.NodeID, err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		node := &gnsNode{Node: n, addr: n.GRPCAddr(), cancel: cancel, done: make(chan struct{})}
		go func() {
			defer close(node.done)
			_ = n.Run(ctx)
		}()
		tb.Cleanup(node.kill)
		c.nodes = append(c.nodes, node)
		if i == 0 {
			waitfor.Cond(tb, "bootstrap leader", n.IsLeader)
		}
	}
	waitfor.Cond(tb, fmt.Sprintf("%d members known to every node", size), func() bool {
		for _, n := range c.nodes {
			st, err := c.clusterStatus(n.addr)
			if err != nil || len(st.Members) != size {
				return false
			}
			for _, m := range st.Members {
				if m.GrpcAddr == "" {
					return false
				}
			}
		}
		return true
	})
	return c
}

func (c *gnsCluster) addrs() []string {
	var out []string
	for _, n := range c.nodes {
		out = append(out, n.addr)
	}
	return out
}

// node returns the running node listening on addr.
func (c *gnsCluster) node(tb testing.TB, addr string) *gnsNode {
	tb.Helper()
	i := slices.IndexFunc(c.nodes, func(n *gnsNode) bool { return n.addr == addr })
	if i < 0 {
		tb.Fatalf("no GNS node at %q (have %v)", addr, c.addrs())
	}
	return c.nodes[i]
}

// remove kills the node at addr and forgets it, so writes go to the others.
func (c *gnsCluster) remove(tb testing.TB, addr string) {
	tb.Helper()
	n := c.node(tb, addr)
	n.kill()
	c.nodes = slices.DeleteFunc(c.nodes, func(x *gnsNode) bool { return x == n })
}

// call runs fn on a fresh client connection to addr with the token.
func call[T any](c *gnsCluster, addr string, fn func(context.Context, gnspb.GNSClient) (T, error)) (T, error) {
	var zero T
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(c.creds))
	if err != nil {
		return zero, err
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if c.token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.token)
	}
	return fn(ctx, gnspb.NewGNSClient(cc))
}

func (c *gnsCluster) clusterStatus(addr string) (*gnspb.ClusterStatusResponse, error) {
	return call(c, addr, func(ctx context.Context, g gnspb.GNSClient) (*gnspb.ClusterStatusResponse, error) {
		return g.ClusterStatus(ctx, &gnspb.ClusterStatusRequest{})
	})
}

// write commits a batch through any live node (followers forward to the
// leader), retrying while the cluster elects a leader, and returns its
// revision.
func (c *gnsCluster) write(tb testing.TB, changes ...*gnspb.Change) uint64 {
	tb.Helper()
	var rev uint64
	var last error
	ok := waitfor.Poll(waitfor.Timeout, func() bool {
		for _, n := range c.nodes {
			resp, err := call(c, n.addr, func(ctx context.Context, g gnspb.GNSClient) (*gnspb.WriteResponse, error) {
				return g.Write(ctx, &gnspb.WriteRequest{Changes: changes})
			})
			if err == nil {
				rev = resp.Revision
				return true
			}
			if status.Code(err) != codes.Unavailable {
				tb.Fatalf("write: %v", err)
			}
			last = err
		}
		return false
	})
	if !ok {
		tb.Fatalf("write: no node took it: %v", last)
	}
	return rev
}

// importSample replaces the cluster's table with testdata's sample table
// and returns the import's revision.
func (c *gnsCluster) importSample(tb testing.TB) uint64 {
	tb.Helper()
	t, err := routing.LoadFile(sampleTable)
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := call(c, c.nodes[0].addr, func(ctx context.Context, g gnspb.GNSClient) (*gnspb.ImportResponse, error) {
		st, err := g.ImportTable(ctx)
		if err != nil {
			return nil, err
		}
		if err := gnspb.TableChunks(t, 1000, st.Send); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		return st.CloseAndRecv()
	})
	if err != nil {
		tb.Fatalf("import sample table: %v", err)
	}
	c.waitApplied(tb, resp.Revision)
	return resp.Revision
}

// waitApplied waits until every node's table is at rev or later, so a
// cache syncing from any of them gets it (and killing the others cannot
// leave one behind).
func (c *gnsCluster) waitApplied(tb testing.TB, rev uint64) {
	tb.Helper()
	waitfor.Cond(tb, fmt.Sprintf("every GNS node at revision %d", rev), func() bool {
		for _, n := range c.nodes {
			if n.Revision() < rev {
				return false
			}
		}
		return true
	})
}

func putSegment(prefix, gw string) *gnspb.Change {
	return &gnspb.Change{Op: &gnspb.Change_PutSegment{PutSegment: &gnspb.Segment{Prefix: prefix, Gateway: gw}}}
}

// cacheConfig is a route cache config for the test's cluster, with probes
// quick enough for tests.
func cacheConfig(tb testing.TB, dir string, addrs []string) federation.RouteCacheConfig {
	cfg := federation.DefaultRouteCacheConfig()
	cfg.GNS = addrs
	cfg.DataDir = dir
	cfg.BackoffMin, cfg.BackoffMax = 10*time.Millisecond, 200*time.Millisecond
	cfg.ProbeInterval, cfg.ProbeTimeout, cfg.LeaderlessTimeout = 200*time.Millisecond, time.Second, 2*time.Second
	cfg.PersistInterval = 50 * time.Millisecond
	cfg.Logger = testLog(tb)
	return cfg
}

// runningCache is a RouteCache whose Run runs in a goroutine.
type runningCache struct {
	*federation.RouteCache
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan struct{}
	err    error
	once   sync.Once
}

// newCache builds a cache on its own registry without running it.
func newCache(tb testing.TB, cfg federation.RouteCacheConfig) *runningCache {
	tb.Helper()
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	c, err := federation.NewRouteCache(cfg)
	if err != nil {
		tb.Fatalf("NewRouteCache: %v", err)
	}
	return &runningCache{RouteCache: c, reg: reg, done: make(chan struct{})}
}

// run starts Run; the test's cleanup stops it.
func (rc *runningCache) run(tb testing.TB) *runningCache {
	ctx, cancel := context.WithCancel(context.Background())
	rc.cancel = cancel
	go func() {
		defer close(rc.done)
		rc.err = rc.Run(ctx)
	}()
	tb.Cleanup(func() { rc.stop() })
	return rc
}

// stop ends Run and returns its error.
func (rc *runningCache) stop() error {
	rc.once.Do(func() {
		rc.cancel()
		<-rc.done
	})
	return rc.err
}

// metric sums the samples of the named series whose labels include the
// given ones (name=value pairs), read from the cache's registry as a
// scrape would.
func (rc *runningCache) metric(tb testing.TB, name string, labels ...string) float64 {
	tb.Helper()
	fams, err := rc.reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	sum := 0.0
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			}
		}
	}
	return sum
}

// waitRoute waits, woken by the cache's change signal, until msisdn
// resolves to gateway gw in the cache's table.
func waitRoute(tb testing.TB, rc *runningCache, msisdn, gw string) {
	tb.Helper()
	waitfor.Signalled(tb, msisdn+" → "+gw+" in the cache", func() (bool, []<-chan struct{}) {
		t, changed := rc.TableAndChanged()
		r, err := t.ResolveMT(msisdn)
		return err == nil && r.Gateway.Code == gw, []<-chan struct{}{changed}
	})
}

// waitRevision waits until the cache holds at least revision rev.
func waitRevision(tb testing.TB, rc *runningCache, rev uint64) {
	tb.Helper()
	waitfor.Signalled(tb, fmt.Sprintf("cache at revision %d", rev), func() (bool, []<-chan struct{}) {
		t, changed := rc.TableAndChanged()
		return t.Revision() >= rev, []<-chan struct{}{changed}
	})
}

// resolves reports the gateway msisdn resolves to in t, "" if none.
func resolves(t *routing.Table, msisdn string) string {
	r, err := t.ResolveMT(msisdn)
	if err != nil {
		return ""
	}
	return r.Gateway.Code
}

// freezeProxy forwards TCP connections to a GNS node until frozen; from
// then on it passes no byte either way but keeps every connection open,
// which is how a hung node, or one behind a network partition, looks to a
// client.
type freezeProxy struct {
	ln     net.Listener
	target string
	frozen chan struct{}
	closed chan struct{}
	freeze func()
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns []net.Conn
}

func startFreezeProxy(tb testing.TB, target string) *freezeProxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &freezeProxy{ln: ln, target: target, frozen: make(chan struct{}), closed: make(chan struct{})}
	p.freeze = sync.OnceFunc(func() { close(p.frozen) })
	p.wg.Go(p.accept)
	tb.Cleanup(p.close)
	return p
}

func (p *freezeProxy) addr() string { return p.ln.Addr().String() }

func (p *freezeProxy) accept() {
	for {
		down, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			down.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, down, up)
		p.mu.Unlock()
		p.wg.Go(func() { p.pump(up, down) })
		p.wg.Go(func() { p.pump(down, up) })
	}
}

// pump copies src to dst until either fails; once frozen it holds what it
// read until the proxy closes.
func (p *freezeProxy) pump(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			select {
			case <-p.frozen:
				<-p.closed
				return
			default:
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *freezeProxy) close() {
	p.ln.Close()
	close(p.closed)
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
