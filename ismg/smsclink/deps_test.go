package smsclink

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the link layer protocol-only: it may use smpp and
// the standard library, and knows nothing of CMPP, queues, routing or
// metrics libraries (the ISMG wires those around it).
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "github.com/tandem-sms/tandem/ismg/smsclink").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	allowed := map[string]bool{"github.com/tandem-sms/tandem/ismg/smsclink": true, "github.com/tandem-sms/tandem/smpp": true, "golang.org/x/time/rate": true}
	for _, p := range strings.Fields(string(out)) {
		if !allowed[p] {
			t.Errorf("smsclink depends on %s; it may use only smpp and the standard library", p)
		}
	}
}
