package billing

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestConfigValidate(t *testing.T) {
	ok := DefaultConfig()
	ok.Dir, ok.Gateway = "x", "001001"
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for name, mod := range map[string]func(*Config){
		"no dir":          func(c *Config) { c.Dir = "" },
		"short gateway":   func(c *Config) { c.Gateway = "1001" },
		"letter gateway":  func(c *Config) { c.Gateway = "00100a" },
		"rotate seconds":  func(c *Config) { c.Rotate = 90 * time.Second },
		"rotate 7h":       func(c *Config) { c.Rotate = 7 * time.Hour },
		"rotate 2 days":   func(c *Config) { c.Rotate = 48 * time.Hour },
		"rotate zero":     func(c *Config) { c.Rotate = 0 },
		"nil clock":       func(c *Config) { c.Now = nil },
		"small buffer":    func(c *Config) { c.BufferSize = 100 },
		"nil logger":      func(c *Config) { c.Logger = nil },
		"rotate negative": func(c *Config) { c.Rotate = -time.Hour },
	} {
		c := ok
		mod(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", name, c)
		}
		if _, err := Open(c); err == nil {
			t.Errorf("%s: Open accepted it", name)
		}
	}
}

func TestFileName(t *testing.T) {
	p := mustTime("2026-11-22T14:00:00.000Z")
	for _, tc := range []struct {
		rotate time.Duration
		n      int
		want   string
	}{
		{time.Hour, 0, "cdr-001001-2026112214.csv"},
		{time.Hour, 2, "cdr-001001-2026112214-2.csv"},
		{6 * time.Hour, 0, "cdr-001001-2026112214.csv"},
		{30 * time.Minute, 0, "cdr-001001-202611221400.csv"},
	} {
		got := FileName("001001", p, tc.rotate, tc.n)
		if got != tc.want {
			t.Errorf("FileName(%v, %d) = %q, want %q", tc.rotate, tc.n, got, tc.want)
		}
		fn, ok := parseFileName(got)
		if !ok || fn.gateway != "001001" || !fn.period.Equal(p) || fn.n != tc.n || fn.part {
			t.Errorf("parseFileName(%q) = %+v, %v", got, fn, ok)
		}
	}
	for _, bad := range []string{"cdr-001001-2026112214.txt", "cdr-00100-2026112214.csv", "cdr-001001-20261122.csv",
		"cdr-001001-2026112214-0.csv", "cdr-001001-2026112214-01.csv", "cdr-001001-2026113214.csv", "x.csv",
		"cdr-001001-2026112214-x.csv", "cdr-001001-+026112214.csv"} {
		if fn, ok := parseFileName(bad); ok {
			t.Errorf("parseFileName(%q) accepted: %+v", bad, fn)
		}
	}
}

