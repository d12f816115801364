package gns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/internal/waitfor"
)

// login CONNECTs to the route port as source with secret and returns the
// CONNECT_RESP status (0: logged in; the session is closed again), or the
// error when the server answered no CONNECT_RESP at all.
func login(t *testing.T, addr, source, secret string) (uint32, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := cmpp.Dial(ctx, addr, cmpp.ClientConfig{SourceAddr: source, Secret: secret, Version: cmpp.V30})
	var ce *cmpp.ConnectError
	switch {
	case err == nil:
		s.Close()
		<-s.Done()
		return cmpp.ConnectOK, nil
	case errors.As(err, &ce):
		return ce.Status, nil
	}
	return 0, err
}

func mustLogin(t *testing.T, addr, source, secret string) uint32 {
	t.Helper()
	st, err := login(t, addr, source, secret)
	if err != nil {
		t.Fatalf("login %s: %v", source, err)
	}
	return st
}

func rejected(n *testNode, reason string) int {
	return int(counterValue(n, "gns_cmpp_connect_rejected_total", "reason", reason))
}

// counterValue reads a counter the node exports, by name and label pairs,
// as a scrape would; 0 when it has not been counted yet.
func counterValue(n *testNode, name string, labels ...string) float64 {
	mfs, err := n.gather.Gather()
	if err != nil {
		panic(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// The probe: 30 wrong gateway secrets in a burst, then the right
// one, which was accepted before there was a lockout. Now the account is
// locked out from that address (status 5, its correct secret too), while
// another gateway behind the same address still logs in.
func TestCMPPLockoutProbe(t *testing.T) {
	n, _, _ := singleNode(t, nil)
	addr := n.CMPPAddr()
	for i := range 30 {
		want := uint32(cmpp.ConnectAuthFailed)
		if i >= 5 { // Lockout.Failures: the sixth attempt finds the account locked
			want = cmpp.ConnectOther
		}
		if st := mustLogin(t, addr, "022001", fmt.Sprint("guess", i)); st != want {
			t.Fatalf("wrong secret %d: status %d, want %d", i, st, want)
		}
	}
	if st := mustLogin(t, addr, "022001", "s3cret"); st != cmpp.ConnectOther {
		t.Fatalf("right secret after 30 wrong ones: status %d, want %d (locked out)", st, cmpp.ConnectOther)
	}
	if st := mustLogin(t, addr, "001001", "s3cret"); st != cmpp.ConnectOK {
		t.Fatalf("another gateway from the same address: status %d, want 0", st)
	}
	if a, l := rejected(n, rejectAuth), rejected(n, rejectAccountLocked); a != 5 || l != 26 {
		t.Fatalf("gns_cmpp_connect_rejected_total auth=%d account_locked=%d, want 5 and 26", a, l)
	}
}

// Failures across accounts add up per source IP to the higher ceiling,
// which then locks out every account from that IP; a success in between
// clears only its own account's count.
func TestCMPPLockoutPerIP(t *testing.T) {
	n, _, _ := singleNode(t, func(c *Config) { c.CMPPLockout = Lockout{Failures: 3, IPFailures: 6, Window: time.Hour} })
	addr := n.CMPPAddr()
	for i, src := range []string{"022001", "022001", "077101", "100001"} {
		if st := mustLogin(t, addr, src, "wrong"); st == cmpp.ConnectOK || st == cmpp.ConnectOther {
			t.Fatalf("failure %d: status %d", i, st)
		}
	}
	// 022001 has 2 failures; its success forgets them, not the IP's 4.
	if st := mustLogin(t, addr, "022001", "s3cret"); st != cmpp.ConnectOK {
		t.Fatalf("022001 below its limit: status %d", st)
	}
	for range 2 {
		mustLogin(t, addr, "100002", "wrong")
	}
	for _, src := range []string{"001001", "022001"} {
		if st := mustLogin(t, addr, src, "s3cret"); st != cmpp.ConnectOther {
			t.Fatalf("%s after the IP's 6th failure: status %d, want 5", src, st)
		}
	}
	if got := rejected(n, rejectIPLocked); got != 2 {
		t.Fatalf("ip_locked = %d, want 2", got)
	}
	if got := rejected(n, rejectUnknownGateway); got != 3 {
		t.Fatalf("unknown_gateway = %d, want 3", got)
	}
}

func TestLockoutWindows(t *testing.T) {
	l := newLockout(Lockout{Failures: 2, IPFailures: 3, Window: time.Minute})
	ip, other := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	t0 := time.Unix(1_000_000, 0)
	if got := l.fail(ip, "a", t0); got != "" {
		t.Fatalf("first failure engaged %q", got)
	}
	if got := l.fail(ip, "a", t0.Add(time.Second)); got != rejectAccountLocked {
		t.Fatalf("second failure engaged %q, want the account lock", got)
	}
	if got := l.locked(ip, "a", t0.Add(2*time.Second)); got != rejectAccountLocked {
		t.Fatalf("locked = %q", got)
	}
	if got := l.locked(ip, "b", t0.Add(2*time.Second)); got != "" {
		t.Fatalf("another account locked: %q", got)
	}
	if got := l.locked(other, "a", t0.Add(2*time.Second)); got != "" {
		t.Fatalf("the account from another IP locked: %q", got)
	}
	if got := l.fail(ip, "b", t0.Add(3*time.Second)); got != rejectIPLocked {
		t.Fatalf("third failure from the IP engaged %q, want the IP lock", got)
	}
	if got := l.locked(ip, "c", t0.Add(4*time.Second)); got != rejectIPLocked {
		t.Fatalf("new account on a locked IP: %q", got)
	}
	// Windows are fixed from their first failure.
	if got := l.locked(ip, "a", t0.Add(time.Minute)); got != "" {
		t.Fatalf("after the window: %q", got)
	}
	if got := l.fail(ip, "a", t0.Add(time.Minute)); got != "" {
		t.Fatalf("first failure of a new window engaged %q", got)
	}

	// The tables stay bounded under a spray of accounts.
	for i := range maxLockoutEntries + 10 {
		l.fail(other, fmt.Sprint(i), t0.Add(2*time.Minute))
	}
	if len(l.pairs) > maxLockoutEntries {
		t.Fatalf("pairs table grew to %d", len(l.pairs))
	}
}

// A source outside CMPPAllow is closed before its CONNECT is read; one
// inside logs in.
func TestCMPPAllowList(t *testing.T) {
	n, _, _ := singleNode(t, func(c *Config) { c.CMPPAllow = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")} })
	if st, err := login(t, n.CMPPAddr(), "001001", "s3cret"); err == nil {
		t.Fatalf("login from outside the allow list answered status %d", st)
	}
	waitfor.Cond(t, "refusal counted", func() bool { return rejected(n, rejectNotAllowed) == 1 })

	n2, _, _ := singleNode(t, func(c *Config) {
		c.NodeID = "solo2"
		c.CMPPAllow = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("127.0.0.0/8")}
	})
	if st := mustLogin(t, n2.CMPPAddr(), "001001", "s3cret"); st != cmpp.ConnectOK {
		t.Fatalf("login from an allowed network: status %d", st)
	}
}

// The caps on connections that have not logged in are wired to the
// config and counted.
func TestCMPPPendingCap(t *testing.T) {
	n, _, _ := singleNode(t, func(c *Config) { c.CMPPMaxPendingPerIP, c.CMPPConnectTimeout = 2, time.Minute })
	var idle []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", n.CMPPAddr())
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	waitfor.Cond(t, "two pending connections", func() bool { return n.cmppSrv.PendingConns() == 2 })
	c, err := net.Dial("tcp", n.CMPPAddr())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("third idle connection from one address was not closed")
	}
	c.Close()
	waitfor.Cond(t, "refusal counted", func() bool { return rejected(n, cmpp.RefusePendingPerIP) == 1 })
	for _, c := range idle {
		c.Close()
	}
	waitfor.Cond(t, "idle connections released", func() bool { return n.cmppSrv.PendingConns() == 0 })
	if st := mustLogin(t, n.CMPPAddr(), "001001", "s3cret"); st != cmpp.ConnectOK {
		t.Fatalf("login after the flood: status %d", st)
	}
}

func TestConfigValidateSecurity(t *testing.T) {
	valid := func() Config {
		c := testConfig(t, "v")
		return c
	}
	for _, tc := range []struct {
		field  string
		mutate func(*Config)
	}{
		{"RaftTLSCert", func(c *Config) { c.Token = "t" }},
		{"RaftTLSCert/RaftTLSKey/RaftTLSCA", func(c *Config) { c.RaftTLSCert, c.RaftTLSKey = "a", "b" }},
		{"CMPPConnectTimeout", func(c *Config) { c.CMPPConnectTimeout = -1 }},
		{"CMPPLockout", func(c *Config) { c.CMPPLockout.Failures = -1 }},
		{"CMPPLockout.Window", func(c *Config) { c.CMPPLockout.Window = 0 }},
		{"CMPPAllow[1]", func(c *Config) { c.CMPPAllow = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), {}} }},
	} {
		c := valid()
		tc.mutate(&c)
		err := c.Validate()
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.field+" ") {
			t.Errorf("%s: Validate() = %v", tc.field, err)
		}
	}
	c := valid()
	c.Token, c.InsecureRaft = "t", true
	if err := c.Validate(); err != nil {
		t.Errorf("token with InsecureRaft: %v", err)
	}
	c.CMPPLockout = Lockout{} // no lockout at all is allowed
	if err := c.Validate(); err != nil {
		t.Errorf("lockout off: %v", err)
	}
}
