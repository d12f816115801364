package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tandem-sms/tandem/gns"
	"github.com/tandem-sms/tandem/internal/clicmd"
	"github.com/tandem-sms/tandem/internal/waitfor"
	"github.com/tandem-sms/tandem/routing"
)

const sample = "../../testdata/routes/sample.yaml"

type node struct {
	*gns.Node
	cancel context.CancelFunc
	done   chan error
}

func (n *node) kill() { n.Close(); n.cancel(); <-n.done }

// startCluster runs three real GNS nodes; the first bootstraps, the others
// join it.
func startCluster(t *testing.T) []*node { return startClusterWith(t, nil) }

// startClusterWith is startCluster with each node's config passed through
// tweak first.
func startClusterWith(t *testing.T, tweak func(*gns.Config)) []*node {
	t.Helper()
	var nodes []*node
	for i := range 3 {
		cfg := gns.DefaultConfig()
		cfg.NodeID = fmt.Sprintf("n%d", i+1)
		cfg.DataDir = filepath.Join(t.TempDir(), cfg.NodeID)
		cfg.RaftAddr, cfg.GRPCAddr, cfg.CMPPAddr, cfg.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0", "", ""
		cfg.Bootstrap = i == 0
		if i > 0 {
			cfg.Join = []string{nodes[0].GRPCAddr()}
		}
		if tweak != nil {
			tweak(&cfg)
		}
		n, err := gns.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		nd := &node{Node: n, cancel: cancel, done: make(chan error, 1)}
		go func() { nd.done <- n.Run(ctx) }()
		t.Cleanup(func() { n.Close(); cancel() })
		nodes = append(nodes, nd)
		if i == 0 {
			waitfor.Cond(t, "bootstrap", n.IsLeader)
		}
	}
	waitfor.Cond(t, "three members", func() bool {
		var out bytes.Buffer
		if run(context.Background(), []string{"-addr", nodes[0].GRPCAddr(), "-o", "json", "cluster", "status"}, &out, &out) != 0 {
			return false
		}
		return strings.Count(out.String(), `"grpc_addr"`) == 3
	})
	return nodes
}

// ctlRun runs gnsctl and returns exit code, stdout and stderr.
func ctlRun(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func addrs(nodes []*node) string {
	var a []string
	for _, n := range nodes {
		a = append(a, n.GRPCAddr())
	}
	return strings.Join(a, ",")
}

func follower(nodes []*node) *node {
	for _, n := range nodes {
		if !n.IsLeader() {
			return n
		}
	}
	return nil
}

func TestGnsctl(t *testing.T) {
	nodes := startCluster(t)
	fol := follower(nodes).GRPCAddr()
	mustRun := func(wantOut string, args ...string) string {
		t.Helper()
		code, out, errs := ctlRun(append([]string{"-addr", fol}, args...)...)
		if code != 0 || !strings.Contains(out, wantOut) {
			t.Fatalf("gnsctl %q: exit %d\nstdout: %s\nstderr: %s\nwant %q in stdout", args, code, out, errs, wantOut)
		}
		return out
	}

	mustRun("5 gateways, 4 SPs", "table", "push", sample)
	mustRun("001001", "route", "mt", "13800101234")
	mustRun("ported number", "route", "mt", "13800100099")
	out := mustRun("north", "route", "mo", "10657001", "--gateway", "022001")
	if !strings.Contains(out, "001001") {
		t.Fatalf("tianjin → Sina should be Beijing:\n%s", out)
	}
	out = mustRun("south", "route", "mo", "10657001", "--region", "guangxi")
	if !strings.Contains(out, "020001") {
		t.Fatalf("guangxi → Sina should be Guangzhou:\n%s", out)
	}

	// -o json parses.
	out = mustRun("{", "-o", "json", "route", "mt", "13800101234")
	var mt struct {
		Gateway struct{ Code string }
		Segment struct{ Prefix string }
	}
	if err := json.Unmarshal([]byte(out), &mt); err != nil || mt.Gateway.Code != "001001" || mt.Segment.Prefix != "1380010" {
		t.Fatalf("json route mt: %v %+v\n%s", err, mt, out)
	}

	mustRun("Sina", "sp", "show", "901234")
	if code, _, errs := ctlRun("-addr", fol, "sp", "show", "999999"); code != exitNotFound {
		t.Fatalf("sp show of a missing SP: exit %d (%s), want 3", code, errs)
	}
	mustRun("revision", "sp", "add", "--id", "905001", "--name", "Weibo", "--codes", "10690001,10690002", "--gateway", "001001",
		"--partition", "north=beijing,tianjin:001001", "--partition", "south=guangdong,guangxi:020001")
	mustRun("south", "route", "mo", "1069000155", "--gateway", "077101")
	mustRun("revision", "segment", "add", "1591234", "020001", "--smsc", "south")
	mustRun("south", "route", "mt", "15912340000")
	mustRun("revision", "segment", "rm", "1591234")
	if code, _, _ := ctlRun("-addr", fol, "route", "mt", "15912340000"); code != exitNotFound {
		t.Fatalf("route mt after segment rm: exit %d, want 3", code)
	}
	mustRun("revision", "sp", "rm", "905001")
	mustRun("leader", "cluster", "status")

	// table export -o yaml gives a loadable table equal to the pushed one.
	out = mustRun("version: 1", "table", "export", "-o", "yaml")
	exported, err := routing.Load("export.yaml", strings.NewReader(out))
	if err != nil {
		t.Fatalf("exported yaml does not load: %v", err)
	}
	if exported.NumSegments() != loadSample(t).NumSegments() || exported.NumSPs() != 4 {
		t.Fatalf("export: %d segments %d sps", exported.NumSegments(), exported.NumSPs())
	}
	mustRun("GATEWAY", "table", "export")

	// watch prints events until interrupted.
	ctx, cancel := context.WithCancel(context.Background())
	var wout syncBuf
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"-addr", fol, "watch", "--from", "1"}, &wout, &wout) }()
	mustRun("revision", "segment", "add", "1597777", "021001")
	waitfor.Cond(t, "watch output", func() bool { return strings.Contains(wout.String(), "put segment 1597777 -> 021001") })
	if !strings.Contains(wout.String(), "snapshot begins") {
		t.Fatalf("watch from an old revision should start with a snapshot:\n%s", wout.String())
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("watch exit %d", code)
	}

	// Kill the leader: commands keep working through the survivors, with
	// the dead address first in -addr.
	var leader *node
	for _, n := range nodes {
		if n.IsLeader() {
			leader = n
		}
	}
	leader.kill()
	list := leader.GRPCAddr() + "," + addrs(nodes)
	waitfor.Cond(t, "write after failover", func() bool {
		code, _, _ := ctlRun("-addr", list, "-timeout", "2s", "segment", "add", "1596666", "022001")
		return code == 0
	})
	code, out, errs := ctlRun("-addr", list, "route", "mt", "15966660000")
	if code != 0 || !strings.Contains(out, "022001") {
		t.Fatalf("route after failover: %d %s %s", code, out, errs)
	}
}

