package ismg

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/tandem-sms/tandem/internal/zone"
)

// Validate checks every key and returns a *ConfigError naming each bad one
// with its file and line. It does not change c. The phases follow the
// file: the node (gateway, data, listeners), limits and delivery, the SP
// accounts, the SMSC links.
func (c *Config) Validate() error {
	p := &problems{c: c}
	c.checkNode(p.bad)
	c.checkLimits(p.bad)
	c.checkSPs(p.bad)
	c.checkSMSCs(p.bad)
	c.checkFederation(p.bad)
	c.checkSiblings(p.bad)
	c.checkAdmin(p.bad)
	c.checkHA(p.bad)
	if len(p.list) > 0 {
		return &ConfigError{Problems: p.list}
	}
	return nil
}

// problems collects what Validate finds, each placed at its key's line.
type problems struct {
	c    *Config
	list []string
}

func (p *problems) bad(key, format string, args ...any) {
	c := p.c
	loc := c.path
	if line, ok := c.lineOf(key); ok {
		loc = fmt.Sprintf("%s:%d", c.path, line)
	}
	if loc == "" {
		loc = "config"
	}
	p.list = append(p.list, fmt.Sprintf("%s: %s: %s", loc, key, fmt.Sprintf(format, args...)))
}

// badFunc reports one problem at key.
type badFunc func(key, format string, args ...any)

func (c *Config) checkNode(bad badFunc) {
	if !codeRE.MatchString(c.Gateway.Code) {
		bad("gateway.code", "want 6 digits, got %q", c.Gateway.Code)
	}
	if c.Gateway.Region == "" {
		bad("gateway.region", "required")
	}
	if _, err := zone.Load(c.Timezone); err != nil {
		bad("timezone", "%v", err)
	}
	if c.DataDir == "" {
		bad("data_dir", "required")
	}
	if _, _, err := net.SplitHostPort(c.Listen.CMPP); err != nil {
		bad("listen.cmpp", "want host:port: %v", err)
	}
	if c.Listen.HTTP != "" {
		if _, _, err := net.SplitHostPort(c.Listen.HTTP); err != nil {
			bad("listen.http", "want host:port: %v", err)
		}
	}
	if c.Listen.PProf != "" {
		if host, _, err := net.SplitHostPort(c.Listen.PProf); err != nil {
			bad("listen.pprof", "want host:port: %v", err)
		} else if ip, err := netip.ParseAddr(host); host != "localhost" && (err != nil || !ip.IsLoopback()) {
			bad("listen.pprof", "%q is not a loopback address: profiles expose the process's memory, serve them on 127.0.0.1 or ::1 only", host)
		}
	}
	if c.Listen.CMPPTLS != "" {
		if _, _, err := net.SplitHostPort(c.Listen.CMPPTLS); err != nil {
			bad("listen.cmpp_tls", "want host:port: %v", err)
		}
		if c.Listen.TLS == nil {
			bad("listen.cmpp_tls", "needs listen.tls (cert and key)")
		}
	}
	if c.Listen.TLS != nil {
		if _, err := c.Listen.TLS.load(); err != nil {
			bad("listen.tls", "%v", err)
		}
	}
}

func (c *Config) checkLimits(bad badFunc) {
	switch {
	case c.Routes.File == "" && len(c.Routes.GNS) == 0:
		bad("routes", "set routes.file (a static table) or routes.gns (the GNS nodes to follow)")
	case c.Routes.File != "" && len(c.Routes.GNS) > 0:
		bad("routes.gns", "routes.file and routes.gns exclude each other: a node follows the GNS or a file")
	}
	for i, a := range c.Routes.GNS {
		if _, _, err := net.SplitHostPort(a); err != nil {
			bad(fmt.Sprintf("routes.gns[%d]", i), "want host:port: %v", err)
		}
	}
	if (c.Routes.TLSCert == "") != (c.Routes.TLSKey == "") {
		bad("routes.tls_cert", "tls_cert and tls_key go together")
	}
	if c.Limits.MaxPDU < 512 || c.Limits.MaxPDU > 1<<20 {
		bad("limits.max_pdu", "want 512..1048576, got %d", c.Limits.MaxPDU)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"limits.connect_timeout", c.Limits.ConnectTimeout}, {"limits.read_timeout", c.Limits.ReadTimeout},
		{"limits.auth_fail_window", c.Limits.AuthFailWindow}, {"limits.active_test", c.Limits.ActiveTest},
		{"limits.response_timeout", c.Limits.ResponseTimeout}, {"delivery.retry_min", c.Delivery.RetryMin},
		{"delivery.retry_max", c.Delivery.RetryMax}, {"delivery.default_validity", c.Delivery.DefaultValidity},
		{"delivery.report_timeout", c.Delivery.ReportTimeout}, {"billing.rotate", c.Billing.Rotate},
		{"billing.move_interval", c.Billing.MoveInterval},
		{"delivery.orphan_ttl", c.Delivery.OrphanTTL}, {"delivery.shutdown_timeout", c.Delivery.ShutdownTimeout},
		{"delivery.expiry_sweep", c.Delivery.ExpirySweep}, {"delivery.deliver_ttl", c.Delivery.DeliverTTL},
	} {
		if d.v <= 0 {
			bad(d.key, "must be > 0, got %v", d.v)
		}
	}
	if c.Delivery.RetryMax < c.Delivery.RetryMin {
		bad("delivery.retry_max", "must be >= delivery.retry_min (%v)", c.Delivery.RetryMin)
	}
	if c.Limits.QueueDepth <= 0 {
		bad("limits.queue_depth", "must be > 0")
	}
	if c.Limits.AuthFailuresIP < c.Limits.AuthFailures {
		bad("limits.auth_failures_per_ip", "%d must be at least limits.auth_failures (%d)", c.Limits.AuthFailuresIP, c.Limits.AuthFailures)
	}
	if c.Limits.MaxPending <= 0 || c.Limits.MaxPendingIP <= 0 || c.Limits.MaxPendingIP > c.Limits.MaxPending {
		bad("limits.max_pending", "max_pending %d and max_pending_per_ip %d must be > 0, per IP at most the total",
			c.Limits.MaxPending, c.Limits.MaxPendingIP)
	}
	if c.Limits.AuthFailures <= 0 {
		bad("limits.auth_failures", "must be > 0")
	}
	if c.Delivery.MaxAttempts <= 0 {
		bad("delivery.max_attempts", "must be > 0")
	}
	if c.Runtime.GCPercent < 25 || c.Runtime.GCPercent > 10000 {
		bad("runtime.gc_percent", "want 25..10000, got %d", c.Runtime.GCPercent)
	}
	if c.Runtime.CommitInterval < 0 || c.Runtime.CommitInterval > 100*time.Millisecond {
		bad("runtime.commit_interval", "want 0..100ms, got %v", c.Runtime.CommitInterval)
	}
	if c.Runtime.MemoryLimitMB < 0 {
		bad("runtime.memory_limit_mb", "must be >= 0, got %d", c.Runtime.MemoryLimitMB)
	}
}

