package raftstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/tandem-sms/tandem/internal/waitfor"
)

func TestSingleNodeApplyAndRestart(t *testing.T) {
	var (
		mu      sync.Mutex
		applies int
		changes []LeaderChange
	)
	n := newNode(t, testLogger(t), "solo", true, func(c *Config) {
		c.OnApply = func(d time.Duration) { mu.Lock(); applies++; mu.Unlock() }
		c.OnLeaderChange = func(lc LeaderChange) { mu.Lock(); changes = append(changes, lc); mu.Unlock() }
	})
	ctx := t.Context()
	id, addr, err := n.store.WaitLeader(ctx)
	if err != nil || id != "solo" || addr != n.addr {
		t.Fatalf("WaitLeader = %q, %q, %v; want solo, %s", id, addr, err, n.addr)
	}

	var last uint64
	for i, cmd := range []string{"a", "b", "c"} {
		resp, idx, err := n.store.Apply(ctx, []byte(cmd))
		if err != nil {
			t.Fatalf("apply %q: %v", cmd, err)
		}
		if resp != i+1 || idx <= last {
			t.Fatalf("apply %q = %v, %d; want %d, index > %d", cmd, resp, idx, i+1, last)
		}
		last = idx
	}
	// An FSM-level rejection is committed (it has an index) and comes back
	// as the FSM's own error.
	_, idx, err := n.store.Apply(ctx, []byte("fail:x"))
	if !errors.Is(err, errRejected) || idx <= last {
		t.Fatalf("apply fail:x = %d, %v; want index > %d and errRejected", idx, err, last)
	}
	if got := n.fsm.list(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("fsm = %q", got)
	}
	if st := n.store.Status(); st.State != raft.Leader || st.CommitIndex < idx || st.AppliedIndex == 0 || st.LeaderID != "solo" {
		t.Fatalf("status = %+v", st)
	}
	if err := n.store.VerifyLeader(ctx); err != nil {
		t.Fatalf("VerifyLeader: %v", err)
	}
	mu.Lock()
	if applies != 4 {
		t.Errorf("OnApply calls = %d, want 4", applies)
	}
	if len(changes) == 0 || !changes[len(changes)-1].IsLeader {
		t.Errorf("OnLeaderChange calls = %+v, want last IsLeader", changes)
	}
	mu.Unlock()

	s := n.store
	n.stop()
	if err := s.Shutdown(); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if _, _, err := s.Apply(ctx, []byte("late")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Apply after Shutdown = %v, want ErrClosed", err)
	}
	if _, err := os.Stat(filepath.Join(n.dir, "raft.db")); err != nil {
		t.Fatalf("raft.db: %v", err)
	}

	n.start() // Bootstrap is still set: it must be ignored now
	if _, _, err := n.store.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.store.Barrier(ctx); err != nil {
		t.Fatalf("Barrier: %v", err)
	}
	if got := n.fsm.list(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("fsm after restart = %q", got)
	}
	if _, _, err := n.store.Apply(ctx, []byte("d")); err != nil {
		t.Fatalf("apply after restart: %v", err)
	}
}

func TestThreeNodesReplicateAndRedirect(t *testing.T) {
	nodes := newCluster(t, 3, nil)
	leader := liveLeader(t, nodes)
	ctx := t.Context()

	var want []string
	for i := range 10 {
		cmd := fmt.Sprintf("cmd-%d", i)
		apply(t, nodes, cmd)
		want = append(want, cmd)
	}
	for _, n := range nodes {
		waitFSM(t, n, want)
	}

	leader = liveLeader(t, nodes)
	servers, err := leader.store.Servers()
	if err != nil {
		t.Fatal(err)
	}
	if len(servers) != 3 {
		t.Fatalf("servers = %+v", servers)
	}
	for _, srv := range servers {
		if srv.Suffrage != raft.Voter || srv.Leader != (srv.ID == leader.id) {
			t.Errorf("server %+v (leader is %s)", srv, leader.id)
		}
	}

	for _, n := range nodes {
		if n == leader {
			continue
		}
		_, _, err := n.store.Apply(ctx, []byte("on-follower"))
		var nl *NotLeaderError
		if !errors.Is(err, ErrNotLeader) || !errors.As(err, &nl) {
			t.Fatalf("Apply on follower %s = %v, want NotLeaderError", n.id, err)
		}
		if nl.LeaderAddr != leader.addr || nl.LeaderID != leader.id {
			// The follower may not have heard of a brand-new leader yet;
			// only an unknown leader is acceptable, never a wrong one.
			if nl.LeaderAddr != "" {
				t.Errorf("NotLeaderError = %+v, want leader %s at %s", nl, leader.id, leader.addr)
			}
		}
		if err := n.store.VerifyLeader(ctx); !errors.Is(err, ErrNotLeader) {
			t.Errorf("VerifyLeader on follower = %v", err)
		}
		if err := n.store.Barrier(ctx); !errors.Is(err, ErrNotLeader) {
			t.Errorf("Barrier on follower = %v", err)
		}
		if err := n.store.Join(ctx, "x", "127.0.0.1:1"); !errors.Is(err, ErrNotLeader) {
			t.Errorf("Join on follower = %v", err)
		}
	}

	// Join is idempotent for the same member and refuses a second ID on a
	// member's address.
	other := nodes[1]
	if other == leader {
		other = nodes[2]
	}
	if err := leader.store.Join(ctx, other.id, other.addr); err != nil {
		t.Errorf("rejoin same member: %v", err)
	}
	if err := leader.store.Join(ctx, "impostor", other.addr); !errors.Is(err, ErrAddrInUse) {
		t.Errorf("join on a member's address = %v, want ErrAddrInUse", err)
	}
	if err := leader.store.Join(ctx, "bad", "no-port"); err == nil {
		t.Error("join with bad address succeeded")
	}
	if st := leader.store.Stats(); st["num_peers"] != "2" || st["state"] != "Leader" {
		t.Errorf("stats = %v", st)
	}
}

