package gns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/tandem-sms/tandem/gns/gnspb"
	"github.com/tandem-sms/tandem/internal/waitfor"
	"github.com/tandem-sms/tandem/routing"
)

const sampleTable = "../testdata/routes/sample.yaml"

// testLogger discards logs unless GNS_TEST_LOG is set, so raft's chatter
// (which continues in shutdown, after a subtest may have ended) stays out of
// the test output.
func testLogger(tb testing.TB) *slog.Logger {
	if os.Getenv("GNS_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", tb.Name())
}

func testConfig(tb testing.TB, id string) Config {
	cfg := DefaultConfig()
	cfg.NodeID = id
	cfg.DataDir = filepath.Join(tb.TempDir(), id)
	cfg.RaftAddr = "127.0.0.1:0"
	cfg.GRPCAddr = "127.0.0.1:0"
	cfg.CMPPAddr = "127.0.0.1:0"
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.GatewayCode = "000001"
	cfg.CMPPSecrets = map[string]string{"001001": "s3cret", "022001": "s3cret", "077101": "s3cret"}
	cfg.Logger = testLogger(tb)
	return cfg
}

// testNode is a running Node; stop ends it gracefully, kill at once.
type testNode struct {
	*Node
	cfg  Config
	done chan error
	stop context.CancelFunc
}

func startNode(tb testing.TB, cfg Config) *testNode {
	tb.Helper()
	n, err := New(cfg)
	if err != nil {
		tb.Fatalf("New(%s): %v", cfg.NodeID, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tn := &testNode{Node: n, cfg: cfg, done: make(chan error, 1), stop: cancel}
	go func() { tn.done <- n.Run(ctx) }()
	tb.Cleanup(tn.kill)
	return tn
}

func (tn *testNode) kill() {
	tn.Close()
	tn.stop()
}

// restartConfig is the config to bring a stopped node back on the same
// addresses and data dir.
func (tn *testNode) restartConfig() Config {
	cfg := tn.cfg
	cfg.RaftAddr = tn.RaftAddr()
	cfg.GRPCAddr = tn.GRPCAddr()
	cfg.CMPPAddr, cfg.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Bootstrap = false
	return cfg
}

func dial(tb testing.TB, addr string) gnspb.GNSClient {
	tb.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMsgSize), grpc.MaxCallSendMsgSize(maxMsgSize)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cc.Close() })
	return gnspb.NewGNSClient(cc)
}

func withToken(ctx context.Context, tok string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
}

// startCluster starts size nodes: the first bootstraps, the others join
// through it. It returns once every node is a voter with its gRPC address
// recorded and has applied the membership entries.
func startCluster(tb testing.TB, size int, tweak func(*Config)) []*testNode {
	tb.Helper()
	var nodes []*testNode
	for i := range size {
		cfg := testConfig(tb, fmt.Sprintf("gns%d", i+1))
		if i == 0 {
			cfg.Bootstrap = true
		} else {
			cfg.Join = []string{nodes[0].GRPCAddr()}
		}
		if tweak != nil {
			tweak(&cfg)
		}
		nodes = append(nodes, startNode(tb, cfg))
		if i == 0 {
			waitfor.Within(tb, 10*time.Second, "bootstrap leader", func() bool { return nodes[0].IsLeader() && nodes[0].fsm.member("gns1") != "" })
		}
	}
	waitfor.Within(tb, 20*time.Second, "cluster formed", func() bool {
		for _, n := range nodes {
			servers, err := n.store.Servers()
			if err != nil || len(servers) != size {
				return false
			}
			for _, s := range servers {
				if n.fsm.member(s.ID) == "" {
					return false
				}
			}
		}
		return true
	})
	return nodes
}

func leaderOf(nodes []*testNode) *testNode {
	for _, n := range nodes {
		if n != nil && n.IsLeader() {
			return n
		}
	}
	return nil
}

func followerOf(nodes []*testNode) *testNode {
	for _, n := range nodes {
		if n != nil && !n.IsLeader() {
			return n
		}
	}
	return nil
}

// importFile streams a table file through ImportTable.
func importFile(ctx context.Context, c gnspb.GNSClient, t *routing.Table, chunk int) (*gnspb.ImportResponse, error) {
	st, err := c.ImportTable(ctx)
	if err != nil {
		return nil, err
	}
	err = gnspb.TableChunks(t, chunk, st.Send)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return st.CloseAndRecv()
}

