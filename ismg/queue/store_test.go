package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func testConfig(t testing.TB) Config {
	cfg := DefaultConfig()
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	return cfg
}

// withCaches runs a test with the value cache on, off, and too small for
// every value, so that both read paths (cache and bolt) are covered.
func withCaches(t *testing.T, fn func(*testing.T, Config)) {
	for _, c := range []struct {
		name  string
		bytes int
	}{{"cache", 64 << 20}, {"nocache", 0}, {"partial", 6}} {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.CacheBytes = c.bytes
			fn(t, cfg)
		})
	}
}

func openTest(t testing.TB, path string, cfg Config) *Store {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "q.db")
	}
	s, err := Open(path, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func mustCommit(t testing.TB, s *Store, ops ...Op) {
	t.Helper()
	if err := s.Commit(context.Background(), ops...); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

func ids(items []Item) []uint64 {
	out := make([]uint64, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

func equalIDs(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func lease(t testing.TB, s *Store, q string, now time.Time, max int) []Item {
	t.Helper()
	items, err := s.Lease(q, now, max)
	if err != nil {
		t.Fatalf("Lease: %v", err)
	}
	return items
}

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	bad := []func(*Config){
		func(c *Config) { c.MaxBatch = 0 },
		func(c *Config) { c.MinInterval = -1 },
		func(c *Config) { c.MinInterval = 2 * time.Second },
		func(c *Config) { c.MaxDepth = -1 },
		func(c *Config) { c.QueueDepth = map[string]int{"x": -1} },
		func(c *Config) { c.MmapSize = -1 },
		func(c *Config) { c.OpenTimeout = -1 },
	}
	for i, mut := range bad {
		c := DefaultConfig()
		mut(&c)
		if c.Validate() == nil {
			t.Errorf("case %d: Validate accepted %+v", i, c)
		}
		if _, err := Open(filepath.Join(t.TempDir(), "q.db"), c); err == nil {
			t.Errorf("case %d: Open accepted an invalid config", i)
		}
	}
}

func TestLeaseOrderAndDue(t *testing.T) { withCaches(t, leaseOrderAndDue) }

func leaseOrderAndDue(t *testing.T, cfg Config) {
	s := openTest(t, "", cfg)
	// Inserted out of order; expected order is (due, id).
	mustCommit(t, s,
		Enqueue("mt", 5, t0.Add(2*time.Second), []byte("e")),
		Enqueue("mt", 3, t0.Add(time.Second), []byte("c")),
		Enqueue("mt", 9, t0.Add(time.Second), []byte("i")),
		Enqueue("mt", 1, t0.Add(time.Second), []byte("a")),
		Enqueue("mt", 7, time.Time{}, []byte("g")), // zero due: due always
		Enqueue("mt", 2, t0.Add(time.Hour), []byte("b")),
	)
	if got := lease(t, s, "mt", t0, 10); !equalIDs(ids(got), []uint64{7}) {
		t.Fatalf("lease at t0 = %v, want [7]", ids(got))
	}
	got := lease(t, s, "mt", t0.Add(2*time.Second), 3)
	if !equalIDs(ids(got), []uint64{1, 3, 9}) {
		t.Fatalf("lease max 3 = %v, want [1 3 9]", ids(got))
	}
	if string(got[0].Value) != "a" || !got[0].Due.Equal(t0.Add(time.Second)) || got[0].Queue != "mt" {
		t.Fatalf("item = %+v", got[0])
	}
	got = lease(t, s, "mt", t0.Add(2*time.Second), 10)
	if !equalIDs(ids(got), []uint64{5}) {
		t.Fatalf("second lease = %v, want [5]", ids(got))
	}
	if got := lease(t, s, "mt", t0.Add(2*time.Second), 10); len(got) != 0 {
		t.Fatalf("everything due is leased, got %v", ids(got))
	}
	if d, ok := s.NextDue("mt"); !ok || !d.Equal(t0.Add(time.Hour)) {
		t.Fatalf("NextDue = %v %v, want %v", d, ok, t0.Add(time.Hour))
	}
	if !s.Release("mt", 3) || s.Release("mt", 3) || s.Release("mt", 2) || s.Release("nope", 1) {
		t.Fatal("Release reports wrong lease state")
	}
	if got := lease(t, s, "mt", t0.Add(2*time.Second), 10); !equalIDs(ids(got), []uint64{3}) {
		t.Fatalf("after release = %v, want [3]", ids(got))
	}
	if n := s.Len("mt"); n != 6 {
		t.Fatalf("Len = %d, want 6 (leased items count)", n)
	}
	st := s.Stats().Queues["mt"]
	if st.Depth != 6 || st.Leased != 5 {
		t.Fatalf("queue stats = %+v", st)
	}
	if got := lease(t, s, "unknown", t0, 10); got != nil {
		t.Fatalf("unknown queue lease = %v", got)
	}
	if got := lease(t, s, "mt", t0.Add(24*time.Hour), 0); got != nil {
		t.Fatalf("max 0 lease = %v", got)
	}
}

func TestDuplicate(t *testing.T) { withCaches(t, duplicate) }

func duplicate(t *testing.T, cfg Config) {
	s := openTest(t, "", cfg)
	ctx := context.Background()
	mustCommit(t, s, Enqueue("mt", 1, t0, []byte("x")))
	err := s.Commit(ctx, Enqueue("mt", 1, t0, []byte("y")))
	if !errors.Is(err, ErrDuplicate) {
		t.Fatalf("duplicate enqueue: %v, want ErrDuplicate", err)
	}
	// Same id, other queue: fine.
	mustCommit(t, s, Enqueue("other", 1, t0, nil))
	// Duplicate within one Commit.
	err = s.Commit(ctx, Enqueue("mt", 2, t0, nil), Enqueue("mt", 2, t0, nil))
	if !errors.Is(err, ErrDuplicate) {
		t.Fatalf("duplicate inside one commit: %v", err)
	}
	if _, err := s.Get("mt", 2); !errors.Is(err, ErrNotFound) {
		t.Fatalf("failed commit left id 2: %v", err)
	}
	// Removed ids may come back.
	mustCommit(t, s, Remove("mt", 1))
	mustCommit(t, s, Enqueue("mt", 1, t0, []byte("z")))
	if it, err := s.Get("mt", 1); err != nil || string(it.Value) != "z" {
		t.Fatalf("Get = %+v %v", it, err)
	}
	if it, err := s.Get("other", 1); err != nil || it.Value == nil || len(it.Value) != 0 {
		t.Fatalf("nil value should read back empty: %+v %v", it, err)
	}
}

func TestUpdate(t *testing.T) { withCaches(t, update) }

func update(t *testing.T, cfg Config) {
	s := openTest(t, "", cfg)
	mustCommit(t, s, Enqueue("mt", 1, t0, []byte("one")), Enqueue("mt", 2, t0.Add(time.Second), []byte("two")))
	// Push 1 behind 2, keeping its value.
	mustCommit(t, s, Update("mt", 1, t0.Add(2*time.Second), nil))
	if got := lease(t, s, "mt", t0.Add(time.Hour), 10); !equalIDs(ids(got), []uint64{2, 1}) || string(got[1].Value) != "one" {
		t.Fatalf("after update: %v", got)
	}
	// Update of a leased item keeps the lease.
	mustCommit(t, s, Update("mt", 2, t0, []byte("retry")))
	if got := lease(t, s, "mt", t0.Add(time.Hour), 10); len(got) != 0 {
		t.Fatalf("update must not end the lease: %v", ids(got))
	}
	s.Release("mt", 2)
	got := lease(t, s, "mt", t0.Add(time.Hour), 10)
	if !equalIDs(ids(got), []uint64{2}) || string(got[0].Value) != "retry" || !got[0].Due.Equal(t0) {
		t.Fatalf("after release: %+v", got)
	}
	// Clearing a value takes an empty, non-nil slice.
	mustCommit(t, s, Update("mt", 2, t0, []byte{}))
	if it, _ := s.Get("mt", 2); len(it.Value) != 0 {
		t.Fatalf("value not cleared: %q", it.Value)
	}
	if err := s.Commit(context.Background(), Update("mt", 99, t0, nil)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update missing: %v", err)
	}
}

func TestMoveAndRemove(t *testing.T) { withCaches(t, moveAndRemove) }

func moveAndRemove(t *testing.T, cfg Config) {
	s := openTest(t, "", cfg)
	ctx := context.Background()
	mustCommit(t, s, Enqueue("mt", 1, t0, []byte("msg")), Enqueue("mt", 2, t0, []byte("m2")), Enqueue("inflight", 2, t0, nil))
	lease(t, s, "mt", t0, 1) // leases 1
	mustCommit(t, s, Move("mt", "inflight", 1, t0.Add(time.Minute), nil))
	if s.Len("mt") != 1 || s.Len("inflight") != 2 {
		t.Fatalf("len mt=%d inflight=%d", s.Len("mt"), s.Len("inflight"))
	}
	if st := s.Stats().Queues["mt"]; st.Leased != 0 {
		t.Fatalf("move must end the lease: %+v", st)
	}
	it, err := s.Get("inflight", 1)
	if err != nil || string(it.Value) != "msg" || !it.Due.Equal(t0.Add(time.Minute)) {
		t.Fatalf("moved item = %+v %v", it, err)
	}
	// The moved item is unleased in its new queue.
	if got := lease(t, s, "inflight", t0.Add(time.Hour), 10); !equalIDs(ids(got), []uint64{2, 1}) {
		t.Fatalf("inflight lease = %v", ids(got))
	}
	for _, tc := range []struct {
		op   Op
		want error
	}{
		{Move("mt", "inflight", 2, t0, nil), ErrDuplicate},
		{Move("mt", "inflight", 7, t0, nil), ErrNotFound},
		{Move("mt", "mt", 2, t0, nil), ErrInvalid},
		{Move("mt", "", 2, t0, nil), ErrInvalid},
		{Remove("mt", 1), ErrNotFound},
	} {
		if err := s.Commit(ctx, tc.op); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", describe(&tc.op), err, tc.want)
		}
	}
	mustCommit(t, s, Move("mt", "done", 2, t0, []byte("new")))
	if it, _ := s.Get("done", 2); string(it.Value) != "new" {
		t.Fatalf("move with value = %q", it.Value)
	}
	mustCommit(t, s, Remove("inflight", 1), Remove("inflight", 2))
	if s.Len("inflight") != 0 || s.Stats().Queues["inflight"].Leased != 0 {
		t.Fatalf("remove of leased items: %+v", s.Stats().Queues["inflight"])
	}
	if _, ok := s.NextDue("inflight"); ok {
		t.Fatal("NextDue on empty queue")
	}
	if got := s.Queues(); fmt.Sprint(got) != "[done]" {
		t.Fatalf("Queues = %v", got)
	}
}

func TestKV(t *testing.T) {
	s := openTest(t, "", testConfig(t))
	mustCommit(t, s, Put("smsc", []byte("abc"), []byte("1")), Put("smsc", []byte("def"), nil))
	if v, err := s.GetKV("smsc", []byte("abc")); err != nil || string(v) != "1" {
		t.Fatalf("GetKV = %q %v", v, err)
	}
	if v, err := s.GetKV("smsc", []byte("def")); err != nil || v == nil || len(v) != 0 {
		t.Fatalf("GetKV empty = %q %v", v, err)
	}
	mustCommit(t, s, Delete("smsc", []byte("abc")), Delete("smsc", []byte("missing")))
	if _, err := s.GetKV("smsc", []byte("abc")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted key: %v", err)
	}
	if _, err := s.GetKV("nobucket", []byte("abc")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing bucket: %v", err)
	}
	// A KV bucket and a queue of the same name do not collide.
	mustCommit(t, s, Enqueue("smsc", 1, t0, nil))
	if v, err := s.GetKV("smsc", []byte("def")); err != nil || len(v) != 0 {
		t.Fatalf("kv after same-named queue: %q %v", v, err)
	}
}

func TestInvalidOps(t *testing.T) {
	s := openTest(t, "", testConfig(t))
	long := string(bytes.Repeat([]byte("x"), maxNameLen+1))
	for _, op := range []Op{
		{},
		Enqueue("", 1, t0, nil),
		Enqueue(long, 1, t0, nil),
		Put("kv", nil, []byte("v")),
		Put("", []byte("k"), []byte("v")),
		Delete("kv", make([]byte, maxKeyLen+1)),
	} {
		if err := s.Commit(context.Background(), op); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", describe(&op), err)
		}
	}
	if err := s.Commit(context.Background()); err != nil {
		t.Fatalf("empty commit: %v", err)
	}
}

func TestQueueFull(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxDepth = 3
	cfg.QueueDepth = map[string]int{"small": 1, "unlimited": 0}
	s := openTest(t, "", cfg)
	ctx := context.Background()
	mustCommit(t, s, Enqueue("mt", 1, t0, nil), Enqueue("mt", 2, t0, nil), Enqueue("mt", 3, t0, nil))
	if err := s.Commit(ctx, Enqueue("mt", 4, t0, nil)); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("4th enqueue: %v", err)
	}
	// Removing one in the same Commit makes room.
	mustCommit(t, s, Remove("mt", 1), Enqueue("mt", 4, t0, nil))
	mustCommit(t, s, Enqueue("small", 1, t0, nil))
	if err := s.Commit(ctx, Move("mt", "small", 2, t0, nil)); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("move into full queue: %v", err)
	}
	for i := range uint64(10) {
		mustCommit(t, s, Enqueue("unlimited", i, t0, nil))
	}
	if s.Len("mt") != 3 || s.Len("small") != 1 || s.Len("unlimited") != 10 {
		t.Fatalf("depths %v", s.Stats().Queues)
	}
}

