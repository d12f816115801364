package smpp

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps smpp a leaf: standard library only (DESIGN.md).
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "github.com/tandem-sms/tandem/smpp", "github.com/tandem-sms/tandem/smpp/smpptest").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if p != "github.com/tandem-sms/tandem/smpp" && p != "github.com/tandem-sms/tandem/smpp/smpptest" {
			t.Errorf("smpp depends on %s; it may use only the standard library", p)
		}
	}
}
