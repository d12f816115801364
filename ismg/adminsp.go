package ismg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tandem-sms/tandem/ismg/queue"
)

// SP accounts changed through the admin API, live and persisted.
//
// The YAML file's sps are the base; the admin overlay, one JSON record
// per SP in the store's KV bucket admin (key sp/<SP_Id>), goes on top and
// wins field by field: a field the API set keeps the API's value even if
// the file later changes it; the fields it did not set follow the file
// (on SIGHUP). An SP created through the API exists without a YAML entry;
// one deleted through the API stays deleted even if the file still lists
// it, until it is created again. Suspension is part of the overlay, so it
// survives restarts. The overlay is read once at New and changed only
// under Node.spMu, which also serialises Reload.

// ErrSPExists is returned when creating an SP that exists.
var ErrSPExists = errors.New("ismg: SP exists")

// ErrInvalid marks an admin request the node refuses before changing
// anything.
var ErrInvalid = errors.New("ismg: invalid request")

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// spPatch holds the fields an admin set on an account; nil is unset.
type spPatch struct {
	Name           *string   `json:"name,omitempty"`
	Secret         *string   `json:"secret,omitempty"`
	AllowedIPs     *[]string `json:"allowed_ips,omitempty"`
	ServiceCodes   *[]string `json:"service_codes,omitempty"`
	MaxConnections *int      `json:"max_connections,omitempty"`
	Window         *int      `json:"window,omitempty"`
	SubmitRate     *float64  `json:"submit_rate,omitempty"`
	Burst          *int      `json:"burst,omitempty"`
}

// spOverlay is the admin record of one SP.
type spOverlay struct {
	Created   bool      `json:"created,omitempty"` // made through the API
	Deleted   bool      `json:"deleted,omitempty"`
	Suspended bool      `json:"suspended,omitempty"`
	Set       spPatch   `json:"set"`
	Changed   time.Time `json:"changed"`
}

const (
	adminBucket = "admin"
	spKeyPrefix = "sp/"
)

// SPFields are the fields ModifySP can set.
var SPFields = []string{"name", "secret", "allowed_ips", "service_codes", "max_connections", "window", "submit_rate", "burst"}

// patch records in p the fields of a named in fields.
func (p *spPatch) set(a *SPAccount, fields []string) error {
	for _, f := range fields {
		switch f {
		case "name":
			p.Name = &a.Name
		case "secret":
			p.Secret = &a.Secret
		case "allowed_ips":
			p.AllowedIPs = &a.AllowedIPs
		case "service_codes":
			p.ServiceCodes = &a.ServiceCodes
		case "max_connections":
			p.MaxConnections = &a.MaxConnections
		case "window":
			p.Window = &a.Window
		case "submit_rate":
			p.SubmitRate = &a.SubmitRate
		case "burst":
			p.Burst = &a.Burst
		default:
			return invalidf("unknown field %q (want one of %s)", f, strings.Join(SPFields, ", "))
		}
	}
	return nil
}

func (p *spPatch) apply(a *SPAccount) {
	if p.Name != nil {
		a.Name = *p.Name
	}
	if p.Secret != nil {
		a.Secret = *p.Secret
	}
	if p.AllowedIPs != nil {
		a.AllowedIPs = slices.Clone(*p.AllowedIPs)
	}
	if p.ServiceCodes != nil {
		a.ServiceCodes = slices.Clone(*p.ServiceCodes)
	}
	if p.MaxConnections != nil {
		a.MaxConnections = *p.MaxConnections
	}
	if p.Window != nil {
		a.Window = *p.Window
	}
	if p.SubmitRate != nil {
		a.SubmitRate = *p.SubmitRate
	}
	if p.Burst != nil {
		a.Burst = *p.Burst
	}
}

// loadOverlay reads the admin records of every SP from the store.
func loadOverlay(st *queue.Store) (map[string]spOverlay, error) {
	out := map[string]spOverlay{}
	var bad error
	err := st.ScanKV(adminBucket, func(k, v []byte) bool {
		id, ok := strings.CutPrefix(string(k), spKeyPrefix)
		if !ok {
			return true
		}
		var o spOverlay
		if err := json.Unmarshal(v, &o); err != nil {
			bad = fmt.Errorf("admin record %s: %w", k, err)
			return false
		}
		out[id] = o
		return true
	})
	if err == nil {
		err = bad
	}
	return out, err
}

// spSource says where an effective account comes from.
func spSource(inYAML bool, o spOverlay, hasOverlay bool) string {
	switch {
	case !hasOverlay || (o.Set == spPatch{} && !o.Created):
		return "config"
	case o.Created && !inYAML:
		return "admin"
	}
	return "config+admin"
}