func TestCommitAtomic(t *testing.T) { withCaches(t, commitAtomic) }

func commitAtomic(t *testing.T, cfg Config) {
	s := openTest(t, "", cfg)
	mustCommit(t, s, Enqueue("mt", 1, t0, []byte("keep")))
	// The last op fails, so none of the earlier ones may apply.
	err := s.Commit(context.Background(),
		Enqueue("mt", 2, t0, nil),
		Put("map", []byte("k"), []byte("v")),
		Update("mt", 1, t0.Add(time.Hour), []byte("changed")),
		Move("mt", "inflight", 1, t0, nil),
		Enqueue("mt", 1, t0, nil), // 1 was moved away in this commit: fine
		Remove("mt", 42),          // fails
	)
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("commit: %v, want ErrNotFound", err)
	}
	if _, err := s.Get("mt", 2); !errors.Is(err, ErrNotFound) {
		t.Fatalf("id 2 applied: %v", err)
	}
	if _, err := s.GetKV("map", []byte("k")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("put applied: %v", err)
	}
	if it, err := s.Get("mt", 1); err != nil || string(it.Value) != "keep" || !it.Due.Equal(t0) {
		t.Fatalf("id 1 changed: %+v %v", it, err)
	}
	if s.Len("inflight") != 0 || s.Len("mt") != 1 {
		t.Fatalf("index changed: %v", s.Stats().Queues)
	}
	// The same ops without the bad one apply together, in order.
	mustCommit(t, s,
		Enqueue("mt", 2, t0, nil),
		Put("map", []byte("k"), []byte("v")),
		Update("mt", 1, t0.Add(time.Hour), []byte("changed")),
		Move("mt", "inflight", 1, t0, nil),
		Enqueue("mt", 1, t0, []byte("again")),
	)
	if it, _ := s.Get("inflight", 1); string(it.Value) != "changed" {
		t.Fatalf("moved value = %q", it.Value)
	}
	if it, _ := s.Get("mt", 1); string(it.Value) != "again" {
		t.Fatalf("re-enqueued value = %q", it.Value)
	}
}

