package gns

import (
	"context"
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/gns/gnspb"
	"github.com/tandem-sms/tandem/internal/waitfor"
	"github.com/tandem-sms/tandem/raftstore"
	"github.com/tandem-sms/tandem/raftstore/rafttest"
	"github.com/tandem-sms/tandem/routing"
)

// forgedSegment is the issue's made-up entry, "segment 1899999 → 020001",
// encoded as the FSM's real command.
var forgedSegment = routing.Segment{Prefix: "1899999", Gateway: "020001"}

func forgedCommand() []byte {
	return encodeChanges([]routing.Change{{Op: routing.OpPutSegment, Segment: forgedSegment}})
}

// raftTLS issues node certificates for 127.0.0.1 from one cluster CA and
// sets them on each node's config.
type raftTLS struct {
	ca  *raftstore.CA
	dir string
}

func newRaftTLS(t testing.TB) *raftTLS {
	t.Helper()
	ca, err := raftstore.NewCA("gns test cluster", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	r := &raftTLS{ca: ca, dir: t.TempDir()}
	if err := os.WriteFile(filepath.Join(r.dir, "ca.pem"), ca.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *raftTLS) configure(t testing.TB, c *Config) {
	t.Helper()
	cert, key, err := r.ca.IssueNode(c.NodeID, []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c.RaftTLSCert, c.RaftTLSKey, c.RaftTLSCA = filepath.Join(r.dir, c.NodeID+".pem"), filepath.Join(r.dir, c.NodeID+".key"), filepath.Join(r.dir, "ca.pem")
	if err := os.WriteFile(c.RaftTLSCert, cert, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.RaftTLSKey, key, 0o600); err != nil {
		t.Fatal(err)
	}
}

// importSample imports the sample table through the leader and waits
// until every node has applied it.
func importSample(t *testing.T, nodes []*testNode) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	imp, err := importFile(ctx, dial(t, leaderOf(nodes).GRPCAddr()), loadSample(t), 1000)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	waitAllAt(t, nodes, imp.Revision)
	return imp.Revision
}

// waitAllAt waits until every node's digest is of revision rev or later.
func waitAllAt(t *testing.T, nodes []*testNode, rev uint64) {
	t.Helper()
	for _, n := range nodes {
		waitfor.Within(t, 20*time.Second, n.ID()+" at revision", func() bool { _, r := n.Digest(); return r >= rev })
	}
}

func hasForged(n *testNode) bool {
	_, ok := n.fsm.table.Load().Segment(forgedSegment.Prefix)
	return ok
}

// The issue's attack on a cluster whose Raft transport runs mutual TLS: an
// intruder sends a follower an AppendEntries at term+1 carrying "segment
// 1899999 → 020001". In plaintext, and with a certificate from another
// CA, it is refused at the handshake and counted; the leader keeps
// leading, and afterwards every node's table has the same digest and no
// forged segment.
func TestRaftTLSRefusesForgery(t *testing.T) {
	rt := newRaftTLS(t)
	nodes := startCluster(t, 3, func(c *Config) { rt.configure(t, c) })
	importSample(t, nodes)
	leader, victim := leaderOf(nodes), followerOf(nodes)

	foreignCA, err := raftstore.NewCA("someone else's CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	foreign := &raftTLS{ca: foreignCA, dir: t.TempDir()}
	fc := Config{NodeID: "intruder"}
	foreign.configure(t, &fc)
	if err := os.WriteFile(filepath.Join(foreign.dir, "ca.pem"), foreignCA.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	foreignTLS, err := raftstore.LoadTLS(fc.RaftTLSCert, fc.RaftTLSKey, fc.RaftTLSCA)
	if err != nil {
		t.Fatal(err)
	}
	foreignTLS.InsecureSkipVerify = true // the intruder trusts the node; the node must not trust it
	foreignTLS.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &foreignTLS.Certificates[0], nil }

	for _, tc := range []struct {
		name   string
		tls    *tls.Config
		reason string
	}{
		{"plaintext", nil, raftstore.TLSReasonPlaintext},
		{"certificate of another CA", foreignTLS, raftstore.TLSReasonBadCertificate},
	} {
		in, err := rafttest.NewIntruder(tc.tls, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := in.ForgeNext(victim.RaftAddr(), 1, forgedCommand())
		in.Close()
		if err == nil {
			t.Fatalf("%s: forged AppendEntries answered %+v, want the connection refused", tc.name, resp)
		}
		waitfor.Cond(t, tc.name+" refusal counted", func() bool {
			return counterValue(victim, "gns_raft_tls_handshake_failures_total", "direction", "in", "reason", tc.reason) >= 1
		})
	}

	// The cluster goes on as if nothing happened.
	if !leader.IsLeader() {
		t.Fatal("the forgery attempts moved the leadership")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rev, err := leader.WriteChanges(ctx, []routing.Change{{Op: routing.OpPutSegment, Segment: routing.Segment{Prefix: "1591111", Gateway: "001001"}}})
	if err != nil {
		t.Fatal(err)
	}
	waitAllAt(t, nodes, rev)
	want, _ := leader.Digest()
	for _, n := range nodes {
		if d, r := n.Digest(); d != want || r != rev || hasForged(n) {
			t.Errorf("%s: digest %s at %d (forged segment present: %v), leader %s at %d", n.ID(), d, r, hasForged(n), want, rev)
		}
	}
	cs, err := dial(t, victim.GRPCAddr()).ClusterStatus(ctx, &gnspb.ClusterStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range cs.Members {
		if m.Status.GetTableDigest() != want || m.Status.GetTableDigestRevision() != rev {
			t.Errorf("ClusterStatus member %s: %+v (%s), want digest %s at %d", m.Id, m.Status, m.StatusError, want, rev)
		}
	}
}

// The same forgery against a plaintext Raft port is accepted, and this is
// what the digests expose. Forged at the follower's current term (at
// term+1 the next election decides whether the entry spreads or is
// overwritten), the entry takes the index and term of the leader's next
// real write, which log matching then never delivers to it: the follower
// holds the forged segment instead, at the same revision as the others,
// and ClusterStatus shows its digest differing.
func TestPlaintextForgeryShowsInDigests(t *testing.T) {
	nodes := startCluster(t, 3, nil)
	importSample(t, nodes)
	leader, victim := leaderOf(nodes), followerOf(nodes)

	in, err := rafttest.NewIntruder(nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	resp, err := in.ForgeNext(victim.RaftAddr(), 0, forgedCommand())
	if err != nil || !resp.Success {
		t.Fatalf("forgery on a plaintext Raft port: %+v, %v; want it accepted", resp, err)
	}
	waitfor.Cond(t, "the victim applies the forged segment", func() bool { return hasForged(victim) })

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	real := routing.Segment{Prefix: "1591111", Gateway: "001001"}
	rev, err := leader.WriteChanges(ctx, []routing.Change{{Op: routing.OpPutSegment, Segment: real}})
	if err != nil {
		t.Fatal(err)
	}
	waitAllAt(t, nodes, rev)
	if _, r := victim.Digest(); r != rev {
		t.Fatalf("victim at revision %d, the real write at %d: the forged entry did not take the real one's place", r, rev)
	}
	if _, ok := victim.fsm.table.Load().Segment(real.Prefix); ok || hasForged(leader) {
		t.Fatalf("victim has the real segment (%v) or the leader the forged one (%v)", ok, hasForged(leader))
	}

	cs, err := dial(t, leader.GRPCAddr()).ClusterStatus(ctx, &gnspb.ClusterStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*gnspb.NodeStatusResponse{}
	for _, m := range cs.Members {
		if m.Status == nil {
			t.Fatalf("member %s: %s", m.Id, m.StatusError)
		}
		byID[m.Id] = m.Status
	}
	lead, vic := byID[leader.ID()], byID[victim.ID()]
	if lead.TableDigestRevision != vic.TableDigestRevision || lead.TableDigest == vic.TableDigest {
		t.Fatalf("ClusterStatus: leader %s@%d, victim %s@%d; want the same revision with different digests",
			lead.TableDigest, lead.TableDigestRevision, vic.TableDigest, vic.TableDigestRevision)
	}
	for id, st := range byID {
		if id != victim.ID() && st.TableDigest != lead.TableDigest {
			t.Errorf("healthy member %s digest %s, leader %s", id, st.TableDigest, lead.TableDigest)
		}
	}
}

// A node serving gRPC with a token refuses to start with a plaintext Raft
// port unless told to accept it.
func TestTokenRequiresRaftTLS(t *testing.T) {
	cfg := testConfig(t, "tok")
	cfg.Bootstrap, cfg.Token = true, "t0ken"
	_, err := New(cfg)
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "-insecure-raft") {
		t.Fatalf("New with a token and plaintext Raft = %v", err)
	}
	rt := newRaftTLS(t)
	rt.configure(t, &cfg)
	n := startNode(t, cfg)
	waitfor.Within(t, 10*time.Second, "leader on TLS Raft", n.IsLeader)
}
