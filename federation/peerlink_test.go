package federation_test

import (
	"context"
	"errors"
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/federation"
	"github.com/tandem-sms/tandem/internal/testcerts"
	"github.com/tandem-sms/tandem/internal/waitfor"
)

// TestFwdExchangeAllTypes sends FWDs of the four Msg_Fwd_Types from a
// Beijing link to a Guangzhou FWD server in both layouts: each arrives
// field for field, NodesCount untouched, and its FWD_RESP echoes Msg_Id,
// Pk_total and Pk_number.
func TestFwdExchangeAllTypes(t *testing.T) {
	for _, v := range []cmpp.Version{cmpp.V20, cmpp.V30} {
		t.Run(v.String(), func(t *testing.T) {
			rec := newRecorder(answerOK)
			srvCfg := peerConfig(t, gwGZ)
			srv := startServer(t, srvCfg, rec, "127.0.0.1:0")
			cfg := peerConfig(t, gwBJ)
			cfg.Default.Version = v
			l := startLink(t, cfg, gwGZ, []string{srv.addr}, nil)
			waitReady(t, l)
			if st := l.Status(); st.Sessions[0].Version != v {
				t.Fatalf("session version %v, want %v", st.Sessions[0].Version, v)
			}
			for typ := cmpp.FwdMT; typ <= cmpp.FwdMOReport; typ++ {
				id := uint64(0xA7B9E14134FD0000) + uint64(typ)
				f := fwdOf(gwBJ, gwGZ, typ, id, v)
				f.NodesCount = 2 + typ
				f.PkTotal, f.PkNumber = 3, 2
				o := await(t, sendAsync(t, l, f))
				if o.err != nil {
					t.Fatalf("type %d: %v", typ, o.err)
				}
				want := cmpp.FwdResp{MsgID: id, PkTotal: 3, PkNumber: 2}
				if *o.resp != want {
					t.Fatalf("type %d: FWD_RESP %+v, want %+v", typ, *o.resp, want)
				}
				got := rec.next(t)
				if got.peer != gwBJ {
					t.Fatalf("peer %q, want %q", got.peer, gwBJ)
				}
				if !reflect.DeepEqual(got.fwd, f) {
					t.Fatalf("type %d: received\n%+v\nwant\n%+v", typ, got.fwd, f)
				}
			}
			m := srvCfg.Metrics
			if n := value(t, m.Received.WithLabelValues(gwBJ, "ok")); n != 4 {
				t.Fatalf("received{ok} = %v, want 4", n)
			}
			if n := value(t, cfg.Metrics.Sent.WithLabelValues(gwGZ, "ok")); n != 4 {
				t.Fatalf("sent{ok} = %v, want 4", n)
			}
			if c := l.Counters(); c.Sent != 4 || c.OK != 4 || c.SessionsUp != 1 {
				t.Fatalf("counters %+v", c)
			}
		})
	}
}

// TestFwdResultsReachTheSender: a receiver's non-zero Result comes back
// as a *ResultError with the response, classified.
func TestFwdResultsReachTheSender(t *testing.T) {
	results := map[uint64]uint32{1: cmpp.ResultFlowControl, 2: cmpp.ResultFwdDecision, 3: cmpp.ResultBadServiceCode}
	rec := newRecorder(func(f *cmpp.Fwd) (uint32, bool) { return results[f.MsgID], true })
	srv := startServer(t, peerConfig(t, gwGZ), rec, "127.0.0.1:0")
	cfg := peerConfig(t, gwBJ)
	l := startLink(t, cfg, gwGZ, []string{srv.addr}, nil)
	waitReady(t, l)
	for id, kind := range map[uint64]federation.Kind{1: federation.KindFlowControl, 2: federation.KindDecision, 3: federation.KindRejected} {
		o := await(t, sendAsync(t, l, fwdOf(gwBJ, gwGZ, cmpp.FwdMT, id, cmpp.V30)))
		var re *federation.ResultError
		if !errors.As(o.err, &re) || re.Result != results[id] || o.resp == nil || o.resp.Result != results[id] {
			t.Fatalf("Msg_Id %d: %v, %+v", id, o.err, o.resp)
		}
		if k := federation.Classify(o.err); k != kind {
			t.Fatalf("Msg_Id %d: kind %v, want %v", id, k, kind)
		}
		if federation.Temporary(o.err) != (kind == federation.KindFlowControl) {
			t.Fatalf("Msg_Id %d: Temporary = %v", id, federation.Temporary(o.err))
		}
	}
	if n := value(t, cfg.Metrics.Sent.WithLabelValues(gwGZ, "decision")); n != 1 {
		t.Fatalf("sent{decision} = %v", n)
	}
}

