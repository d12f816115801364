package ismg

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// firewall limits failed logins. Failures are counted per (source IP,
// SP_Id), so one SP's bad secret does not lock out the other SPs behind
// the same address (a NAT): limits.auth_failures in limits.auth_fail_window
// blocks that pair. Per source IP alone a higher ceiling,
// limits.auth_failures_per_ip, blocks an address that sprays guesses over
// many SP_Ids. A block lasts until its window, which starts at the first
// failure, ends.
type firewall struct {
	mu    sync.Mutex
	pairs map[failKey]*failWindow
	ips   map[netip.Addr]*failWindow
}

type failKey struct {
	ip netip.Addr
	sp string
}

type failWindow struct {
	start time.Time
	count int
}

// maxFailEntries bounds each table under a spray of source addresses.
const maxFailEntries = 65536

func newFirewall() *firewall {
	return &firewall{pairs: map[failKey]*failWindow{}, ips: map[netip.Addr]*failWindow{}}
}

// blocked reports whether ip, or ip logging in as sp, used up its failures
// in the current window.
func (f *firewall) blocked(ip netip.Addr, sp string, now time.Time, l *LimitsConfig) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return over(f.ips, ip, now, l.AuthFailWindow, l.AuthFailuresIP) ||
		over(f.pairs, failKey{ip, sp}, now, l.AuthFailWindow, l.AuthFailures)
}

// fail counts a failed login of ip as sp.
func (f *firewall) fail(ip netip.Addr, sp string, now time.Time, l *LimitsConfig) {
	f.mu.Lock()
	defer f.mu.Unlock()
	count(f.ips, ip, now, l.AuthFailWindow)
	count(f.pairs, failKey{ip, sp}, now, l.AuthFailWindow)
}

func over[K comparable](m map[K]*failWindow, k K, now time.Time, window time.Duration, limit int) bool {
	w := m[k]
	if w == nil {
		return false
	}
	if now.Sub(w.start) >= window {
		delete(m, k)
		return false
	}
	return w.count >= limit
}

func count[K comparable](m map[K]*failWindow, k K, now time.Time, window time.Duration) {
	w := m[k]
	if w == nil || now.Sub(w.start) >= window {
		if w == nil && len(m) >= maxFailEntries {
			// Drop the expired entries, or else the whole table.
			for k, v := range m {
				if now.Sub(v.start) >= window {
					delete(m, k)
				}
			}
			if len(m) >= maxFailEntries {
				clear(m)
			}
		}
		w = &failWindow{start: now}
		m[k] = w
	}
	w.count++
}

// remoteIP is the address part of a peer, unmapped, or the zero Addr.
func remoteIP(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok {
			return ip.Unmap()
		}
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}
