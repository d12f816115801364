package gns

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tandem-sms/tandem/gns/gnspb"
	"github.com/tandem-sms/tandem/internal/waitfor"
	"github.com/tandem-sms/tandem/routing"
)

// singleNode starts a bootstrapped one-node cluster holding the sample table.
func singleNode(t *testing.T, tweak func(*Config)) (*testNode, gnspb.GNSClient, context.Context) {
	t.Helper()
	cfg := testConfig(t, "solo")
	cfg.Bootstrap = true
	if tweak != nil {
		tweak(&cfg)
	}
	n := startNode(t, cfg)
	waitfor.Within(t, 10*time.Second, "leader", n.IsLeader)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	if cfg.Token != "" {
		ctx = withToken(ctx, cfg.Token)
	}
	c := dial(t, n.GRPCAddr())
	if _, err := importFile(ctx, c, loadSample(t), 1000); err != nil {
		t.Fatalf("import sample: %v", err)
	}
	return n, c, ctx
}

func TestResolveSample(t *testing.T) {
	_, c, ctx := singleNode(t, nil)
	for _, tc := range []struct {
		name, code, asking, region, wantGW, wantPart string
	}{
		{"tianjin user to Sina goes north", "10657001", "022001", "", "001001", "north"},
		{"guangxi user to Sina goes south", "10657001", "077101", "", "020001", "south"},
		{"region instead of gateway", "1065700199", "", "guangxi", "020001", "south"},
		{"no partition: default gateway", "10657001", "021001", "", "001001", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := c.ResolveMO(ctx, &gnspb.ResolveMORequest{ServiceCode: tc.code, AskingGateway: tc.asking, AskingRegion: tc.region})
			if err != nil {
				t.Fatal(err)
			}
			if r.Gateway.Code != tc.wantGW || r.Partition != tc.wantPart || r.Sp.SpId != "901234" {
				t.Fatalf("got gateway %s partition %q sp %s, want %s %q 901234", r.Gateway.Code, r.Partition, r.Sp.SpId, tc.wantGW, tc.wantPart)
			}
		})
	}
	mt, err := c.ResolveMT(ctx, &gnspb.ResolveMTRequest{Msisdn: "+8613800101234"})
	if err != nil {
		t.Fatal(err)
	}
	if mt.Gateway.Code != "001001" || mt.Segment.Prefix != "1380010" || mt.Ported {
		t.Fatalf("MT Beijing number: %+v", mt)
	}
	mt, err = c.ResolveMT(ctx, &gnspb.ResolveMTRequest{Msisdn: "13800100099"})
	if err != nil || mt.Gateway.Code != "020001" || !mt.Ported {
		t.Fatalf("MT ported number: %+v, %v", mt, err)
	}
	if _, err := c.ResolveMT(ctx, &gnspb.ResolveMTRequest{Msisdn: "17700000000"}); status.Code(err) != codes.NotFound {
		t.Fatalf("unknown number: %v, want NotFound", err)
	}
	if _, err := c.ResolveMT(ctx, &gnspb.ResolveMTRequest{Msisdn: "12ab"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("bad number: %v, want InvalidArgument", err)
	}
	if _, err := c.GetSP(ctx, &gnspb.GetSPRequest{SpId: "999999"}); status.Code(err) != codes.NotFound {
		t.Fatalf("unknown sp: %v, want NotFound", err)
	}
	sp, err := c.GetSP(ctx, &gnspb.GetSPRequest{SpId: "901234"})
	if err != nil || sp.Name != "Sina" || len(sp.Partitions) != 2 {
		t.Fatalf("GetSP: %+v, %v", sp, err)
	}
	// A bad write names the field and commits nothing.
	_, err = c.Write(ctx, &gnspb.WriteRequest{Changes: []*gnspb.Change{putSegment("1391234", "009999")}})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "gateway") {
		t.Fatalf("write with unknown gateway: %v", err)
	}
	if _, err := c.Write(ctx, &gnspb.WriteRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("empty write: %v", err)
	}
}

