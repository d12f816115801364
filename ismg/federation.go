package ismg

import (
	"context"
	"fmt"
	"net"
	"sync"

	"github.com/tandem-sms/tandem/federation"
	"github.com/tandem-sms/tandem/routing"
)

// The node's part of the federation (listen.fwd set): the FWD server peer
// gateways log in to (fwdrecv.go takes what they send), the links to the
// peers (federation.Peers, kept in step with the route table's gateways),
// and a forwarder per fwd:<gw> queue (fwdsend.go). Without listen.fwd the
// node is a single-gateway site: messages for other gateways wait in
// fwd:<gw> until their validity ends (sweep.go).

// openFederation builds the peer links and the FWD server.
func (n *Node) openFederation(o options) error {
	// Once the membership (and so the node's name) is known.
	defer n.noteNodeInfo()
	if n.cfg.Listen.FWD == "" {
		return nil
	}
	pm := federation.NewPeerMetrics(o.reg)
	pc, err := n.cfg.peerConfig(pm)
	if err != nil {
		return fmt.Errorf("ismg: federation: %w", err)
	}
	if n.cfg.Federation.Membership != nil {
		mc := n.cfg.membershipConfig()
		mc.Logger, mc.Metrics = o.log.With("component", "membership"), pm
		if n.members, err = federation.NewMembership(mc); err != nil {
			return fmt.Errorf("ismg: federation.membership: %w", err)
		}
	}
	pc.Logger = o.log.With("component", "federation")
	if n.peers, err = federation.NewPeers(pc, n); err != nil {
		return fmt.Errorf("ismg: federation: %w", err)
	}
	// A peer must be a gateway of the route table — once there is one:
	// a gateway whose route cache has not reached the GNS yet lets its
	// peers' secrets decide, rather than refusing them into a long
	// reconnect backoff.
	isPeer := func(code string) bool {
		t := n.table()
		if code == n.gw {
			return false
		}
		if t.NumGateways() == 0 {
			return true
		}
		_, ok := t.Gateway(code)
		return ok
	}
	if n.fwdSrv, err = federation.NewFwdServer(pc, n, isPeer); err != nil {
		return fmt.Errorf("ismg: listen.fwd: %w", err)
	}
	if n.fwdLn, err = net.Listen("tcp", n.cfg.Listen.FWD); err != nil {
		return fmt.Errorf("ismg: listen.fwd: %w", err)
	}
	// FwdServer.Serve wraps the listener in TLS itself (listen.fwd_tls).
	return nil
}

// FWDAddr is the address of the CMPP_FWD port, or "" when the federation
// is off.
func (n *Node) FWDAddr() string {
	if n.fwdLn == nil {
		return ""
	}
	return n.fwdLn.Addr().String()
}

// followPeers keeps the peer links in step with the route table and the
// membership: every other gateway of the table, at the FWD addresses of
// its live nodes when gossip knows them, else at its fwd_addr. It runs
// until ctx ends.
func (n *Node) followPeers(ctx context.Context) error {
	table := func() (*routing.Table, <-chan struct{}) {
		if n.cache != nil {
			return n.cache.TableAndChanged()
		}
		return n.table(), nil
	}
	var wg sync.WaitGroup
	wg.Go(func() { _ = n.followSiblings(ctx) })
	n.peers.Follow(ctx, table, n.members)
	wg.Wait()
	return nil
}

// ensureFwdQueue starts what drains a fwd:<gw> queue, once: a forwarder
// when the federation is on, else the expiry sweeper.
func (n *Node) ensureFwdQueue(q queueRef) {
	n.fwdMu.Lock()
	defer n.fwdMu.Unlock()
	if !n.fwdRun[q] {
		n.startFwdQueueLocked(q)
	}
}

func (n *Node) startFwdQueueLocked(q queueRef) {
	var f func(ctx context.Context) error
	if q.kind == queueSib {
		node, sp, ok := splitSibQueue(q)
		switch {
		case !ok:
			n.log.Error("sibling queue with a bad name left alone", LogKeyQueue, q.queue())
			return
		case !n.siblingsOn():
			// Siblings are off now (the configuration changed): what
			// waited for one goes back to its SP's queue.
			f = func(context.Context) error { n.returnHome(n.hardCtx(), q); return nil }
		default:
			fw := &forwarder{
				n: n, gw: n.gw, sib: node, sp: sp, q: q, durable: newSlots(n.forwardWindow(n.gw)),
				quit: make(chan struct{}),
			}
			fw.marked = make(chan []fwdJob, fw.durable.size)
			f = func(ctx context.Context) error { return fw.run(ctx, n.hardCtx()) }
		}
		if n.goRun(f) {
			n.fwdRun[q] = true
		}
		return
	}
	if n.peers == nil {
		f = func(ctx context.Context) error { return n.sweepFwd(ctx, q) }
	} else {
		fw := &forwarder{
			n: n, gw: q.name, q: q, durable: newSlots(n.forwardWindow(q.name)),
			quit: make(chan struct{}),
		}
		fw.marked = make(chan []fwdJob, fw.durable.size)
		f = func(ctx context.Context) error { return fw.run(ctx, n.hardCtx()) }
	}
	if n.goRun(f) {
		n.fwdRun[q] = true
	}
}

// hardCtx is the context in-flight work finishes on during a shutdown
// (cancelled at delivery.shutdown_timeout).
func (n *Node) hardCtx() context.Context {
	n.runMu.Lock()
	defer n.runMu.Unlock()
	if n.hard == nil {
		return context.Background()
	}
	return n.hard
}
