package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandem-sms/tandem/routing"
)

// The route-table verbs against a real cluster: each edits or reads the
// live table, and the output for scripts is what a script needs.
func TestTableVerbs(t *testing.T) {
	nodes := startCluster(t)
	// Addresses from the environment, as etcdctl's ETCDCTL_ENDPOINTS.
	t.Setenv("GNS_ENDPOINTS", addrs(nodes))
	must := func(want string, args ...string) string {
		t.Helper()
		code, out, errs := ctlRun(args...)
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("gnsctl %q: exit %d\nstdout: %s\nstderr: %s\nwant %q in stdout", args, code, out, errs, want)
		}
		return out
	}
	mustJSON := func(v any, args ...string) {
		t.Helper()
		out := must("", append(args, "-o", "json")...)
		if err := json.Unmarshal([]byte(out), v); err != nil {
			t.Fatalf("gnsctl %q: %v\n%s", args, err, out)
		}
	}
	must("pushed", "table", "push", sample)

	// gateway add / list / rm.
	must("revision", "gateway", "add", "029001", "--region", "shaanxi", "--fwd-addr", "127.0.0.1:7939", "--name", "Xian", "--area-code", "029")
	var gws []map[string]any
	mustJSON(&gws, "gateway", "list")
	found := false
	for _, g := range gws {
		if g["code"] == "029001" {
			found = g["region"] == "shaanxi" && g["fwd_addr"] == "127.0.0.1:7939" && g["area_code"] == "029"
		}
	}
	if !found || len(gws) != 6 {
		t.Fatalf("gateway list -o json: %v", gws)
	}

	// ported add moves one number; ported rm gives it back to its segment.
	must("revision", "ported", "add", "13800101234", "029001")
	must("ported number", "route", "mt", "13800101234")
	must("029001", "route", "mt", "13800101234")
	if code, _, errs := ctlRun("gateway", "rm", "029001"); code != exitError || !strings.Contains(errs, "refused") {
		t.Fatalf("gateway rm of a gateway in use: exit %d, %s", code, errs)
	}
	must("revision", "ported", "rm", "13800101234")
	must("segment 1380010", "route", "mt", "13800101234")
	must("revision", "gateway", "rm", "029001")

	// sp list, segment list and show.
	must("Sina", "sp", "list")
	var sps []map[string]any
	mustJSON(&sps, "sp", "list")
	if len(sps) != 4 || sps[0]["sp_id"] == nil || sps[0]["mirror_gateways"] == nil {
		t.Fatalf("sp list -o json: %v", sps)
	}
	out := must("1380010", "segment", "list", "13800")
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		if !strings.HasPrefix(line, "13800") {
			t.Fatalf("segment list 13800 lists %q", line)
		}
	}
	var segs []map[string]any
	mustJSON(&segs, "segment", "show", "1380010")
	if len(segs) != 1 || segs[0]["gateway"] != "001001" || segs[0]["user_type"] != float64(0) || segs[0]["route_id"] == nil {
		t.Fatalf("segment show -o json: %v", segs)
	}
	if code, _, errs := ctlRun("segment", "show", "1389999"); code != exitNotFound || !strings.Contains(errs, "no segment 1389999") {
		t.Fatalf("segment show of a missing prefix: exit %d, %s", code, errs)
	}

	// Flags after the command; numbers as numbers, zero values present.
	var cs struct {
		Revision *uint64 `json:"revision"`
		LeaderID string  `json:"leader_id"`
		Members  []struct {
			StatusError *string `json:"status_error"`
		} `json:"members"`
	}
	mustJSON(&cs, "cluster", "status")
	if cs.Revision == nil || *cs.Revision == 0 || cs.LeaderID == "" || len(cs.Members) != 3 || cs.Members[0].StatusError == nil {
		t.Fatalf("cluster status -o json: %+v", cs)
	}
	must("gateway:\n", "route", "mt", "13800101234", "-o", "yaml")

	// table export says the revision it exported, in YAML and in JSON.
	rev := must("ok, revision", "segment", "add", "1591234", "020001")
	var wrote uint64
	fmt.Sscanf(rev, "ok, revision %d", &wrote)
	must(fmt.Sprintf("exported at revision %d.", wrote), "table", "export", "-o", "yaml")
	jsonOut := must(fmt.Sprintf(`"revision": %d`, wrote), "table", "export", "-o", "json")

	// ... and the JSON pushes back unchanged.
	file := filepath.Join(t.TempDir(), "export.json")
	if err := os.WriteFile(file, []byte(jsonOut), 0o600); err != nil {
		t.Fatal(err)
	}
	must("0 to add, 0 to change, 0 to remove", "table", "push", "--dry-run", file)
	must("pushed", "table", "push", file)
	again := must("", "table", "export", "-o", "json")
	if strip := func(s string) string { _, rest, _ := strings.Cut(s, `"gateways"`); return rest }; strip(again) != strip(jsonOut) {
		t.Fatalf("export after pushing the export differs:\n%s\nwas\n%s", again, jsonOut)
	}

	// --dry-run names what would change and changes nothing.
	must("revision", "segment", "add", "1380010", "020001", "--smsc", "north", "--area", "010")
	out = must("0 to add, 1 to change, 1 to remove", "table", "push", "--dry-run", sample)
	if !strings.Contains(out, "- segment 1591234") || !strings.Contains(out, "~ segment 1380010 gateway=001001") {
		t.Fatalf("dry run:\n%s", out)
	}
	must("1591234", "segment", "show", "1591234")

	// On a terminal, push asks: no keeps the table, yes replaces it.
	push := func(answer string) (int, string) {
		var o, e bytes.Buffer
		code := runIO(context.Background(), []string{"table", "push", sample}, stdio{in: strings.NewReader(answer), out: &o, err: &e, terminal: true})
		return code, o.String() + e.String()
	}
	if code, out := push("n\n"); code != exitError || !strings.Contains(out, "[y/N]") || !strings.Contains(out, "nothing pushed") {
		t.Fatalf("push answered no: exit %d\n%s", code, out)
	}
	must("1591234", "segment", "show", "1591234")
	if code, out := push("y\n"); code != 0 || !strings.Contains(out, "pushed") {
		t.Fatalf("push answered yes: exit %d\n%s", code, out)
	}
	if code, _, _ := ctlRun("segment", "show", "1591234"); code != exitNotFound {
		t.Fatalf("segment show after the confirmed push: exit %d, want 3", code)
	}
	exported, err := routing.Load("export.yaml", strings.NewReader(must("version: 1", "table", "export", "-o", "yaml")))
	if err != nil || exported.NumSegments() != loadSample(t).NumSegments() {
		t.Fatalf("table after the confirmed push: %v", err)
	}
}

