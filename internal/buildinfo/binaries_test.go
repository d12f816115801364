package buildinfo

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Every binary in cmd/ answers --version and -version with its name and
// the build line, exit 0. Built for real: what is tested is each main's
// flag handling, which no unit test of this package reaches.
func TestEveryBinaryHasVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every binary")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+string(os.PathSeparator), "./cmd/...")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/...: %v\n%s", err, out)
	}
	entries, err := os.ReadDir(filepath.Join(root, "cmd"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		name := e.Name()
		for _, flag := range []string{"--version", "-version"} {
			out, err := exec.Command(filepath.Join(bin, name), flag).CombinedOutput()
			if err != nil || !strings.HasPrefix(string(out), name+" ") || !strings.Contains(string(out), "go1.") {
				t.Errorf("%s %s: %v\n%s", name, flag, err, out)
			}
		}
	}
}