// TestLinkRefusesForeignFwd: a FWD whose Source_Id or Destination_Id
// does not fit the link is never sent.
func TestLinkRefusesForeignFwd(t *testing.T) {
	l := startLink(t, peerConfig(t, gwBJ), gwGZ, nil, nil)
	for _, f := range []*cmpp.Fwd{nil, fwdOf("030001", gwGZ, 0, 1, cmpp.V30), fwdOf(gwBJ, "030001", 0, 1, cmpp.V30)} {
		err := l.SendAsync(context.Background(), f, time.Time{}, func(*cmpp.FwdResp, error) { t.Error("callback called") })
		if !errors.Is(err, federation.ErrInvalidFwd) || federation.Temporary(err) {
			t.Fatalf("%v", err)
		}
	}
	// No address: nothing to send on, at once.
	err := l.SendAsync(context.Background(), fwdOf(gwBJ, gwGZ, 0, 1, cmpp.V30), time.Time{}, nil)
	if !errors.Is(err, federation.ErrNoSession) || !federation.Temporary(err) {
		t.Fatalf("%v", err)
	}
}

// TestLinkWindowBackPressure: with the window full, SendAsync waits for a
// slot (until its deadline: ErrWindowWait) and goes as soon as a FWD_RESP
// frees one.
func TestLinkWindowBackPressure(t *testing.T) {
	rec := newRecorder(holdAll)
	srv := startServer(t, peerConfig(t, gwGZ), rec, "127.0.0.1:0")
	cfg := peerConfig(t, gwBJ)
	cfg.Default.Window = 2
	l := startLink(t, cfg, gwGZ, []string{srv.addr}, nil)
	waitReady(t, l)
	first := sendAsync(t, l, fwdOf(gwBJ, gwGZ, 0, 1, cmpp.V30))
	sendAsync(t, l, fwdOf(gwBJ, gwGZ, 0, 2, cmpp.V30))
	held := []received{rec.next(t), rec.next(t)}
	if n := value(t, cfg.Metrics.WindowInUse.WithLabelValues(gwGZ)); n != 2 {
		t.Fatalf("window_in_use = %v, want 2", n)
	}

	err := l.SendAsync(context.Background(), fwdOf(gwBJ, gwGZ, 0, 3, cmpp.V30), time.Now(), func(*cmpp.FwdResp, error) {})
	if !errors.Is(err, federation.ErrWindowWait) || !federation.Temporary(err) {
		t.Fatalf("full window, deadline passed: %v", err)
	}

	third := make(chan outcome, 1)
	queued := make(chan error, 1)
	go func() {
		queued <- l.SendAsync(context.Background(), fwdOf(gwBJ, gwGZ, 0, 4, cmpp.V30), time.Time{}, func(r *cmpp.FwdResp, err error) {
			third <- outcome{r, err}
		})
	}()
	waitfor.Cond(t, "a send waiting for a window slot", func() bool { return l.Counters().WindowWaits == 1 })
	select {
	case err := <-queued:
		t.Fatalf("SendAsync returned %v with the window full", err)
	default:
	}
	held[0].respond(cmpp.ResultOK)
	if o := await(t, first); o.err != nil {
		t.Fatal(o.err)
	}
	if err := <-queued; err != nil {
		t.Fatal(err)
	}
	if got := rec.next(t); got.fwd.MsgID != 4 {
		t.Fatalf("got Msg_Id %d, want 4", got.fwd.MsgID)
	} else {
		got.respond(cmpp.ResultOK)
	}
	if o := await(t, third); o.err != nil {
		t.Fatal(o.err)
	}
	held[1].respond(cmpp.ResultOK)
}

