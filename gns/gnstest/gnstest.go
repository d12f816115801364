// Package gnstest runs real GNS clusters inside a test process, for tests
// outside package gns (whose own helpers live in its _test files): every
// node is a gns.Node with its Raft log on disk, serving gRPC and Raft over
// loopback TCP. Nodes can be stopped hard (to the others, a crash) and
// started again from their data directory on the same addresses.
//
// A Cluster belongs to the test goroutine that started it: its methods are
// not safe for concurrent use. Each node's Run goroutine is owned by the
// Cluster and ends in Stop or in the test's cleanup.
package gnstest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/tandem-sms/tandem/gns"
	"github.com/tandem-sms/tandem/gns/gnspb"
	"github.com/tandem-sms/tandem/internal/waitfor"
	"github.com/tandem-sms/tandem/routing"
)

// FormTimeout bounds the wait for a cluster to form and for a leader.
// Generous: under the race detector on a loaded CI host an election and
// two joins take seconds.
const FormTimeout = 30 * time.Second

// Node is one member of a Cluster.
type Node struct {
	*gns.Node
	cfg      gns.Config
	cancel   context.CancelFunc
	done     chan error // Run's result
	stopOnce sync.Once
}

// Cluster is a set of GNS nodes of one test.
type Cluster struct {
	tb    testing.TB
	nodes []*Node // nil where a node is stopped
	cfgs  []gns.Config
}

// Start runs size nodes, the first bootstrapping and the others joining
// it, each config passed through tweak (nil: none) before its node starts.
// It returns once every node lists every member as a voter with its gRPC
// address, so any node can forward to any leader.
//
// Raft and gRPC listen on loopback ports below Linux's ephemeral range
// (32768-60999): a node restarted on its addresses must not find one taken
// by some client socket meanwhile. CMPP and HTTP are off.
func Start(tb testing.TB, size int, tweak func(*gns.Config)) *Cluster {
	tb.Helper()
	c := &Cluster{tb: tb}
	for i := range size {
		cfg := gns.DefaultConfig()
		cfg.NodeID = fmt.Sprintf("gns%d", i+1)
		cfg.DataDir = filepath.Join(tb.TempDir(), cfg.NodeID)
		cfg.RaftAddr, cfg.GRPCAddr = freeAddr(tb), freeAddr(tb)
		cfg.CMPPAddr, cfg.HTTPAddr = "", ""
		cfg.Bootstrap = i == 0
		if i > 0 {
			cfg.Join = []string{c.cfgs[0].GRPCAddr}
		}
		if tweak != nil {
			tweak(&cfg)
		}
		c.cfgs = append(c.cfgs, cfg)
		c.nodes = append(c.nodes, c.start(cfg))
		if i == 0 {
			waitfor.Within(tb, FormTimeout, "the bootstrap node to lead", c.nodes[0].IsLeader)
		}
	}
	waitfor.Within(tb, FormTimeout, fmt.Sprintf("%d members with their gRPC addresses", size), func() bool {
		for i := range c.nodes {
			if !c.knowsAll(i, size) {
				return false
			}
		}
		return true
	})
	return c
}

