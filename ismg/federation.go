package ismg

import (
	"context"
	"fmt"
	"net"

	"github.com/tandem-sms/tandem/federation"
)

// The node's part of the federation (listen.fwd set): the FWD server peer
// gateways log in to (fwdrecv.go takes what they send), the links to the
// peers (federation.Peers, kept in step with the route table's gateways),
// and a forwarder per fwd:<gw> queue (fwdsend.go). Without listen.fwd the
// node is a single-gateway site: messages for other gateways wait in
// fwd:<gw> until their validity ends (sweep.go).

// openFederation builds the peer links and the FWD server.
func (n *Node) openFederation(o options) error {
	if n.cfg.Listen.FWD == "" {
		return nil
	}
	pc, err := n.cfg.peerConfig(federation.NewPeerMetrics(o.reg))
	if err != nil {
		return fmt.Errorf("ismg: federation: %w", err)
	}
	pc.Logger = o.log.With("component", "federation")
	if n.peers, err = federation.NewPeers(pc, n); err != nil {
		return fmt.Errorf("ismg: federation: %w", err)
	}
	isPeer := func(code string) bool {
		_, ok := n.table().Gateway(code)
		return ok && code != n.gw
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

// followPeers keeps the peer links in step with the route table: every
// other gateway of the table at its fwd_addr. It runs until ctx ends.
func (n *Node) followPeers(ctx context.Context) error {
	for {
		var t = n.table()
		changed := make(<-chan struct{})
		if n.cache != nil {
			t, changed = n.cache.TableAndChanged()
		}
		n.peers.Update(federation.PeerTargets(n.gw, t.Gateways(), nil))
		select {
		case <-changed:
		case <-ctx.Done():
			return nil
		}
	}
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
	if n.peers == nil {
		f = func(ctx context.Context) error { return n.sweepFwd(ctx, q) }
	} else {
		fw := &forwarder{
			n: n, gw: q.name, q: q, durable: make(chan struct{}, n.forwardWindow(q.name)),
			quit: make(chan struct{}),
		}
		fw.marked = make(chan []fwdJob, cap(fw.durable))
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