// TestLinkReconnectsAfterServerRestart: FWDs in flight when the server
// goes fail with a temporary error; the link dials again and the restarted
// server takes the next FWDs.
func TestLinkReconnectsAfterServerRestart(t *testing.T) {
	rec := newRecorder(holdAll)
	srvCfg := peerConfig(t, gwGZ)
	srv := startServer(t, srvCfg, rec, "127.0.0.1:0")
	cfg := peerConfig(t, gwBJ)
	l := startLink(t, cfg, gwGZ, []string{srv.addr}, nil)
	waitReady(t, l)
	inflight := []<-chan outcome{
		sendAsync(t, l, fwdOf(gwBJ, gwGZ, 0, 1, cmpp.V30)),
		sendAsync(t, l, fwdOf(gwBJ, gwGZ, 1, 2, cmpp.V30)),
	}
	rec.next(t)
	rec.next(t)
	srv.stop()
	for _, ch := range inflight {
		o := await(t, ch)
		if o.err == nil || !federation.Temporary(o.err) || federation.Classify(o.err) != federation.KindConnection {
			t.Fatalf("in-flight FWD after the server went: %v (kind %v)", o.err, federation.Classify(o.err))
		}
	}
	if n := value(t, cfg.Metrics.Sent.WithLabelValues(gwGZ, "connection")); n != 2 {
		t.Fatalf("sent{connection} = %v", n)
	}
	// The dead session is out of the rotation as soon as its FWDs failed,
	// even before its slot saw it end.
	err := l.SendAsync(context.Background(), fwdOf(gwBJ, gwGZ, 0, 9, cmpp.V30), time.Time{}, func(*cmpp.FwdResp, error) {})
	if federation.Classify(err) != federation.KindNoSession {
		t.Fatalf("send with the server down: %v", err)
	}

	rec2 := newRecorder(answerOK)
	startServer(t, srvCfg, rec2, srv.addr)
	waitReady(t, l)
	if o := await(t, sendAsync(t, l, fwdOf(gwBJ, gwGZ, 0, 3, cmpp.V30))); o.err != nil {
		t.Fatal(o.err)
	}
	if c := l.Counters(); c.Reconnects == 0 {
		t.Fatalf("no reconnect counted: %+v", c)
	}
	if n := value(t, cfg.Metrics.LinkSessions.WithLabelValues(gwGZ)); n != 1 {
		t.Fatalf("sessions_up = %v", n)
	}
}

// TestLinkAddressChangeKeepsInFlight: moving a link to another address
// retires the old session only after its FWD in flight is answered; new
// FWDs go to the new address.
func TestLinkAddressChangeKeepsInFlight(t *testing.T) {
	recA, recB := newRecorder(holdAll), newRecorder(answerOK)
	a := startServer(t, peerConfig(t, gwGZ), recA, "127.0.0.1:0")
	b := startServer(t, peerConfig(t, gwGZ), recB, "127.0.0.1:0")
	l := startLink(t, peerConfig(t, gwBJ), gwGZ, []string{a.addr}, nil)
	waitReady(t, l)
	old := sendAsync(t, l, fwdOf(gwBJ, gwGZ, 0, 1, cmpp.V30))
	held := recA.next(t)

	l.SetAddrs([]string{b.addr})
	waitfor.Cond(t, "a session to the new address", func() bool {
		for _, s := range l.Status().Sessions {
			if s.Addr == b.addr && s.State == federation.SessionUp {
				return true
			}
		}
		return false
	})
	if o := await(t, sendAsync(t, l, fwdOf(gwBJ, gwGZ, 0, 2, cmpp.V30))); o.err != nil {
		t.Fatal(o.err)
	}
	if got := recB.next(t); got.fwd.MsgID != 2 {
		t.Fatalf("new address got Msg_Id %d", got.fwd.MsgID)
	}
	if len(a.Sessions()) != 1 {
		t.Fatal("old session gone before its FWD was answered")
	}
	held.respond(cmpp.ResultOK)
	if o := await(t, old); o.err != nil {
		t.Fatalf("FWD in flight on the retired address: %v", o.err)
	}
	waitfor.Cond(t, "the old session to end", func() bool { return len(a.Sessions()) == 0 })
	waitfor.Cond(t, "the retired slot to go", func() bool { return len(l.Status().Sessions) == 1 })
}

