package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tandem-sms/tandem/gns"
	"github.com/tandem-sms/tandem/gns/gnstest"
	"github.com/tandem-sms/tandem/internal/testcerts"
	"github.com/tandem-sms/tandem/internal/waitfor"
	"github.com/tandem-sms/tandem/sim/lincheck"
)

// progressTimeout bounds each wait for the workload's writes to commit.
const progressTimeout = time.Minute

// The purpose of the tool, end to end: a real three-node cluster in this
// process, the CLI's run writing and reading through every node, the
// leader stopped hard while writes are committing, a new leader taking
// over, the old one restarted from its data directory and catching up.
// Every phase waits for writes the workload made to commit. The history
// must check linearizable, with writes and reads answered by every node
// and failures recorded against the stopped one.
func TestLinearizableThroughLeaderRestart(t *testing.T) {
	// Each node counts the calls it served on a registry of its own (a
	// restarted node registers afresh on the same one).
	regs := map[string]*prometheus.Registry{}
	c := gnstest.Start(t, 3, func(cfg *gns.Config) {
		regs[cfg.NodeID] = prometheus.NewRegistry()
		cfg.Registerer = regs[cfg.NodeID]
	})
	c.Write(gnstest.Gateway("001001"), gnstest.Gateway("020001"))
	addrs := c.GRPCAddrs()
	html := filepath.Join(t.TempDir(), "history.html")

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		// The run ends when the test has seen every phase (cancel), not
		// after a duration a slow CI host could outlast.
		done <- run(ctx, []string{"-addrs", strings.Join(addrs, ","), "-clients", "4", "-duration", "10m",
			"-op-timeout", "3s", "-json", "-out", html}, &stdout, &stderr)
	}()
	// maxRevision is the highest revision a running node applied.
	maxRevision := func() uint64 {
		var rev uint64
		for i := range c.Size() {
			if n := c.Node(i); n != nil {
				rev = max(rev, n.Revision())
			}
		}
		return rev
	}
	// progress waits for cond, failing at once if the run ended.
	progress := func(what string, cond func() bool) {
		t.Helper()
		waitfor.Within(t, progressTimeout, what, func() bool {
			select {
			case code := <-done:
				t.Fatalf("the run ended early (exit %d) while waiting for %s\nstderr: %s", code, what, stderr.String())
			default:
			}
			return cond()
		})
	}
	// commits waits until node i has applied n more writes than any
	// node had now.
	commits := func(what string, i int, n uint64) {
		t.Helper()
		target := maxRevision() + n
		progress(what, func() bool { return c.Node(i) != nil && c.Node(i).Revision() >= target })
	}

	old := c.WaitLeader()
	commits("the workload's writes to commit", old, 50)
	c.Stop(old)
	next := c.WaitLeader()
	commits("writes to commit under the new leader", next, 50)
	c.Restart(old)
	commits("the restarted node to apply writes made after its restart", old, 50)
	id := c.Node(old).ID()
	progress("the restarted node to answer the workload's writes and reads", func() bool {
		return servedOK(t, regs[id], "Write") >= 5 && servedOK(t, regs[id], "ResolveMT") >= 5
	})
	cancel()
	var code int
	select {
	case code = <-done:
	case <-time.After(progressTimeout):
		t.Fatal("the run did not end after its context")
	}

	var out output
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("stdout is not the JSON result: %v\n%s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	t.Logf("%s", strings.TrimSpace(stderr.String()))
	if code != exitOK || !out.Linearizable || out.Verdict != lincheck.Linearizable {
		t.Fatalf("exit %d, verdict %q; see %s\n%s", code, out.Verdict, html, stderr.String())
	}
	if out.Visualization != "" {
		t.Errorf("a linearizable run wrote a visualization: %s", out.Visualization)
	}
	if out.Checked != out.WritesOK+out.WritesUnknown+out.ReadsOK {
		t.Errorf("checked %d ops, want ok and unknown writes plus ok reads (%d)", out.Checked, out.WritesOK+out.WritesUnknown+out.ReadsOK)
	}
	if len(out.Gateways) != 2 || len(out.Keys) != 10 || out.Keys[0] != "1990000" {
		t.Errorf("gateways %v (want the table's two), keys %v", out.Gateways, out.Keys)
	}
	byAddr := map[string]lincheck.Counts{}
	for _, n := range out.Nodes {
		byAddr[n.Node] = n.Counts
	}
	writers, readers := 0, 0
	for _, a := range addrs {
		if byAddr[a].WritesOK > 0 {
			writers++
		}
		if byAddr[a].ReadsOK > 0 {
			readers++
		}
	}
	if writers < 2 || readers < 2 {
		t.Errorf("writes answered by %d nodes, reads by %d; want at least 2 each: %+v", writers, readers, out.Nodes)
	}
	stopped := byAddr[addrs[old]]
	if stopped.WritesFailed+stopped.WritesUnknown+stopped.ReadsFailed == 0 {
		t.Errorf("no operation failed against the stopped node %s: %+v", addrs[old], stopped)
	}
}

