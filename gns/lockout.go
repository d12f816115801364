package gns

import (
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Reasons for refusing a CMPP route-port connection or login: the label
// values of gns_cmpp_connect_rejected_total.
const (
	rejectNotAllowed     = "not_allowed"     // source address outside CMPPAllow, closed unread
	rejectUnknownGateway = "unknown_gateway" // Source_Addr has no secret: status 2
	rejectAuth           = "auth"            // wrong AuthenticatorSource: status 3
	rejectAccountLocked  = "account_locked"  // Lockout.Failures from this IP for this account: status 5
	rejectIPLocked       = "ip_locked"       // Lockout.IPFailures from this IP: status 5
	// cmpp.RefusePending and cmpp.RefusePendingPerIP come from the server.
)

// maxLockoutEntries bounds each of the lockout's tables under a spray of
// source addresses or account names.
const maxLockoutEntries = 1 << 16

// lockout counts failed logins in fixed windows per (source IP, account)
// and per source IP, and says which of them is locked out. Its methods
// take the time, so tests can drive the windows.
type lockout struct {
	cfg   Lockout
	mu    sync.Mutex
	pairs map[loginKey]*failWindow
	ips   map[netip.Addr]*failWindow
}

type loginKey struct {
	ip      netip.Addr
	account string
}

type failWindow struct {
	start time.Time
	n     int
}

func newLockout(cfg Lockout) *lockout {
	return &lockout{cfg: cfg, pairs: map[loginKey]*failWindow{}, ips: map[netip.Addr]*failWindow{}}
}

// current returns w if its window is still open at now, else nil.
func (l *lockout) current(w *failWindow, now time.Time) *failWindow {
	if w == nil || now.Sub(w.start) >= l.cfg.Window {
		return nil
	}
	return w
}

// locked says whether a login for account from ip is refused at now, and
// why ("" when it may proceed).
func (l *lockout) locked(ip netip.Addr, account string, now time.Time) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if w := l.current(l.ips[ip], now); l.cfg.IPFailures > 0 && w != nil && w.n >= l.cfg.IPFailures {
		return rejectIPLocked
	}
	if w := l.current(l.pairs[loginKey{ip, account}], now); l.cfg.Failures > 0 && w != nil && w.n >= l.cfg.Failures {
		return rejectAccountLocked
	}
	return ""
}

// fail records a failed login and returns the reason of a lock this very
// failure engaged ("" if none), so the caller logs each lock once.
func (l *lockout) fail(ip netip.Addr, account string, now time.Time) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	engaged := ""
	if l.cfg.Failures > 0 && count(l, l.pairs, loginKey{ip, account}, now) == l.cfg.Failures {
		engaged = rejectAccountLocked
	}
	if l.cfg.IPFailures > 0 && count(l, l.ips, ip, now) == l.cfg.IPFailures {
		engaged = rejectIPLocked
	}
	return engaged
}

// count adds one failure to k's window in m, opening a new window when the
// last one closed, and returns the window's count.
func count[K comparable](l *lockout, m map[K]*failWindow, k K, now time.Time) int {
	w := l.current(m[k], now)
	if w == nil {
		if _, ok := m[k]; !ok && len(m) >= maxLockoutEntries {
			// Drop the closed windows; if all are open (a spray within
			// one window), start over rather than grow without bound.
			for key, v := range m {
				if l.current(v, now) == nil {
					delete(m, key)
				}
			}
			if len(m) >= maxLockoutEntries {
				clear(m)
			}
		}
		w = &failWindow{start: now}
		m[k] = w
	}
	w.n++
	return w.n
}

// succeeded forgets the account's failures from ip; those of the IP stay.
func (l *lockout) succeeded(ip netip.Addr, account string) {
	l.mu.Lock()
	delete(l.pairs, loginKey{ip, account})
	l.mu.Unlock()
}

// addrIP is the IP of a connection's remote address, unmapped; the zero
// Addr when it has none.
func addrIP(a net.Addr) netip.Addr {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// allowListener closes, unread, the connections whose source address is
// in none of allow.
type allowListener struct {
	net.Listener
	allow   []netip.Prefix
	refused func(remote net.Addr)
}

func (l *allowListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := addrIP(c.RemoteAddr())
		if slices.ContainsFunc(l.allow, func(p netip.Prefix) bool { return p.Contains(ip) }) {
			return c, nil
		}
		c.Close()
		l.refused(c.RemoteAddr())
	}
}
