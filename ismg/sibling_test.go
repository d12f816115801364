package ismg

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/cmpp/cmpptest"
	"github.com/tandem-sms/tandem/federation"
	"github.com/tandem-sms/tandem/internal/waitfor"
	"github.com/tandem-sms/tandem/ismg/queue"
	"github.com/tandem-sms/tandem/sim/smscsim"
	"github.com/tandem-sms/tandem/smstext"
)

const sibSecret = "sibling-secret"

// sibCluster is gateway 001001 served by two nodes (bj-a, bj-b: node_bits
// 1, each with its own store and smscsim) and a peer gateway 020001 with
// one node, all gossiping with one key.
type sibCluster struct {
	a, b, gz *fedSite
}

// startSiblings starts the cluster; mod edits every node's YAML (node is
// "bj-a", "bj-b" or "gz").
func startSiblings(t *testing.T, mod func(node, y string) string) *sibCluster {
	t.Helper()
	return startSiblingsGZ(t, mod, "")
}

// startSiblingsGZ is startSiblings with gateway 020001 at gzAddr, served
// by the test instead of a node, when gzAddr is set.
func startSiblingsGZ(t *testing.T, mod func(node, y string) string, gzAddr string) *sibCluster {
	t.Helper()
	root := t.TempDir()
	fwd := map[string]string{"bj-a": freeAddr(t), "bj-b": freeAddr(t), "gz": freeAddr(t)}
	if gzAddr != "" {
		fwd["gz"] = gzAddr
	}
	gossip := map[string]string{"bj-a": freeAddr(t), "bj-b": freeAddr(t), "gz": freeAddr(t)}
	// The table's fwd_addr of 001001 is bj-a's: peers that do not gossip
	// reach the gateway there.
	table := fedTable(t, root, map[string]string{"001001": fwd["bj-a"], "020001": fwd["gz"]})
	key := "dGFuZGVtLWdvc3NpcC0xNg=="
	site := func(node, code string, index int) *fedSite {
		smsc := startSMSC(t, nil)
		dir := filepath.Join(root, node)
		gw := fmt.Sprintf("region: %s\n  node: %s\n  node_index: %d\n  node_bits: 1", fedRegions[code], node, index)
		sib := fmt.Sprintf("  siblings:\n    secret: %s\n    allowed_ips: [127.0.0.1]\n", sibSecret)
		if code != "001001" {
			gw, sib = "region: "+fedRegions[code], ""
		}
		y := nodeYAML(t, dir, smsc.Addr(),
			replace(`code: "001001"`, fmt.Sprintf("code: %q", code)),
			replace("region: beijing", gw),
			replace("  http: 127.0.0.1:0\n", "  http: 127.0.0.1:0\n  fwd: "+fwd[node]+"\n"),
			replace("delivery:\n", fmt.Sprintf(`federation:
  secret: %s
  allowed_ips: [127.0.0.1]
  retry_min: 50ms
  retry_max: 500ms
  response_timeout: 2s
%s  membership:
    bind: %s
    seeds: [%s]
    key: %s
delivery:
`, fedPeerSecret, sib, gossip[node], gossip["bj-a"], key)))
		y = strings.Replace(y, "  file: "+routesFile(t), "  file: "+table, 1)
		if mod != nil {
			y = mod(node, y)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		s := &fedSite{t: t, code: code, cfg: loadYAML(t, dir, y), smsc: smsc}
		s.start()
		return s
	}
	c := &sibCluster{}
	c.a = site("bj-a", "001001", 0) // the seed first: the others join it at once
	c.b = site("bj-b", "001001", 1)
	if gzAddr == "" {
		c.gz = site("gz", "020001", 0)
	}
	waitfor.Cond(t, "the two Beijing nodes to link up as siblings", func() bool {
		return siblingLinkUp(c.a.env.node, "bj-b") && siblingLinkUp(c.b.env.node, "bj-a")
	})
	return c
}

func siblingLinkUp(n *Node, node string) bool {
	for _, s := range n.Siblings() {
		if s.Node == node {
			return s.LinkUp
		}
	}
	return false
}

// waitSPAt waits until node n's gossip says SP testSP has sessions
// sessions on sibling node.
func waitSPAt(t *testing.T, n *Node, node string, sessions int) {
	t.Helper()
	waitfor.Cond(t, fmt.Sprintf("%s to see the SP with %d sessions on %s", n.nodeName(), sessions, node), func() bool {
		got := 0
		for _, p := range n.members.SPSessions(n.gw, testSP) {
			if p.Node == node {
				got = p.Sessions
			}
		}
		return got == sessions
	})
}

// TestSiblingReportFollowsSP is the demonstration: an MT accepted
// on node A (its SMSC's receipt comes back to A), the SP leaves A and logs
// in to node B only, and the status report reaches the SP through B, with
// the Msg_Id A gave it — passed from A to B as a durable CMPP_FWD type 2.
func TestSiblingReportFollowsSP(t *testing.T) {
	c := startSiblings(t, nil)
	onA := mustSP(t, c.a.env.node.CMPPAddr(), cmpp.V30)
	r := submitThenLeave(t, c.a.env, onA, 1)
	if r.Result != 0 {
		t.Fatalf("SUBMIT at A: Result %d", r.Result)
	}
	if seq := cmpp.UnpackMsgID(r.MsgID).Seq; seq>>15 != 0 {
		t.Fatalf("A (node_index 0) issued Msg_Id %v", cmpp.UnpackMsgID(r.MsgID))
	}
	onB := mustSP(t, c.b.env.node.CMPPAddr(), cmpp.V30)
	ds := onB.waitDelivers(t, 30*time.Second, func(ds []*cmpp.Deliver) bool { return len(reports(ds)) == 1 })
	rep := reports(ds)[r.MsgID]
	if rep.Stat != cmpp.StatDelivered || rep.DestTerminalID != bjNumber {
		t.Fatalf("report at B: %+v, want DELIVRD for Msg_Id %d", reports(ds), r.MsgID)
	}
	if got := metric(t, c.a.env.node.HTTPAddr(), "ismg_sibling_handoffs_total", `node="bj-a"`); got != 1 {
		t.Errorf("A handed %v reports to a sibling, want 1", got)
	}
	if got := metric(t, c.b.env.node.HTTPAddr(), "ismg_sibling_received_total", `type="mt_report"`); got != 1 {
		t.Errorf("B took %v reports from a sibling, want 1", got)
	}
	if n := c.b.smsc.Stats().Accepted; n != 0 {
		t.Errorf("B's SMSC got %d MTs: the MT was A's", n)
	}
	waitfor.Cond(t, "A's queues for the SP to empty", func() bool {
		st := c.a.env.node.Store()
		return st.Len(qOutPrefix+testSP) == 0 && st.Len(qSibPrefix+"bj-b/"+testSP) == 0
	})
}

// TestSiblingMOFollowsSP: an MO that node A's SMSC delivers, for an SP
// logged in only to node B, reaches it through B.
func TestSiblingMOFollowsSP(t *testing.T) {
	c := startSiblings(t, nil)
	onB := mustSP(t, c.b.env.node.CMPPAddr(), cmpp.V30)
	waitSPAt(t, c.a.env.node, "bj-b", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.a.smsc.InjectMO(ctx, "13800100009", "10657001", "hello via A", smstext.ASCII); err != nil {
		t.Fatal(err)
	}
	onB.waitDelivers(t, 30*time.Second, func(ds []*cmpp.Deliver) bool {
		for _, d := range ds {
			if d.RegisteredDelivery == 0 && d.MsgContent == "hello via A" && d.SrcTerminalID == "13800100009" {
				return true
			}
		}
		return false
	})
	if got := metric(t, c.b.env.node.HTTPAddr(), "ismg_sibling_received_total", `type="mo"`); got != 1 {
		t.Errorf("B took %v MO from a sibling, want 1", got)
	}
}

// TestSiblingReportStaysWhileSPAway: with the SP logged in nowhere, the
// report waits on the node that made it; when the SP logs in to B, it
// goes there.
func TestSiblingReportStaysWhileSPAway(t *testing.T) {
	c := startSiblings(t, nil)
	onA := mustSP(t, c.a.env.node.CMPPAddr(), cmpp.V20)
	r := submitThenLeave(t, c.a.env, onA, 1)
	waitSMSC(t, c.a.smsc, func(s smscsim.Stats) bool { return s.ReceiptsAcked >= 1 })
	waitfor.Cond(t, "the report to wait in A's out queue", func() bool {
		return c.a.env.node.Store().Len(qOutPrefix+testSP) == 1
	})
	if got := metric(t, c.a.env.node.HTTPAddr(), "ismg_sibling_handoffs_total"); got != 0 {
		t.Fatalf("handed %v to a sibling while the SP was logged in nowhere", got)
	}
	onB := mustSP(t, c.b.env.node.CMPPAddr(), cmpp.V20)
	ds := onB.waitDelivers(t, 30*time.Second, func(ds []*cmpp.Deliver) bool { return len(reports(ds)) == 1 })
	if reports(ds)[r.MsgID].Stat != cmpp.StatDelivered {
		t.Fatalf("report at B: %+v", reports(ds))
	}
}

// TestSiblingConnectionLimit: max_connections counts the SP's sessions on
// both nodes of the gateway: with a limit of 2, one session on each node
// leaves no room on either.
func TestSiblingConnectionLimit(t *testing.T) {
	c := startSiblings(t, func(_, y string) string {
		return strings.Replace(y, "max_connections: 4", "max_connections: 2", 1)
	})
	mustSP(t, c.a.env.node.CMPPAddr(), cmpp.V30)
	waitSPAt(t, c.b.env.node, "bj-a", 1)
	mustSP(t, c.b.env.node.CMPPAddr(), cmpp.V30)
	waitSPAt(t, c.a.env.node, "bj-b", 1)
	for name, n := range map[string]*Node{"A": c.a.env.node, "B": c.b.env.node} {
		if _, err := dialSP(t, n.CMPPAddr(), cmpp.V30, testSecret); err == nil {
			t.Errorf("a third session on %s was admitted past max_connections 2 across the gateway", name)
		}
	}
	if got := metric(t, c.a.env.node.HTTPAddr(), "ismg_connect_rejected_total", `reason="connections"`); got != 1 {
		t.Errorf("A refused %v CONNECTs for connections, want 1", got)
	}
}

// TestSiblingMsgIDsUnique: both nodes of the gateway take SUBMITs at once;
// no Msg_Id is issued twice, and each node's carry its node_index in the
// sequence's top bit.
func TestSiblingMsgIDsUnique(t *testing.T) {
	c := startSiblings(t, nil)
	const n = 300
	ids := map[string][]uint64{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, node := range map[string]*Node{"bj-a": c.a.env.node, "bj-b": c.b.env.node} {
		s := mustSP(t, node.CMPPAddr(), cmpp.V30)
		wg.Go(func() {
			var got []uint64
			for i := range n {
				p := submitPDU(fmt.Sprintf("1380010%04d", i), 0, []byte("id"))
				p.RegisteredDelivery = 0
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				resp, err := s.s.SendWait(ctx, p)
				cancel()
				if err != nil || resp.(*cmpp.SubmitResp).Result != 0 {
					t.Errorf("%s: SUBMIT %d: %v %+v", name, i, err, resp)
					return
				}
				got = append(got, resp.(*cmpp.SubmitResp).MsgID)
			}
			mu.Lock()
			ids[name] = got
			mu.Unlock()
		})
	}
	wg.Wait()
	seen := map[uint64]string{}
	for name, list := range ids {
		want := uint16(0)
		if name == "bj-b" {
			want = 1
		}
		for _, id := range list {
			if other, dup := seen[id]; dup {
				t.Fatalf("Msg_Id %v issued by %s and %s", cmpp.UnpackMsgID(id), other, name)
			}
			seen[id] = name
			if m := cmpp.UnpackMsgID(id); m.Seq>>15 != want || m.Gateway != 1001 {
				t.Fatalf("%s issued %v: want node %d in the sequence's top bit", name, m, want)
			}
		}
	}
	if len(seen) != 2*n {
		t.Fatalf("%d ids, want %d", len(seen), 2*n)
	}
}

// TestSiblingPeerAndStatus: the peer gateway links to both live nodes of
// 001001; /status and /healthz name the node, and /status lists the
// gateway's nodes.
func TestSiblingPeerAndStatus(t *testing.T) {
	c := startSiblings(t, nil)
	waitfor.Cond(t, "Guangzhou's link to 001001 to reach both nodes", func() bool {
		l := c.gz.env.node.peers.Link("001001")
		return l != nil && len(l.Status().Addrs) == 2
	})
	var st Status
	resp, err := http.Get("http://" + c.b.env.node.HTTPAddr() + "/status")
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if st.Node.NodeName != "bj-b" || st.Node.NodeIndex != 1 || st.Node.NodeBits != 1 {
		t.Errorf("status node: %+v", st.Node)
	}
	var names []string
	for _, s := range st.Siblings {
		names = append(names, s.Node)
		if s.Conflict != "" {
			t.Errorf("sibling %s: conflict %q", s.Node, s.Conflict)
		}
	}
	if strings.Join(names, ",") != "bj-a,bj-b" {
		t.Errorf("siblings %v, want bj-a,bj-b", names)
	}
	for _, g := range st.Gateways {
		if g.Code == "001001" && strings.Join(g.Nodes, ",") != "bj-a,bj-b" {
			t.Errorf("gateway 001001 nodes %v", g.Nodes)
		}
	}
	resp, err = http.Get("http://" + c.a.env.node.HTTPAddr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "gateway 001001 node bj-a") || resp.Header.Get("X-Tandem-Node") != "bj-a" {
		t.Errorf("/healthz: %q %v", body, resp.Header)
	}
	if got := metric(t, c.a.env.node.HTTPAddr(), "ismg_siblings_live", `node="bj-a"`); got != 1 {
		t.Errorf("A's live siblings: %v", got)
	}
}

// TestSiblingQueueReturnsHome: what waits for a sibling that is gone (here
// a sib:<node>/<sp> queue left for a node no longer in the gossip, as
// after it died with the record queued) goes back to the SP's out queue
// and reaches the SP where it logs in.
func TestSiblingQueueReturnsHome(t *testing.T) {
	c := startSiblings(t, nil)
	n := c.a.env.node
	id := cmpp.MakeMsgID(time.Now(), 1001, 5)
	o := outRecord{Report: true, DestID: testSrc, SrcTerminalID: bjNumber, Created: time.Now(), OrigMsgID: id,
		Stat: cmpp.StatDelivered, SubmitTime: "2601010000", DoneTime: "2601010000", DestTerminalID: bjNumber}
	q := sibQueue("bj-gone", testSP)
	if err := n.commit(context.Background(), queue.Enqueue(q.queue(), id, time.Time{}, o.Append(nil))); err != nil {
		t.Fatal(err)
	}
	// What waits for a sibling counts for drain (ismgctl drain --wait).
	if d := n.DrainStatus(); d.Fwd != 1 || d.Empty() {
		t.Fatalf("drain status with a record in %s: %+v", q.queue(), d)
	}
	n.ensureFwdQueue(q)
	s := mustSP(t, n.CMPPAddr(), cmpp.V30)
	ds := s.waitDelivers(t, 30*time.Second, func(ds []*cmpp.Deliver) bool { return len(reports(ds)) == 1 })
	if reports(ds)[id].Stat != cmpp.StatDelivered {
		t.Fatalf("reports %+v", reports(ds))
	}
	if got := metric(t, n.HTTPAddr(), "ismg_sibling_returned_total"); got != 1 {
		t.Errorf("returned %v, want 1", got)
	}
}

// TestSiblingPeerReportRelayed: a peer gateway spreads its FWDs over the
// gateway's live nodes, so the status report of an MT that node A
// forwarded may reach node B. B relays it to A (the Msg_Id's node index
// names A), and the SP, logged in to A, gets it.
func TestSiblingPeerReportRelayed(t *testing.T) {
	// Gateway 020001 is played by the test: a FWD server that takes A's MT.
	pc := federation.DefaultPeerConfig()
	pc.Gateway, pc.Default.Secret, pc.Default.AllowedIPs = "020001", fedPeerSecret, []string{"127.0.0.1"}
	took := make(chan *cmpp.Fwd, 1)
	gzSrv, err := federation.NewFwdServer(pc, federation.FwdReceiverFunc(func(_ string, f *cmpp.Fwd, respond func(uint32)) {
		took <- f
		respond(cmpp.ResultOK)
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gzSrv.Serve(ln) }()
	t.Cleanup(func() { _ = gzSrv.Close() })
	c := startSiblingsGZ(t, nil, ln.Addr().String())

	onA := mustSP(t, c.a.env.node.CMPPAddr(), cmpp.V30)
	r := onA.submit(t, submitPDU(gzNumber, 0, []byte("south via A")))
	if r.Result != 0 {
		t.Fatalf("SUBMIT: Result %d", r.Result)
	}
	mt := <-took
	waitfor.Cond(t, "A's MT to wait in await for 020001's report", func() bool {
		it, err := c.a.env.node.Store().Get(qAwait, r.MsgID)
		return err == nil && it.ID == mt.MsgID
	})

	// 020001's report reaches B.
	raw := cmpptest.DialRaw(t, c.b.env.node.FWDAddr())
	if resp := raw.Connect("020001", fedPeerSecret, cmpp.V30); resp.Status != 0 {
		t.Fatalf("peer CONNECT at B: status %d", resp.Status)
	}
	f := &cmpp.Fwd{SourceID: "020001", DestinationID: "001001", NodesCount: 1, MsgID: mt.MsgID,
		PkTotal: 1, PkNumber: 1, SrcID: gzNumber, DestID: testSrc}
	f.SetReport(&cmpp.Report{MsgID: mt.MsgID, Stat: cmpp.StatDelivered, SubmitTime: "2601010000", DoneTime: "2601010000",
		DestTerminalID: gzNumber}, cmpp.V30)
	seq := raw.NextSeq()
	raw.WritePDU(seq, f)
	if _, p := raw.MustReadPDU(); p.(*cmpp.FwdResp).Result != 0 {
		t.Fatalf("B's FWD_RESP: %+v", p)
	}
	ds := onA.waitDelivers(t, 30*time.Second, func(ds []*cmpp.Deliver) bool { return len(reports(ds)) == 1 })
	if rep := reports(ds)[r.MsgID]; rep.Stat != cmpp.StatDelivered || rep.DestTerminalID != gzNumber {
		t.Fatalf("report at A: %+v", reports(ds))
	}
	if got := metric(t, c.a.env.node.HTTPAddr(), "ismg_sibling_received_total", `type="relayed_report"`); got != 1 {
		t.Errorf("A took %v relayed reports, want 1", got)
	}
	if got := metric(t, c.b.env.node.HTTPAddr(), "ismg_fwd_reports_unknown_total"); got != 0 {
		t.Errorf("B dropped %v reports as unknown", got)
	}
}
