package gns

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tandem-sms/tandem/gns/gnspb"
	"github.com/tandem-sms/tandem/internal/waitfor"
)

// TestClusterFailover is the cluster test: three real nodes, writes through
// every node, the leader killed hard, writes continuing through the
// survivors, the killed node restarted from its data dir, and watchers that
// must see every committed batch exactly once, in order.
func TestClusterFailover(t *testing.T) {
	nodes := startCluster(t, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	leader := leaderOf(nodes)
	if leader == nil {
		t.Fatal("no leader")
	}
	// Import the sample table through a follower: forwarded to the leader.
	imp, err := importFile(ctx, dial(t, followerOf(nodes).GRPCAddr()), loadSample(t), 10)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if imp.Gateways != 5 || imp.Sps != 4 || imp.Segments == 0 {
		t.Fatalf("import counts: %+v", imp)
	}

	// The watcher sits on a node that will survive the kill.
	var survivorForWatch *testNode
	for _, n := range nodes {
		if n != leader {
			survivorForWatch = n
			break
		}
	}
	w := startWatch(t, dial(t, survivorForWatch.GRPCAddr()), 0)

	gws := []string{"001001", "020001", "022001", "077101", "021001"}
	acked := map[uint64]string{} // revision → prefix written
	want := map[string]string{}  // prefix → gateway
	write := func(via *testNode, i int) bool {
		prefix, gw := fmt.Sprintf("1500%04d", i), gws[i%len(gws)]
		wctx, wcancel := context.WithTimeout(ctx, 3*time.Second)
		defer wcancel()
		resp, err := dial(t, via.GRPCAddr()).Write(wctx, &gnspb.WriteRequest{Changes: []*gnspb.Change{putSegment(prefix, gw)}})
		if err != nil {
			if c := status.Code(err); c != codes.Unavailable && c != codes.DeadlineExceeded {
				t.Fatalf("write %s via %s: %v", prefix, via.ID(), err)
			}
			return false
		}
		acked[resp.Revision] = prefix
		want[prefix] = gw
		return true
	}

	// Phase 1: writes through every node (followers forward). A write that
	// times out is tried again: on a loaded machine a heartbeat can miss
	// and an election run before the kill below (the same value again is
	// harmless: the final state is what is checked).
	i := 0
	for ; i < 30; i++ {
		waitfor.Within(t, 30*time.Second, fmt.Sprintf("write %d through %s", i, nodes[i%3].ID()), func() bool { return write(nodes[i%3], i) })
	}

	// Kill the leader hard.
	leader.kill()
	var survivors []*testNode
	for _, n := range nodes {
		if n != leader {
			survivors = append(survivors, n)
		}
	}
	waitfor.Within(t, 10*time.Second, "new leader", func() bool { return leaderOf(survivors) != nil })

	// Phase 2: writes continue through both survivors; ones landing in the
	// election window may be refused (UNAVAILABLE) and are retried.
	for ; i < 60; i++ {
		via := survivors[i%2]
		deadline := time.Now().Add(10 * time.Second)
		for !write(via, i) {
			if time.Now().After(deadline) {
				t.Fatalf("write %d via %s never succeeded", i, via.ID())
			}
		}
	}
	var maxRev uint64
	for r := range acked {
		maxRev = max(maxRev, r)
	}

	// No acknowledged write is lost on any survivor.
	checkNode := func(n *testNode) {
		t.Helper()
		waitfor.Within(t, 10*time.Second, n.ID()+" caught up", func() bool { return n.Revision() >= maxRev })
		tbl := n.fsm.table.Load()
		for prefix, gw := range want {
			s, ok := tbl.Segment(prefix)
			if !ok || s.Gateway != gw {
				t.Fatalf("%s: segment %s = %+v (present %v), want gateway %s", n.ID(), prefix, s, ok, gw)
			}
		}
	}
	for _, n := range survivors {
		checkNode(n)
	}

	// The killed node comes back from its data dir and catches up.
	restarted := startNode(t, leader.restartConfig())
	checkNode(restarted)

	// The watcher saw every committed batch exactly once, in order: its
	// replayed table equals the survivor's, and every acked revision is in it.
	waitfor.Within(t, 10*time.Second, "watcher caught up", func() bool { return w.lastRevision() >= maxRev })
	evs := w.snapshot()
	got, revs := replay(t, evs)
	if err := sameContents(got, survivorForWatch.fsm.table.Load()); err != nil {
		t.Fatalf("watcher's table differs from the node's: %v", err)
	}
	seen := map[uint64]bool{}
	for _, r := range revs {
		seen[r] = true
	}
	for r, prefix := range acked {
		if !seen[r] {
			t.Fatalf("watcher missed acked revision %d (%s)", r, prefix)
		}
	}

	// A watcher reconnecting with its last revision resumes without a gap:
	// it gets exactly the deltas after that revision.
	mid := revs[len(revs)/2]
	var after []uint64
	for _, r := range revs {
		if r > mid {
			after = append(after, r)
		}
	}
	w2 := startWatch(t, dial(t, survivors[1].GRPCAddr()), mid)
	waitfor.Within(t, 10*time.Second, "resumed watcher caught up", func() bool { return w2.lastRevision() >= maxRev })
	evs2 := w2.snapshot()
	if len(evs2) != len(after) {
		t.Fatalf("resumed watcher got %d events, want %d", len(evs2), len(after))
	}
	for k, ev := range evs2 {
		if ev.Snapshot || ev.Revision != after[k] {
			t.Fatalf("resumed event %d: rev %d snapshot %v, want delta %d", k, ev.Revision, ev.Snapshot, after[k])
		}
	}

	// A watcher with a revision older than the retained history (before
	// the import replaced the table) gets a snapshot first.
	w3 := startWatch(t, dial(t, restarted.GRPCAddr()), 1)
	waitfor.Within(t, 10*time.Second, "old watcher snapshot", func() bool { return w3.lastRevision() >= maxRev })
	evs3 := w3.snapshot()
	if !evs3[0].Snapshot || !evs3[0].Reset_ {
		t.Fatalf("watcher from revision 1: first event %+v, want a snapshot reset", evs3[0])
	}
	got3, _ := replay(t, evs3)
	if err := sameContents(got3, restarted.fsm.table.Load()); err != nil {
		t.Fatalf("snapshot watcher's table differs: %v", err)
	}
}
