package federation

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
)

// Sibling links: the nodes of one gateway (siblings, all active, each with
// its own store) pass status reports and MO to the node their SP is logged
// in to over CMPP_FWD, as gateways do, with Source_Id = Destination_Id =
// the gateway's own code. A sibling link is a Link to one node (keyed by
// its memberlist name, at the FWD address it gossips), logging in with our
// code and PeerConfig.Siblings' secret; its metrics carry our own code as
// the peer label. Sibling links exist only with membership (who the
// siblings are and where) and PeerConfig.Siblings.Secret.

// SiblingTarget is one live sibling node and its FWD address.
type SiblingTarget struct {
	Node string
	Addr string
}

// SiblingTargets picks the siblings of node self in gateway from the
// alive members: the other nodes of the gateway, healthy, with a FWD
// address, sorted by name.
func SiblingTargets(self, gateway string, live []Member) []SiblingTarget {
	var out []SiblingTarget
	for _, m := range live {
		if m.Gateway != gateway || m.Name == self || m.Self || m.FwdAddr == "" || m.Health != HealthOK {
			continue
		}
		out = append(out, SiblingTarget{Node: m.Name, Addr: m.FwdAddr})
	}
	slices.SortFunc(out, func(a, b SiblingTarget) int { return strings.Compare(a.Node, b.Node) })
	return out
}

// SiblingsEnabled reports whether PeerConfig.Siblings has a secret.
func (p *Peers) SiblingsEnabled() bool { return p.book.sibling != nil }

// UpdateSiblings makes the sibling links match targets, as Update does for
// peer gateways: a link per node, its address replaced in place, links of
// nodes gone stopped gracefully. It does nothing without
// PeerConfig.Siblings.Secret.
func (p *Peers) UpdateSiblings(targets []SiblingTarget) {
	if p.book.sibling == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return
	}
	want := make(map[string]bool, len(targets))
	for _, t := range targets {
		want[t.Node] = true
		if r := p.siblings[t.Node]; r != nil {
			r.link.SetAddrs([]string{t.Addr})
			continue
		}
		l, err := p.newSiblingLink(t.Node, t.Addr)
		if err != nil {
			p.log.Error("sibling skipped", "sibling", t.Node, cmpp.LogKeyErr, err)
			continue
		}
		r := &peerRun{link: l}
		p.siblings[t.Node] = r
		p.log.Info("sibling link added", "sibling", t.Node, keyAddr, t.Addr)
		if p.ctx != nil {
			p.startSiblingLocked(r)
		}
	}
	for node, r := range p.siblings {
		if !want[node] {
			delete(p.siblings, node)
			r.link.mu.Lock()
			r.link.closing = true
			r.link.notifyLocked()
			r.link.mu.Unlock()
			if r.cancel != nil {
				r.cancel()
			}
			p.log.Info("sibling link removed", "sibling", node)
		}
	}
}

func (p *Peers) newSiblingLink(node, addr string) (*Link, error) {
	cfg := p.cfg
	cfg.Logger = p.log.With("sibling", node)
	// newLink refuses our own code as a peer; a sibling link is one to
	// our own code with the Siblings settings.
	l, err := newLinkTo(cfg, p.book, p.m, p.cfg.Gateway, p.book.sibling, []string{addr}, p.recv)
	if err != nil {
		return nil, fmt.Errorf("federation: sibling %s: %w", node, err)
	}
	return l, nil
}

// startSiblingLocked runs r's link under Run's context. p.mu is held.
func (p *Peers) startSiblingLocked(r *peerRun) {
	ctx, cancel := context.WithCancel(p.ctx)
	r.cancel = cancel
	p.running.Go(func() {
		defer cancel()
		_ = r.link.Run(ctx)
	})
}

// Sibling returns the link to sibling node, or nil.
func (p *Peers) Sibling(node string) *Link {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r := p.siblings[node]; r != nil {
		return r.link
	}
	return nil
}

// SendSibling sends f over the link to sibling node (Link.SendAsync);
// ErrNoPeer if there is none.
func (p *Peers) SendSibling(ctx context.Context, node string, f *cmpp.Fwd, deadline time.Time, cb func(resp *cmpp.FwdResp, err error)) error {
	l := p.Sibling(node)
	if l == nil {
		return fmt.Errorf("federation: %w: sibling %q", ErrNoPeer, node)
	}
	return l.SendAsync(ctx, f, deadline, cb)
}

// SiblingStatus returns every sibling link's status, by node name.
func (p *Peers) SiblingStatus() map[string]LinkStatus {
	p.mu.Lock()
	links := make(map[string]*Link, len(p.siblings))
	for node, r := range p.siblings {
		links[node] = r.link
	}
	p.mu.Unlock()
	out := make(map[string]LinkStatus, len(links))
	for node, l := range links {
		out[node] = l.Status()
	}
	return out
}
