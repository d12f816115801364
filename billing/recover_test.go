package billing

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// partWithRecords returns a header and n whole records as the writer
// encodes them.
func partWithRecords(t *testing.T, n int) ([]byte, []Record) {
	t.Helper()
	b := []byte(Header)
	recs := sampleRecords()[:n]
	for i := range recs {
		var err error
		if b, err = recs[i].AppendCSV(b); err != nil {
			t.Fatal(err)
		}
	}
	return b, recs
}

func TestRecoverPart(t *testing.T) {
	whole, recs := partWithRecords(t, 3)
	quoted := sampleRecords()[13] // has a quoted field with a newline
	qline, _ := quoted.AppendCSV(nil)
	withQuoted := append(slices.Clone(whole), qline...)

	for _, tc := range []struct {
		name      string
		content   []byte
		wantRecs  []Record
		wantFiles []string
		torn      string // expected .torn content, "" for none
	}{
		{
			name:      "clean",
			content:   whole,
			wantRecs:  recs,
			wantFiles: []string{"cdr-001001-2026112213.csv"},
		},
		{
			name:      "torn last line",
			content:   append(slices.Clone(whole), "MT,LOCAL,123,00000"...),
			wantRecs:  recs,
			wantFiles: []string{"cdr-001001-2026112213.csv"},
		},
		{
			name:      "torn just before the newline",
			content:   withQuoted[:len(withQuoted)-1],
			wantRecs:  recs,
			wantFiles: []string{"cdr-001001-2026112213.csv"},
		},
		{
			name:      "torn right after a newline inside a quoted field",
			content:   withQuoted[:len(whole)+strings.Index(string(qline), "line2")],
			wantRecs:  recs,
			wantFiles: []string{"cdr-001001-2026112213.csv"},
		},
		{
			name:      "torn inside a quoted field past its newline",
			content:   withQuoted[:len(whole)+strings.Index(string(qline), "ine2")],
			wantRecs:  recs,
			wantFiles: []string{"cdr-001001-2026112213.csv"},
		},
		{
			name:      "torn inside a quoted field before its newline",
			content:   withQuoted[:len(whole)+strings.Index(string(qline), "ine1")],
			wantRecs:  recs,
			wantFiles: []string{"cdr-001001-2026112213.csv"},
		},
		{
			name:      "zeroed tail",
			content:   append(slices.Clone(whole), make([]byte, 4096)...),
			wantRecs:  recs,
			wantFiles: []string{"cdr-001001-2026112213.csv"},
		},
		{
			name:      "garbage lines after the good ones",
			content:   append(slices.Clone(whole), "\x00\x00MT,LOCAL\nMT,LOCAL,1\n"...),
			wantRecs:  recs,
			wantFiles: []string{"cdr-001001-2026112213.csv", "cdr-001001-2026112213.csv.torn"},
			torn:      "\x00\x00MT,LOCAL\nMT,LOCAL,1\n",
		},
		{
			name:      "header only",
			content:   []byte(Header),
			wantFiles: []string{"cdr-001001-2026112213.csv"},
		},
		{
			name:    "torn header",
			content: []byte(Header[:20]),
		},
		{
			name:    "header without newline",
			content: []byte(Header[:len(Header)-1]),
		},
		{
			name: "empty",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			part := filepath.Join(dir, "cdr-001001-2026112213.csv.part")
			if err := os.WriteFile(part, tc.content, 0o644); err != nil {
				t.Fatal(err)
			}
			w := openWriter(t, testConfig(t, dir, newClock("2026-11-22T15:00:00.000Z")))
			defer w.Close()
			if got := listDir(t, dir); !slices.Equal(got, tc.wantFiles) {
				t.Fatalf("files after Open: %v, want %v", got, tc.wantFiles)
			}
			if len(tc.wantFiles) > 0 {
				got, err := ReadFile(filepath.Join(dir, tc.wantFiles[0]))
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, tc.wantRecs) {
					t.Fatalf("recovered %+v\nwant %+v", got, tc.wantRecs)
				}
				st := w.Stats()
				want := uint64(len(tc.content) - len(whole))
				if tc.wantRecs == nil {
					want = 0
				}
				if st.Recovered != 1 || st.Truncated != want {
					t.Fatalf("stats %+v, want 1 recovered, %d truncated", st, want)
				}
			}
			if tc.torn != "" {
				b, err := os.ReadFile(filepath.Join(dir, "cdr-001001-2026112213.csv.torn"))
				if err != nil || string(b) != tc.torn {
					t.Fatalf(".torn holds %q, %v; want %q", b, err, tc.torn)
				}
			}
		})
	}
}

func TestRecoverLeavesOthersAlone(t *testing.T) {
	dir := t.TempDir()
	whole, _ := partWithRecords(t, 2)
	files := map[string][]byte{
		"cdr-020001-2026112213.csv.part": []byte("other gateway, torn"), // another writer's
		"cdr-001001-2026112213.csv":      whole,                         // finished
		"cdr-001001-2026112213.csv.part": whole,                         // same name: becomes -1
		"notes.txt":                      []byte("x"),
	}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	w := openWriter(t, testConfig(t, dir, newClock("2026-11-22T15:00:00.000Z")))
	defer w.Close()
	want := []string{"cdr-001001-2026112213-1.csv", "cdr-001001-2026112213.csv", "cdr-020001-2026112213.csv.part", "notes.txt"}
	if got := listDir(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "cdr-020001-2026112213.csv.part"))
	if string(b) != "other gateway, torn" {
		t.Fatalf("another gateway's .part was changed: %q", b)
	}
}

// TestCrashThenRestart simulates kill -9: records Synced before the crash
// survive, the torn tail is cut, and the new writer continues in a new file.
func TestCrashThenRestart(t *testing.T) {
	dir := t.TempDir()
	clock := newClock("2026-11-22T13:10:00.000Z")
	w := openWriter(t, testConfig(t, dir, clock))
	recs := sampleRecords()[:4]
	for _, r := range recs[:3] {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	// A half-written record reaches the disk, then the process dies without
	// Close (the *os.File is left to the test's cleanup).
	line, _ := recs[3].AppendCSV(nil)
	f, err := os.OpenFile(w.Path(), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(line[:len(line)/2]); err != nil {
		t.Fatal(err)
	}
	f.Close()

	w2 := openWriter(t, testConfig(t, dir, clock))
	if err := w2.Write(recs[3]); err != nil {
		t.Fatal(err)
	}
	if err := w2.Close(); err != nil {
		t.Fatal(err)
	}
	want := []string{"cdr-001001-2026112213-1.csv", "cdr-001001-2026112213.csv"}
	if got := listDir(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	first, err := ReadFile(filepath.Join(dir, want[1]))
	if err != nil || !reflect.DeepEqual(first, recs[:3]) {
		t.Fatalf("pre-crash file: %+v, %v", first, err)
	}
	second, err := ReadFile(filepath.Join(dir, want[0]))
	if err != nil || !reflect.DeepEqual(second, recs[3:]) {
		t.Fatalf("post-crash file: %+v, %v", second, err)
	}
}
