package loginguard

import (
	"net/netip"
	"testing"
	"time"
)

// Failures lock out the (IP, account) pair, not the other accounts of the
// address; the per-IP ceiling locks out the address; the window's end
// lifts both.
func TestGuard(t *testing.T) {
	g := New()
	l := Limits{PerAccount: 3, PerIP: 5, Window: time.Minute}
	ip := netip.MustParseAddr("10.0.0.1")
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	for range 3 {
		g.Fail(ip, "901234", now, l)
	}
	if !g.Blocked(ip, "901234", now, l) {
		t.Fatal("the pair is not blocked after 3 failures")
	}
	if g.Blocked(ip, "902000", now, l) {
		t.Fatal("another account of the same address is blocked")
	}
	g.Fail(ip, "909001", now, l)
	g.Fail(ip, "909002", now, l)
	if !g.Blocked(ip, "902000", now, l) {
		t.Fatal("the address is not blocked after 5 failures over accounts")
	}
	if g.Blocked(ip, "901234", now.Add(time.Minute), l) || g.Blocked(ip, "902000", now.Add(time.Minute), l) {
		t.Fatal("still blocked after the window")
	}
}
