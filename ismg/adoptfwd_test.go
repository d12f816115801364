package ismg

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/cmpp/cmpptest"
	"github.com/tandem-sms/tandem/federation"
	"github.com/tandem-sms/tandem/gns"
	"github.com/tandem-sms/tandem/gns/gnstest"
	"github.com/tandem-sms/tandem/internal/waitfor"
	"github.com/tandem-sms/tandem/routing"
)

// TestAdoptedStoreTakesPeerReport: node a of gateway 001001 forwards an MT
// to gateway 020001 and stops before 020001's status report comes back;
// node b adopts a's store. The report, sent to b (a peer reaches any live
// node of the gateway), is the adopted store's — its MT waits there — so
// b answers Result 0 and the SP, logged in at b, gets it. (Before, b
// answered Result 8, "owner down", for as long as a stayed down.)
func TestAdoptedStoreTakesPeerReport(t *testing.T) {
	// Gateway 020001 is played by the test: a FWD server that takes the MT.
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

	cl := gnstest.Start(t, 1, func(c *gns.Config) { c.Token, c.InsecureRaft = haToken, true })
	fwd := map[string]string{"a": freeAddr(t), "b": freeAddr(t)}
	cl.Write(
		routing.Change{Op: routing.OpPutGateway, Gateway: routing.Gateway{Code: "001001", Name: "Beijing", Region: "beijing", FwdAddr: fwd["b"]}},
		routing.Change{Op: routing.OpPutGateway, Gateway: routing.Gateway{Code: "020001", Name: "Guangzhou", Region: "guangdong", FwdAddr: ln.Addr().String()}},
		routing.Change{Op: routing.OpPutSegment, Segment: routing.Segment{Prefix: "1380010", Gateway: "001001"}},
		routing.Change{Op: routing.OpPutSegment, Segment: routing.Segment{Prefix: "1380200", Gateway: "020001"}},
	)
	root := t.TempDir()
	smsc := startSMSC(t, nil)
	yamlOf := func(name, other string, index int) string {
		dir := filepath.Join(root, name)
		y := nodeYAML(t, dir, smsc.Addr(),
			replace("  file: "+routesFile(t), fmt.Sprintf("  gns: [%s]\n  token: %s", strings.Join(cl.GRPCAddrs(), ", "), haToken)),
			replace("system_id: ismg\n", "system_id: ismg"+name+"\n"),
			replace("region: beijing", fmt.Sprintf("region: beijing\n  node: %s\n  node_index: %d\n  node_bits: 1", name, index)),
			replace("  http: 127.0.0.1:0\n", "  http: 127.0.0.1:0\n  fwd: "+fwd[name]+"\n"),
			replace("delivery:\n", fmt.Sprintf("federation:\n  secret: %s\n  allowed_ips: [127.0.0.1]\n  retry_min: 50ms\n  retry_max: 500ms\n  response_timeout: 2s\ndelivery:\n", fedPeerSecret)))
		y += fmt.Sprintf("ha:\n  node: %s\n  lease_ttl: 1s\n  renew_interval: 250ms\n  adopt_after: 500ms\n  poll_interval: 100ms\n"+
			"  adoptable:\n    - store_id: \"001001-%s\"\n      config: %s\n", name, other, filepath.Join(root, other, "ismg.yaml"))
		return y
	}
	// Each config names the other's file: both are written before either
	// is loaded.
	ya, yb := yamlOf("a", "b", 0), yamlOf("b", "a", 1)
	for name, y := range map[string]string{"a": ya, "b": yb} {
		if err := os.MkdirAll(filepath.Join(root, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, name, "ismg.yaml"), []byte(y), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfgA, cfgB := loadYAML(t, filepath.Join(root, "a"), ya), loadYAML(t, filepath.Join(root, "b"), yb)
	a, b := startNode(t, cfgA), startNode(t, cfgB)

	onA := mustSP(t, a.node.CMPPAddr(), cmpp.V30)
	var r *cmpp.SubmitResp
	waitfor.Within(t, 20*time.Second, "a routes 1380200 to 020001 (its cache followed the GNS)", func() bool {
		r = onA.submit(t, submitPDU(gzNumber, 0, []byte("south via a")))
		return r.Result == 0
	})
	mt := <-took
	if mt.MsgID != r.MsgID {
		t.Fatalf("020001 took Msg_Id %d, a acked %d", mt.MsgID, r.MsgID)
	}
	waitfor.Cond(t, "a's MT to wait in await for 020001's report", func() bool {
		_, err := a.node.Store().Get(qAwait, r.MsgID)
		return err == nil
	})

	// a stops; its lease lapses and b adopts its store.
	_ = onA.s.Close()
	a.stop()
	waitfor.Within(t, 20*time.Second, "b adopts a's store", func() bool {
		return metric(t, b.node.HTTPAddr(), "ismg_ha_adopted_stores") == 1
	})
	onB := mustSP(t, b.node.CMPPAddr(), cmpp.V30)

	// 020001's report reaches b.
	raw := cmpptest.DialRaw(t, fwd["b"])
	if resp := raw.Connect("020001", fedPeerSecret, cmpp.V30); resp.Status != 0 {
		t.Fatalf("peer CONNECT at b: status %d", resp.Status)
	}
	f := &cmpp.Fwd{SourceID: "020001", DestinationID: "001001", NodesCount: 1, MsgID: mt.MsgID,
		PkTotal: 1, PkNumber: 1, SrcID: gzNumber, DestID: testSrc}
	f.SetReport(&cmpp.Report{MsgID: mt.MsgID, Stat: cmpp.StatDelivered, SubmitTime: "2601010000", DoneTime: "2601010000",
		DestTerminalID: gzNumber}, cmpp.V30)
	raw.WritePDU(raw.NextSeq(), f)
	if _, p := raw.MustReadPDU(); p.(*cmpp.FwdResp).Result != 0 {
		t.Fatalf("b's FWD_RESP: %+v, want Result 0 (the adopted store takes it)", p)
	}
	ds := onB.waitDelivers(t, 30*time.Second, func(ds []*cmpp.Deliver) bool { return len(reports(ds)) == 1 })
	if rep := reports(ds)[r.MsgID]; rep.Stat != cmpp.StatDelivered || rep.DestTerminalID != gzNumber {
		t.Fatalf("report at b: %+v", reports(ds))
	}
	// Nothing is left in a's store: drained, its lease released.
	waitfor.Within(t, 20*time.Second, "a's store drained and released", func() bool {
		return metric(t, b.node.HTTPAddr(), "ismg_ha_adopted_stores") == 0
	})
	// Released, the store is no one's here any more: a later report of a's
	// is b's own business (no MT of b's waits for it: dropped as unknown,
	// answered 0), never handed to the stopped adopted node (whose closed
	// store would answer Result 8 for ever).
	unknown := metric(t, b.node.HTTPAddr(), "ismg_fwd_reports_unknown_total")
	f2 := *f
	f2.MsgID = mt.MsgID + 1
	f2.SetReport(&cmpp.Report{MsgID: f2.MsgID, Stat: cmpp.StatDelivered, SubmitTime: "2601010000", DoneTime: "2601010000",
		DestTerminalID: gzNumber}, cmpp.V30)
	raw.WritePDU(raw.NextSeq(), &f2)
	if _, p := raw.MustReadPDU(); p.(*cmpp.FwdResp).Result != 0 {
		t.Fatalf("b's FWD_RESP after the release: %+v, want Result 0", p)
	}
	if got := metric(t, b.node.HTTPAddr(), "ismg_fwd_reports_unknown_total"); got != unknown+1 {
		t.Fatalf("reports b dropped as unknown: %v, want %v", got, unknown+1)
	}
}