// TestBatchIsolation puts good and bad requests into one transaction (the
// committer, paced by MinInterval, waits until MaxBatch ops are pending)
// and checks that only the
// bad ones fail and that later requests see earlier ones of the batch.
func TestBatchIsolation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	cfg := testConfig(t)
	cfg.MaxDepth = 3
	s := openTest(t, path, cfg)
	mustCommit(t, s, Enqueue("mt", 100, t0, nil))
	_ = s.Close()
	cfg.MaxBatch = 8
	cfg.MinInterval = time.Second // the batch fills long before this
	s = openTest(t, path, cfg)

	reqs := [][]Op{
		{Enqueue("mt", 1, t0, nil)},    // ok
		{Enqueue("mt", 1, t0, nil)},    // duplicate of the previous request
		{Remove("mt", 1)},              // sees request 0
		{Enqueue("mt", 1, t0, nil)},    // id free again
		{Enqueue("mt", 2, t0, nil)},    // depth 3 now
		{Enqueue("mt", 3, t0, nil)},    // full
		{Remove("mt", 77)},             // not found
		{Enqueue("other", 1, t0, nil)}, // ok; the 8th op closes the batch
	}
	want := []error{nil, ErrDuplicate, nil, nil, nil, ErrQueueFull, ErrNotFound, nil}
	errs := make([]error, len(reqs))
	var wg sync.WaitGroup
	wg.Add(len(reqs))
	// CommitAsync queues in call order, so the overlay sees them in order.
	for i, ops := range reqs {
		s.CommitAsync(ops, func(err error) { errs[i] = err; wg.Done() })
	}
	wg.Wait()
	for i := range want {
		if want[i] == nil && errs[i] != nil || want[i] != nil && !errors.Is(errs[i], want[i]) {
			t.Errorf("request %d: %v, want %v", i, errs[i], want[i])
		}
	}
	if got := s.Stats().Txs; got != 1 {
		t.Fatalf("%d transactions, want 1", got)
	}
	if s.Len("mt") != 3 || s.Len("other") != 1 {
		t.Fatalf("depths %v", s.Stats().Queues)
	}
}