func (c *Config) checkSPs(bad badFunc) {
	seenSP := map[string]int{}
	for i := range c.SPs {
		sp := &c.SPs[i]
		key := fmt.Sprintf("sps[%d]", i)
		if !codeRE.MatchString(sp.SPID) {
			bad(key+".sp_id", "want 6 digits, got %q", sp.SPID)
		} else if j, dup := seenSP[sp.SPID]; dup {
			bad(key+".sp_id", "%q already used by sps[%d]", sp.SPID, j)
		}
		seenSP[sp.SPID] = i
		if sp.Secret == "" {
			bad(key+".secret", "required")
		}
		for j, s := range sp.AllowedIPs {
			if _, err := parsePrefix(s); err != nil {
				bad(fmt.Sprintf("%s.allowed_ips[%d]", key, j), "%v", err)
			}
		}
		for j, code := range sp.ServiceCodes {
			if !digitRE.MatchString(code) {
				bad(fmt.Sprintf("%s.service_codes[%d]", key, j), "want 1-21 digits, got %q", code)
			}
		}
		if sp.MaxConnections < 0 {
			bad(key+".max_connections", "must be > 0")
		}
		if sp.Window <= 0 || sp.Window > 1024 {
			bad(key+".window", "want 1..1024, got %d", sp.Window)
		}
		if sp.SubmitRate < 0 {
			bad(key+".submit_rate", "must be > 0")
		}
		if sp.Burst < 0 {
			bad(key+".burst", "must be > 0")
		}
	}
}

func (c *Config) checkSMSCs(bad badFunc) {
	seenLink := map[string]int{}
	for i := range c.SMSCs {
		l := &c.SMSCs[i]
		key := fmt.Sprintf("smsc[%d]", i)
		if l.Name == "" {
			bad(key+".name", "required")
		} else if j, dup := seenLink[l.Name]; dup {
			bad(key+".name", "%q already used by smsc[%d]", l.Name, j)
		}
		seenLink[l.Name] = i
		if _, _, err := net.SplitHostPort(l.Address); err != nil {
			bad(key+".address", "want host:port: %v", err)
		}
		if l.TLS != nil {
			if _, err := l.TLS.load(); err != nil {
				bad(key+".tls", "%v", err)
			}
		}
		if l.SystemID == "" || len(l.SystemID) > 15 {
			bad(key+".system_id", "want 1..15 characters, got %q", l.SystemID)
		}
		if len(l.Password) > 8 {
			bad(key+".password", "at most 8 characters (SMPP 3.4)")
		}
		switch l.BindType {
		case "transceiver", "transmitter", "receiver":
		default:
			bad(key+".bind_type", "want transceiver, transmitter or receiver, got %q", l.BindType)
		}
		if l.Binds <= 0 || l.Binds > 64 {
			bad(key+".binds", "want 1..64, got %d", l.Binds)
		}
		if l.Window <= 0 || l.Window > 1024 {
			bad(key+".window", "want 1..1024, got %d", l.Window)
		}
		if l.Rate < 0 {
			bad(key+".rate", "must be >= 0 (0 = unlimited)")
		}
		switch l.DataCoding0 {
		case "gsm7", "latin1":
		default:
			bad(key+".data_coding_0", "want gsm7 or latin1, got %q", l.DataCoding0)
		}
		switch l.IDFormat {
		case "asis", "hex", "decimal":
		default:
			bad(key+".id_format", "want asis, hex or decimal, got %q", l.IDFormat)
		}
		if l.ResponseTimeout <= 0 {
			bad(key+".response_timeout", "must be > 0, got %v", l.ResponseTimeout)
		}
		if l.ReconnectMin <= 0 {
			bad(key+".reconnect_min", "must be > 0, got %v", l.ReconnectMin)
		}
		if l.ReconnectMax < l.ReconnectMin {
			bad(key+".reconnect_max", "must be >= reconnect_min (%v)", l.ReconnectMin)
		}
		if l.HighWater == 0 || l.HighWater < -1 {
			bad(key+".high_water", "want a queue depth > 0, or -1 for none, got %d", l.HighWater)
		}
		if l.ThrottleBackoff <= 0 {
			bad(key+".throttle_backoff", "must be > 0, got %v", l.ThrottleBackoff)
		}
		if w := l.Binds * l.Window; l.ResendBound < w {
			bad(key+".resend_bound", "must be at least binds × window (%d), got %d", w, l.ResendBound)
		}
	}
}