// TestLinkSpreadsOverNodes: a gateway served by two nodes gets its FWDs
// spread over both.
func TestLinkSpreadsOverNodes(t *testing.T) {
	recA, recB := newRecorder(holdAll), newRecorder(holdAll)
	a := startServer(t, peerConfig(t, gwGZ), recA, "127.0.0.1:0")
	b := startServer(t, peerConfig(t, gwGZ), recB, "127.0.0.1:0")
	l := startLink(t, peerConfig(t, gwBJ), gwGZ, []string{a.addr, b.addr}, nil)
	waitfor.Cond(t, "both sessions up", func() bool { return l.Status().Ready == 2 })
	var outs []<-chan outcome
	for i := range 6 {
		outs = append(outs, sendAsync(t, l, fwdOf(gwBJ, gwGZ, 0, uint64(i), cmpp.V30)))
	}
	var held []received
	for range 3 {
		held = append(held, recA.next(t), recB.next(t))
	}
	for _, h := range held {
		h.respond(cmpp.ResultOK)
	}
	for _, ch := range outs {
		if o := await(t, ch); o.err != nil {
			t.Fatal(o.err)
		}
	}
}

// TestFwdOverMutualTLS: the link speaks TLS with a client certificate to
// a server that requires one; a link without a certificate gets nowhere.
func TestFwdOverMutualTLS(t *testing.T) {
	ca := testcerts.NewCA(t, "federation")
	srvLeaf, cliLeaf := ca.Issue(t, "gz-1"), ca.Issue(t, "bj-1")
	srvCfg := peerConfig(t, gwGZ)
	srvCfg.ServerTLS = &federation.ServerTLS{Cert: srvLeaf.CertFile, Key: srvLeaf.KeyFile, ClientCA: ca.CAFile}
	rec := newRecorder(answerOK)
	srv := startServer(t, srvCfg, rec, "127.0.0.1:0")

	cfg := peerConfig(t, gwBJ)
	cfg.Default.TLS = &federation.ClientTLS{CA: ca.CAFile, Cert: cliLeaf.CertFile, Key: cliLeaf.KeyFile}
	l := startLink(t, cfg, gwGZ, []string{srv.addr}, nil)
	waitReady(t, l)
	if o := await(t, sendAsync(t, l, fwdOf(gwBJ, gwGZ, cmpp.FwdMTReport, 9, cmpp.V30))); o.err != nil {
		t.Fatal(o.err)
	}
	if got := rec.next(t); got.fwd.MsgID != 9 {
		t.Fatalf("got %d", got.fwd.MsgID)
	}

	noCert := peerConfig(t, gwBJ)
	noCert.Default.TLS = &federation.ClientTLS{CA: ca.CAFile}
	l2 := startLink(t, noCert, gwGZ, []string{srv.addr}, nil)
	waitfor.Cond(t, "a failed TLS login", func() bool { return l2.Counters().ConnectFailures > 0 })
	if l2.Status().Ready != 0 {
		t.Fatal("a link without a client certificate logged in")
	}
}

// TestLinkTakesFwdsOnItsOwnSession: between gateways either side may be
// client, so a FWD the peer sends on the session our link opened reaches
// the receiver with the same checks as on our server.
func TestLinkTakesFwdsOnItsOwnSession(t *testing.T) {
	sessions := make(chan *cmpp.Session, 1)
	srv := &cmpp.Server{
		Auth: cmpp.AuthenticatorFunc(func(context.Context, net.Addr, *cmpp.Connect) (string, uint32) {
			return secret, cmpp.ConnectOK
		}),
		OnSession: func(s *cmpp.Session) { sessions <- s },
	}
	ln := listen(t)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); <-served })

	rec := newRecorder(answerOK)
	l := startLink(t, peerConfig(t, gwBJ), gwGZ, []string{ln.Addr().String()}, rec)
	waitReady(t, l)
	s := <-sessions
	for _, tc := range []struct {
		f    *cmpp.Fwd
		want uint32
	}{
		{fwdOf(gwGZ, gwBJ, cmpp.FwdMOReport, 5, cmpp.V30), cmpp.ResultOK},
		{fwdOf(gwGZ, "030001", cmpp.FwdMO, 6, cmpp.V30), cmpp.ResultFwdDecision},
		{fwdOf("030001", gwBJ, cmpp.FwdMO, 7, cmpp.V30), cmpp.ResultBadStructure},
	} {
		resp, err := s.Send(context.Background(), tc.f)
		if err != nil {
			t.Fatal(err)
		}
		if r := resp.(*cmpp.FwdResp); r.Result != tc.want || r.MsgID != tc.f.MsgID {
			t.Fatalf("Msg_Id %d: %+v, want Result %d", tc.f.MsgID, r, tc.want)
		}
	}
	if got := rec.next(t); got.peer != gwGZ || got.fwd.MsgID != 5 {
		t.Fatalf("got %s %d", got.peer, got.fwd.MsgID)
	}
}