func (c *Cluster) start(cfg gns.Config) *Node {
	c.tb.Helper()
	n, err := gns.New(cfg)
	if err != nil {
		c.tb.Fatalf("gnstest: start %s: %v", cfg.NodeID, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	nd := &Node{Node: n, cfg: cfg, cancel: cancel, done: make(chan error, 1)}
	go func() { nd.done <- n.Run(ctx) }()
	c.tb.Cleanup(nd.stop)
	return nd
}

// stop ends the node at once and waits for its Run; idempotent (Stop,
// then the test's cleanup).
func (n *Node) stop() {
	n.stopOnce.Do(func() {
		n.Close()
		n.cancel()
		<-n.done
	})
}

// knowsAll asks node i, over its own gRPC API, whether it lists size
// voters, each with a gRPC address: ClusterStatus answers from the node's
// own Raft configuration and member records.
func (c *Cluster) knowsAll(i, size int) bool {
	cl, closeConn, err := c.client(i)
	if err != nil {
		return false
	}
	defer closeConn()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	st, err := cl.ClusterStatus(ctx, &gnspb.ClusterStatusRequest{})
	if err != nil || len(st.GetMembers()) != size {
		return false
	}
	for _, m := range st.GetMembers() {
		if m.GetGrpcAddr() == "" || m.GetSuffrage() != "voter" {
			return false
		}
	}
	return true
}

// client dials node i the way its config asks a client to: TLS verified
// with its CA, and its bearer token on every call.
func (c *Cluster) client(i int) (gnspb.GNSClient, func(), error) {
	cfg := c.cfgs[i]
	creds := insecure.NewCredentials()
	if cfg.TLSCert != "" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.TLSCA != "" {
			pem, err := os.ReadFile(cfg.TLSCA)
			if err != nil {
				return nil, nil, fmt.Errorf("gnstest: read TLS CA: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			tc.RootCAs.AppendCertsFromPEM(pem)
		}
		creds = credentials.NewTLS(tc)
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	if cfg.Token != "" {
		opts = append(opts, grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			return invoker(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+cfg.Token), method, req, reply, cc, opts...)
		}))
	}
	cc, err := grpc.NewClient(cfg.GRPCAddr, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("gnstest: dial %s: %w", cfg.GRPCAddr, err)
	}
	return gnspb.NewGNSClient(cc), func() { cc.Close() }, nil
}

// Size is the number of nodes, running or stopped.
func (c *Cluster) Size() int { return len(c.cfgs) }

// Node returns node i, or nil while it is stopped.
func (c *Cluster) Node(i int) *Node { return c.nodes[i] }

// GRPCAddrs lists every node's gRPC address, stopped ones included: they
// come back on the same address.
func (c *Cluster) GRPCAddrs() []string {
	out := make([]string, len(c.cfgs))
	for i, cfg := range c.cfgs {
		out[i] = cfg.GRPCAddr
	}
	return out
}

// Leader returns the index of a running node that believes it leads, or
// -1. During an election two nodes may believe so for a moment; callers
// that need the one true leader wait for what it does (commits).
func (c *Cluster) Leader() int {
	for i, n := range c.nodes {
		if n != nil && n.IsLeader() {
			return i
		}
	}
	return -1
}

// WaitLeader waits until a running node leads and returns its index.
func (c *Cluster) WaitLeader() int {
	c.tb.Helper()
	waitfor.Within(c.tb, FormTimeout, "a leader", func() bool { return c.Leader() >= 0 })
	return c.Leader()
}

// Stop stops node i at once, without draining anything: to the other
// members it looks like a crash. It returns once the node has released its
// listeners and its Raft log.
func (c *Cluster) Stop(i int) {
	if n := c.nodes[i]; n != nil {
		n.stop()
		c.nodes[i] = nil
	}
}

// Restart starts stopped node i again from its data directory, on the
// same addresses, and returns it.
func (c *Cluster) Restart(i int) *Node {
	c.tb.Helper()
	if c.nodes[i] != nil {
		c.tb.Fatalf("gnstest: restart %s: it is running", c.cfgs[i].NodeID)
	}
	cfg := c.cfgs[i]
	cfg.Bootstrap = false // its log says what it is
	c.nodes[i] = c.start(cfg)
	return c.nodes[i]
}

// Write commits changes through the current leader, retrying through
// leader changes for up to FormTimeout, and returns the revision.
func (c *Cluster) Write(changes ...routing.Change) uint64 {
	c.tb.Helper()
	var rev uint64
	var last error
	ok := waitfor.Poll(FormTimeout, func() bool {
		i := c.Leader()
		if i < 0 {
			return false
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		rev, last = c.nodes[i].WriteChanges(ctx, changes)
		return last == nil
	})
	if !ok {
		c.tb.Fatalf("gnstest: write %d change(s): %v", len(changes), last)
	}
	return rev
}

// Gateway is a valid gateway with the given code, for tables that only
// need gateways to exist (segments must name one).
func Gateway(code string) routing.Change {
	return routing.Change{Op: routing.OpPutGateway, Gateway: routing.Gateway{
		Code: code, Name: "gw" + code, Region: "region" + code, FwdAddr: "127.0.0.1:7930",
	}}
}

// freeAddr returns a loopback address that was free a moment ago, on a
// port in 20000-31999.
func freeAddr(tb testing.TB) string {
	tb.Helper()
	for range 1000 {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12000)))
		if err != nil {
			continue
		}
		addr := l.Addr().String()
		l.Close()
		return addr
	}
	tb.Fatal("gnstest: no free port in 20000-31999")
	return ""
}
