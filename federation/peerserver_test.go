package federation_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/federation"
	"github.com/tandem-sms/tandem/internal/waitfor"
)

// dialPeer logs in to addr as gateway code with secret, as another
// vendor's gateway would (package cmpp's client, not a Link).
func dialPeer(tb testing.TB, addr, code, sec string, v cmpp.Version, window int) (*cmpp.Session, error) {
	tb.Helper()
	sc := cmpp.DefaultConfig()
	if window > 0 {
		sc.Window = window
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := cmpp.Dial(ctx, addr, cmpp.ClientConfig{SourceAddr: code, Secret: sec, Version: v, Session: sc})
	if err == nil {
		tb.Cleanup(func() { s.Close(); <-s.Done() })
	}
	return s, err
}

func connectStatus(err error) int {
	var ce *cmpp.ConnectError
	if errors.As(err, &ce) {
		return int(ce.Status)
	}
	return -1
}

// TestFwdServerLogins: a peer logs in with its own secret (or Default's)
// from an allowed address; a wrong secret, an address off the list, our
// own code or a code no peer has are refused with the spec's statuses and
// counted by reason.
func TestFwdServerLogins(t *testing.T) {
	cfg := peerConfig(t, gwGZ)
	cfg.Default.Secret = ""
	cfg.Peers = []federation.PeerSettings{
		{Code: gwBJ, Secret: "bj-secret"},
		{Code: "030001", Secret: "far-secret", AllowedIPs: []string{"10.0.0.0/8"}},
	}
	srv := startServer(t, cfg, newRecorder(answerOK), "127.0.0.1:0")
	m := cfg.Metrics

	if _, err := dialPeer(t, srv.addr, gwBJ, "bj-secret", cmpp.V30, 0); err != nil {
		t.Fatalf("good login: %v", err)
	}
	for _, tc := range []struct {
		name, code, secret, reason string
		status                     uint32
	}{
		{"wrong secret", gwBJ, "guess", federation.LoginAuth, cmpp.ConnectAuthFailed},
		{"address not allowed", "030001", "far-secret", federation.LoginIP, cmpp.ConnectOther},
		{"own code", gwGZ, "bj-secret", federation.LoginUnknownPeer, cmpp.ConnectBadSource},
		{"no secret for the code", "040001", "bj-secret", federation.LoginUnknownPeer, cmpp.ConnectBadSource},
		{"not a gateway code", "SP1234", "bj-secret", federation.LoginUnknownPeer, cmpp.ConnectBadSource},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := value(t, m.LoginsRefused.WithLabelValues(tc.reason))
			_, err := dialPeer(t, srv.addr, tc.code, tc.secret, cmpp.V30, 0)
			if got := connectStatus(err); got != int(tc.status) {
				t.Fatalf("status %d (%v), want %d", got, err, tc.status)
			}
			if n := value(t, m.LoginsRefused.WithLabelValues(tc.reason)); n != before+1 {
				t.Fatalf("logins_refused{%s} = %v, want %v", tc.reason, n, before+1)
			}
		})
	}
	if got := srv.Sessions(); len(got) != 1 || got[0].Peer != gwBJ {
		t.Fatalf("sessions %+v", got)
	}
}

