package billing

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
	_ "time/tzdata" // Asia/Shanghai on hosts without a zone database
)

func shanghai(t testing.TB) *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// Names carry the period's start in its zone and the zone's offset; a
// name without one is UTC, so the names of UTC writers are unchanged.
func TestFileNameZone(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	p := mustTime("2026-11-22T14:00:00.000Z")
	for _, tc := range []struct {
		loc    *time.Location
		rotate time.Duration
		n      int
		want   string
	}{
		{time.UTC, time.Hour, 0, "cdr-001001-2026112214.csv"},
		{shanghai(t), time.Hour, 0, "cdr-001001-2026112222+0800.csv"},
		{shanghai(t), time.Hour, 12, "cdr-001001-2026112222+0800-12.csv"},
		{shanghai(t), 30 * time.Minute, 0, "cdr-001001-202611222200+0800.csv"},
		{ny, time.Hour, 0, "cdr-001001-2026112209-0500.csv"},
		{ny, time.Hour, 999, "cdr-001001-2026112209-0500-999.csv"},
		{time.FixedZone("", 5*3600+45*60), time.Hour, 0, "cdr-001001-2026112220+0545.csv"},
	} {
		p := p
		if _, off := p.In(tc.loc).Zone(); off%3600 != 0 {
			p = p.Add(time.Duration(3600-off%3600) * time.Second) // 14:15Z is 20:00 in Nepal
		}
		got := FileName("001001", p.In(tc.loc), tc.rotate, tc.n)
		if got != tc.want {
			t.Errorf("FileName(%v, %v, %d) = %q, want %q", tc.loc, tc.rotate, tc.n, got, tc.want)
		}
		fn, ok := parseFileName(got + partSuffix)
		if !ok || fn.gateway != "001001" || !fn.period.Equal(p) || fn.n != tc.n || !fn.part {
			t.Errorf("parseFileName(%q) = %+v, %v", got, fn, ok)
		}
		// Recovery renames a .part by the name made from the parsed period.
		if again := FileName("001001", fn.period, tc.rotate, tc.n); again != got {
			t.Errorf("FileName(parsed %q) = %q", got, again)
		}
	}
	for _, bad := range []string{"cdr-001001-2026112222+0000.csv", "cdr-001001-2026112222+1500.csv",
		"cdr-001001-2026112222+0860.csv", "cdr-001001-2026112222+080.csv", "cdr-001001-2026112222+0800x.csv",
		"cdr-001001-2026112222+0800-1000.csv", "cdr-001001-2026112222-1000-1.csv-", "cdr-001001-2026112222-08:00.csv"} {
		if fn, ok := parseFileName(bad); ok {
			t.Errorf("parseFileName(%q) accepted: %+v", bad, fn)
		}
	}
}

// A writer in Asia/Shanghai names its files by the local hour and starts a
// day's file at local midnight (16:00 UTC); the records' times stay UTC.
func TestWriterLocalHours(t *testing.T) {
	dir := t.TempDir()
	clock := newClock("2026-11-22T15:59:59.000Z")
	cfg := testConfig(t, dir, clock)
	cfg.Location = shanghai(t)
	cfg.Rotate = 24 * time.Hour
	w := openWriter(t, cfg)
	defer w.Close()
	a := mt(1, spA, "02", "10", "DELIVRD", "2026-11-22T15:59:58.000Z")
	if err := w.Write(a); err != nil {
		t.Fatal(err)
	}
	clock.Set(mustTime("2026-11-22T16:00:00.000Z"))
	b := mt(2, spA, "02", "10", "DELIVRD", "2026-11-22T16:00:00.000Z")
	if err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := []string{"cdr-001001-2026112200+0800.csv", "cdr-001001-2026112300+0800.csv"}
	if got := listDir(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	recs, err := ReadFile(filepath.Join(dir, want[1]))
	if err != nil || len(recs) != 1 || recs[0].MsgID != 2 {
		t.Fatalf("second day's file: %+v, %v", recs, err)
	}
	if got := recs[0].DoneTime.Format(TimeLayout); got != "2026-11-22T16:00:00.000Z" {
		t.Errorf("done_time written as %s, want UTC", got)
	}
	// A report selects and reads local-hour files like UTC ones.
	sums, err := SummarizeDir(dir, mustTime("2026-11-22T16:00:00.000Z"), time.Time{})
	if err != nil || len(sums) != 1 || sums[0].Delivered != 1 {
		t.Fatalf("SummarizeDir: %+v, %v", sums, err)
	}
}

func TestFilesZone(t *testing.T) {
	dir := t.TempDir()
	if loc, err := FilesZone([]string{dir}); err != nil || loc != time.UTC {
		t.Fatalf("empty dir: %v, %v", loc, err)
	}
	for _, n := range []string{"cdr-001001-2026112213.csv", "cdr-001001-2026112222+0800.csv.part"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(Header), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	loc, err := FilesZone([]string{dir})
	if _, off := time.Now().In(loc).Zone(); err != nil || off != 8*3600 || loc.String() != "+08:00" {
		t.Fatalf("FilesZone = %v (%d), %v; want +08:00", loc, off, err)
	}
}
