package federation_test

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/federation"
	"github.com/tandem-sms/tandem/internal/waitfor"
	"github.com/tandem-sms/tandem/routing"
)

// writeTableFile persists t in dir as the cache would.
func writeTableFile(tb testing.TB, dir string, t *routing.Table) {
	tb.Helper()
	f, err := os.Create(filepath.Join(dir, federation.CacheFileName))
	if err != nil {
		tb.Fatal(err)
	}
	bw := bufio.NewWriter(f)
	if err := t.WriteSnapshot(bw); err != nil {
		tb.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
}

// sampleAt is testdata's sample table at revision rev.
func sampleAt(tb testing.TB, rev uint64) *routing.Table {
	tb.Helper()
	t, err := routing.LoadFile(sampleTable)
	if err != nil {
		tb.Fatal(err)
	}
	b := t.Builder()
	return b.Table(rev)
}

// Lookups through the cache load one pointer and allocate nothing.
func TestLookupAllocatesNothing(t *testing.T) {
	dir := t.TempDir()
	writeTableFile(t, dir, sampleAt(t, 42))
	rc := newCache(t, cacheConfig(t, dir, []string{"127.0.0.1:1"}))
	if rc.Revision() != 42 {
		t.Fatalf("revision %d, want 42", rc.Revision())
	}
	if n := testing.AllocsPerRun(1000, func() { _, _ = rc.Table().ResolveMT("13800101234") }); n != 0 {
		t.Fatalf("MT lookup through the cache: %v allocs, want 0", n)
	}
	if n := testing.AllocsPerRun(1000, func() { _, _ = rc.Table().ResolveMO("10657001", "022001") }); n != 0 {
		t.Fatalf("MO lookup through the cache: %v allocs, want 0", n)
	}
	if n := testing.AllocsPerRun(1000, func() { _ = rc.Changed() }); n != 0 {
		t.Fatalf("Changed: %v allocs, want 0", n)
	}
}

func BenchmarkRouteCacheLookup(b *testing.B) {
	dir := b.TempDir()
	writeTableFile(b, dir, sampleAt(b, 1))
	rc := newCache(b, cacheConfig(b, dir, []string{"127.0.0.1:1"}))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := rc.Table().ResolveMT("13800101234"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// A persisted file that does not read back stops NewRouteCache with an
// error naming it, or, with DiscardCorrupt, is moved aside and the cache
// starts empty.
func TestCorruptCacheFile(t *testing.T) {
	dir := t.TempDir()
	writeTableFile(t, dir, sampleAt(t, 7))
	name := filepath.Join(dir, federation.CacheFileName)
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x5a
	if err := os.WriteFile(name, b, 0o600); err != nil {
		t.Fatal(err)
	}

	cfg := cacheConfig(t, dir, []string{"127.0.0.1:1"})
	if _, err := federation.NewRouteCache(cfg); err == nil || !strings.Contains(err.Error(), name) {
		t.Fatalf("corrupt file: err = %v, want one naming %s", err, name)
	}

	cfg.DiscardCorrupt = true
	rc := newCache(t, cfg)
	if rc.Revision() != 0 || rc.Table().NumSegments() != 0 {
		t.Fatalf("DiscardCorrupt: revision %d, %d segments; want an empty table", rc.Revision(), rc.Table().NumSegments())
	}
	if _, err := os.Stat(name + ".corrupt"); err != nil {
		t.Fatalf("corrupt file not moved aside: %v", err)
	}
	if _, err := os.Stat(name); !os.IsNotExist(err) {
		t.Fatalf("corrupt file still in place: %v", err)
	}

	// Truncated, too.
	writeTableFile(t, dir, sampleAt(t, 8))
	if err := os.Truncate(name, 20); err != nil {
		t.Fatal(err)
	}
	cfg.DiscardCorrupt = false
	if _, err := federation.NewRouteCache(cfg); err == nil || !strings.Contains(err.Error(), name) {
		t.Fatalf("truncated file: err = %v, want one naming %s", err, name)
	}
}

// Deltas faster than PersistInterval are coalesced: the file keeps the
// first table until the interval ends, and Run writes the last one when it
// returns.
func TestPersistCoalescesAndWritesAtShutdown(t *testing.T) {
	cl := startGNS(t, 1, nil)
	cl.importSample(t)
	dir := t.TempDir()
	cfg := cacheConfig(t, dir, cl.addrs())
	cfg.PersistInterval = time.Hour
	rc := newCache(t, cfg).run(t)
	<-rc.Synced()
	first := float64(rc.Revision())
	waitfor.Cond(t, "first table persisted", func() bool { return rc.metric(t, persisted) == first })
	var rev uint64
	for _, p := range []string{"1592001", "1592002", "1592003"} {
		rev = cl.write(t, putSegment(p, "020001"))
	}
	waitRevision(t, rc, rev)
	if got := rc.metric(t, persisted); got != first {
		t.Fatalf("persisted revision %v within the interval, want still %v", got, first)
	}
	if err := rc.stop(); err != nil {
		t.Fatal(err)
	}
	again := newCache(t, cacheConfig(t, dir, []string{"127.0.0.1:1"}))
	if again.Revision() != rev || resolves(again.Table(), "15920030000") != "020001" {
		t.Fatalf("after shutdown the file holds revision %d, want %d", again.Revision(), rev)
	}
	if _, err := os.Stat(filepath.Join(dir, federation.CacheFileName+".tmp")); !os.IsNotExist(err) {
		t.Fatalf("temporary file left behind: %v", err)
	}
}

func TestRouteCacheConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		field string
		set   func(*federation.RouteCacheConfig)
	}{
		{"GNS", func(c *federation.RouteCacheConfig) { c.GNS = nil }},
		{"GNS[1]", func(c *federation.RouteCacheConfig) { c.GNS = []string{"a:1", "nohost"} }},
		{"GNS[1]", func(c *federation.RouteCacheConfig) { c.GNS = []string{"a:1", "a:1"} }},
		{"TLSCert/TLSKey", func(c *federation.RouteCacheConfig) { c.TLSCert = "c.pem" }},
		{"DataDir", func(c *federation.RouteCacheConfig) { c.DataDir = "" }},
		{"PersistInterval", func(c *federation.RouteCacheConfig) { c.PersistInterval = 0 }},
		{"BackoffMin", func(c *federation.RouteCacheConfig) { c.BackoffMin = 0 }},
		{"BackoffMax", func(c *federation.RouteCacheConfig) { c.BackoffMax = c.BackoffMin / 2 }},
		{"ProbeInterval", func(c *federation.RouteCacheConfig) { c.ProbeInterval = -1 }},
		{"ProbeTimeout", func(c *federation.RouteCacheConfig) { c.ProbeTimeout = 0 }},
		{"LeaderlessTimeout", func(c *federation.RouteCacheConfig) { c.LeaderlessTimeout = c.ProbeInterval / 2 }},
	} {
		t.Run(tc.field, func(t *testing.T) {
			cfg := federation.DefaultRouteCacheConfig()
			cfg.GNS, cfg.DataDir = []string{"127.0.0.1:9190"}, t.TempDir()
			if err := cfg.Validate(); err != nil {
				t.Fatalf("base config: %v", err)
			}
			tc.set(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.field+" ") {
				t.Fatalf("err = %v, want one naming %s", err, tc.field)
			}
		})
	}
}

// The event age is computed at scrape from the injected clock: after a
// start from the file, the time since the file was written.
func TestEventAgeGauge(t *testing.T) {
	dir := t.TempDir()
	writeTableFile(t, dir, sampleAt(t, 3))
	written := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(dir, federation.CacheFileName), written, written); err != nil {
		t.Fatal(err)
	}
	now := written.Add(90 * time.Second)
	cfg := cacheConfig(t, dir, []string{"127.0.0.1:1"})
	cfg.Now = func() time.Time { return now }
	rc := newCache(t, cfg)
	if got := rc.metric(t, "federation_routecache_last_event_age_seconds"); got != 90 {
		t.Fatalf("age %v s, want 90", got)
	}
	now = now.Add(time.Minute)
	if got := rc.metric(t, "federation_routecache_last_event_age_seconds"); got != 150 {
		t.Fatalf("age %v s a minute later, want 150", got)
	}
	if got := rc.metric(t, "federation_routecache_revision"); got != 3 {
		t.Fatalf("revision gauge %v, want 3", got)
	}

	// Run owns the metrics: they go when it returns, and it runs once.
	rc.run(t)
	if err := rc.stop(); err != nil {
		t.Fatal(err)
	}
	if err := rc.Run(t.Context()); err == nil {
		t.Fatal("second Run succeeded")
	}
	if fams, err := rc.reg.Gather(); err != nil || len(fams) != 0 {
		t.Fatalf("after Run: %d metric families still registered (%v)", len(fams), err)
	}
}
