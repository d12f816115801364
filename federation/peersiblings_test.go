package federation_test

import (
	"context"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/cmpp/cmpptest"
	"github.com/tandem-sms/tandem/federation"
	"github.com/tandem-sms/tandem/internal/waitfor"
)

// TestSiblingLogin: the FWD server refuses a login with its own gateway
// code unless PeerConfig.Siblings has a secret; with it, a sibling logs in
// with that secret (not the peers'), and its FWDs — Source_Id and
// Destination_Id both our code — reach the receiver with peer = our code.
func TestSiblingLogin(t *testing.T) {
	plain := startServer(t, peerConfig(t, gwBJ), newRecorder(answerOK), "127.0.0.1:0")
	c := cmpptest.DialRaw(t, plain.addr)
	if r := c.Connect(gwBJ, secret, cmpp.V30); r.Status != cmpp.ConnectBadSource {
		t.Fatalf("own code without siblings: status %d, want %d", r.Status, cmpp.ConnectBadSource)
	}

	cfg := peerConfig(t, gwBJ)
	cfg.Siblings = federation.PeerSettings{Secret: "sib-secret"}
	rec := newRecorder(answerOK)
	srv := startServer(t, cfg, rec, "127.0.0.1:0")
	if r := cmpptest.DialRaw(t, srv.addr).Connect(gwBJ, secret, cmpp.V30); r.Status != cmpp.ConnectAuthFailed {
		t.Fatalf("sibling with the peers' secret: status %d", r.Status)
	}
	c = cmpptest.DialRaw(t, srv.addr)
	if r := c.Connect(gwBJ, "sib-secret", cmpp.V30); r.Status != cmpp.ConnectOK {
		t.Fatalf("sibling login: status %d", r.Status)
	}
	f := fwdOf(gwBJ, gwBJ, cmpp.FwdMO, cmpp.MakeMsgID(time.Now(), 1001, 9), cmpp.V30)
	seq := c.NextSeq()
	c.WritePDU(seq, f)
	got := rec.next(t)
	if got.peer != gwBJ || got.fwd.MsgID != f.MsgID {
		t.Fatalf("receiver got peer %q FWD %d", got.peer, got.fwd.MsgID)
	}
	if _, p := c.MustReadPDU(); p.(*cmpp.FwdResp).Result != cmpp.ResultOK {
		t.Fatalf("FWD_RESP %+v", p)
	}
	// A peer gateway still logs in with its own code and secret.
	if r := cmpptest.DialRaw(t, srv.addr).Connect(gwGZ, secret, cmpp.V30); r.Status != cmpp.ConnectOK {
		t.Fatalf("peer login next to siblings: status %d", r.Status)
	}
}

// TestSiblingLinks: Peers keeps a link per sibling target, logged in to
// the sibling's FWD server with our own code, and drops it when the
// sibling goes.
func TestSiblingLinks(t *testing.T) {
	cfg := peerConfig(t, gwBJ)
	cfg.Siblings = federation.PeerSettings{Secret: "sib-secret"}
	rec := newRecorder(answerOK)
	other := startServer(t, cfg, rec, "127.0.0.1:0")
	p, err := federation.NewPeers(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	if !p.SiblingsEnabled() {
		t.Fatal("siblings off with a Siblings secret")
	}
	targets := federation.SiblingTargets("bj-a", gwBJ, []federation.Member{
		{Name: "bj-a", Self: true, NodeMeta: federation.NodeMeta{Gateway: gwBJ, FwdAddr: "127.0.0.1:1"}},
		{Name: "bj-b", NodeMeta: federation.NodeMeta{Gateway: gwBJ, FwdAddr: other.addr}},
		{Name: "bj-c", NodeMeta: federation.NodeMeta{Gateway: gwBJ, FwdAddr: "127.0.0.1:2", Health: federation.HealthDraining}},
		{Name: "gz-a", NodeMeta: federation.NodeMeta{Gateway: gwGZ, FwdAddr: "127.0.0.1:3"}},
	})
	if len(targets) != 1 || targets[0].Node != "bj-b" {
		t.Fatalf("targets %+v, want bj-b only", targets)
	}
	p.UpdateSiblings(targets)
	l := p.Sibling("bj-b")
	if l == nil {
		t.Fatal("no link to bj-b")
	}
	waitReady(t, l)
	f := fwdOf(gwBJ, gwBJ, cmpp.FwdMO, cmpp.MakeMsgID(time.Now(), 1001, 10), cmpp.V30)
	res := make(chan error, 1)
	if err := p.SendSibling(ctx, "bj-b", f, time.Now().Add(10*time.Second), func(_ *cmpp.FwdResp, err error) { res <- err }); err != nil {
		t.Fatal(err)
	}
	if got := rec.next(t); got.peer != gwBJ {
		t.Fatalf("sibling FWD seen from %q", got.peer)
	}
	if err := <-res; err != nil {
		t.Fatalf("sibling FWD: %v", err)
	}
	p.UpdateSiblings(nil)
	waitfor.Cond(t, "the link to bj-b to go", func() bool { return p.Sibling("bj-b") == nil })
	if err := p.SendSibling(ctx, "bj-b", f, time.Now().Add(time.Second), func(*cmpp.FwdResp, error) {}); err == nil {
		t.Fatal("sent to a sibling that is gone")
	}
}
