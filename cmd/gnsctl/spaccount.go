package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tandem-sms/tandem/gns/gnspb"
)

// SP accounts (the login an SP has on every gateway its record names):
// the flags sp add and sp set take, and how sp list/show print one. A
// secret is never printed: the GNS withholds it unless asked, and the
// table shows only whether one is set. A table diff leaves secrets out: it
// cannot tell a changed secret from a kept one.

// accountText is an account in one cell: its limits and allow list, and
// "secret set" rather than the secret.
func accountText(a *gnspb.SPAccount) string {
	if a == nil {
		return "-"
	}
	secret := "none"
	if a.GetSecret() != "" || a.GetSecretWithheld() {
		secret = "set"
	}
	return accountLimits(a) + " secret=" + secret
}

// accountLimits is an account without a word of its secret: what a table
// diff compares, since a file exported without secrets keeps them.
func accountLimits(a *gnspb.SPAccount) string {
	if a == nil {
		return "-"
	}
	return fmt.Sprintf("ips=%s max_conn=%d window=%d rate=%s burst=%d",
		strings.Join(a.GetAllowedIps(), ","), a.GetMaxConnections(), a.GetWindow(),
		strconv.FormatFloat(a.GetSubmitRate(), 'g', -1, 64), a.GetBurst())
}

// accountFlags are the account fields on the command line; only those
// given change anything.
type accountFlags struct {
	secret          string
	secretFile      string
	ips             string
	maxConn, window uint32
	rate            float64
	burst           uint32
	removeAccount   bool
	fs              *pflag.FlagSet
}

var accountFlagNames = []string{"secret", "secret-file", "allowed-ips", "max-connections", "window", "submit-rate", "burst"}

func addAccountFlags(cmd *cobra.Command, withRemove bool) *accountFlags {
	a := &accountFlags{fs: cmd.Flags()}
	f := cmd.Flags()
	f.StringVar(&a.secret, "secret", "", "CMPP shared secret of the SP's account (visible in the process list: prefer --secret-file)")
	f.StringVar(&a.secretFile, "secret-file", "", "read the account's secret from this file (first line)")
	f.StringVar(&a.ips, "allowed-ips", "", "source addresses the SP may log in from, CIDRs or IPs, comma-separated")
	f.Uint32Var(&a.maxConn, "max-connections", 0, "connections at once, per gateway (0: the gateway's default)")
	f.Uint32Var(&a.window, "window", 0, "unanswered SUBMITs per connection (0: the gateway's default)")
	f.Float64Var(&a.rate, "submit-rate", 0, "SUBMITs per second, per gateway (0: the gateway's default)")
	f.Uint32Var(&a.burst, "burst", 0, "token bucket size (0: the gateway's default)")
	if withRemove {
		f.BoolVar(&a.removeAccount, "remove-account", false, "remove the SP's account (its gateways' own sps take over)")
	}
	return a
}

// given reports whether any account flag was set.
func (a *accountFlags) given() bool {
	for _, n := range accountFlagNames {
		if a.fs.Changed(n) {
			return true
		}
	}
	return false
}

// apply sets the given fields on acct (created if nil) and returns it.
func (a *accountFlags) apply(acct *gnspb.SPAccount, readFile func(string) ([]byte, error)) (*gnspb.SPAccount, error) {
	if acct == nil {
		acct = &gnspb.SPAccount{}
	}
	// What the GNS sent back withheld is kept by sending no secret.
	acct.Secret, acct.SecretWithheld = "", false
	if a.fs.Changed("secret") && a.fs.Changed("secret-file") {
		return nil, usagef("--secret and --secret-file: give one")
	}
	if a.fs.Changed("secret") {
		if a.secret == "" {
			return nil, usagef("--secret: empty (remove the account with --remove-account)")
		}
		acct.Secret = a.secret
	}
	if a.fs.Changed("secret-file") {
		b, err := readFile(a.secretFile)
		if err != nil {
			return nil, fmt.Errorf("--secret-file: %w", err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		if line = strings.TrimRight(line, "\r"); line == "" {
			return nil, usagef("--secret-file %s: empty", a.secretFile)
		}
		acct.Secret = line
	}
	if a.fs.Changed("allowed-ips") {
		acct.AllowedIps = splitComma(a.ips)
	}
	if a.fs.Changed("max-connections") {
		acct.MaxConnections = a.maxConn
	}
	if a.fs.Changed("window") {
		acct.Window = a.window
	}
	if a.fs.Changed("submit-rate") {
		acct.SubmitRate = a.rate
	}
	if a.fs.Changed("burst") {
		acct.Burst = a.burst
	}
	return acct, nil
}
