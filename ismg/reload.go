package ismg

import "context"

// Reload applies a new configuration's SP accounts and limits without
// dropping connections (ReloadReport says what it applied and what needs
// a restart).
func (n *Node) Reload(cfg Config) error {
	_, err := n.ReloadReport(cfg)
	return err
}

// swapSPsLocked makes accts the live accounts: accounts are swapped
// atomically, rate limiters updated in place, new SPs start their
// deliverer, removed SPs can no longer log in (Reload leaves their
// sessions until they end; the admin API ends them). Node.spMu is held.
func (n *Node) swapSPsLocked(accts []SPAccount) {
	old := *n.sps.Load()
	next := make(map[string]*spRuntime, len(accts))
	var added []*spRuntime
	for i := range accts {
		a := &accts[i]
		if sp, ok := old[a.SPID]; ok {
			sp.acct.Store(a)
			sp.lim.SetLimit(limitOf(a))
			sp.lim.SetBurst(a.Burst)
			next[a.SPID] = sp
			continue
		}
		sp := newSPRuntime(n, a)
		next[a.SPID] = sp
		added = append(added, sp)
	}
	for id, sp := range old {
		if _, ok := next[id]; !ok {
			sp.acct.Store(nil)
			// Keep the runtime so its sessions' state stays reachable and
			// its queued DELIVERs keep going out while they last.
			next[id] = sp
		}
	}
	n.sps.Store(&next)
	for _, sp := range added {
		n.goRun(func(ctx context.Context) error { return sp.deliverLoop(ctx, ctx) })
	}
}
