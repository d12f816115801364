package billing

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the writer's output")

// TestGoldenFiles writes the sample set with a fake clock and compares the
// files byte for byte with testdata/golden (which cmd/billing's tests and
// FuzzReadRecord also use). Run with -update after a deliberate change.
func TestGoldenFiles(t *testing.T) {
	dir := t.TempDir()
	writeSample(t, dir)
	golden := filepath.Join("testdata", "golden")
	names := listDir(t, dir)
	if *update {
		if err := os.RemoveAll(golden); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(golden, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range names {
		got, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		if *update {
			if err := os.WriteFile(filepath.Join(golden, n), got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(filepath.Join(golden, n))
		if err != nil {
			t.Fatalf("%v (run go test -run TestGoldenFiles -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the golden file:\n got:\n%s\nwant:\n%s", n, got, want)
		}
	}
	if gold := listDir(t, golden); !slices.Equal(gold, names) {
		t.Errorf("golden files %v, writer produced %v", gold, names)
	}
}