func TestLeasesNotPersisted(t *testing.T) { withCaches(t, leasesNotPersisted) }

func leasesNotPersisted(t *testing.T, cfg Config) {
	path := filepath.Join(t.TempDir(), "q.db")
	s, err := Open(path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	mustCommit(t, s,
		Enqueue("mt", 1, t0, []byte("a")),
		Enqueue("mt", 2, t0.Add(time.Second), []byte("b")),
		Enqueue("mt", 3, t0.Add(time.Hour), []byte("c")),
		Put("map", []byte("k"), []byte("v")),
	)
	if got := lease(t, s, "mt", t0.Add(time.Second), 10); len(got) != 2 {
		t.Fatalf("lease = %v", ids(got))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path, cfg)
	got := lease(t, s, "mt", t0.Add(time.Hour), 10)
	if !equalIDs(ids(got), []uint64{1, 2, 3}) {
		t.Fatalf("after reopen = %v, want all three", ids(got))
	}
	for i, v := range []string{"a", "b", "c"} {
		if string(got[i].Value) != v {
			t.Errorf("item %d value %q, want %q", got[i].ID, got[i].Value, v)
		}
	}
	if !got[2].Due.Equal(t0.Add(time.Hour)) {
		t.Errorf("due = %v", got[2].Due)
	}
	if v, err := s.GetKV("map", []byte("k")); err != nil || string(v) != "v" {
		t.Fatalf("kv after reopen: %q %v", v, err)
	}
}

func TestCommitContextAndClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	s, err := Open(path, testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Commit(ctx, Enqueue("mt", 1, t0, nil)); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled commit: %v", err)
	}
	if s.Len("mt") != 0 {
		t.Fatal("cancelled commit applied")
	}
	// Requests handed over before Close are committed by Close.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var asyncErrs []error
	for i := range uint64(100) {
		wg.Add(1)
		s.CommitAsync([]Op{Enqueue("mt", i, t0, nil)}, func(err error) {
			mu.Lock()
			asyncErrs = append(asyncErrs, err)
			mu.Unlock()
			wg.Done()
		})
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for _, err := range asyncErrs {
		if err != nil {
			t.Fatalf("async commit before Close: %v", err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Commit(context.Background(), Enqueue("mt", 1000, t0, nil)); !errors.Is(err, ErrClosed) {
		t.Fatalf("commit after Close: %v", err)
	}
	done := make(chan error, 1)
	s.CommitAsync([]Op{Enqueue("mt", 1000, t0, nil)}, func(err error) { done <- err })
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("async commit after Close: %v", err)
	}
	if _, err := s.Get("mt", 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close: %v", err)
	}
	s = openTest(t, path, testConfig(t))
	if s.Len("mt") != 100 {
		t.Fatalf("after reopen Len = %d, want 100", s.Len("mt"))
	}
}

func TestScan(t *testing.T) { withCaches(t, scan) }

func scan(t *testing.T, cfg Config) {
	s := openTest(t, "", cfg)
	const n = scanChunk*2 + 7
	var ops []Op
	for i := range uint64(n) {
		ops = append(ops, Enqueue("mt", i*3, t0.Add(time.Duration(n-i)), fmt.Appendf(nil, "v%d", i)))
		ops = append(ops, Put("map", fmt.Appendf(nil, "k%05d", i), fmt.Appendf(nil, "v%d", i)))
	}
	mustCommit(t, s, ops...)
	var seen []uint64
	err := s.Scan("mt", func(it Item) bool {
		if string(it.Value) != fmt.Sprintf("v%d", it.ID/3) {
			t.Errorf("item %d value %q", it.ID, it.Value)
		}
		seen = append(seen, it.ID)
		return true
	})
	if err != nil || len(seen) != n {
		t.Fatalf("Scan: %d items, %v", len(seen), err)
	}
	for i, id := range seen {
		if id != uint64(i*3) {
			t.Fatalf("Scan order: position %d id %d", i, id)
		}
	}
	count := 0
	_ = s.Scan("mt", func(Item) bool { count++; return count < 5 })
	if count != 5 {
		t.Fatalf("early stop after %d", count)
	}
	if err := s.Scan("missing", func(Item) bool { t.Fatal("called"); return false }); err != nil {
		t.Fatal(err)
	}
	var keys []string
	err = s.ScanKV("map", func(k, v []byte) bool {
		keys = append(keys, string(k))
		return true
	})
	if err != nil || len(keys) != n || keys[0] != "k00000" || keys[n-1] != fmt.Sprintf("k%05d", n-1) {
		t.Fatalf("ScanKV: %d keys, %v", len(keys), err)
	}
	for i := 1; i < len(keys); i++ {
		if keys[i-1] >= keys[i] {
			t.Fatalf("ScanKV order at %d: %q %q", i, keys[i-1], keys[i])
		}
	}
}

func TestOpenRejectsForeignFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	s := openTest(t, path, testConfig(t))
	mustCommit(t, s, Put("x", []byte("k"), []byte("v")))
	_ = s.Close()
	if err := overwriteMeta(path, "something-else"); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, testConfig(t)); err == nil {
		t.Fatal("Open accepted a foreign format")
	}
}

func TestDueRoundTrip(t *testing.T) {
	for _, tm := range []time.Time{{}, t0, time.Unix(0, 1), t0.Add(123456789), time.Unix(0, -5)} {
		if got := dueTime(dueNanos(tm)); !got.Equal(tm) {
			t.Errorf("%v → %v", tm, got)
		}
	}
	// Out of int64 range: clamped, order kept.
	never := time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
	ancient := time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC)
	if dueNanos(never) <= dueNanos(t0) || dueNanos(ancient) >= dueNanos(time.Unix(0, -5)) {
		t.Errorf("clamping: never=%d ancient=%d", dueNanos(never), dueNanos(ancient))
	}
}

