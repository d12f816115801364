package tandem_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const mod = "github.com/tandem-sms/tandem"

// TestDependencyDirection enforces the layering of DESIGN.md: leaves import
// nothing of ours and none of the heavy infrastructure, and nothing imports
// the node packages except cmd/. Every package a rule names must exist: a
// rule for a missing package would pass silently and guard nothing.
func TestDependencyDirection(t *testing.T) {
	infra := []string{"google.golang.org/grpc", "github.com/hashicorp/raft", "github.com/prometheus/client_golang", "go.etcd.io/bbolt", "github.com/hashicorp/memberlist"}
	ours := []string{"cmpp", "smpp", "routing", "raftstore", "gns", "federation", "ismg", "ismg/queue", "billing", "smstext", "msgtrace"}
	leaf := func(pkg string, extra ...string) []string {
		return slices.Concat(infra, without(ours, pkg), extra)
	}
	forbidden := map[string][]string{
		"cmpp":    leaf("cmpp"),
		"smpp":    leaf("smpp"),
		"smstext": leaf("smstext"),
		"routing": leaf("routing"),
		"billing": leaf("billing"),
		// The trace client is linked by CLIs: the standard library only.
		"msgtrace":   leaf("msgtrace"),
		"raftstore":  {"routing", "gns", "ismg", "federation", "cmpp", "smpp"},
		"gns":        {"ismg", "federation", "smpp", "billing"},
		"federation": {"ismg", "gns", "raftstore", "smpp", "billing"},
		// The durable queue is one mechanism: bbolt and the standard
		// library, nothing of the gateway around it.
		"ismg/queue": without(leaf("ismg/queue"), "go.etcd.io/bbolt"),
		// The admin API's stubs: ismgctl imports them, not the gateway.
		"ismg/adminpb": {"ismg", "ismg/queue", "ismg/smsclink", "cmpp", "smpp", "routing", "billing", "federation", "go.etcd.io/bbolt"},
		"cmd/ismgctl":  {"ismg", "ismg/queue", "go.etcd.io/bbolt"},
		// The simulators play SPs and SMSCs from the outside: protocol
		// packages only, never the gateway's insides.
		"sim/...": {"ismg", "ismg/queue", "ismg/smsclink", "gns", "federation", "raftstore", "routing", "billing",
			"google.golang.org/grpc", "github.com/hashicorp/raft", "go.etcd.io/bbolt", "github.com/hashicorp/memberlist"},
	}
	for pkg, bad := range forbidden {
		out, err := exec.Command("go", "list", "-deps", "./"+pkg).CombinedOutput()
		if err != nil {
			t.Errorf("rule for %s: go list: %v\n%s", pkg, err, out)
			continue
		}
		for _, d := range strings.Fields(string(out)) {
			for _, b := range bad {
				// Our own packages match exactly (federation may use
				// gns/gnspb); third-party modules match by prefix.
				if (strings.Contains(b, ".") && (d == b || strings.HasPrefix(d, b+"/"))) || d == mod+"/"+b {
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
		if len(f) == 0 || strings.HasPrefix(f[0], mod+"/cmd/") {
			continue
		}
		for _, imp := range f[1:] {
			if (imp == mod+"/gns" || imp == mod+"/ismg") && !strings.HasPrefix(f[0], imp) {
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