func TestLeaderFailover(t *testing.T) {
	nodes := newCluster(t, 3, nil)
	var acked []string
	for i := range 20 {
		cmd := fmt.Sprintf("before-%d", i)
		apply(t, nodes, cmd)
		acked = append(acked, cmd)
	}
	old := liveLeader(t, nodes)
	old.stop()

	survivors := slices.DeleteFunc(slices.Clone(nodes), func(n *node) bool { return n == old })
	newLeader := liveLeader(t, survivors)
	if newLeader == old {
		t.Fatal("old leader still leads")
	}
	for i := range 20 {
		cmd := fmt.Sprintf("after-%d", i)
		apply(t, survivors, cmd)
		acked = append(acked, cmd)
	}
	for _, n := range survivors {
		waitFSM(t, n, acked)
	}

	old.start()
	for _, n := range nodes {
		waitFSM(t, n, acked)
	}
	// Same state everywhere, not just the acked subset.
	want := liveLeader(t, nodes).fsm.list()
	for _, n := range nodes {
		waitfor.Signalled(t, n.id+" to match the leader", func() (bool, []<-chan struct{}) {
			items, ch := n.fsm.snapshot()
			return slices.Equal(items, want), []<-chan struct{}{ch}
		})
	}
	// The restarted node is a member again without a new Join.
	apply(t, nodes, "after-restart")
	for _, n := range nodes {
		waitFSM(t, n, append(acked, "after-restart"))
	}
}

func TestRemoveNode(t *testing.T) {
	nodes := newCluster(t, 3, nil)
	apply(t, nodes, "x")
	leader := liveLeader(t, nodes)
	var victim *node
	for _, n := range nodes {
		if n != leader {
			victim = n
			break
		}
	}
	ctx := t.Context()
	if err := leader.store.Remove(ctx, victim.id); err != nil {
		t.Fatalf("remove %s: %v", victim.id, err)
	}
	if err := leader.store.Remove(ctx, victim.id); err != nil {
		t.Fatalf("remove again: %v", err)
	}
	servers, err := leader.store.Servers()
	if err != nil {
		t.Fatal(err)
	}
	for _, srv := range servers {
		if srv.ID == victim.id {
			t.Fatalf("%s still in %+v", victim.id, servers)
		}
	}
	victim.stop()
	rest := slices.DeleteFunc(slices.Clone(nodes), func(n *node) bool { return n == victim })
	apply(t, rest, "y")
	for _, n := range rest {
		waitFSM(t, n, []string{"x", "y"})
	}
}

func TestSnapshotRestore(t *testing.T) {
	n := newNode(t, testLogger(t), "snap", true, nil)
	ctx := t.Context()
	nodes := []*node{n}
	var want []string
	for i := range 5 {
		want = append(want, fmt.Sprint("s", i))
		apply(t, nodes, want[i])
	}
	idx, err := n.store.Snapshot(ctx)
	if err != nil || idx == 0 {
		t.Fatalf("Snapshot = %d, %v", idx, err)
	}
	if again, err := n.store.Snapshot(ctx); err != nil || again != idx {
		t.Fatalf("second Snapshot = %d, %v; want %d", again, err, idx)
	}
	for i := 5; i < 8; i++ {
		want = append(want, fmt.Sprint("s", i))
		apply(t, nodes, want[i])
	}
	snaps, err := filepath.Glob(filepath.Join(n.dir, "snapshots", "*", "state.bin"))
	if err != nil || len(snaps) != DefaultConfig().SnapshotRetain {
		t.Fatalf("snapshot files = %v, %v", snaps, err)
	}

	n.stop()
	n.start()
	if _, _, err := n.store.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.store.Barrier(ctx); err != nil {
		t.Fatal(err)
	}
	n.fsm.mu.Lock()
	restores := n.fsm.restores
	n.fsm.mu.Unlock()
	if restores != 1 {
		t.Errorf("restores = %d, want 1 (from the snapshot, then the log)", restores)
	}
	if got := n.fsm.list(); !slices.Equal(got, want) {
		t.Fatalf("fsm after restart = %q, want %q", got, want)
	}
}