// mergeSPs is the accounts the node applies: yaml with overlay on top.
// The result is validated (an overlay field may no longer fit, say a
// window the file's limits now refuse: the error names the SP).
func mergeSPs(yaml []SPAccount, overlay map[string]spOverlay) ([]SPAccount, error) {
	var out []SPAccount
	seen := map[string]bool{}
	for _, a := range yaml {
		seen[a.SPID] = true
		o, ok := overlay[a.SPID]
		if ok && o.Deleted {
			continue
		}
		a.AllowedIPs, a.ServiceCodes = slices.Clone(a.AllowedIPs), slices.Clone(a.ServiceCodes)
		if ok {
			o.Set.apply(&a)
		}
		out = append(out, a)
	}
	ids := make([]string, 0, len(overlay))
	for id := range overlay {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		o := overlay[id]
		if seen[id] || o.Deleted || !o.Created {
			continue
		}
		a := SPAccount{SPID: id}
		o.Set.apply(&a)
		defaultSP(&a)
		out = append(out, a)
	}
	return out, checkAccounts(out)
}

// checkAccounts runs the config file's SP checks on accounts.
func checkAccounts(accts []SPAccount) error {
	c := Config{SPs: accts}
	var list []string
	c.checkSPs(func(key, format string, args ...any) {
		if i := strings.IndexByte(key, ']'); strings.HasPrefix(key, "sps[") && i > 0 {
			var n int
			fmt.Sscan(key[4:i], &n)
			key = "sp " + accts[n].SPID + key[i+1:]
		}
		list = append(list, key+": "+fmt.Sprintf(format, args...))
	})
	if len(list) > 0 {
		return invalidf("%s", strings.Join(list, "; "))
	}
	return nil
}

// putOverlay stores o (or deletes the record when o is nil) durably.
func (n *Node) putOverlay(ctx context.Context, id string, o *spOverlay) error {
	key := []byte(spKeyPrefix + id)
	if o == nil {
		return n.st.Commit(ctx, queue.Delete(adminBucket, key))
	}
	o.Changed = time.Now().UTC()
	b, err := json.Marshal(o)
	if err != nil {
		return err
	}
	return n.st.Commit(ctx, queue.Put(adminBucket, key, b))
}

// SPView is an account as the admin API shows it.
type SPView struct {
	SPAccount
	Suspended bool
	Source    string
	Sessions  int
}

// AdminSPs lists the accounts the node applies, by SP_Id.
func (n *Node) AdminSPs() []SPView {
	n.spMu.Lock()
	defer n.spMu.Unlock()
	var out []SPView
	for _, sp := range *n.sps.Load() {
		if v, ok := n.spViewLocked(sp); ok {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].SPID < out[j].SPID })
	return out
}

// AdminSP returns one account.
func (n *Node) AdminSP(id string) (SPView, error) {
	n.spMu.Lock()
	defer n.spMu.Unlock()
	if sp := (*n.sps.Load())[id]; sp != nil {
		if v, ok := n.spViewLocked(sp); ok {
			return v, nil
		}
	}
	return SPView{}, fmt.Errorf("%w: %q", ErrNoSuchSP, id)
}

func (n *Node) spViewLocked(sp *spRuntime) (SPView, bool) {
	a := sp.acct.Load()
	if a == nil {
		return SPView{}, false
	}
	o, has := n.adm.overlay[sp.id]
	inYAML := slices.ContainsFunc(n.adm.yamlSPs, func(y SPAccount) bool { return y.SPID == sp.id })
	sp.mu.Lock()
	sessions := len(sp.sessions)
	sp.mu.Unlock()
	src := spSource(inYAML, o, has)
	if n.adm.gns != nil && n.adm.gns.has(sp.id) {
		src = sourceGNS
	}
	return SPView{SPAccount: *a, Suspended: sp.suspended.Load(), Source: src, Sessions: sessions}, true
}

// CreateSP adds an account through the API (ErrSPExists if the node has
// it). Zero limits take the file's defaults.
func (n *Node) CreateSP(ctx context.Context, a SPAccount) (SPView, error) {
	n.spMu.Lock()
	defer n.spMu.Unlock()
	if sp := (*n.sps.Load())[a.SPID]; sp != nil && sp.acct.Load() != nil {
		return SPView{}, fmt.Errorf("%w: %q", ErrSPExists, a.SPID)
	}
	o := spOverlay{Created: true}
	_ = o.Set.set(&a, SPFields)
	return n.changeOverlayLocked(ctx, a.SPID, &o)
}

