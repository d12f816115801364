package ismg

import (
	"net"
	"net/netip"
	"path/filepath"
	"sort"
)

// AdminConfig configures the admin gRPC API on listen.admin (ismgctl).
type AdminConfig struct {
	// Token is required as "authorization: Bearer <token>" on every call
	// but health; the audit log names its caller "admin". Required when
	// listen.admin is not a loopback address.
	Token string `yaml:"token"`
	// Tokens are more bearer tokens, by the operator's name the audit log
	// records (name: token).
	Tokens map[string]string `yaml:"tokens"`
	// AuditLog is the JSON-lines file of admin changes; default
	// <data_dir>/admin-audit.jsonl.
	AuditLog string `yaml:"audit_log"`
}

// tokens lists the accepted bearer tokens by name, in a fixed order.
func (c *AdminConfig) tokens() []namedToken {
	var out []namedToken
	if c.Token != "" {
		out = append(out, namedToken{name: "admin", token: c.Token})
	}
	for name, tok := range c.Tokens {
		out = append(out, namedToken{name: name, token: tok})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

type namedToken struct{ name, token string }

func (c *Config) auditPath() string {
	if c.Admin.AuditLog == "" {
		return filepath.Join(c.DataDir, "admin-audit.jsonl")
	}
	if !filepath.IsAbs(c.Admin.AuditLog) && c.path != "" {
		return filepath.Join(filepath.Dir(c.path), c.Admin.AuditLog)
	}
	return c.Admin.AuditLog
}

func (c *Config) checkAdmin(bad badFunc) {
	if c.Listen.Admin == "" {
		return
	}
	host, _, err := net.SplitHostPort(c.Listen.Admin)
	if err != nil {
		bad("listen.admin", "want host:port: %v", err)
		return
	}
	for name, tok := range c.Admin.Tokens {
		if tok == "" {
			bad("admin.tokens."+name, "empty token")
		}
	}
	ip, perr := netip.ParseAddr(host)
	loopback := host == "localhost" || (perr == nil && ip.IsLoopback())
	if !loopback && len(c.Admin.tokens()) == 0 {
		bad("listen.admin", "%q is not a loopback address and admin.token is empty: anyone who reaches it could change SP accounts; set admin.token (and listen.admin_tls)", c.Listen.Admin)
	}
	if t := c.Listen.AdminTLS; t != nil && (t.Cert == "" || t.Key == "") {
		bad("listen.admin_tls", "cert and key are required")
	}
}
