package ismg

import (
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// What a reload (SIGHUP, ismgctl reload) applies and what it cannot.
// limits and sps take effect at once; every other section needs a
// restart, and the report names each one that changed, rather than
// leaving the old value running silently. A reload that fails keeps the
// running configuration and sets ismg_config_last_reload_successful to 0.

// ReloadResult is what one reload did.
type ReloadResult struct {
	Time         time.Time
	Err          error
	Applied      []string // "sps[901234]: window 64 -> 32"
	NeedsRestart []string // "smsc[north]: changed"
}

// reloadMetrics are the Prometheus reload gauges (Prometheus's own names).
type reloadMetrics struct {
	ok   prometheus.Gauge
	when prometheus.Gauge
}

func newReloadMetrics(reg prometheus.Registerer) *reloadMetrics {
	m := &reloadMetrics{
		ok: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ismg_config_last_reload_successful",
			Help: "Whether the last configuration reload (SIGHUP or ismgctl reload) succeeded (1) or failed (0)."}),
		when: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ismg_config_last_reload_success_timestamp_seconds",
			Help: "When the configuration was last loaded successfully (start-up or reload), Unix seconds."}),
	}
	reg.MustRegister(m.ok, m.when)
	m.ok.Set(1)
	m.when.SetToCurrentTime()
	return m
}

// ReloadFile reads the config file at path and applies it
// (ReloadReport); a file that does not load is a failed reload too.
func (n *Node) ReloadFile(path string) ReloadResult {
	cfg, err := LoadConfig(path)
	if err != nil {
		r, _ := n.reloadFailed(ReloadResult{Time: time.Now()}, err)
		return r
	}
	r, _ := n.ReloadReport(cfg)
	return r
}

func (n *Node) reloadFailed(r ReloadResult, err error) (ReloadResult, error) {
	r.Err = err
	n.adm.reload.ok.Set(0)
	n.adm.last.Store(&r)
	n.log.Error("reload failed; keeping the running configuration", LogKeyErr, err)
	return r, err
}

// ReloadReport applies cfg's limits and SP accounts (under the admin
// overlay) and reports what changed. On an error nothing is applied.
func (n *Node) ReloadReport(cfg Config) (ReloadResult, error) {
	r := ReloadResult{Time: time.Now()}
	fail := func(err error) (ReloadResult, error) { return n.reloadFailed(r, err) }
	if err := cfg.Validate(); err != nil {
		return fail(err)
	}
	n.spMu.Lock()
	defer n.spMu.Unlock()
	accts, err := n.mergeAccounts(cfg.SPs, n.adm.overlay)
	if err != nil {
		return fail(fmt.Errorf("the file's sps under the admin overlay: %w", err))
	}
	n.noteConflictsLocked(cfg.SPs, n.adm.overlay)
	r.NeedsRestart = restartDiff(&n.cfg, &cfg)
	if old := *n.limits.Load(); old != cfg.Limits {
		r.Applied = append(r.Applied, fieldDiff("limits", old, cfg.Limits)...)
	}
	r.Applied = append(r.Applied, spDiff(n.adm.yamlSPs, cfg.SPs)...)
	lim := cfg.Limits
	n.limits.Store(&lim)
	n.adm.yamlSPs = slices.Clone(cfg.SPs)
	n.applySPsLocked(accts)
	n.adm.reload.ok.Set(1)
	n.adm.reload.when.Set(float64(r.Time.UnixNano()) / 1e9)
	n.adm.last.Store(&r)
	n.log.Info("configuration reloaded", "sps", len(accts), "applied", r.Applied, "needs_restart", r.NeedsRestart)
	return r, nil
}

// LastReload is the last reload's result, nil before the first.
func (n *Node) LastReload() *ReloadResult { return n.adm.last.Load() }

// restartDiff names the sections that changed and need a restart.
func restartDiff(old, cur *Config) []string {
	var out []string
	sect := func(name string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			out = append(out, name+": changed (restart to apply)")
		}
	}
	sect("gateway", old.Gateway, cur.Gateway)
	sect("data_dir", old.DataDir, cur.DataDir)
	sect("listen", old.Listen, cur.Listen)
	sect("routes", old.Routes, cur.Routes)
	sect("federation", old.Federation, cur.Federation)
	sect("delivery", old.Delivery, cur.Delivery)
	sect("billing", old.Billing, cur.Billing)
	sect("runtime", old.Runtime, cur.Runtime)
	sect("admin", old.Admin, cur.Admin)
	byName := func(ls []SMSCLinkConfig) map[string]SMSCLinkConfig {
		m := map[string]SMSCLinkConfig{}
		for _, l := range ls {
			m[l.Name] = l
		}
		return m
	}
	o, c := byName(old.SMSCs), byName(cur.SMSCs)
	for _, l := range cur.SMSCs {
		if ol, ok := o[l.Name]; !ok {
			out = append(out, fmt.Sprintf("smsc[%s]: added (restart to apply)", l.Name))
		} else if !reflect.DeepEqual(ol, l) {
			out = append(out, fmt.Sprintf("smsc[%s]: %s (restart to apply)", l.Name, joinDiff(fieldDiff("", ol, l))))
		}
	}
	for _, l := range old.SMSCs {
		if _, ok := c[l.Name]; !ok {
			out = append(out, fmt.Sprintf("smsc[%s]: removed (restart to apply)", l.Name))
		}
	}
	return out
}

// spDiff describes the file's account changes.
func spDiff(old, cur []SPAccount) []string {
	var out []string
	find := func(ls []SPAccount, id string) (SPAccount, bool) {
		i := slices.IndexFunc(ls, func(a SPAccount) bool { return a.SPID == id })
		if i < 0 {
			return SPAccount{}, false
		}
		return ls[i], true
	}
	for _, a := range cur {
		if o, ok := find(old, a.SPID); !ok {
			out = append(out, fmt.Sprintf("sps[%s]: added", a.SPID))
		} else if d := fieldDiff(fmt.Sprintf("sps[%s]", a.SPID), o, a); len(d) > 0 {
			out = append(out, d...)
		}
	}
	for _, o := range old {
		if _, ok := find(cur, o.SPID); !ok {
			out = append(out, fmt.Sprintf("sps[%s]: removed", o.SPID))
		}
	}
	return out
}

// fieldDiff lists "prefix.key: old -> new" per changed field of two
// structs of one type, by their yaml names; secrets are not printed.
func fieldDiff(prefix string, a, b any) []string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	t := va.Type()
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			continue
		}
		name := f.Tag.Get("yaml")
		if name == "" {
			name = f.Name
		}
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		if name == "secret" || name == "password" {
			out = append(out, key+": changed")
			continue
		}
		out = append(out, fmt.Sprintf("%s: %v -> %v", key, va.Field(i).Interface(), vb.Field(i).Interface()))
	}
	return out
}

func joinDiff(d []string) string {
	if len(d) == 0 {
		return "changed"
	}
	s := d[0]
	for _, x := range d[1:] {
		s += ", " + x
	}
	return s
}
