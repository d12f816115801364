package billing

import (
	"errors"
	"slices"
	"testing"
)

// WriteLine files a line AppendCSV made as Write would; a line without
// its newline is refused and writes nothing.
func TestWriteLine(t *testing.T) {
	dir := t.TempDir()
	w := openWriter(t, testConfig(t, dir, newClock("2026-11-22T13:00:00.000Z")))
	r := mt(7, spA, "02", "10", "DELIVRD", "2026-11-22T12:59:00.000Z")
	line, err := r.AppendCSV(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteLine(line[:len(line)-1]); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("a line without its newline: %v, want ErrInvalidRecord", err)
	}
	if err := w.WriteLine(line); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	recs, err := ReadFile(dir + "/cdr-001001-2026112213.csv")
	if err != nil || len(recs) != 1 || recs[0] != r {
		t.Fatalf("read back %+v, %v; want %+v", recs, err, r)
	}
}

// RecentLines gives the whole record lines at the end of the two newest
// files of the gateway: not the headers, not a line the window cuts, not
// an older file's, not another gateway's.
func TestRecentLines(t *testing.T) {
	dir := t.TempDir()
	clock := newClock("2026-11-22T12:00:00.000Z")
	lineOf := func(id uint64) []byte {
		r := mt(id, spA, "02", "10", "DELIVRD", "2026-11-22T11:59:00.000Z")
		b, err := r.AppendCSV(nil)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	w := openWriter(t, testConfig(t, dir, clock))
	for hour, ids := range [][]uint64{{1, 2}, {3, 4}, {5, 6, 7}} {
		clock.Set(mustTime("2026-11-22T12:00:00.000Z").Add(timeHours(hour)))
		for _, id := range ids {
			if err := w.WriteLine(lineOf(id)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	other := testConfig(t, dir, clock)
	other.Gateway = gwGZ
	wo := openWriter(t, other)
	if err := wo.WriteLine(lineOf(99)); err != nil {
		t.Fatal(err)
	}
	if err := wo.Close(); err != nil {
		t.Fatal(err)
	}

	ids := func(maxBytes int64) []uint64 {
		w := openWriter(t, testConfig(t, dir, clock))
		defer w.Close()
		var got []uint64
		err := w.RecentLines(maxBytes, func(l []byte) {
			for id := uint64(1); id < 100; id++ {
				if string(l) == string(lineOf(id)) {
					got = append(got, id)
				}
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := ids(1 << 20); !slices.Equal(got, []uint64{3, 4, 5, 6, 7}) {
		t.Fatalf("whole windows: lines %v, want 3 4 (13h) 5 6 7 (14h)", got)
	}
	// A window one line and a bit long: the cut line is skipped.
	if got := ids(int64(len(lineOf(7))) + 10); !slices.Equal(got, []uint64{4, 7}) {
		t.Fatalf("short windows: lines %v, want 4 and 7", got)
	}
}
