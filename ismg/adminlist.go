package ismg

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/ismg/queue"
	"github.com/tandem-sms/tandem/routing"
)

// Destination black and white lists, global and per SP, set through the
// admin API and kept in the store (KV bucket admin, key
// dest/<scope>/<list>/<prefix>, scope "*" for global). A destination
// (normalised MSISDN) is refused when a black prefix of its SP's list or
// the global list matches it, or when a scope has white prefixes and none
// of them matches. The SUBMIT gets Result 13 (Dest_terminal_Id error),
// is counted in ismg_sp_submits_total{reason="dest_blocked"} and
// ismg_dest_refused_total{sp,list}, and leaves an MT CDR with
// final_status REJECTD (its Msg_Id, drawn for the CDR, goes back in the
// SUBMIT_RESP). The lists are an immutable snapshot swapped atomically,
// so a SUBMIT reads them without a lock.

// DestRule is one prefix of a list; SPID "" is global.
type DestRule struct {
	SPID   string
	List   string // "black" or "white"
	Prefix string
}

const globalScope = "*"

// destLists is an immutable snapshot of every rule.
type destLists struct {
	black, white map[string][]string // scope → prefixes
}

func (d *destLists) rules() []DestRule {
	var out []DestRule
	for _, l := range []struct {
		name string
		m    map[string][]string
	}{{"black", d.black}, {"white", d.white}} {
		for scope, ps := range l.m {
			id := scope
			if id == globalScope {
				id = ""
			}
			for _, p := range ps {
				out = append(out, DestRule{SPID: id, List: l.name, Prefix: p})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		return a.SPID < b.SPID || a.SPID == b.SPID && (a.List < b.List || a.List == b.List && a.Prefix < b.Prefix)
	})
	return out
}

func hasPrefixIn(num string, ps []string) bool {
	for _, p := range ps {
		if strings.HasPrefix(num, p) {
			return true
		}
	}
	return false
}

// refuse returns the list that refuses num for sp ("black", "white"),
// or "".
func (d *destLists) refuse(sp, num string) string {
	if d == nil {
		return ""
	}
	if hasPrefixIn(num, d.black[globalScope]) || hasPrefixIn(num, d.black[sp]) {
		return "black"
	}
	for _, scope := range []string{globalScope, sp} {
		if w := d.white[scope]; len(w) > 0 && !hasPrefixIn(num, w) {
			return "white"
		}
	}
	return ""
}

func destKey(r DestRule) []byte {
	scope := r.SPID
	if scope == "" {
		scope = globalScope
	}
	return []byte("dest/" + scope + "/" + r.List + "/" + r.Prefix)
}

// loadDestLists reads the rules from the store.
func loadDestLists(st *queue.Store) (*destLists, error) {
	d := &destLists{black: map[string][]string{}, white: map[string][]string{}}
	err := st.ScanKV(adminBucket, func(k, _ []byte) bool {
		rest, ok := strings.CutPrefix(string(k), "dest/")
		if !ok {
			return true
		}
		f := strings.SplitN(rest, "/", 3)
		if len(f) != 3 {
			return true
		}
		if f[1] == "black" {
			d.black[f[0]] = append(d.black[f[0]], f[2])
		} else {
			d.white[f[0]] = append(d.white[f[0]], f[2])
		}
		return true
	})
	return d, err
}

func checkRule(r DestRule) error {
	if r.List != "black" && r.List != "white" {
		return invalidf("list %q: want black or white", r.List)
	}
	if r.SPID != "" && !codeRE.MatchString(r.SPID) {
		return invalidf("sp %q: want 6 digits", r.SPID)
	}
	if r.Prefix == "" || len(r.Prefix) > 21 || strings.Trim(r.Prefix, "0123456789") != "" {
		return invalidf("prefix %q: want 1-21 digits", r.Prefix)
	}
	return nil
}

// DestRules lists the rules, of one SP (and the global ones) or all.
func (n *Node) DestRules(sp string) []DestRule {
	all := n.adm.dest.Load().rules()
	if sp == "" {
		return all
	}
	var out []DestRule
	for _, r := range all {
		if r.SPID == "" || r.SPID == sp {
			out = append(out, r)
		}
	}
	return out
}

// SetDestRule adds (add true) or removes a rule, durably, then swaps the
// snapshot in.
func (n *Node) SetDestRule(ctx context.Context, r DestRule, add bool) error {
	if err := checkRule(r); err != nil {
		return err
	}
	n.adm.destMu.Lock()
	defer n.adm.destMu.Unlock()
	op := queue.Delete(adminBucket, destKey(r))
	if add {
		op = queue.Put(adminBucket, destKey(r), nil)
	}
	if err := n.st.Commit(ctx, op); err != nil {
		return err
	}
	d, err := loadDestLists(n.st)
	if err != nil {
		return err
	}
	n.adm.dest.Store(d)
	return nil
}

// refuseDest answers a SUBMIT whose destination num a list refuses:
// Result 13, counted, and an MT CDR with final_status REJECTD committed
// before the answer. It runs on the session's reader and does not wait:
// the answer goes from the commit's callback.
func (n *Node) refuseDest(s *cmpp.Session, h cmpp.Header, p *cmpp.Submit, sp *spRuntime, num, list string, c *spConn) {
	n.m.Submits.WithLabelValues(sp.id, "rejected", reasonDestBlocked).Inc()
	n.adm.destRefused.WithLabelValues(sp.id, list).Inc()
	n.connLog.Do(func() {
		n.log.Warn("SUBMIT refused by a destination list", LogKeySP, sp.id, "dest", num, "list", list)
	})
	id, err := n.ids.next(1)
	if err != nil {
		_ = s.Reply(h, &cmpp.SubmitResp{Result: cmpp.ResultBadDestTerminal})
		return
	}
	now := time.Now()
	r := mtRecord{
		SPID: sp.id, ServiceID: p.ServiceID, SrcID: p.SrcID, Dest: num,
		FeeUserType: p.FeeUserType, FeeType: p.FeeType, FeeCode: p.FeeCode, FeeTerminalID: p.FeeTerminalID,
		PkTotal: p.PkTotal, PkNumber: p.PkNumber, MsgFmt: p.MsgFmt, Submitted: now, Content: []byte(p.MsgContent),
	}
	rec := n.mtCDR(id, &r, queueRef{})
	rec.FinalStatus, rec.DoneTime = "REJECTD", now
	c.inflight.Add(1)
	n.st.CommitAsync(n.cdrOps(nil, rec), func(err error) {
		if err != nil {
			n.noteStoreErr(err)
			n.log.Warn("CDR of a refused SUBMIT not stored", LogKeySP, sp.id, LogKeyErr, err)
		}
		n.replyNoWait(s, h, &cmpp.SubmitResp{MsgID: id, Result: cmpp.ResultBadDestTerminal})
		c.inflight.Add(-1)
	})
}

// destCheck returns the list refusing any of p's destinations (and that
// destination), or "".
func (n *Node) destCheck(sp string, dests []string) (list, num string) {
	d := n.adm.dest.Load()
	for _, raw := range dests {
		num, err := routing.NormalizeMSISDN(raw)
		if err != nil {
			continue // routing refuses it with Result 13
		}
		if l := d.refuse(sp, num); l != "" {
			return l, num
		}
	}
	return "", ""
}
