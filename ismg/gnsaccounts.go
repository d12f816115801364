package ismg

import (
	"context"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tandem-sms/tandem/routing"
)

// SP accounts from the GNS.
//
// An SP whose record in the GNS route table carries an account
// (routing.SPAccount) is a login account on every gateway the record
// names: its primary gateway, mirrors, default gateway and partition
// gateways. The node takes those accounts from its route cache, at start
// from the persisted table and then on every change the watch brings,
// and applies them through the same swap as a reload (no restart: a new
// secret or allow list for the next login, limits for the next SUBMIT;
// an SP whose account leaves the table, or whose record stops naming this
// gateway, has its sessions ended).
//
// Precedence: the GNS wins. An SP_Id with a GNS account ignores the
// file's sps entry and the admin overlay's fields for it (its suspension
// still applies: that is a local operator's decision); each such overlap
// is a conflict, logged when it appears and counted in
// ismg_sp_account_conflicts. The admin API refuses to modify or delete a
// GNS account (change it with gnsctl sp set). SPs the GNS gives no account
// keep working from the file and the overlay as before.
//
// A GNS account whose secret the route cache did not receive (the GNS
// withholds secrets on a plaintext connection from another host) or that
// this gateway's checks refuse (a window above 1024, say) is not applied:
// logged and counted in ismg_sp_gns_accounts{state}.
//
// Everything here runs under Node.spMu, like every other account change.

// Sources of an account as sp list shows them.
const (
	sourceGNS = "gns"
)

// gnsAccounts is the state of the accounts taken from the GNS.
type gnsAccounts struct {
	accts     []SPAccount       // applied, by SP_Id
	skipped   map[string]string // SP_Id → why its GNS account is not applied
	conflicts map[string]string // SP_Id → the local source it overrides
	rev       uint64            // table revision last looked at

	mConflicts prometheus.Gauge
	mAccounts  *prometheus.GaugeVec
}

func newGNSAccounts(reg prometheus.Registerer) *gnsAccounts {
	g := &gnsAccounts{
		skipped: map[string]string{}, conflicts: map[string]string{},
		mConflicts: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ismg_sp_account_conflicts",
			Help: "SP_Ids defined both by a GNS account and by this node's sps or admin overlay (the GNS's applies)."}),
		mAccounts: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ismg_sp_gns_accounts",
			Help: "SP accounts from the GNS table for this gateway: applied, or skipped (secret withheld, refused by this gateway's checks)."},
			[]string{"state"}),
	}
	reg.MustRegister(g.mConflicts, g.mAccounts)
	return g
}

// has reports whether id's account comes from the GNS.
func (g *gnsAccounts) has(id string) bool {
	return slices.ContainsFunc(g.accts, func(a SPAccount) bool { return a.SPID == id })
}

// gnsAccountsOf returns the accounts t gives gateway gw, and the SPs whose
// account it cannot apply with the reason.
func gnsAccountsOf(t *routing.Table, gw string) ([]SPAccount, map[string]string) {
	var out []SPAccount
	skipped := map[string]string{}
	for _, sp := range t.SPs() {
		ra := sp.Account
		if ra == nil || !sp.Serves(gw) {
			continue
		}
		if ra.Secret == "" {
			skipped[sp.ID] = "secret withheld by the GNS (the route cache's connection is neither TLS nor loopback: set routes.tls_ca)"
			continue
		}
		a := SPAccount{SPID: sp.ID, Name: sp.Name, Secret: ra.Secret, AllowedIPs: slices.Clone(ra.AllowedIPs),
			MaxConnections: ra.MaxConnections, Window: ra.Window, SubmitRate: ra.SubmitRate, Burst: ra.Burst}
		for _, sc := range sp.ServiceCodes {
			a.ServiceCodes = append(a.ServiceCodes, sc.Code)
		}
		defaultSP(&a)
		if err := checkAccounts([]SPAccount{a}); err != nil {
			skipped[sp.ID] = err.Error()
			continue
		}
		out = append(out, a)
	}
	return out, skipped
}

// mergeAccounts is the accounts the node applies: the file's under the
// admin overlay for the SPs the GNS gives no account, and the GNS's.
func (n *Node) mergeAccounts(yaml []SPAccount, overlay map[string]spOverlay) ([]SPAccount, error) {
	g := n.adm.gns
	if g == nil || len(g.accts) == 0 {
		return mergeSPs(yaml, overlay)
	}
	localYAML := slices.DeleteFunc(slices.Clone(yaml), func(a SPAccount) bool { return g.has(a.SPID) })
	localOverlay := make(map[string]spOverlay, len(overlay))
	for id, o := range overlay {
		if !g.has(id) {
			localOverlay[id] = o
		}
	}
	out, err := mergeSPs(localYAML, localOverlay)
	if err != nil {
		return nil, err
	}
	for _, a := range g.accts {
		a.AllowedIPs, a.ServiceCodes = slices.Clone(a.AllowedIPs), slices.Clone(a.ServiceCodes)
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].SPID < out[j].SPID })
	return out, nil
}

