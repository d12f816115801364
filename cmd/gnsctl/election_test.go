package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tandem-sms/tandem/gns"
	"github.com/tandem-sms/tandem/gns/gnspb"
	"github.com/tandem-sms/tandem/internal/waitfor"
	"github.com/tandem-sms/tandem/raftstore/rafttest"
	"github.com/tandem-sms/tandem/routing"
)

// slowElections makes a dead leader go unnoticed for 1-2s, so a command
// run right after the kill lands in the election, not after it.
func slowElections(d time.Duration) func(*gns.Config) {
	return func(c *gns.Config) {
		c.Raft.HeartbeatTimeout, c.Raft.ElectionTimeout, c.Raft.LeaderLeaseTimeout = d, d, d
	}
}

func leaderNode(nodes []*node) *node {
	for _, n := range nodes {
		if n.IsLeader() {
			return n
		}
	}
	return nil
}

// The leader is stopped and a write issued at once, while the followers
// still believe in it: the follower the write reaches cannot forward it
// (the leader it names is dead), which used to fail the command at once
// with UNAVAILABLE. gnsctl now retries across the addresses until the new
// leader takes it, and the segment is there.
func TestWriteDuringElection(t *testing.T) {
	nodes := startClusterWith(t, slowElections(time.Second))
	if code, out, errs := ctlRun("-addr", addrs(nodes), "table", "push", sample); code != 0 {
		t.Fatalf("push: %d %s %s", code, out, errs)
	}
	old := leaderNode(nodes)
	var fol []string
	for _, n := range nodes {
		if n != old {
			fol = append(fol, n.GRPCAddr())
		}
	}
	old.kill()
	// The dead leader first, as in an operator's list.
	list := old.GRPCAddr() + "," + strings.Join(fol, ",")
	code, out, errs := ctlRun("-addr", list, "-timeout", "30s", "segment", "add", "1596666", "022001")
	if code != 0 || !strings.Contains(out, "revision") {
		t.Fatalf("write during the election: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	code, out, errs = ctlRun("-addr", list, "route", "mt", "15966660000")
	if code != 0 || !strings.Contains(out, "022001") {
		t.Fatalf("route after the election: exit %d %s %s", code, out, errs)
	}
	// cluster status reports the dead member plainly and the survivors'
	// tables as agreeing — once the follower that was not needed for the
	// write's quorum has applied it too (under load it may lag a moment,
	// and status then rightly says the tables differ).
	waitfor.Cond(t, "cluster status: the dead member named, the survivors' tables agreeing", func() bool {
		code, out, errs = ctlRun("-addr", list, "cluster", "status")
		return code == 0 && strings.Contains(out, old.ID()+" did not report its digest: did not answer: connection refused") && strings.Contains(out, "tables agree")
	})
}

// A write the leader accepted but could not commit (its followers are
// gone) fails when -timeout runs out, and gnsctl says it may have been
// applied; a write no node could even receive says it was not.
func TestWriteOutcomeReported(t *testing.T) {
	nodes := startClusterWith(t, slowElections(2*time.Second))
	leader := leaderNode(nodes)
	for _, n := range nodes {
		if n != leader {
			n.kill()
		}
	}
	code, _, errs := ctlRun("-addr", leader.GRPCAddr(), "-timeout", "500ms", "segment", "add", "1597777", "001001")
	if code != exitError || !strings.Contains(errs, "MAY HAVE BEEN APPLIED") {
		t.Fatalf("uncommitted write: exit %d, stderr:\n%s", code, errs)
	}
	code, _, errs = ctlRun("-addr", "127.0.0.1:1", "-timeout", "300ms", "segment", "add", "1597777", "001001")
	if code != exitError || !strings.Contains(errs, "was not applied") || !strings.Contains(errs, "connection refused") {
		t.Fatalf("write to no node: exit %d, stderr:\n%s", code, errs)
	}
	if strings.Contains(errs, "rpc error") || strings.Contains(errs, "desc =") {
		t.Errorf("stderr shows raw gRPC internals:\n%s", errs)
	}
}

// cluster status compares the members' digests: all equal on a healthy
// cluster (exit 0); after a forged entry on a plaintext Raft port, it names
// the node whose table differs and exits 1.
func TestClusterStatusDigests(t *testing.T) {
	nodes := startCluster(t)
	all := addrs(nodes)
	if code, _, errs := ctlRun("-addr", all, "table", "push", sample); code != 0 {
		t.Fatalf("push: %s", errs)
	}
	revisions := func() map[string]uint64 {
		code, out, _ := ctlRun("-addr", all, "-o", "json", "cluster", "status")
		if code != 0 && code != exitError {
			return nil
		}
		var cs struct {
			Members []struct {
				ID     string `json:"id"`
				Status struct {
					Rev uint64 `json:"table_digest_revision"`
				} `json:"status"`
			} `json:"members"`
		}
		if json.Unmarshal([]byte(out), &cs) != nil {
			return nil
		}
		m := map[string]uint64{}
		for _, x := range cs.Members {
			m[x.ID] = x.Status.Rev
		}
		return m
	}
	allAt := func(rev uint64) bool {
		m := revisions()
		for _, r := range m {
			if r != rev {
				return false
			}
		}
		return len(m) == 3
	}
	// The leader is looked up each time: on a loaded machine an election
	// may move it meanwhile.
	var leader *node
	waitfor.Cond(t, "every node at the leader's revision", func() bool {
		leader = leaderNode(nodes)
		return leader != nil && allAt(leader.Revision())
	})
	code, out, errs := ctlRun("-addr", all, "cluster", "status")
	if code != 0 || !strings.Contains(out, "tables agree: n1, n2, n3") {
		t.Fatalf("healthy cluster: exit %d\n%s%s", code, out, errs)
	}

	// The forgery on a follower's plaintext Raft port, at its
	// current term, encoded as gns/doc.go documents a change batch: type
	// 1, version 1, then routing.EncodeChanges.
	var victim *node
	for _, n := range nodes {
		if n != leader {
			victim = n
			break
		}
	}
	in, err := rafttest.NewIntruder(nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	forged := routing.EncodeChanges([]byte{1, 1}, []routing.Change{{Op: routing.OpPutSegment, Segment: routing.Segment{Prefix: "1899999", Gateway: "020001"}}})
	if resp, err := in.ForgeNext(victim.RaftAddr(), 0, forged); err != nil || !resp.Success {
		t.Fatalf("forgery: %+v %v", resp, err)
	}
	if code, _, errs := ctlRun("-addr", leader.GRPCAddr(), "segment", "add", "1591111", "001001"); code != 0 {
		t.Fatalf("write: %s", errs)
	}
	waitfor.Cond(t, "every node at the write's revision", func() bool { return allAt(leader.Revision()) })
	code, out, errs = ctlRun("-addr", all, "cluster", "status")
	want := fmt.Sprintf("TABLES DIVERGED: %s differs from the leader %s", victim.ID(), leader.ID())
	if code != exitError || !strings.Contains(errs, want) {
		t.Fatalf("diverged cluster: exit %d, want 1 and %q\nstdout:\n%s\nstderr:\n%s", code, want, out, errs)
	}
	if code, _, _ := ctlRun("-addr", all, "-o", "json", "cluster", "status"); code != exitError {
		t.Fatalf("diverged cluster with -o json: exit %d, want 1", code)
	}
}

func TestCheckDigests(t *testing.T) {
	m := func(id string, leader bool, rev uint64, d string) *gnspb.Member {
		return &gnspb.Member{Id: id, Leader: leader, Status: &gnspb.NodeStatusResponse{TableDigestRevision: rev, TableDigest: d}}
	}
	for _, tc := range []struct {
		name     string
		members  []*gnspb.Member
		diverged []string
		notes    int
	}{
		{"agree", []*gnspb.Member{m("a", true, 5, "x"), m("b", false, 5, "x"), m("c", false, 5, "x")}, nil, 0},
		{"follower differs", []*gnspb.Member{m("a", true, 5, "x"), m("b", false, 5, "y"), m("c", false, 5, "x")}, []string{"b differs from the leader a"}, 0},
		{"leader is the odd one", []*gnspb.Member{m("a", true, 5, "y"), m("b", false, 5, "x"), m("c", false, 5, "x")},
			[]string{"b differs from the leader a", "c differs from the leader a"}, 0},
		{"catching up", []*gnspb.Member{m("a", true, 5, "x"), m("b", false, 4, "q"), m("c", false, 5, "x")}, nil, 1},
		{"majority without leader", []*gnspb.Member{m("a", true, 6, "z"), m("b", false, 5, "x"), m("c", false, 5, "y"), m("d", false, 5, "x")},
			[]string{"c differs from the majority (b, d)"}, 0},
		{"no answer", []*gnspb.Member{m("a", true, 5, "x"), {Id: "b", StatusError: "did not answer"}}, nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dc := checkDigests(&gnspb.ClusterStatusResponse{Members: tc.members})
			if len(dc.diverged) != len(tc.diverged) || len(dc.notes) != tc.notes {
				t.Fatalf("diverged %q notes %q", dc.diverged, dc.notes)
			}
			for i, want := range tc.diverged {
				if !strings.HasPrefix(dc.diverged[i], want) {
					t.Errorf("diverged[%d] = %q, want %q…", i, dc.diverged[i], want)
				}
			}
		})
	}
}

func TestExplainAndOutcome(t *testing.T) {
	for _, tc := range []struct {
		err   error
		maybe bool
		text  string
	}{
		{status.Error(codes.Unavailable, `connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:1: connect: connection refused"`), false, "connection refused"},
		{status.Error(codes.Unavailable, "raftstore: not leader (leader gns1 at 127.0.0.1:7000); leader=127.0.0.1:9190 (id gns1)"), false, "not the leader"},
		{status.Error(codes.Unavailable, "raftstore: not leader (leader unknown); no leader elected yet, retry"), false, "no leader"},
		{status.Error(codes.Unavailable, "raftstore: apply: raftstore: outcome unknown: leadership lost while committing log"), true, "lost its leadership"},
		{status.Error(codes.Unavailable, "error reading from server: EOF"), true, "unavailable"},
		{status.Error(codes.Unavailable, `gns: forward to the leader gns1 at 127.0.0.1:9190: leader unreachable: connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:9190: connect: connection refused"`), false, "cannot reach the leader it knows (gns1 at 127.0.0.1:9190)"},
		{status.Error(codes.DeadlineExceeded, "context deadline exceeded"), true, "-timeout"},
		{status.Error(codes.InvalidArgument, "routing: segment.gateway: unknown gateway"), false, "refused: segment.gateway"},
		{status.Error(codes.Unauthenticated, "gns: missing or wrong bearer token"), false, "-token"},
		{status.Error(codes.Unavailable, `connection error: desc = "transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority"`), false, "-tls-ca"},
	} {
		if got := mayHaveApplied(tc.err); got != tc.maybe {
			t.Errorf("mayHaveApplied(%v) = %v", tc.err, got)
		}
		if got := explain(tc.err); !strings.Contains(got, tc.text) || strings.Contains(got, "rpc error") {
			t.Errorf("explain(%v) = %q, want it to say %q", tc.err, got, tc.text)
		}
	}
	if !errors.Is(fmt.Errorf("%w: x", errDoneEarlier), errDoneEarlier) {
		t.Fatal("errDoneEarlier does not wrap")
	}
}