// TestWriterRotatesAtHourBoundary drives the clock across 14:00 without
// sleeping and checks the finished file and the new .part.
func TestWriterRotatesAtHourBoundary(t *testing.T) {
	dir := t.TempDir()
	clock := newClock("2026-11-22T13:59:59.000Z")
	w := openWriter(t, testConfig(t, dir, clock))
	defer w.Close()

	if got := listDir(t, dir); len(got) != 0 {
		t.Fatalf("Open created files before the first Write: %v", got)
	}
	a := mt(1, spA, "02", "10", "DELIVRD", "2026-11-22T13:59:58.000Z")
	b := mt(2, spA, "02", "10", "DELIVRD", "2026-11-22T13:59:59.999Z")
	c := mt(3, spA, "02", "10", "DELIVRD", "2026-11-22T14:00:00.000Z")
	for _, r := range []Record{a, b} {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	clock.Set(mustTime("2026-11-22T13:59:59.999Z"))
	if err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if got, want := listDir(t, dir), []string{"cdr-001001-2026112213.csv.part"}; !slices.Equal(got, want) {
		t.Fatalf("before the boundary: files %v, want %v", got, want)
	}
	clock.Set(mustTime("2026-11-22T14:00:00.000Z"))
	if err := w.Write(c); err != nil {
		t.Fatal(err)
	}
	want := []string{"cdr-001001-2026112213.csv", "cdr-001001-2026112214.csv.part"}
	if got := listDir(t, dir); !slices.Equal(got, want) {
		t.Fatalf("after the boundary: files %v, want %v", got, want)
	}
	if p := w.Path(); filepath.Base(p) != want[1] {
		t.Fatalf("Path() = %q", p)
	}
	recs, err := ReadFile(filepath.Join(dir, want[0]))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || recs[0].MsgID != 1 || recs[2].MsgID != 2 {
		t.Fatalf("13h file holds %+v", recs)
	}
	if st := w.Stats(); st.Files != 1 || st.Records != 4 {
		t.Fatalf("stats %+v", st)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want[1] = "cdr-001001-2026112214.csv"
	if got := listDir(t, dir); !slices.Equal(got, want) {
		t.Fatalf("after Close: files %v, want %v", got, want)
	}
	recs, err = ReadFile(filepath.Join(dir, want[1]))
	if err != nil || len(recs) != 1 || recs[0].MsgID != 3 {
		t.Fatalf("14h file: %+v, %v", recs, err)
	}
}

func TestFileStartsWithHeader(t *testing.T) {
	dir := t.TempDir()
	writeSample(t, dir)
	names := listDir(t, dir)
	if len(names) != 4 {
		t.Fatalf("files %v", names)
	}
	for _, n := range names {
		f, err := os.Open(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(f).ReadString('\n')
		f.Close()
		if err != nil || line != Header {
			t.Errorf("%s: first line %q, %v; want %q", n, line, err, Header)
		}
	}
	if want := strings.Join(Columns(), ",") + "\n"; Header != want {
		t.Fatalf("Header constant %q differs from the column list %q", Header, want)
	}
}

// TestRotationDurability checks the order of the durability steps: the old
// file is fsynced while still .part, renamed, then the directory fsynced;
// the new file's directory entry is fsynced before records go into it.
func TestRotationDurability(t *testing.T) {
	dir := t.TempDir()
	clock := newClock("2026-11-22T13:30:00.000Z")
	w := openWriter(t, testConfig(t, dir, clock))
	var events []string
	exists := func(name string) string {
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			return "+" + name
		}
		return "-" + name
	}
	w.syncFile = func(f *os.File) error {
		events = append(events, "fsync "+filepath.Base(f.Name())+" "+exists("cdr-001001-2026112213.csv"))
		return f.Sync()
	}
	w.syncDir = func(d string) error {
		events = append(events, "fsyncdir "+exists("cdr-001001-2026112213.csv")+" "+exists("cdr-001001-2026112214.csv.part"))
		return syncDir(d)
	}
	if err := w.Write(mt(1, spA, "02", "1", "DELIVRD", "2026-11-22T13:30:00.000Z")); err != nil {
		t.Fatal(err)
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	clock.Set(mustTime("2026-11-22T14:00:00.000Z"))
	if err := w.Write(mt(2, spA, "02", "1", "DELIVRD", "2026-11-22T14:00:00.000Z")); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"fsyncdir -cdr-001001-2026112213.csv -cdr-001001-2026112214.csv.part", // 13h .part created
		"fsync cdr-001001-2026112213.csv.part -cdr-001001-2026112213.csv",     // Sync
		"fsync cdr-001001-2026112213.csv.part -cdr-001001-2026112213.csv",     // rotation: fsync before rename
		"fsyncdir +cdr-001001-2026112213.csv -cdr-001001-2026112214.csv.part", // after rename
		"fsyncdir +cdr-001001-2026112213.csv +cdr-001001-2026112214.csv.part", // 14h .part created
	}
	if !slices.Equal(events, want) {
		t.Fatalf("durability steps:\n%s\nwant:\n%s", strings.Join(events, "\n"), strings.Join(want, "\n"))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestSyncFlushesAndCounts(t *testing.T) {
	dir := t.TempDir()
	clock := newClock("2026-11-22T13:30:00.000Z")
	w := openWriter(t, testConfig(t, dir, clock))
	defer w.Close()
	if err := w.Sync(); err != nil { // nothing open yet
		t.Fatal(err)
	}
	rec := mt(7, spA, "02", "1", "DELIVRD", "2026-11-22T13:30:00.000Z")
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(w.Path()); len(b) != 0 {
		t.Fatalf("Write reached the file before Sync (%d bytes); it should only buffer", len(b))
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	recs, err := ReadFile(w.Path())
	if err != nil || len(recs) != 1 || recs[0] != rec {
		t.Fatalf("after Sync the .part holds %+v, %v", recs, err)
	}
	if err := w.Sync(); err != nil { // clean: no second fsync
		t.Fatal(err)
	}
	if st := w.Stats(); st.Syncs != 1 || st.Records != 1 {
		t.Fatalf("stats %+v, want 1 sync 1 record", st)
	}
}

func TestWriteRejectsInvalidRecord(t *testing.T) {
	dir := t.TempDir()
	w := openWriter(t, testConfig(t, dir, newClock("2026-11-22T13:30:00.000Z")))
	defer w.Close()
	for _, r := range []Record{
		{},
		{Kind: 9},
		{Kind: KindMT, Direction: 3},
		{Kind: KindMT, DoneTime: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{Kind: KindMT, SubmitTime: time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if err := w.Write(r); !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("Write(%+v) = %v, want ErrInvalidRecord", r, err)
		}
	}
	if got := listDir(t, dir); len(got) != 0 {
		t.Fatalf("invalid records created files %v", got)
	}
}

func TestWriteAfterClose(t *testing.T) {
	w := openWriter(t, testConfig(t, t.TempDir(), newClock("2026-11-22T13:30:00.000Z")))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(mt(1, spA, "", "", "", "")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Close = %v", err)
	}
	if err := w.Sync(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Sync after Close = %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
}

func TestBrokenWriterIsSticky(t *testing.T) {
	dir := t.TempDir()
	w := openWriter(t, testConfig(t, dir, newClock("2026-11-22T13:30:00.000Z")))
	boom := errors.New("disk on fire")
	w.syncFile = func(*os.File) error { return boom }
	if err := w.Write(mt(1, spA, "", "", "", "")); err != nil {
		t.Fatal(err)
	}
	err := w.Sync()
	if !errors.Is(err, ErrBroken) || !errors.Is(err, boom) {
		t.Fatalf("Sync = %v, want ErrBroken wrapping the cause", err)
	}
	if err := w.Write(mt(2, spA, "", "", "", "")); !errors.Is(err, ErrBroken) {
		t.Fatalf("Write after failure = %v", err)
	}
	if err := w.Close(); !errors.Is(err, ErrBroken) {
		t.Fatalf("Close after failure = %v", err)
	}
	// The .part stays for recovery, and recovery keeps the flushed record.
	w2 := openWriter(t, testConfig(t, dir, newClock("2026-11-22T13:30:00.000Z")))
	defer w2.Close()
	recs, err := ReadFile(filepath.Join(dir, "cdr-001001-2026112213.csv"))
	if err != nil || len(recs) != 1 {
		t.Fatalf("recovered %+v, %v", recs, err)
	}
}

// TestRestartSamePeriod: a finalized file is never reopened; a writer
// restarted in the same hour starts the -1 file.
func TestRestartSamePeriod(t *testing.T) {
	dir := t.TempDir()
	clock := newClock("2026-11-22T14:10:00.000Z")
	for i := range 3 {
		w := openWriter(t, testConfig(t, dir, clock))
		if err := w.Write(mt(uint64(i), spA, "", "", "", "")); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"cdr-001001-2026112214-1.csv", "cdr-001001-2026112214-2.csv", "cdr-001001-2026112214.csv"}
	if got := listDir(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
}

func TestMinuteRotation(t *testing.T) {
	dir := t.TempDir()
	clock := newClock("2026-11-22T14:29:59.000Z")
	cfg := testConfig(t, dir, clock)
	cfg.Rotate = 30 * time.Minute
	w := openWriter(t, cfg)
	for _, at := range []string{"2026-11-22T14:29:59.000Z", "2026-11-22T14:30:00.000Z", "2026-11-22T15:00:00.000Z"} {
		clock.Set(mustTime(at))
		if err := w.Write(mt(1, spA, "", "", "", "")); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := []string{"cdr-001001-202611221400.csv", "cdr-001001-202611221430.csv", "cdr-001001-202611221500.csv"}
	if got := listDir(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
}

// TestConcurrentWriters: many goroutines write while one syncs and the clock
// crosses hours; every record lands exactly once in some finished file.
func TestConcurrentWriters(t *testing.T) {
	dir := t.TempDir()
	clock := newClock("2026-11-22T13:59:00.000Z")
	w := openWriter(t, testConfig(t, dir, clock))
	const writers, each = 8, 400
	var wg sync.WaitGroup
	stop := make(chan struct{})
	kick := make(chan struct{}, 1) // writers ask for a group commit
	syncErr := make(chan error, 1)
	go func() {
		defer close(syncErr)
		for {
			select {
			case <-stop:
				return
			case <-kick:
			}
			if err := w.Sync(); err != nil {
				syncErr <- err
				return
			}
		}
	}()
	errs := make(chan error, writers)
	for g := range writers {
		wg.Go(func() {
			for i := range each {
				id := uint64(g*each + i)
				if i%100 == 99 {
					clock.Add(20 * time.Minute)
				}
				r := mt(id, fmt.Sprintf("9%05d", g), "02", "1", "DELIVRD", "")
				r.ServiceID = "a,\"b\"\nc" // keep the quoting path busy
				if err := w.Write(r); err != nil {
					errs <- err
					return
				}
				if i%25 == 0 {
					select {
					case kick <- struct{}{}:
					default:
					}
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	if err := <-syncErr; err != nil {
		t.Fatal(err)
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	seen := make(map[uint64]int)
	for _, n := range listDir(t, dir) {
		if !strings.HasSuffix(n, ".csv") {
			t.Fatalf("unexpected file %s after Close", n)
		}
		recs, err := ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			seen[r.MsgID]++
			if r.ServiceID != "a,\"b\"\nc" {
				t.Fatalf("%s: service_id %q", n, r.ServiceID)
			}
		}
	}
	if len(seen) != writers*each {
		t.Fatalf("read %d distinct records, want %d", len(seen), writers*each)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("record %d appears %d times", id, n)
		}
	}
	if st := w.Stats(); st.Records != writers*each || st.Files < 2 {
		t.Fatalf("stats %+v", st)
	}
}

// TestWriteNoAllocs holds Write to zero allocations in steady state.
func TestWriteNoAllocs(t *testing.T) {
	w := openWriter(t, testConfig(t, t.TempDir(), newClock("2026-11-22T13:30:00.000Z")))
	defer w.Close()
	rec := sampleRecords()[13] // the one with quoting
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(1000, func() { _ = w.Write(rec) }); n != 0 {
		t.Fatalf("Write allocs = %v, want 0", n)
	}
}

// TestClockStepsBack: a clock stepped back into a finished hour opens a
// fresh file for it rather than touching the finalized one.
func TestClockStepsBack(t *testing.T) {
	dir := t.TempDir()
	clock := newClock("2026-11-22T13:59:59.000Z")
	w := openWriter(t, testConfig(t, dir, clock))
	for _, at := range []string{"2026-11-22T13:59:59.000Z", "2026-11-22T14:00:00.000Z", "2026-11-22T13:59:59.500Z"} {
		clock.Set(mustTime(at))
		if err := w.Write(mt(1, spA, "", "", "", "")); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := []string{"cdr-001001-2026112213-1.csv", "cdr-001001-2026112213.csv", "cdr-001001-2026112214.csv"}
	if got := listDir(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
}
