package raftstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/tandem-sms/tandem/internal/waitfor"
)

// listFSM is an append-only list of commands. A command starting with
// "fail:" is committed but rejected with an error response, as a real FSM
// rejects a bad change deterministically.
type listFSM struct {
	mu       sync.Mutex
	items    [][]byte
	count    int // applied commands; also counts when discard is set
	restores int
	discard  bool // benchmarks: count only, keep memory flat
	changed  chan struct{}
}

var errRejected = errors.New("listfsm: rejected")

func newListFSM() *listFSM { return &listFSM{changed: make(chan struct{})} }

func (f *listFSM) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *listFSM) Apply(l *raft.Log) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.notifyLocked()
	if bytes.HasPrefix(l.Data, []byte("fail:")) {
		return fmt.Errorf("%w: %q at %d", errRejected, l.Data, l.Index)
	}
	f.count++
	if !f.discard {
		f.items = append(f.items, slices.Clone(l.Data))
	}
	return f.count
}

// Snapshot hands Persist a view that Apply never changes: items is only
// appended to, and the capacity cap keeps appends away from it.
func (f *listFSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &listSnap{items: f.items[:len(f.items):len(f.items)]}, nil
}

func (f *listFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return err
	}
	var items [][]byte
	for len(b) > 0 {
		if len(b) < 4 {
			return fmt.Errorf("listfsm: restore: truncated length")
		}
		n := binary.BigEndian.Uint32(b)
		if uint64(len(b)-4) < uint64(n) {
			return fmt.Errorf("listfsm: restore: truncated item")
		}
		items = append(items, b[4:4+n])
		b = b[4+n:]
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.items, f.count = items, len(items)
	f.restores++
	f.notifyLocked()
	return nil
}

func (f *listFSM) snapshot() (items []string, changed <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, it := range f.items {
		items = append(items, string(it))
	}
	return items, f.changed
}

func (f *listFSM) list() []string { items, _ := f.snapshot(); return items }

type listSnap struct{ items [][]byte }

func (s *listSnap) Persist(sink raft.SnapshotSink) error {
	var b []byte
	for _, it := range s.items {
		b = binary.BigEndian.AppendUint32(b, uint32(len(it)))
		b = append(b, it...)
	}
	if _, err := sink.Write(b); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *listSnap) Release() {}

// testOutput forwards logs to the test until it ends; raft's transport may
// still log from a connection goroutine just after Shutdown returns.
type testOutput struct {
	mu   sync.Mutex
	w    io.Writer
	done bool
}

func (o *testOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.done {
		_, _ = o.w.Write(p)
	}
	return len(p), nil
}

