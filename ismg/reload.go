package ismg

import "context"

// Reload applies a new configuration's SP accounts and limits without
// dropping connections: accounts are swapped atomically, rate limiters
// updated in place, new SPs start their deliverer, removed SPs can no
// longer log in (their sessions stay until they end). Everything else
// (listeners, SMSC links, data_dir) needs a restart and is ignored.
func (n *Node) Reload(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	n.spMu.Lock()
	defer n.spMu.Unlock()
	lim := cfg.Limits
	n.limits.Store(&lim)
	old := *n.sps.Load()
	next := make(map[string]*spRuntime, len(cfg.SPs))
	var added []*spRuntime
	for i := range cfg.SPs {
		a := &cfg.SPs[i]
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
	n.log.Info("configuration reloaded", "sps", len(cfg.SPs))
	return nil
}