func loadSample(t *testing.T) *routing.Table {
	t.Helper()
	tb, err := routing.LoadFile(sample)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func TestTablePushValidation(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(`version: 1
gateways:
  - code: "001001"
    name: Beijing
    region: beijing
    fwd_addr: 127.0.0.1:7931
segments:
  - prefix: "1380010"
    gateway: "009999"
  - prefix: "13x"
    gateway: "001001"
`), 0o600); err != nil {
		t.Fatal(err)
	}
	// No server is needed: validation happens before any call.
	code, out, errs := ctlRun("-addr", "127.0.0.1:1", "table", "push", bad)
	if code != exitError {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errs)
	}
	for _, want := range []string{"bad.yaml:9: segments[0].gateway", "bad.yaml:10: segments[1].prefix"} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"segment", "add", "1380010"},
		{"route", "mo", "10657001"},
		{"-o", "xml", "cluster", "status"},
		{"sp", "add", "--id", "901234"},
		{"sp", "add", "--id", "1", "--codes", "1", "--gateway", "g", "--partition", "bad"},
		{"-bogus"},
		{"table", "frobnicate"},
		{"ported", "add", "13800100099"},
		{"gateway", "add", "001009"},
		{"segment", "list", "138", "139"},
		{"-o", "json", "--timeout", "0s", "cluster", "status"},
	} {
		if code, _, errs := ctlRun(args...); code != exitUsage {
			t.Errorf("gnsctl %q: exit %d, want 2 (%s)", args, code, errs)
		}
	}
	// Help: whole, per group and per command, on stdout with exit 0.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"help"}, "table"},
		{[]string{"--help"}, "GNS_ENDPOINTS"},
		{[]string{"-help"}, "GNS_ENDPOINTS"},
		{[]string{"table"}, "push"},
		{[]string{"table", "push", "-h"}, "--dry-run"},
		{[]string{"table", "push", "--help"}, "--yes"},
		{[]string{"sp", "add", "-h"}, "--partition"},
		{[]string{"completion", "bash"}, "bash completion"},
		{[]string{"completion", "zsh"}, "compdef"},
		{[]string{"completion", "fish"}, "complete -c gnsctl"},
		{[]string{"--version"}, "gnsctl "},
		{[]string{"-version"}, "gnsctl "},
	} {
		if code, out, errs := ctlRun(tc.args...); code != 0 || !strings.Contains(out, tc.want) {
			t.Errorf("gnsctl %q: exit %d, want 0 and %q in stdout\n%s%s", tc.args, code, tc.want, out, errs)
		}
	}
}

// Go-style single-dash long flags are rewritten for pflag; short flags,
// values and everything after "--" are not.
func TestGoStyleFlags(t *testing.T) {
	root := newRoot(&ctl{})
	got := clicmd.GoStyleFlags(root, []string{"-addr", "a:1", "-token=x", "-o", "json", "route", "mt", "-stale", "-5", "-y", "--", "-addr"})
	want := []string{"--addr", "a:1", "--token=x", "-o", "json", "route", "mt", "--stale", "-5", "-y", "--", "-addr"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
