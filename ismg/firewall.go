package ismg

import (
	"net"
	"net/netip"

	"github.com/tandem-sms/tandem/internal/loginguard"
)

// loginLimits are the login lockout's limits of the current
// configuration (reloadable): limits.auth_failures per (source IP, SP_Id)
// and limits.auth_failures_per_ip per source IP in limits.auth_fail_window.
func loginLimits(l *LimitsConfig) loginguard.Limits {
	return loginguard.Limits{PerAccount: l.AuthFailures, PerIP: l.AuthFailuresIP, Window: l.AuthFailWindow}
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
