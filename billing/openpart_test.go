package billing

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// openDir writes, through a Writer that is synced and not closed (a
// running gateway, or one killed with SIGKILL), an MT billed at submit and
// the REPORT that delivered it: the hour's file is still .part.
func openDir(t *testing.T) (dir, part string) {
	t.Helper()
	dir = t.TempDir()
	clock := newClock("2026-11-22T14:10:00.000Z")
	w := openWriter(t, testConfig(t, dir, clock))
	m := mt(7, spA, "02", "10", "", "")
	m.SubmitTime = mustTime("2026-11-22T14:10:00.000Z")
	rep := Record{Kind: KindReport, MsgID: 7, SPID: spA, FinalStatus: "DELIVRD", DoneTime: mustTime("2026-11-22T14:10:05.000Z")}
	for _, r := range []Record{m, rep} {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	part = w.Path()
	if !strings.HasSuffix(part, ".csv.part") {
		t.Fatalf("writer path %s", part)
	}
	return dir, part
}

// A report while the gateway runs, or right after a crash, counts the
// open file: the delivered message is delivered and billed, not pending.
func TestSummarizeDirReadsOpenFile(t *testing.T) {
	dir, part := openDir(t)
	sums, err := SummarizeDir(dir, mustTime("2026-11-22T00:00:00.000Z"), mustTime("2026-11-23T00:00:00.000Z"))
	if err != nil {
		t.Fatal(err)
	}
	if tot := Total(sums); tot.MT != 1 || tot.Reports != 1 || tot.Delivered != 1 || tot.Pending != 0 || tot.FeeFen != 10 {
		t.Fatalf("total %+v: want the open file's MT delivered and charged", tot)
	}

	// A crash tore the last record: it is skipped and reported, not fatal.
	torn := "REPORT,LOCAL,8,0000000000000008,901234,NEWS,0,02,10,,1065"
	appendTo(t, part, torn)
	sums, info, err := SummarizeDirInfo(dir, time.Time{}, mustTime("2026-11-23T00:00:00.000Z"))
	if err != nil {
		t.Fatal(err)
	}
	want := OpenFile{Path: part, Records: 2, TornLine: 4, TornBytes: int64(len(torn))}
	if info.Files != 1 || len(info.Open) != 1 || info.Open[0] != want {
		t.Fatalf("info %+v, want open %+v", info, want)
	}
	if tot := Total(sums); tot.Delivered != 1 || tot.Reports != 1 {
		t.Fatalf("total with a torn tail %+v", tot)
	}

	// A bad record with more after it is not a torn tail: an error, as in
	// a finalized file.
	appendTo(t, part, "\nMT,LOCAL,x\n"+torn)
	if _, _, err := SummarizeDirInfo(dir, time.Time{}, mustTime("2026-11-23T00:00:00.000Z")); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), part+":4:") {
		t.Fatalf("bad middle record: %v", err)
	}
}

// Once the writer finalizes the file, the same records are read once.
func TestSummarizeDirOpenThenFinalized(t *testing.T) {
	dir, part := openDir(t)
	if _, err := os.Stat(part); err != nil {
		t.Fatal(err)
	}
	clock := newClock("2026-11-22T15:00:00.000Z")
	// Open finalizes what a crash left: the .part becomes .csv.
	w := openWriter(t, testConfig(t, dir, clock))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	sums, info, err := SummarizeDirInfo(dir, time.Time{}, mustTime("2026-11-23T00:00:00.000Z"))
	if err != nil || len(info.Open) != 0 {
		t.Fatalf("%+v %v", info, err)
	}
	if tot := Total(sums); tot.MT != 1 || tot.Delivered != 1 {
		t.Fatalf("total %+v", tot)
	}
}

// A .part without even a whole header (just created when the crash came)
// adds nothing and is reported torn at line 1; an empty one is no note.
func TestSummarizeDirPartWithoutHeader(t *testing.T) {
	dir := t.TempDir()
	half := filepath.Join(dir, "cdr-001001-2026112214.csv.part")
	empty := filepath.Join(dir, "cdr-001001-2026112215.csv.part")
	if err := os.WriteFile(half, []byte(Header[:20]), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	sums, info, err := SummarizeDirInfo(dir, time.Time{}, time.Time{})
	if err != nil || len(sums) != 0 || len(info.Open) != 2 {
		t.Fatalf("%+v %+v %v", sums, info, err)
	}
	if info.Open[0] != (OpenFile{Path: half, TornLine: 1, TornBytes: 20}) || info.Open[1] != (OpenFile{Path: empty}) {
		t.Fatalf("open %+v", info.Open)
	}
}

// A file read open and then found under its final name (renamed between
// the listing and the second look) is known by its identity.
func TestReadBeforeFollowsRename(t *testing.T) {
	dir, part := openDir(t)
	st, err := os.Stat(part)
	if err != nil {
		t.Fatal(err)
	}
	final := strings.TrimSuffix(part, ".part")
	if err := os.Rename(part, final); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.csv")
	if err := os.WriteFile(other, []byte(Header), 0o644); err != nil {
		t.Fatal(err)
	}
	if !readBefore(final, []os.FileInfo{st}) || readBefore(other, []os.FileInfo{st}) || readBefore(filepath.Join(dir, "gone"), []os.FileInfo{st}) {
		t.Fatal("readBefore does not follow the rename")
	}
}

func appendTo(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