// A node joining after the log was compacted must receive the snapshot over
// the transport (InstallSnapshot), which exercises Persist and Restore
// across nodes.
func TestJoinInstallsSnapshot(t *testing.T) { joinInstallsSnapshot(t, nil) }

// joinInstallsSnapshot runs TestJoinInstallsSnapshot with each node's
// config passed through tweak first (TLS, for one).
func joinInstallsSnapshot(t *testing.T, more func(*Config)) {
	tweak := func(c *Config) {
		c.TrailingLogs = 0
		if more != nil {
			more(c)
		}
	}
	log := testLogger(t)
	first := newNode(t, log, "n0", true, tweak)
	ctx := t.Context()
	var want []string
	for i := range 10 {
		want = append(want, fmt.Sprint("c", i))
		apply(t, []*node{first}, want[i])
	}
	if _, err := first.store.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	late := newNode(t, log, "n1", false, tweak)
	if err := first.store.Join(ctx, late.id, late.addr); err != nil {
		t.Fatal(err)
	}
	waitFSM(t, late, want)
	late.fsm.mu.Lock()
	defer late.fsm.mu.Unlock()
	if late.fsm.restores == 0 {
		t.Error("late joiner caught up without a snapshot install")
	}
}

func TestApplyContext(t *testing.T) {
	n := newNode(t, testLogger(t), "ctx", true, nil)
	if _, _, err := n.store.WaitLeader(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, err := n.store.Apply(ctx, []byte("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Apply with canceled ctx = %v", err)
	}
	if err := n.store.Barrier(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Barrier with canceled ctx = %v", err)
	}
	// A node never joined to a cluster has no leader to wait for.
	lone := newNode(t, testLogger(t), "lone", false, nil)
	if _, _, err := lone.store.WaitLeader(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitLeader with canceled ctx = %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	log := testLogger(t)
	n := newNode(t, log, "a", true, nil)

	cfg := n.cfg
	cfg.BindAddr = "127.0.0.1:0"
	if _, err := Open(cfg, newListFSM()); err == nil {
		t.Error("second Open of the same DataDir succeeded")
	}
	cfg = n.cfg
	cfg.DataDir = t.TempDir()
	cfg.BindAddr = n.addr
	if _, err := Open(cfg, newListFSM()); err == nil {
		t.Error("Open on a bound address succeeded")
	}
	cfg.BindAddr = "127.0.0.1:0"
	if _, err := Open(cfg, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("Open with nil FSM = %v", err)
	}
	cfg.NodeID = ""
	if _, err := Open(cfg, newListFSM()); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("Open with bad config = %v", err)
	}
}

// Shutdown racing with writes must release every writer with a definite
// answer or a documented error, never leave one hanging.
func TestShutdownDuringApply(t *testing.T) {
	nodes := newCluster(t, 3, nil)
	store := liveLeader(t, nodes).store
	var wg sync.WaitGroup
	errs := make(chan error, 8*50)
	for w := range 8 {
		wg.Go(func() {
			for i := range 50 {
				_, _, err := store.Apply(t.Context(), fmt.Appendf(nil, "w%d-%d", w, i))
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	if err := store.Shutdown(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, ErrClosed) && !errors.Is(err, ErrOutcomeUnknown) && !errors.Is(err, ErrNotLeader) {
			t.Errorf("apply during shutdown: %v", err)
		}
	}
}

func TestTransferLeadership(t *testing.T) {
	nodes := newCluster(t, 3, nil)
	old := liveLeader(t, nodes)
	for _, n := range nodes {
		if n != old {
			if err := n.store.TransferLeadership(t.Context()); !errors.Is(err, ErrNotLeader) {
				t.Fatalf("transfer on follower = %v", err)
			}
			break
		}
	}
	if err := old.store.TransferLeadership(t.Context()); err != nil {
		t.Fatalf("transfer: %v", err)
	}
	if leader := liveLeader(t, nodes); leader == old {
		t.Fatalf("%s still leads after transfer", old.id)
	}
	apply(t, nodes, "after-transfer")
}
