package routing

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
)

// SPAccount is an SP's login account, kept in the table so that it is the
// same on every gateway that serves the SP: the gateways named by the SP's
// record (primary, mirrors, default and partition gateways) take it from
// their route cache as a CMPP login. Zero limits mean the gateway's
// defaults.
//
// Secret is the CMPP shared secret. It travels inside the table (Raft log,
// snapshots, the watch stream, a gateway's cache file), so the GNS serves it
// only to callers that ask for it over a connection it trusts (see gns's
// README section), and an empty Secret in a value read from the GNS means
// it was withheld, not that the SP has none.
type SPAccount struct {
	Secret         string
	AllowedIPs     []string // CIDRs or addresses; empty allows none
	MaxConnections int      // connections at once, per gateway
	Window         int      // unanswered SUBMITs per connection
	SubmitRate     float64  // SUBMITs per second across connections, per gateway
	Burst          int      // token bucket size
}

// Limits of account fields; they bound what a gateway must accept.
const (
	maxSecretLen    = 64
	maxAccountLimit = 1 << 20
)

// ErrSecretRequired is returned by KeepSecrets for an account that has no
// secret and no earlier one to keep.
var ErrSecretRequired = fmt.Errorf("%w: an account needs a secret", ErrBadValue)

// Gateways returns the codes of the gateways the SP's record names
// (primary, mirrors, default, partitions), each once, in that order: the
// gateways that serve it and so take its account.
func (s *SP) Gateways() []string {
	out := []string{s.Gateway}
	add := func(g string) {
		if g != "" && !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	for _, m := range s.Mirrors {
		add(m)
	}
	add(s.DefaultGateway)
	for _, p := range s.Partitions {
		add(p.Gateway)
	}
	return out
}

// Serves reports whether the SP's record names gateway code gw.
func (s *SP) Serves(gw string) bool { return slices.Contains(s.Gateways(), gw) }

func cloneAccount(a *SPAccount) *SPAccount {
	if a == nil {
		return nil
	}
	c := *a
	c.AllowedIPs = slices.Clone(a.AllowedIPs)
	return &c
}

// checkAccount checks the account's fields; an empty secret is allowed
// here (a withheld one), KeepSecrets is where a writer must give one.
func checkAccount(a *SPAccount, add func(string, error)) {
	if len(a.Secret) > maxSecretLen {
		add("account.secret", fmt.Errorf("%w: %d bytes, at most %d", ErrBadValue, len(a.Secret), maxSecretLen))
	} else if err := checkText(a.Secret, maxSecretLen); err != nil {
		add("account.secret", fmt.Errorf("%w: control character", ErrBadValue))
	}
	if len(a.AllowedIPs) > maxListElements {
		add("account.allowed_ips", fmt.Errorf("%w: too many list elements", ErrBadValue))
		return
	}
	for i, s := range a.AllowedIPs {
		if err := checkAllowedIP(s); err != nil {
			add(fmt.Sprintf("account.allowed_ips[%d]", i), err)
		}
	}
	for _, l := range []struct {
		f string
		v int
	}{{"max_connections", a.MaxConnections}, {"window", a.Window}, {"burst", a.Burst}} {
		if l.v < 0 || l.v > maxAccountLimit {
			add("account."+l.f, fmt.Errorf("%w: %d, want 0 to %d", ErrBadValue, l.v, maxAccountLimit))
		}
	}
	if a.SubmitRate < 0 || a.SubmitRate > maxAccountLimit || math.IsNaN(a.SubmitRate) {
		add("account.submit_rate", fmt.Errorf("%w: %v, want 0 to %d", ErrBadValue, a.SubmitRate, maxAccountLimit))
	}
}

// checkAllowedIP accepts what a gateway's allow list does: a CIDR or a
// single address.
func checkAllowedIP(s string) error {
	if strings.Contains(s, "/") {
		if _, err := netip.ParsePrefix(s); err != nil {
			return fmt.Errorf("%w: %q is not a CIDR", ErrBadValue, s)
		}
		return nil
	}
	if _, err := netip.ParseAddr(s); err != nil {
		return fmt.Errorf("%w: %q is not an IP address or CIDR", ErrBadValue, s)
	}
	return nil
}

// KeepSecrets fills in, in place, the secret of each account that a put or
// a replace in changes gives without one, from the SP's account in cur (the
// table the changes apply to), so that a table exported without secrets,
// or an "sp set" of the limits alone, keeps the secrets it did not show.
// An account with no secret and none to keep is an error: a login account
// without a secret would take an empty one. The GNS calls it in its state
// machine, so every node fills the same value.
func KeepSecrets(cur *Table, changes []Change) error {
	for i := range changes {
		c := &changes[i]
		switch c.Op {
		case OpPutSP:
			if err := keepSecret(cur, &c.SP); err != nil {
				return &ChangeError{Index: i, Op: c.Op, Field: "sp.account.secret", Err: err}
			}
		case OpReplace:
			if c.Replace == nil {
				continue
			}
			for j := range c.Replace.SPs {
				if err := keepSecret(cur, &c.Replace.SPs[j]); err != nil {
					return &ChangeError{Index: i, Op: c.Op, Field: fmt.Sprintf("sps[%d].account.secret", j), Err: err}
				}
			}
		}
	}
	return nil
}

func keepSecret(cur *Table, s *SP) error {
	if s.Account == nil || s.Account.Secret != "" {
		return nil
	}
	if old, ok := cur.SP(s.ID); ok && old.Account != nil && old.Account.Secret != "" {
		a := *s.Account
		a.Secret = old.Account.Secret
		s.Account = &a
		return nil
	}
	return fmt.Errorf("%w (sp %s has none to keep)", ErrSecretRequired, s.ID)
}
