package tandem_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestEveryBinaryEmbedsTzdata: every command links time/tzdata, so a zone
// name (a node's timezone, billing -tz) resolves in the FROM-scratch
// images, which have no zoneinfo database.
func TestEveryBinaryEmbedsTzdata(t *testing.T) {
	mains, err := exec.Command("go", "list", "./cmd/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, m := range strings.Fields(string(mains)) {
		deps, err := exec.Command("go", "list", "-deps", m).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", m, err)
		}
		if !strings.Contains("\n"+string(deps), "\ntime/tzdata\n") {
			t.Errorf("%s does not import time/tzdata (directly or through internal/zone)", m)
		}
	}
}

// TestStaticBinaryResolvesZone builds the ISMG as the image does
// (CGO_ENABLED=0) and checks a config in Asia/Shanghai with ZONEINFO
// pointing at an empty folder; the symbol table shows the database is in
// the binary (the host's /usr/share/zoneinfo would otherwise answer), and a
// misspelt zone is an error naming the key.
func TestStaticBinaryResolvesZone(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "ismg")
	build := exec.Command("go", "build", "-o", bin, "./cmd/ismg")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	nm, err := exec.Command("go", "tool", "nm", bin).Output()
	if err != nil {
		t.Fatalf("go tool nm: %v", err)
	}
	if !strings.Contains(string(nm), "time/tzdata.") {
		t.Error("the ismg binary holds no time/tzdata symbols")
	}
	routes, err := filepath.Abs("testdata/routes/sample.yaml")
	if err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "zoneinfo")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	check := func(tz string) (string, error) {
		cfg := filepath.Join(dir, "ismg.yaml")
		y := "gateway:\n  code: \"001001\"\n  region: beijing\ntimezone: " + tz + "\ndata_dir: d\nroutes:\n  file: " + routes + "\n"
		if err := os.WriteFile(cfg, []byte(y), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "-check-config", cfg)
		cmd.Env = []string{"ZONEINFO=" + empty, "TZ=UTC"}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := check("Asia/Shanghai"); err != nil || !strings.Contains(out, "ok") {
		t.Errorf("timezone Asia/Shanghai: %v\n%s", err, out)
	}
	if out, err := check("Asia/Shanghia"); err == nil || !strings.Contains(out, `:4: timezone: unknown time zone "Asia/Shanghia"`) {
		t.Errorf("timezone Asia/Shanghia: %v\n%s", err, out)
	}
}