// A command no node answers says where it looked, without gRPC internals.
func TestNoNodeAnswered(t *testing.T) {
	code, _, errs := ctlRun("--addr", "127.0.0.1:1,127.0.0.1:2", "--timeout", "300ms", "route", "mt", "13800100001")
	if code != exitError || !strings.Contains(errs, "no GNS node answered the request at 127.0.0.1:1, 127.0.0.1:2") {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	if strings.Contains(errs, "rpc error") || strings.Contains(errs, "transport:") {
		t.Fatalf("stderr shows gRPC internals:\n%s", errs)
	}
}

// cluster remove takes a member out and cluster join puts it back; both
// are no-ops when repeated.
func TestClusterJoinRemove(t *testing.T) {
	nodes := startCluster(t)
	all := addrs(nodes)
	victim := follower(nodes)
	members := func() int {
		var cs struct {
			Members []struct{ ID string } `json:"members"`
		}
		code, out, _ := ctlRun("--addr", all, "cluster", "status", "-o", "json")
		if (code != 0 && code != exitError) || json.Unmarshal([]byte(out), &cs) != nil {
			return -1
		}
		return len(cs.Members)
	}
	for range 2 {
		if code, out, errs := ctlRun("--addr", all, "cluster", "remove", victim.ID()); code != 0 || !strings.Contains(out, "removed "+victim.ID()) {
			t.Fatalf("cluster remove: exit %d %s %s", code, out, errs)
		}
	}
	if n := members(); n != 2 {
		t.Fatalf("%d members after remove, want 2", n)
	}
	for range 2 {
		if code, out, errs := ctlRun("--addr", all, "cluster", "join", victim.ID(), victim.RaftAddr(), victim.GRPCAddr()); code != 0 || !strings.Contains(out, "joined "+victim.ID()) {
			t.Fatalf("cluster join: exit %d %s %s", code, out, errs)
		}
	}
	if n := members(); n != 3 {
		t.Fatalf("%d members after join, want 3", n)
	}
}