// servedOK is how many calls of method a node answered OK since it
// started, from its gns_grpc_requests_total.
func servedOK(t *testing.T, reg *prometheus.Registry, method string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() != "gns_grpc_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["method"] == method && labels["code"] == codes.OK.String() {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}

// The options gnsctl takes: TLS verified with a CA, and a bearer token. A
// wrong token is a misconfiguration (exit 2), not a history of failures.
func TestTLSAndToken(t *testing.T) {
	ca := testcerts.NewCA(t, "grpc")
	leaf := ca.Issue(t, "gns")
	c := gnstest.Start(t, 1, func(cfg *gns.Config) {
		cfg.TLSCert, cfg.TLSKey, cfg.TLSCA = leaf.CertFile, leaf.KeyFile, ca.CAFile
		cfg.Token, cfg.InsecureRaft = "s3cret", true
	})
	c.Write(gnstest.Gateway("001001"))
	addr := c.GRPCAddrs()[0]

	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"-addrs", addr, "-tls-ca", ca.CAFile, "-token", "s3cret", "-clients", "2", "-ops", "25"}, &stdout, &stderr)
	if code != exitOK || !strings.HasPrefix(stdout.String(), "linearizable: 50 ops checked") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout.String(), stderr.String())
	}

	stdout.Reset()
	stderr.Reset()
	code = run(t.Context(), []string{"-addrs", addr, "-tls-ca", ca.CAFile, "-token", "wrong", "-ops", "5"}, &stdout, &stderr)
	if code != exitUsage || !strings.Contains(stderr.String(), "Unauthenticated") {
		t.Fatalf("wrong token: exit %d\nstderr: %s", code, stderr.String())
	}
}

// Nothing answers: before the run (finding the gateways) and during it
// (-gateways given). Both are connection errors, exit 2.
func TestUnreachable(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"-addrs", "127.0.0.1:1", "-connect-timeout", "300ms"}, &stdout, &stderr)
	if code != exitUsage || !strings.Contains(stderr.String(), "no GNS node answered") {
		t.Fatalf("exit %d\nstderr: %s", code, stderr.String())
	}
	stdout.Reset()
	stderr.Reset()
	code = run(t.Context(), []string{"-addrs", "127.0.0.1:1", "-gateways", "001001", "-clients", "1", "-ops", "3"}, &stdout, &stderr)
	if code != exitUsage || !strings.Contains(stderr.String(), "no operation succeeded") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout.String(), stderr.String())
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"-addrs", " , "},
		{"-addrs", "a:1", "-clients", "0"},
		{"-addrs", "a:1", "-duration", "0s"},
		{"-addrs", "a:1", "-write-ratio", "2"},
		{"-addrs", "a:1", "-prefix", "19x"},
		{"-addrs", "a:1", "-prefix", "12"},
		{"-addrs", "a:1", "-prefix", "19900000000"},
		{"-addrs", "a:1", "-prefix", "999", "-keys", "2"},
		{"-addrs", "a:1", "-keys", "0"},
		{"-addrs", "a:1", "-tls-cert", "c.pem"},
		{"-addrs", "a:1", "-connect-timeout", "0s"},
		{"-addrs", "a:1", "extra"},
		{"-nope"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(t.Context(), args, &stdout, &stderr); code != exitUsage || !strings.Contains(stderr.String(), "usage:") {
			t.Errorf("%q: exit %d, stderr %q", args, code, stderr.String())
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"-h"}, &stdout, &stderr); code != exitOK || !strings.HasPrefix(stdout.String(), "usage:") {
		t.Errorf("-h: exit %d, stdout %q", code, stdout.String())
	}
	// -addr is gnsctl's spelling of the same flag.
	if o, err := parse([]string{"-addr", "a:1,b:2"}); err != nil || strings.Join(o.addrs, ",") != "a:1,b:2" {
		t.Errorf("-addr: %v %v", o, err)
	}
}

// What a failed call proves about a write. Only what shows the request
// never reached a leader's log counts as not applied; a connection that
// broke after the request left (the words are those seen when the test
// above stops the leader mid-call) does not.
func TestClassify(t *testing.T) {
	unavailable := func(msg string) error { return status.Error(codes.Unavailable, msg) }
	for _, c := range []struct {
		err  error
		want error // nil: outcome unknown
	}{
		{unavailable(`connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:1: connect: connection refused"`), lincheck.ErrNotApplied},
		{unavailable(`gns: forward to the leader gns1 at 127.0.0.1:2: leader unreachable: connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:2: connect: connection refused"`), lincheck.ErrNotApplied},
		{unavailable("raftstore: not leader (leader unknown); no leader elected yet, retry"), lincheck.ErrNotApplied},
		{unavailable(`connection error: desc = "transport: authentication handshake failed: x509: certificate signed by unknown authority"`), lincheck.ErrNotApplied},
		{unavailable("error reading from server: EOF"), nil},
		{unavailable("error reading from server: connection reset by peer"), nil},
		{unavailable("gns: node shutting down"), nil},
		{unavailable("raftstore: apply: raftstore: outcome unknown: leadership lost while committing log"), nil},
		{status.Error(codes.DeadlineExceeded, "context deadline exceeded"), nil},
		{status.Error(codes.Canceled, "context canceled"), nil},
		{status.Error(codes.Unauthenticated, "gns: missing or wrong bearer token"), lincheck.ErrMisconfigured},
		{status.Error(codes.InvalidArgument, "routing: unknown gateway"), lincheck.ErrMisconfigured},
	} {
		got := classify(c.err)
		switch {
		case c.want == nil && (errors.Is(got, lincheck.ErrNotApplied) || errors.Is(got, lincheck.ErrMisconfigured)):
			t.Errorf("%v: classified %v, want an unknown outcome", c.err, got)
		case c.want != nil && !errors.Is(got, c.want):
			t.Errorf("%v: classified %v, want %v", c.err, got, c.want)
		}
	}
}