// TestFwdServerKnownPeers: with isPeer set (the route table's gateways),
// a code it does not know is refused even with the Default secret.
func TestFwdServerKnownPeers(t *testing.T) {
	cfg := peerConfig(t, gwGZ)
	srv := startServerFor(t, cfg, newRecorder(answerOK), func(code string) bool { return code == gwBJ }, "127.0.0.1:0")
	if _, err := dialPeer(t, srv.addr, gwBJ, secret, cmpp.V30, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := dialPeer(t, srv.addr, "030001", secret, cmpp.V30, 0); connectStatus(err) != int(cmpp.ConnectBadSource) {
		t.Fatalf("unknown gateway: %v", err)
	}
	if n := value(t, cfg.Metrics.LoginsRefused.WithLabelValues(federation.LoginUnknownPeer)); n != 1 {
		t.Fatalf("unknown_peer = %v", n)
	}
}

// TestFwdServerLockout: after AuthFailures bad secrets from one address
// as one code, even the right secret is refused until the window ends; a
// higher ceiling per address covers guesses spread over codes.
func TestFwdServerLockout(t *testing.T) {
	cfg := peerConfig(t, gwGZ)
	cfg.AuthFailures, cfg.AuthFailuresPerIP = 2, 4
	cfg.AuthFailWindow = time.Hour
	srv := startServer(t, cfg, newRecorder(answerOK), "127.0.0.1:0")
	for range 2 {
		if _, err := dialPeer(t, srv.addr, gwBJ, "guess", cmpp.V30, 0); connectStatus(err) != int(cmpp.ConnectAuthFailed) {
			t.Fatal(err)
		}
	}
	if _, err := dialPeer(t, srv.addr, gwBJ, secret, cmpp.V30, 0); connectStatus(err) != int(cmpp.ConnectOther) {
		t.Fatalf("locked-out pair: %v", err)
	}
	if n := value(t, cfg.Metrics.LoginsRefused.WithLabelValues(federation.LoginBlocked)); n != 1 {
		t.Fatalf("blocked = %v", n)
	}
	// Another code from the same address still logs in, until the
	// address's own ceiling.
	if _, err := dialPeer(t, srv.addr, "030001", secret, cmpp.V30, 0); err != nil {
		t.Fatal(err)
	}
	for _, code := range []string{"040001", "050001"} {
		if _, err := dialPeer(t, srv.addr, code, "guess", cmpp.V30, 0); connectStatus(err) != int(cmpp.ConnectAuthFailed) {
			t.Fatal(err)
		}
	}
	if _, err := dialPeer(t, srv.addr, "060001", secret, cmpp.V30, 0); connectStatus(err) != int(cmpp.ConnectOther) {
		t.Fatalf("locked-out address: %v", err)
	}
}

// TestFwdServerChecksEachFwd: a FWD whose Destination_Id is not this
// gateway gets Result 9, one whose Source_Id is not the logged-in peer
// Result 1, a SUBMIT Result 2; none reaches the receiver; each is counted.
func TestFwdServerChecksEachFwd(t *testing.T) {
	for _, v := range []cmpp.Version{cmpp.V20, cmpp.V30} {
		t.Run(v.String(), func(t *testing.T) {
			rec := newRecorder(answerOK)
			cfg := peerConfig(t, gwGZ)
			srv := startServer(t, cfg, rec, "127.0.0.1:0")
			s, err := dialPeer(t, srv.addr, gwBJ, secret, v, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				req            cmpp.PDU
				result         uint32
				reason, labelR string
			}{
				{fwdOf(gwBJ, "030001", cmpp.FwdMT, 11, v), cmpp.ResultFwdDecision, federation.RejectDestination, "decision"},
				{fwdOf("030001", gwGZ, cmpp.FwdMT, 12, v), cmpp.ResultBadStructure, federation.RejectSource, "structure"},
				{&cmpp.Submit{MsgSrc: "901234", DestTerminalIDs: []string{"13800200001"}, MsgContent: "x"}, cmpp.ResultBadCommand, federation.RejectCommand, ""},
			} {
				resp, err := s.Send(context.Background(), tc.req)
				if err != nil {
					t.Fatal(err)
				}
				var result uint32
				switch r := resp.(type) {
				case *cmpp.FwdResp:
					result = r.Result
					if f := tc.req.(*cmpp.Fwd); r.MsgID != f.MsgID || r.PkTotal != f.PkTotal || r.PkNumber != f.PkNumber {
						t.Fatalf("FWD_RESP %+v does not echo the FWD", r)
					}
				case *cmpp.SubmitResp:
					result = r.Result
				}
				if result != tc.result {
					t.Fatalf("%v: Result %d, want %d", tc.req.Command(), result, tc.result)
				}
				if n := value(t, cfg.Metrics.Rejected.WithLabelValues(gwBJ, tc.reason)); n != 1 {
					t.Fatalf("rejected{%s} = %v", tc.reason, n)
				}
				if tc.labelR != "" {
					if n := value(t, cfg.Metrics.Received.WithLabelValues(gwBJ, tc.labelR)); n != 1 {
						t.Fatalf("received{%s} = %v", tc.labelR, n)
					}
				}
			}
			select {
			case got := <-rec.ch:
				t.Fatalf("receiver got a refused FWD: %+v", got.fwd)
			default:
			}
		})
	}
}

// TestFwdServerPeerWindow: a peer that sends more FWDs than its window
// gets Result 8 for the extra ones at once, counted; the receiver never
// sees them. Its window may be its own or Default's, the largest one too.
func TestFwdServerPeerWindow(t *testing.T) {
	for name, tc := range map[string]struct{ def, own int }{
		"own window under Default's": {4, 2},
		"Default's window":           {2, 0},
	} {
		t.Run(name, func(t *testing.T) {
			rec := newRecorder(holdAll)
			cfg := peerConfig(t, gwGZ)
			cfg.Default.Window = tc.def
			cfg.Peers = []federation.PeerSettings{{Code: gwBJ, Window: tc.own}}
			srv := startServer(t, cfg, rec, "127.0.0.1:0")
			s, err := dialPeer(t, srv.addr, gwBJ, secret, cmpp.V30, 8)
			if err != nil {
				t.Fatal(err)
			}
			results := make(chan uint32, 3)
			for i := range 3 {
				if err := s.SendAsync(context.Background(), fwdOf(gwBJ, gwGZ, 0, uint64(i), cmpp.V30), func(p cmpp.PDU, err error) {
					if err != nil {
						t.Error(err)
						results <- 99
						return
					}
					results <- p.(*cmpp.FwdResp).Result
				}); err != nil {
					t.Fatal(err)
				}
			}
			held := []received{rec.next(t), rec.next(t)}
			if r := <-results; r != cmpp.ResultFlowControl {
				t.Fatalf("third FWD: Result %d, want 8", r)
			}
			if n := value(t, cfg.Metrics.Rejected.WithLabelValues(gwBJ, federation.RejectWindow)); n != 1 {
				t.Fatalf("rejected{window} = %v", n)
			}
			if got := srv.Sessions(); len(got) != 1 || got[0].Receiving != 2 {
				t.Fatalf("sessions %+v", got)
			}
			for _, h := range held {
				h.respond(cmpp.ResultOK)
				h.respond(cmpp.ResultFlowControl) // a second answer is ignored
			}
			for range 2 {
				if r := <-results; r != cmpp.ResultOK {
					t.Fatalf("Result %d", r)
				}
			}
			waitfor.Cond(t, "the window to empty", func() bool { return srv.Sessions()[0].Receiving == 0 })
		})
	}
}

// TestFwdServerBadPDU: a FWD whose body does not decode is answered
// Result 1 by the session and counted; the session stays up.
func TestFwdServerBadPDU(t *testing.T) {
	cfg := peerConfig(t, gwGZ)
	srv := startServer(t, cfg, newRecorder(answerOK), "127.0.0.1:0")
	c := dialRaw(t, srv.addr, gwBJ, secret, cmpp.V30)
	body := handFwd(fwdValues(fwdOf(gwBJ, gwGZ, 0, 1, cmpp.V30), true), true)
	body[13] = 7 // Msg_Fwd_Type out of range
	c.write(cmdFwd, 5, body)
	h, b := c.read()
	if h.cmd != cmdFwdResp || h.seq != 5 || len(b) != 14 || b[13] != 1 {
		t.Fatalf("got %+v % x", h, b)
	}
	waitfor.Cond(t, "the bad PDU counted", func() bool {
		return value(t, cfg.Metrics.Rejected.WithLabelValues(gwBJ, federation.RejectBadPDU)) == 1
	})
	good := handFwd(fwdValues(fwdOf(gwBJ, gwGZ, 0, 2, cmpp.V30), true), true)
	c.write(cmdFwd, 6, good)
	if h, b := c.read(); h.seq != 6 || b[13] != 0 {
		t.Fatalf("after a bad PDU: %+v % x", h, b)
	}
}
