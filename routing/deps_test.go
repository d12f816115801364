package routing

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps keeps routing a leaf: the standard library and yaml.v3 only, so
// raft, gRPC or a project package never leak into every node's lookup path.
func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if p != "github.com/tandem-sms/tandem/routing" && p != "go.yaml.in/yaml/v3" {
			t.Errorf("routing depends on %s", p)
		}
	}
}
