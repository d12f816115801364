package tandem_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencyDirection enforces the layering of DESIGN.md: leaves import
// nothing of ours and none of the heavy infrastructure, and nothing imports
// the node packages except cmd/.
func TestDependencyDirection(t *testing.T) {
	infra := []string{"google.golang.org/grpc", "github.com/hashicorp/raft", "github.com/prometheus/client_golang", "go.etcd.io/bbolt", "github.com/hashicorp/memberlist"}
	ours := []string{"github.com/tandem-sms/tandem/cmpp", "github.com/tandem-sms/tandem/smpp", "github.com/tandem-sms/tandem/routing", "github.com/tandem-sms/tandem/raftstore", "github.com/tandem-sms/tandem/gns", "github.com/tandem-sms/tandem/federation", "github.com/tandem-sms/tandem/ismg", "github.com/tandem-sms/tandem/billing", "github.com/tandem-sms/tandem/smstext"}
	forbidden := map[string][]string{
		"github.com/tandem-sms/tandem/cmpp":       append(append([]string{}, infra...), without(ours, "github.com/tandem-sms/tandem/cmpp")...),
		"github.com/tandem-sms/tandem/smpp":       append(append([]string{}, infra...), without(ours, "github.com/tandem-sms/tandem/smpp")...),
		"github.com/tandem-sms/tandem/smstext":    append(append([]string{}, infra...), without(ours, "github.com/tandem-sms/tandem/smstext")...),
		"github.com/tandem-sms/tandem/routing":    append(append([]string{}, infra...), without(ours, "github.com/tandem-sms/tandem/routing")...),
		"github.com/tandem-sms/tandem/billing":    append(append([]string{}, infra...), without(ours, "github.com/tandem-sms/tandem/billing")...),
		"github.com/tandem-sms/tandem/raftstore":  {"github.com/tandem-sms/tandem/routing", "github.com/tandem-sms/tandem/gns", "github.com/tandem-sms/tandem/ismg", "github.com/tandem-sms/tandem/federation", "github.com/tandem-sms/tandem/cmpp", "github.com/tandem-sms/tandem/smpp"},
		"github.com/tandem-sms/tandem/gns":        {"github.com/tandem-sms/tandem/ismg", "github.com/tandem-sms/tandem/federation", "github.com/tandem-sms/tandem/smpp", "github.com/tandem-sms/tandem/billing"},
		"github.com/tandem-sms/tandem/federation": {"github.com/tandem-sms/tandem/ismg", "github.com/tandem-sms/tandem/gns", "github.com/tandem-sms/tandem/raftstore", "github.com/tandem-sms/tandem/smpp", "github.com/tandem-sms/tandem/billing"},
	}
	for pkg, bad := range forbidden {
		out, err := exec.Command("go", "list", "-deps", "./"+strings.TrimPrefix(pkg, "github.com/tandem-sms/tandem/")).Output()
		if err != nil {
			continue // package not written yet
		}
		deps := strings.Fields(string(out))
		for _, d := range deps {
			for _, b := range bad {
				// Our own packages match exactly (federation may use gns/gnspb);
				// third-party modules match by prefix.
				if d == b || (!strings.HasPrefix(b, "github.com/tandem-sms/tandem/") && strings.HasPrefix(d, b+"/")) {
					t.Errorf("%s imports %s (forbidden by DESIGN.md layering)", pkg, d)
				}
			}
		}
	}
	// Nothing but cmd/ imports the node packages.
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "github.com/tandem-sms/tandem/cmd/") {
			continue
		}
		for _, imp := range f[1:] {
			if (imp == "github.com/tandem-sms/tandem/gns" || imp == "github.com/tandem-sms/tandem/ismg") && !strings.HasPrefix(f[0], imp) {
				t.Errorf("%s imports %s: only cmd/ may", f[0], imp)
			}
		}
	}
}

func without(list []string, drop string) []string {
	var out []string
	for _, s := range list {
		if s != drop {
			out = append(out, s)
		}
	}
	return out
}
