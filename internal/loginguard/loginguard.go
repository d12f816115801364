// Package loginguard counts failed logins and says when to refuse one: per
// (source IP, account), so one account's bad secret does not lock out the
// other accounts behind the same address (a NAT), and per source IP alone
// with a higher ceiling, so an address that sprays guesses over many
// accounts is locked out too. A lock lasts until its window, which starts
// at the first failure, ends. The SP port and the peer-gateway FWD port
// share it.
package loginguard

import (
	"net/netip"
	"sync"
	"time"
)

// Limits are the ceilings and the window; they may change between calls
// (a configuration reload).
type Limits struct {
	PerAccount int // failures of one (IP, account) pair per Window
	PerIP      int // failures of one IP over all accounts per Window
	Window     time.Duration
}

// Guard holds the failure windows. The zero Guard is not usable: use New.
type Guard struct {
	mu    sync.Mutex
	pairs map[pairKey]*failWindow
	ips   map[netip.Addr]*failWindow
}

type pairKey struct {
	ip      netip.Addr
	account string
}

type failWindow struct {
	start time.Time
	count int
}

// maxEntries bounds each table under a spray of source addresses.
const maxEntries = 65536

// New returns an empty Guard.
func New() *Guard {
	return &Guard{pairs: map[pairKey]*failWindow{}, ips: map[netip.Addr]*failWindow{}}
}

// Blocked reports whether ip, or ip logging in as account, used up its
// failures in the current window.
func (g *Guard) Blocked(ip netip.Addr, account string, now time.Time, l Limits) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return over(g.ips, ip, now, l.Window, l.PerIP) ||
		over(g.pairs, pairKey{ip, account}, now, l.Window, l.PerAccount)
}

// Fail counts a failed login of ip as account.
func (g *Guard) Fail(ip netip.Addr, account string, now time.Time, l Limits) {
	g.mu.Lock()
	defer g.mu.Unlock()
	count(g.ips, ip, now, l.Window)
	count(g.pairs, pairKey{ip, account}, now, l.Window)
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
		if w == nil && len(m) >= maxEntries {
			// Drop the expired entries, or else the whole table.
			for k, v := range m {
				if now.Sub(v.start) >= window {
					delete(m, k)
				}
			}
			if len(m) >= maxEntries {
				clear(m)
			}
		}
		w = &failWindow{start: now}
		m[k] = w
	}
	w.count++
}