// refreshGNSAccountsLocked takes the GNS accounts of table t, logs what
// changed, and reports whether the applied set differs. Node.spMu is held
// (or the node is not running yet).
func (n *Node) refreshGNSAccountsLocked(t *routing.Table, yaml []SPAccount, overlay map[string]spOverlay) bool {
	g := n.adm.gns
	accts, skipped := gnsAccountsOf(t, n.gw)
	g.rev = t.Revision()
	changed := !reflect.DeepEqual(accts, g.accts) && !(len(accts) == 0 && len(g.accts) == 0)
	if changed {
		n.logGNSAccountChanges(g.accts, accts, t.Revision())
	}
	for id, why := range skipped {
		if g.skipped[id] != why {
			n.log.Error("GNS account not applied", LogKeySP, id, "reason", why, "revision", t.Revision())
		}
	}
	g.accts, g.skipped = accts, skipped
	g.mAccounts.WithLabelValues("applied").Set(float64(len(accts)))
	g.mAccounts.WithLabelValues("skipped").Set(float64(len(skipped)))
	n.noteConflictsLocked(yaml, overlay)
	return changed
}

// noteConflictsLocked finds the SP_Ids both the GNS and a local source
// define, logs the new ones and sets the gauge.
func (n *Node) noteConflictsLocked(yaml []SPAccount, overlay map[string]spOverlay) {
	g := n.adm.gns
	now := map[string]string{}
	for _, a := range g.accts {
		var src []string
		if slices.ContainsFunc(yaml, func(y SPAccount) bool { return y.SPID == a.SPID }) {
			src = append(src, "yaml")
		}
		if o, ok := overlay[a.SPID]; ok && (o.Created || o.Deleted || o.Set != spPatch{}) {
			src = append(src, "admin")
		}
		if len(src) > 0 {
			now[a.SPID] = strings.Join(src, "+")
		}
	}
	for id, src := range now {
		if g.conflicts[id] != src {
			n.log.Warn("SP account defined both in the GNS table and locally; the GNS's applies, the local one is ignored until removed",
				LogKeySP, id, "local", src)
		}
	}
	g.conflicts = now
	g.mConflicts.Set(float64(len(now)))
}

// logGNSAccountChanges logs each account added, changed (naming the
// fields, never a secret's value) or removed.
func (n *Node) logGNSAccountChanges(old, cur []SPAccount, rev uint64) {
	find := func(ls []SPAccount, id string) (SPAccount, bool) {
		i := slices.IndexFunc(ls, func(a SPAccount) bool { return a.SPID == id })
		if i < 0 {
			return SPAccount{}, false
		}
		return ls[i], true
	}
	for _, a := range cur {
		o, ok := find(old, a.SPID)
		switch {
		case !ok:
			n.log.Info("GNS account applied", LogKeySP, a.SPID, "revision", rev)
		case !reflect.DeepEqual(o, a):
			n.log.Info("GNS account changed", LogKeySP, a.SPID, "fields", accountFieldsChanged(o, a), "revision", rev)
		}
	}
	for _, o := range old {
		if _, ok := find(cur, o.SPID); !ok {
			n.log.Info("GNS account removed", LogKeySP, o.SPID, "revision", rev)
		}
	}
}

func accountFieldsChanged(a, b SPAccount) []string {
	var out []string
	add := func(name string, differ bool) {
		if differ {
			out = append(out, name)
		}
	}
	add("name", a.Name != b.Name)
	add("secret", a.Secret != b.Secret)
	add("allowed_ips", !slices.Equal(a.AllowedIPs, b.AllowedIPs))
	add("service_codes", !slices.Equal(a.ServiceCodes, b.ServiceCodes))
	add("max_connections", a.MaxConnections != b.MaxConnections)
	add("window", a.Window != b.Window)
	add("submit_rate", a.SubmitRate != b.SubmitRate)
	add("burst", a.Burst != b.Burst)
	return out
}

// openGNSAccounts registers the metrics and takes the accounts of the
// table the node starts with (the route cache's persisted one), before
// the SP runtimes are built.
func (n *Node) openGNSAccounts(reg prometheus.Registerer) {
	n.adm.gns = newGNSAccounts(reg)
	if n.cache != nil {
		n.refreshGNSAccountsLocked(n.cache.Table(), n.cfg.SPs, n.adm.overlay)
	}
}

// followGNSAccounts applies the GNS accounts of every table the route
// cache publishes until ctx ends. Run owns it.
func (n *Node) followGNSAccounts(ctx context.Context) error {
	if n.cache == nil {
		return nil
	}
	for {
		t, changed := n.cache.TableAndChanged()
		n.applyGNSTable(t)
		select {
		case <-changed:
		case <-ctx.Done():
			return nil
		}
	}
}

// applyGNSTable applies t's GNS accounts if they differ from the ones in
// force.
func (n *Node) applyGNSTable(t *routing.Table) {
	n.spMu.Lock()
	defer n.spMu.Unlock()
	if t.Revision() == n.adm.gns.rev {
		return
	}
	if !n.refreshGNSAccountsLocked(t, n.adm.yamlSPs, n.adm.overlay) {
		return
	}
	accts, err := n.mergeAccounts(n.adm.yamlSPs, n.adm.overlay)
	if err != nil {
		n.log.Error("GNS accounts not applied", "revision", t.Revision(), LogKeyErr, err)
		return
	}
	n.applySPsLocked(accts)
}

// refuseGNSAccountLocked refuses an admin change of an account the GNS
// defines.
func (n *Node) refuseGNSAccountLocked(id, what string) error {
	if n.adm.gns != nil && n.adm.gns.has(id) {
		return invalidf("SP %s is defined in the GNS table; %s it there (gnsctl sp set/rm), not on one gateway", id, what)
	}
	return nil
}
