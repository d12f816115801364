package federation

import (
	"net/netip"
	"sync"
	"time"
)

// lockout limits failed peer logins. Failures are counted per (source IP,
// gateway code), so one peer's bad secret does not lock out another peer
// behind the same address, and per source IP alone with a higher ceiling,
// so an address that sprays guesses over many codes is locked out too. A
// lock lasts until its window, which starts at the first failure, ends.
type lockout struct {
	perPair, perIP int
	window         time.Duration

	mu    sync.Mutex
	pairs map[lockKey]*failWindow
	ips   map[netip.Addr]*failWindow
}

type lockKey struct {
	ip   netip.Addr
	code string
}

type failWindow struct {
	start time.Time
	count int
}

// maxLockEntries bounds each table under a spray of source addresses.
const maxLockEntries = 65536

func newLockout(perPair, perIP int, window time.Duration) *lockout {
	return &lockout{
		perPair: perPair, perIP: perIP, window: window,
		pairs: map[lockKey]*failWindow{}, ips: map[netip.Addr]*failWindow{},
	}
}

// blocked reports whether ip, or ip logging in as code, used up its
// failures in the current window.
func (l *lockout) blocked(ip netip.Addr, code string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return overLimit(l.ips, ip, now, l.window, l.perIP) ||
		overLimit(l.pairs, lockKey{ip, code}, now, l.window, l.perPair)
}

// fail counts a failed login of ip as code.
func (l *lockout) fail(ip netip.Addr, code string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	countFailure(l.ips, ip, now, l.window)
	countFailure(l.pairs, lockKey{ip, code}, now, l.window)
}

func overLimit[K comparable](m map[K]*failWindow, k K, now time.Time, window time.Duration, limit int) bool {
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

func countFailure[K comparable](m map[K]*failWindow, k K, now time.Time, window time.Duration) {
	w := m[k]
	if w == nil || now.Sub(w.start) >= window {
		if w == nil && len(m) >= maxLockEntries {
			// Drop the expired entries, or else the whole table.
			for k, v := range m {
				if now.Sub(v.start) >= window {
					delete(m, k)
				}
			}
			if len(m) >= maxLockEntries {
				clear(m)
			}
		}
		w = &failWindow{start: now}
		m[k] = w
	}
	w.count++
}