// TestImportAtomic: readers racing with an import see the old table or the
// new one, never a mix.
func TestImportAtomic(t *testing.T) {
	n, c, ctx := singleNode(t, func(cfg *Config) { cfg.ImportChunk = 500 })
	// Old table: every 1500xxxx number in Beijing; new: all in Guangzhou.
	build := func(gw string) *routing.Table {
		cont := loadSample(t).Contents()
		cont.Segments = cont.Segments[:0]
		for i := range 3000 {
			cont.Segments = append(cont.Segments, routing.Segment{Prefix: fmt.Sprintf("1500%04d", i), Gateway: gw})
		}
		tbl, err := routing.FromContents(cont)
		if err != nil {
			t.Fatal(err)
		}
		return tbl
	}
	if _, err := importFile(ctx, c, build("001001"), 500); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var mixed atomic.Value
	var wg sync.WaitGroup
	var reads atomic.Int64
	for r := range 4 {
		wg.Go(func() {
			for i := r; !stop.Load(); i += 4 {
				// Two lookups against the same table pointer must agree,
				// and a table must never hold both gateways.
				tbl := n.fsm.table.Load()
				a, errA := tbl.ResolveMT(fmt.Sprintf("1500%04d123", i%3000))
				b, errB := tbl.ResolveMT(fmt.Sprintf("1500%04d123", (i*7+11)%3000))
				if errA != nil || errB != nil || a.Gateway.Code != b.Gateway.Code {
					mixed.Store(fmt.Sprintf("rev %d: %v/%v %s vs %s", tbl.Revision(), errA, errB, a.Gateway.Code, b.Gateway.Code))
					return
				}
				resp, err := c.ResolveMT(ctx, &gnspb.ResolveMTRequest{Msisdn: fmt.Sprintf("1500%04d123", i%3000), Stale: true})
				if err != nil {
					mixed.Store(err.Error())
					return
				}
				reads.Add(1)
				_ = resp
			}
		})
	}
	imp, err := importFile(ctx, c, build("020001"), 500)
	if err != nil {
		t.Fatal(err)
	}
	waitfor.Within(t, 10*time.Second, "reads after import", func() bool { return reads.Load() > 50 })
	stop.Store(true)
	wg.Wait()
	if m := mixed.Load(); m != nil {
		t.Fatalf("reader saw a mixed table: %v", m)
	}
	// Every API read at or after the import revision sees the new table.
	for i := range 3000 {
		if i%97 != 0 {
			continue
		}
		r, err := c.ResolveMT(ctx, &gnspb.ResolveMTRequest{Msisdn: fmt.Sprintf("1500%04d000", i)})
		if err != nil || r.Gateway.Code != "020001" || r.Revision < imp.Revision {
			t.Fatalf("after import: %+v, %v", r, err)
		}
	}
}