func loadSample(tb testing.TB) *routing.Table {
	tb.Helper()
	t, err := routing.LoadFile(sampleTable)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// watchLog collects a watch stream's events in a goroutine.
type watchLog struct {
	mu     sync.Mutex
	events []*gnspb.WatchEvent
	err    error
	done   chan struct{}
	cancel context.CancelFunc
}

func startWatch(tb testing.TB, c gnspb.GNSClient, from uint64) *watchLog {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &watchLog{done: make(chan struct{}), cancel: cancel}
	st, err := c.Watch(ctx, &gnspb.WatchRequest{FromRevision: from})
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	go func() {
		defer close(w.done)
		for {
			ev, err := st.Recv()
			w.mu.Lock()
			if err != nil {
				w.err = err
				w.mu.Unlock()
				return
			}
			w.events = append(w.events, ev)
			w.mu.Unlock()
		}
	}()
	tb.Cleanup(func() { cancel(); <-w.done })
	return w
}

func (w *watchLog) snapshot() []*gnspb.WatchEvent {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]*gnspb.WatchEvent(nil), w.events...)
}

func (w *watchLog) lastRevision() uint64 {
	ev := w.snapshot()
	if len(ev) == 0 {
		return 0
	}
	return ev[len(ev)-1].Revision
}

// replay builds the table a watcher following evs holds, checking the
// stream's shape: snapshots well formed, deltas in strictly increasing
// revision order.
func replay(tb testing.TB, evs []*gnspb.WatchEvent) (*routing.Table, []uint64) {
	tb.Helper()
	t := routing.Empty()
	var b *routing.Builder
	var revs []uint64
	var last uint64
	for i, ev := range evs {
		changes, err := gnspb.ChangesToRouting(ev.Changes)
		if err != nil && len(ev.Changes) > 0 {
			tb.Fatalf("event %d: %v", i, err)
		}
		if ev.Snapshot {
			if ev.Reset_ {
				b = routing.NewBuilder()
			}
			if b == nil {
				tb.Fatalf("event %d: snapshot event without a reset first", i)
			}
			for _, c := range changes {
				if err := b.Apply(c); err != nil {
					tb.Fatalf("event %d: snapshot change: %v", i, err)
				}
			}
			if ev.SnapshotDone {
				t, b = b.Table(ev.Revision), nil
				if ev.Revision < last {
					tb.Fatalf("event %d: snapshot at %d after revision %d", i, ev.Revision, last)
				}
				last = ev.Revision
			}
			continue
		}
		if b != nil {
			tb.Fatalf("event %d: delta inside a snapshot", i)
		}
		if ev.Revision <= last {
			tb.Fatalf("event %d: revision %d after %d (duplicate or out of order)", i, ev.Revision, last)
		}
		last = ev.Revision
		revs = append(revs, ev.Revision)
		if t, err = t.Apply(ev.Revision, changes); err != nil {
			tb.Fatalf("event %d (rev %d): apply: %v", i, ev.Revision, err)
		}
	}
	return t, revs
}

// sameContents compares two tables ignoring route ids, which a replaying
// watcher assigns itself.
func sameContents(a, b *routing.Table) error {
	ca, cb := a.Contents(), b.Contents()
	for _, c := range []*routing.Contents{ca, cb} {
		for i := range c.Segments {
			c.Segments[i].RouteID = 0
		}
		for i := range c.SPs {
			for j := range c.SPs[i].ServiceCodes {
				c.SPs[i].ServiceCodes[j].RouteID = 0
			}
		}
	}
	if len(ca.Segments) != len(cb.Segments) || len(ca.Gateways) != len(cb.Gateways) || len(ca.Ported) != len(cb.Ported) || len(ca.SPs) != len(cb.SPs) {
		return fmt.Errorf("sizes differ: %d/%d/%d/%d vs %d/%d/%d/%d", len(ca.Gateways), len(ca.Segments), len(ca.Ported), len(ca.SPs),
			len(cb.Gateways), len(cb.Segments), len(cb.Ported), len(cb.SPs))
	}
	for i := range ca.Segments {
		if ca.Segments[i] != cb.Segments[i] {
			return fmt.Errorf("segment %d: %+v vs %+v", i, ca.Segments[i], cb.Segments[i])
		}
	}
	for i := range ca.Gateways {
		if ca.Gateways[i] != cb.Gateways[i] {
			return fmt.Errorf("gateway %d: %+v vs %+v", i, ca.Gateways[i], cb.Gateways[i])
		}
	}
	for i := range ca.Ported {
		if ca.Ported[i] != cb.Ported[i] {
			return fmt.Errorf("ported %d: %+v vs %+v", i, ca.Ported[i], cb.Ported[i])
		}
	}
	return nil
}

func putSegment(prefix, gw string) *gnspb.Change {
	return &gnspb.Change{Op: &gnspb.Change_PutSegment{PutSegment: &gnspb.Segment{Prefix: prefix, Gateway: gw}}}
}

type raftLog = raft.Log

type nopCloser struct{ io.Reader }

func (nopCloser) Close() error { return nil }