// ModifySP sets the named fields of an account to a's values.
func (n *Node) ModifySP(ctx context.Context, a SPAccount, fields []string) (SPView, error) {
	n.spMu.Lock()
	defer n.spMu.Unlock()
	o, err := n.liveOverlayLocked(a.SPID)
	if err != nil {
		return SPView{}, err
	}
	if err := n.refuseGNSAccountLocked(a.SPID, "modify"); err != nil {
		return SPView{}, err
	}
	if len(fields) == 0 {
		return SPView{}, invalidf("no field to modify")
	}
	if err := o.Set.set(&a, fields); err != nil {
		return SPView{}, err
	}
	return n.changeOverlayLocked(ctx, a.SPID, &o)
}

// SuspendSP refuses the SP's logins (CONNECT status 5) and SUBMITs
// (Result 8) until ResumeSP, and ends its sessions with CMPP_TERMINATE.
// Its reports and MO wait in out:<spid>.
func (n *Node) SuspendSP(ctx context.Context, id string, suspend bool) (SPView, error) {
	n.spMu.Lock()
	defer n.spMu.Unlock()
	o, err := n.liveOverlayLocked(id)
	if err != nil {
		return SPView{}, err
	}
	o.Suspended = suspend
	return n.changeOverlayLocked(ctx, id, &o)
}

// DeleteSP removes an account: its logins are refused (CONNECT status 2)
// and its sessions end with CMPP_TERMINATE. It returns how many sessions
// it ended.
func (n *Node) DeleteSP(ctx context.Context, id string) (int, error) {
	n.spMu.Lock()
	defer n.spMu.Unlock()
	o, err := n.liveOverlayLocked(id)
	if err != nil {
		return 0, err
	}
	if err := n.refuseGNSAccountLocked(id, "delete"); err != nil {
		return 0, err
	}
	inYAML := slices.ContainsFunc(n.adm.yamlSPs, func(y SPAccount) bool { return y.SPID == id })
	var rec *spOverlay
	if inYAML {
		rec = &spOverlay{Deleted: true}
	}
	_ = o
	closed := 0
	if sp := (*n.sps.Load())[id]; sp != nil {
		sp.mu.Lock()
		closed = len(sp.sessions)
		sp.mu.Unlock()
	}
	if err := n.putOverlay(ctx, id, rec); err != nil {
		return 0, err
	}
	if rec == nil {
		delete(n.adm.overlay, id)
	} else {
		n.adm.overlay[id] = *rec
	}
	accts, err := n.mergeAccounts(n.adm.yamlSPs, n.adm.overlay)
	if err != nil {
		return 0, err
	}
	n.applySPsLocked(accts)
	return closed, nil
}

// liveOverlayLocked returns the overlay of an existing SP (a zero one if
// it has none).
func (n *Node) liveOverlayLocked(id string) (spOverlay, error) {
	sp := (*n.sps.Load())[id]
	if sp == nil || sp.acct.Load() == nil {
		return spOverlay{}, fmt.Errorf("%w: %q", ErrNoSuchSP, id)
	}
	return n.adm.overlay[id], nil
}

// changeOverlayLocked checks the accounts o would make, stores o and
// applies them.
func (n *Node) changeOverlayLocked(ctx context.Context, id string, o *spOverlay) (SPView, error) {
	next := make(map[string]spOverlay, len(n.adm.overlay)+1)
	for k, v := range n.adm.overlay {
		next[k] = v
	}
	next[id] = *o
	accts, err := n.mergeAccounts(n.adm.yamlSPs, next)
	if err != nil {
		return SPView{}, err
	}
	if err := n.putOverlay(ctx, id, o); err != nil {
		return SPView{}, err
	}
	n.adm.overlay = next
	n.noteConflictsLocked(n.adm.yamlSPs, next)
	n.applySPsLocked(accts)
	v, _ := n.spViewLocked((*n.sps.Load())[id])
	return v, nil
}

// applySPsLocked makes accts the live accounts (as Reload does), sets
// each SP's suspension from the overlay, and ends the sessions of the SPs
// suspended or gone: CMPP_TERMINATE, then the connection closes.
func (n *Node) applySPsLocked(accts []SPAccount) {
	n.swapSPsLocked(accts)
	for id, sp := range *n.sps.Load() {
		o := n.adm.overlay[id]
		sp.suspended.Store(o.Suspended)
		if o.Suspended || sp.acct.Load() == nil {
			n.logoutSP(sp)
		}
	}
}

// logoutSP ends every session of sp with CMPP_TERMINATE (bounded by the
// response timeout, then closed), without waiting.
func (n *Node) logoutSP(sp *spRuntime) {
	sp.mu.Lock()
	sessions := slices.Clone(sp.sessions)
	sp.mu.Unlock()
	for _, s := range sessions {
		n.tasks.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), n.cfg.Limits.ResponseTimeout)
			defer cancel()
			if err := s.Terminate(ctx); err != nil {
				_ = s.Close()
			}
		})
		n.log.Info("SP logged out by an operator", LogKeySP, sp.id, LogKeyPeer, s.RemoteAddr().String())
	}
}