// TestForwardingAndReads: a follower forwards writes; linearizable reads
// through any node see every acknowledged write; stale reads answer locally.
func TestForwardingAndReads(t *testing.T) {
	nodes := startCluster(t, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	leader, follower := leaderOf(nodes), followerOf(nodes)
	fc := dial(t, follower.GRPCAddr())
	imp, err := importFile(ctx, fc, loadSample(t), 5)
	if err != nil {
		t.Fatal(err)
	}
	// A stale read answers from the follower's own table, which may lag
	// the acknowledged import: the stale reads below start once the
	// follower has applied it.
	waitfor.Within(t, 10*time.Second, "the follower to apply the import", func() bool { return follower.Revision() >= imp.Revision })
	for i := range 20 {
		resp, err := fc.Write(ctx, &gnspb.WriteRequest{Changes: []*gnspb.Change{putSegment(fmt.Sprintf("1510%03d", i), "020001")}})
		if err != nil {
			t.Fatalf("write via follower: %v", err)
		}
		if leader.Revision() < resp.Revision {
			t.Fatalf("leader at %d after acked write %d", leader.Revision(), resp.Revision)
		}
		// Linearizable read through the follower (forwarded): must see it.
		r, err := fc.ResolveMT(ctx, &gnspb.ResolveMTRequest{Msisdn: fmt.Sprintf("1510%03d0000", i)})
		if err != nil || r.Gateway.Code != "020001" || r.Revision < resp.Revision {
			t.Fatalf("linearizable read after write %d: %+v, %v", resp.Revision, r, err)
		}
		// Stale read: served by the follower from its own table.
		s, err := fc.ResolveMT(ctx, &gnspb.ResolveMTRequest{Msisdn: "13800101234", Stale: true})
		if err != nil {
			t.Fatal(err)
		}
		if s.Revision > follower.Revision() {
			t.Fatalf("stale read revision %d ahead of the follower's %d", s.Revision, follower.Revision())
		}
	}
	// Export through the follower (forwarded) returns the whole table.
	st, err := fc.ExportTable(ctx, &gnspb.ExportRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var chunks []*gnspb.TableChunk
	for {
		ch, err := st.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		chunks = append(chunks, ch)
	}
	cont, err := gnspb.ContentsFromChunks(chunks)
	if err != nil {
		t.Fatal(err)
	}
	exported, err := routing.FromContents(cont)
	if err != nil {
		t.Fatal(err)
	}
	if err := sameContents(exported, leader.fsm.table.Load()); err != nil {
		t.Fatal(err)
	}
	// The first chunk says the revision (a linearizable export: the
	// leader's, at least the last acknowledged write's).
	if len(chunks) == 0 || chunks[0].Revision == 0 || chunks[0].Revision > leader.Revision() || chunks[0].Revision < imp.Revision {
		t.Fatalf("export revision %d, leader at %d", chunks[0].GetRevision(), leader.Revision())
	}
	// Cluster status names every member with its gRPC address.
	cs, err := fc.ClusterStatus(ctx, &gnspb.ClusterStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs.Members) != 3 || cs.LeaderId != leader.ID() || cs.NodeId != follower.ID() {
		t.Fatalf("cluster status: %+v", cs)
	}
	for _, m := range cs.Members {
		if m.GrpcAddr == "" || m.Suffrage != "voter" {
			t.Fatalf("member %+v", m)
		}
	}
	// A call forwarded to a node that is not the leader is refused with a
	// hint instead of looping.
	fctx := leader.outgoing(ctx, true)
	_, err = fc.Write(fctx, &gnspb.WriteRequest{Changes: []*gnspb.Change{putSegment("1520000", "020001")}})
	if status.Code(err) != codes.Unavailable || gnspb.LeaderHint(err) != leader.GRPCAddr() {
		t.Fatalf("forwarded write on a follower: %v (hint %q)", err, gnspb.LeaderHint(err))
	}
}

func TestTokenAndHealth(t *testing.T) {
	n, c, ctx := singleNode(t, func(cfg *Config) { cfg.Token, cfg.InsecureRaft = "t0ken", true })
	if _, err := c.ResolveMT(context.Background(), &gnspb.ResolveMTRequest{Msisdn: "13800101234"}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("no token: %v, want Unauthenticated", err)
	}
	if _, err := c.ResolveMT(withToken(context.Background(), "wrong"), &gnspb.ResolveMTRequest{Msisdn: "13800101234"}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("wrong token: %v, want Unauthenticated", err)
	}
	st, err := c.Watch(context.Background(), &gnspb.WatchRequest{})
	if err == nil {
		_, err = st.Recv()
	}
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("watch without token: %v", err)
	}
	if _, err := c.ResolveMT(ctx, &gnspb.ResolveMTRequest{Msisdn: "13800101234"}); err != nil {
		t.Fatalf("with token: %v", err)
	}

	resp, err := http.Get("http://" + n.HTTPAddr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz: %d %s", resp.StatusCode, body)
	}
	resp, err = http.Get("http://" + n.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{"gns_raft_state 2", "gns_table_segments", `gns_grpc_requests_total{code="Unauthenticated",method="ResolveMT"} 2`, "gns_raft_commit_seconds_bucket", "gns_fsm_applies_total"} {
		if !strings.Contains(string(body), m) {
			t.Fatalf("metrics lack %q", m)
		}
	}
}

// TestSlowWatcher: a watcher that does not read is dropped with
// RESOURCE_EXHAUSTED instead of blocking Apply, and resumes from its last
// revision.
func TestSlowWatcher(t *testing.T) {
	n, c, ctx := singleNode(t, func(cfg *Config) { cfg.WatchBuffer = 4 })
	w, _, _, err := n.hub.subscribe(n.Revision())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 { // never read: the buffer of 4 overflows
		if _, err := c.Write(ctx, &gnspb.WriteRequest{Changes: []*gnspb.Change{putSegment(fmt.Sprintf("1530%03d", i), "001001")}}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-w.gone:
	default:
		t.Fatal("overflowing watcher still subscribed")
	}
	if err := n.toStatus(w.why); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("drop reason %v, want ResourceExhausted", err)
	}
}
