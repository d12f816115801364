package cmpp_test

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/cmpp/cmpptest"
	"github.com/tandem-sms/tandem/internal/testcerts"
	"github.com/tandem-sms/tandem/internal/waitfor"
)

// CMPP over TLS on real loopback: Dial with ClientConfig.TLS logs in to a
// Server on a tls.Listener and the session works; the login's refusal
// reaches the client through TLS; plaintext and untrusting clients fail;
// and the per-IP cap on connections not logged in counts TLS connections
// by their TCP source address, an unfinished handshake included.
func TestTLSLogin(t *testing.T) {
	checkGoroutines(t)
	ca := testcerts.NewCA(t, "cmpp-test")
	leaf := ca.Issue(t, "ismg")
	var mu sync.Mutex
	refused := map[string]int{}
	ts := cmpptest.NewUnstartedServer(okHandler)
	ts.MaxPendingPerIP = 1
	ts.ConnectTimeout = time.Minute // the idle connection below must not time out by itself
	ts.OnRefuse = func(a net.Addr, reason string) {
		mu.Lock()
		refused[reason]++
		mu.Unlock()
	}
	ts.StartTLS(t, testcerts.ServerConfig(leaf, nil))
	count := func(reason string) int {
		mu.Lock()
		defer mu.Unlock()
		return refused[reason]
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()

	cfg := ts.ClientConfig(t, cmpp.V30)
	cfg.TLS = testcerts.ClientConfig(ca, nil)
	s := cmpptest.DialConfig(t, ts.Addr, cfg)
	resp, err := s.Send(ctx, newSubmit())
	if err != nil || resp.(*cmpp.SubmitResp).Result != cmpp.ResultOK {
		t.Fatalf("SUBMIT over TLS: %v, %v", resp, err)
	}
	ss := ts.NextSession(t)
	if a, ok := ss.RemoteAddr().(*net.TCPAddr); !ok || !a.IP.IsLoopback() {
		t.Errorf("server session's RemoteAddr = %v, want the TCP peer", ss.RemoteAddr())
	}

	// Each failed login below is let go (its server side closed) before
	// the next: with MaxPendingPerIP 1 a lingering one would have the
	// next refused for the cap instead of failing the way it is meant to.
	settled := func() {
		t.Helper()
		waitfor.Cond(t, "no pending connection", func() bool { return ts.PendingConns() == 0 })
	}
	bad := cfg
	bad.Secret = "wrong"
	var ce *cmpp.ConnectError
	if _, err := cmpp.Dial(ctx, ts.Addr, bad); !errors.As(err, &ce) || ce.Status != cmpp.ConnectAuthFailed {
		t.Fatalf("wrong secret over TLS: %v, want CONNECT_RESP status 3", err)
	}
	settled()
	plain := cfg
	plain.TLS = nil
	if _, err := cmpp.Dial(ctx, ts.Addr, plain); err == nil {
		t.Fatal("plaintext login to a TLS listener succeeded")
	}
	settled()
	untrusting := cfg
	untrusting.TLS = testcerts.ClientConfig(testcerts.NewCA(t, "other"), nil)
	var ua x509.UnknownAuthorityError
	if _, err := cmpp.Dial(ctx, ts.Addr, untrusting); !errors.As(err, &ua) {
		t.Fatalf("client trusting another CA: %v, want an unknown authority", err)
	}

	// One TCP connect that never starts its handshake holds 127.0.0.1's
	// only pending slot: a TLS login from there is refused unread, and
	// goes through once the idle one is gone.
	settled()
	idle, err := net.Dial("tcp", ts.Addr)
	if err != nil {
		t.Fatal(err)
	}
	waitfor.Cond(t, "the idle connection pending", func() bool { return ts.PendingConns() == 1 })
	if _, err := cmpp.Dial(ctx, ts.Addr, cfg); err == nil {
		t.Fatal("TLS login over the per-IP pending cap succeeded")
	}
	if n := count(cmpp.RefusePendingPerIP); n != 1 {
		t.Fatalf("per-IP refusals = %d, want 1", n)
	}
	idle.Close()
	settled()
	cmpptest.DialConfig(t, ts.Addr, cfg)
}