func TestHeap(t *testing.T) {
	q := newQIndex("h")
	// Pseudo-random dues with collisions; pop order must be (due, id).
	for i := range uint64(500) {
		q.insert(i, int64((i*7919)%50))
	}
	for i := uint64(0); i < 500; i += 3 {
		q.remove(i)
	}
	for i := uint64(1); i < 500; i += 5 {
		q.update(i, int64((i*31)%60))
	}
	var prev *entry
	n := 0
	for e := q.popDue(1 << 62); e != nil; e = q.popDue(1 << 62) {
		if prev != nil && less(e, prev) {
			t.Fatalf("heap order: (%d,%d) after (%d,%d)", e.due, e.id, prev.due, prev.id)
		}
		prev = e
		n++
	}
	if n != len(q.items) || q.leased != n {
		t.Fatalf("popped %d of %d, leased %d", n, len(q.items), q.leased)
	}
}

func TestCacheAccounting(t *testing.T) {
	cfg := testConfig(t)
	cfg.CacheBytes = 10
	s := openTest(t, "", cfg)
	mustCommit(t, s,
		Enqueue("mt", 1, t0, []byte("123456")), // cached: 6
		Enqueue("mt", 2, t0, []byte("12345")),  // over budget: bolt
		Enqueue("mt", 3, t0, []byte("1234")),   // cached: 10
	)
	if n := s.Stats().CacheBytes; n != 10 {
		t.Fatalf("CacheBytes = %d, want 10", n)
	}
	// A moved item keeps its cached value; an update replaces it.
	mustCommit(t, s, Move("mt", "inflight", 1, t0, nil), Update("mt", 3, t0, []byte("12")))
	if n := s.Stats().CacheBytes; n != 8 {
		t.Fatalf("CacheBytes = %d, want 8", n)
	}
	got := lease(t, s, "mt", t0, 10)
	if !equalIDs(ids(got), []uint64{2, 3}) || string(got[0].Value) != "12345" || string(got[1].Value) != "12" {
		t.Fatalf("lease = %+v", got)
	}
	got[1].Value[0] = 'X' // the caller owns its copy
	if it, _ := s.Get("mt", 3); string(it.Value) != "12" {
		t.Fatalf("cache modified through a leased value: %q", it.Value)
	}
	if it, _ := s.Get("inflight", 1); string(it.Value) != "123456" {
		t.Fatalf("moved value = %q", it.Value)
	}
	mustCommit(t, s, Remove("mt", 2), Remove("mt", 3), Remove("inflight", 1))
	if n := s.Stats().CacheBytes; n != 0 {
		t.Fatalf("CacheBytes = %d after removing everything", n)
	}
}