func testLogger(t testing.TB) *slog.Logger {
	o := &testOutput{w: t.Output()}
	// Registered first, so it runs after the nodes' Shutdown cleanups.
	t.Cleanup(func() { o.mu.Lock(); o.done = true; o.mu.Unlock() })
	return slog.New(slog.NewTextHandler(o, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// node is one member of a test cluster; it can be stopped and restarted on
// the same directory and address.
type node struct {
	t     testing.TB
	id    string
	dir   string
	addr  string // fixed after the first start
	cfg   Config
	store *Store
	fsm   *listFSM
}

func newNode(t testing.TB, log *slog.Logger, id string, bootstrap bool, tweak func(*Config)) *node {
	t.Helper()
	cfg := DefaultConfig()
	cfg.NodeID = id
	cfg.BindAddr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.Bootstrap = bootstrap
	cfg.Logger = log
	if tweak != nil {
		tweak(&cfg)
	}
	n := &node{t: t, id: id, dir: cfg.DataDir, cfg: cfg}
	n.start()
	t.Cleanup(n.stop)
	return n
}

// start opens the store; after the first start it rebinds the same address,
// as a real node restarts on its configured address.
func (n *node) start() {
	n.t.Helper()
	cfg := n.cfg
	if n.addr != "" {
		cfg.BindAddr = n.addr
	}
	n.fsm = newListFSM()
	s, err := Open(cfg, n.fsm)
	if err != nil {
		n.t.Fatalf("open %s: %v", n.id, err)
	}
	n.store, n.addr = s, s.Addr()
}

func (n *node) stop() {
	if n.store == nil {
		return
	}
	if err := n.store.Shutdown(); err != nil {
		n.t.Errorf("shutdown %s: %v", n.id, err)
	}
	n.store = nil
}

// waitTimeout bounds every wait in the tests: generous, since the race
// detector and a shared machine slow raft down; it is a hang guard, not a
// speed check.
const waitTimeout = 30 * time.Second

// liveLeader waits until some running node in nodes is the leader and every
// running node agrees on it, and returns it.
func liveLeader(t testing.TB, nodes []*node) *node {
	t.Helper()
	var leader *node
	waitfor.Signalled(t, "a leader all live nodes agree on", func() (bool, []<-chan struct{}) {
		var chans []<-chan struct{}
		leader = nil
		agreed := ""
		ok := true
		for _, n := range nodes {
			if n.store == nil {
				continue
			}
			chans = append(chans, n.store.changedCh())
			id, _ := n.store.Leader()
			if agreed == "" {
				agreed = id
			}
			if id == "" || id != agreed {
				ok = false
			}
			if n.store.IsLeader() {
				leader = n
			}
		}
		return ok && leader != nil && leader.id == agreed, chans
	})
	return leader
}

// apply submits cmd to whichever node is leader, retrying through
// elections. It returns the index once a leader acknowledges it.
func apply(t testing.TB, nodes []*node, cmd string) uint64 {
	t.Helper()
	for range 20 {
		leader := liveLeader(t, nodes)
		ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
		_, idx, err := leader.store.Apply(ctx, []byte(cmd))
		cancel()
		if err == nil {
			return idx
		}
		if !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrOutcomeUnknown) {
			t.Fatalf("apply %q on %s: %v", cmd, leader.id, err)
		}
		t.Logf("apply %q on %s: %v; retrying", cmd, leader.id, err)
	}
	t.Fatalf("apply %q: no stable leader", cmd)
	return 0
}

// waitFSM waits until n's FSM holds at least want (in order, ignoring
// duplicates from retried commands of unknown outcome).
func waitFSM(t testing.TB, n *node, want []string) {
	t.Helper()
	waitfor.Signalled(t, fmt.Sprintf("%s to apply %d commands", n.id, len(want)), func() (bool, []<-chan struct{}) {
		items, ch := n.fsm.snapshot()
		return containsInOrder(items, want), []<-chan struct{}{ch}
	})
}

func containsInOrder(have, want []string) bool {
	i := 0
	for _, h := range have {
		if i < len(want) && h == want[i] {
			i++
		}
	}
	return i == len(want)
}

// newCluster bootstraps n0 and joins the rest through the leader.
func newCluster(t testing.TB, size int, tweak func(*Config)) []*node {
	t.Helper()
	log := testLogger(t)
	nodes := []*node{newNode(t, log, "n0", true, tweak)}
	for i := 1; i < size; i++ {
		nodes = append(nodes, newNode(t, log, fmt.Sprintf("n%d", i), false, tweak))
	}
	for i, n := range nodes[1:] {
		for attempt := 0; ; attempt++ {
			leader := liveLeader(t, nodes[:i+1]) // the members so far
			err := leader.store.Join(t.Context(), n.id, n.addr)
			if err == nil {
				break
			}
			if attempt == 10 || !(errors.Is(err, ErrNotLeader) || errors.Is(err, ErrOutcomeUnknown)) {
				t.Fatalf("join %s: %v", n.id, err)
			}
		}
	}
	// Let every node receive the final configuration before the test may
	// kill one (see Store.Join on why): a node that applied an entry after
	// the last join holds that join's configuration entry too.
	apply(t, nodes, "settled")
	for _, n := range nodes {
		waitFSM(t, n, []string{"settled"})
	}
	return nodes
}

func ids(nodes []*node) string {
	var s []string
	for _, n := range nodes {
		s = append(s, n.id)
	}
	return strings.Join(s, ",")
}