// TestOnBatch: the hook runs once the committer holds a request and before
// that request's outcome is reported, so work it starts covers the request.
func TestOnBatch(t *testing.T) {
	cfg := testConfig(t)
	var batches atomic.Int64
	cfg.OnBatch = func() { batches.Add(1) }
	s := openTest(t, "", cfg)
	for i := range uint64(20) {
		before := batches.Load()
		done := make(chan int64, 1)
		s.CommitAsync([]Op{Enqueue("mt", i+1, t0, []byte("v"))}, func(err error) {
			if err != nil {
				t.Errorf("commit %d: %v", i+1, err)
			}
			done <- batches.Load()
		})
		if after := <-done; after <= before {
			t.Fatalf("commit %d: outcome before OnBatch (%d batches before, %d after)", i+1, before, after)
		}
	}
	// A refused request still went through a batch.
	before := batches.Load()
	if err := s.Commit(context.Background(), Remove("mt", 999)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("remove missing: %v", err)
	}
	if batches.Load() <= before {
		t.Fatal("no OnBatch for a refused request")
	}
}

// TestTake: Take leases a given item whatever its due time, so Lease skips
// it; a second Take and a Take of a leased item fail with ErrLeased, a
// missing one with ErrNotFound; Release makes it leasable again.
func TestTake(t *testing.T) {
	s := openTest(t, "", testConfig(t))
	future := time.Now().Add(time.Hour)
	mustCommit(t, s, Enqueue("mt", 1, future, []byte("one")), Enqueue("mt", 2, t0, []byte("two")))
	it, err := s.Take("mt", 1)
	if err != nil || string(it.Value) != "one" || it.Due.UnixNano() != future.UnixNano() {
		t.Fatalf("Take(1) = %+v, %v", it, err)
	}
	if _, err := s.Take("mt", 1); !errors.Is(err, ErrLeased) {
		t.Fatalf("second Take: %v, want ErrLeased", err)
	}
	if items := lease(t, s, "mt", future.Add(time.Second), 10); len(items) != 1 || items[0].ID != 2 {
		t.Fatalf("Lease after Take: %+v", items)
	}
	if _, err := s.Take("mt", 2); !errors.Is(err, ErrLeased) {
		t.Fatalf("Take of a leased item: %v, want ErrLeased", err)
	}
	if _, err := s.Take("mt", 3); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Take of a missing item: %v, want ErrNotFound", err)
	}
	if _, err := s.Take("none", 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Take from a missing queue: %v, want ErrNotFound", err)
	}
	s.Release("mt", 1)
	if items := lease(t, s, "mt", future.Add(time.Second), 10); len(items) != 1 || items[0].ID != 1 {
		t.Fatalf("Lease after Release: %+v", items)
	}
	mustCommit(t, s, Remove("mt", 1), Remove("mt", 2))
	if n := s.Len("mt"); n != 0 {
		t.Fatalf("%d items left", n)
	}
}
