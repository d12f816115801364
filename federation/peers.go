package federation

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/routing"
)

// PeerTarget is one peer gateway and the FWD addresses to reach it at.
type PeerTarget struct {
	Code  string
	Addrs []string
}

// PeerTargets computes the peers of gateway self: every other gateway of
// the route table, at the FWD addresses of its live, healthy members when
// membership knows any (a gateway served by several nodes), else at the
// table's fwd_addr (a peer that does not gossip, or whose members are all
// down or draining: its fwd_addr may be a balancer). live may be nil
// (no membership). The ISMG calls it on every table or membership change
// and hands the result to Peers.Update.
func PeerTargets(self string, gateways []routing.Gateway, live func(code string) []Member) []PeerTarget {
	out := make([]PeerTarget, 0, len(gateways))
	for _, g := range gateways {
		if g.Code == self {
			continue
		}
		t := PeerTarget{Code: g.Code}
		if live != nil {
			for _, m := range live(g.Code) {
				if m.FwdAddr != "" {
					t.Addrs = append(t.Addrs, m.FwdAddr)
				}
			}
		}
		if len(t.Addrs) == 0 && g.FwdAddr != "" {
			t.Addrs = []string{g.FwdAddr}
		}
		slices.Sort(t.Addrs)
		out = append(out, t)
	}
	return out
}

// Peers is the set of links to peer gateways: Update creates, re-addresses
// and removes links as the set changes, Run runs them. Safe for concurrent
// use.
type Peers struct {
	cfg  PeerConfig
	book *peerBook
	recv FwdReceiver
	m    *PeerMetrics
	log  *slog.Logger

	mu       sync.Mutex
	links    map[string]*peerRun
	siblings map[string]*peerRun // sibling links by node name (peersiblings.go)
	ctx      context.Context     // Run's; nil before Run
	done     bool                // Run returned
	running  sync.WaitGroup      // links' Run goroutines
}

// peerRun is one link and the means to stop it.
type peerRun struct {
	link   *Link
	cancel context.CancelFunc // nil until started
}

// NewPeers validates cfg and loads the TLS files. recv (may be nil) takes
// FWDs a peer sends on the sessions our links opened.
func NewPeers(cfg PeerConfig, recv FwdReceiver) (*Peers, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	book, err := resolvePeers(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewPeerMetrics(nil)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Peers{cfg: cfg, book: book, recv: recv, m: cfg.Metrics, log: log, links: map[string]*peerRun{}, siblings: map[string]*peerRun{}}, nil
}

// Update makes the links match targets: a link for each target (our own
// code and malformed codes skipped, logged), addresses replaced in place
// (Link.SetAddrs: in-flight FWDs are not dropped), links whose gateway is
// no longer a target stopped gracefully. Targets given before Run start
// with it; after Run returned, Update does nothing.
func (p *Peers) Update(targets []PeerTarget) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return
	}
	want := make(map[string]bool, len(targets))
	for _, t := range targets {
		if t.Code == p.cfg.Gateway {
			continue
		}
		if r := p.links[t.Code]; r != nil {
			r.link.SetAddrs(t.Addrs)
			want[t.Code] = true
			continue
		}
		l, err := newLink(p.cfg, p.book, p.m, t.Code, t.Addrs, p.recv)
		if err != nil {
			p.log.Error("peer skipped", keyPeerCode, t.Code, cmpp.LogKeyErr, err)
			continue
		}
		want[t.Code] = true
		r := &peerRun{link: l}
		p.links[t.Code] = r
		p.log.Info("peer link added", keyPeerCode, t.Code, keyAddr, t.Addrs)
		if p.ctx != nil {
			p.startLocked(t.Code, r)
		}
	}
	for code, r := range p.links {
		if !want[code] {
			delete(p.links, code)
			r.link.mu.Lock()
			r.link.closing = true // no new FWDs while it drains
			r.link.notifyLocked()
			r.link.mu.Unlock()
			if r.cancel != nil {
				r.cancel()
			}
			p.log.Info("peer link removed", keyPeerCode, code)
		}
	}
}

// startLocked runs r's link under Run's context. p.mu is held.
func (p *Peers) startLocked(code string, r *peerRun) {
	ctx, cancel := context.WithCancel(p.ctx)
	r.cancel = cancel
	p.running.Go(func() {
		defer cancel()
		_ = r.link.Run(ctx)
		p.mu.Lock()
		if p.links[code] == nil {
			p.m.forgetLink(code)
		}
		p.mu.Unlock()
	})
}

// Run runs the links until ctx is done, then stops them all gracefully
// (each link's sessions drain and TERMINATE) and returns once every link
// goroutine has. It may be called once.
func (p *Peers) Run(ctx context.Context) error {
	p.mu.Lock()
	if p.ctx != nil || p.done {
		p.mu.Unlock()
		return ErrRunning
	}
	p.ctx = ctx
	for code, r := range p.links {
		p.startLocked(code, r)
	}
	for _, r := range p.siblings {
		p.startSiblingLocked(r)
	}
	p.mu.Unlock()
	<-ctx.Done()
	// No link starts after done is set, so the Wait below sees them all.
	p.mu.Lock()
	p.done = true
	p.mu.Unlock()
	p.running.Wait()
	return nil
}

// Follow keeps the links matching the route table and membership until
// ctx ends: on every new table (table returns the current one and a
// channel closed when it is replaced, as RouteCache.TableAndChanged does;
// a static table returns a nil channel) and every membership change (ms
// may be nil), it computes PeerTargets and calls Update.
func (p *Peers) Follow(ctx context.Context, table func() (*routing.Table, <-chan struct{}), ms *Membership) {
	for {
		t, tableChanged := table()
		var membersChanged <-chan struct{}
		var live func(string) []Member
		if ms != nil {
			membersChanged, live = ms.Changed(), ms.Live
			p.UpdateSiblings(SiblingTargets(ms.NodeName(), p.cfg.Gateway, ms.Members()))
		}
		p.Update(PeerTargets(p.cfg.Gateway, t.Gateways(), live))
		select {
		case <-tableChanged:
		case <-membersChanged:
		case <-ctx.Done():
			return
		}
	}
}

// Link returns the link to the peer gateway code, or nil.
func (p *Peers) Link(code string) *Link {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r := p.links[code]; r != nil {
		return r.link
	}
	return nil
}

// SendAsync sends f over the link to its Destination_Id (Link.SendAsync);
// ErrNoPeer if there is none.
func (p *Peers) SendAsync(ctx context.Context, f *cmpp.Fwd, deadline time.Time, cb func(resp *cmpp.FwdResp, err error)) error {
	l := p.Link(f.DestinationID)
	if l == nil {
		return fmt.Errorf("federation: %w: %q", ErrNoPeer, f.DestinationID)
	}
	return l.SendAsync(ctx, f, deadline, cb)
}

// Status returns every link's status, by peer code.
func (p *Peers) Status() []LinkStatus {
	p.mu.Lock()
	links := make([]*Link, 0, len(p.links))
	for _, r := range p.links {
		links = append(links, r.link)
	}
	p.mu.Unlock()
	out := make([]LinkStatus, 0, len(links))
	for _, l := range links {
		out = append(out, l.Status())
	}
	slices.SortFunc(out, func(a, b LinkStatus) int {
		switch {
		case a.Peer < b.Peer:
			return -1
		case a.Peer > b.Peer:
			return 1
		}
		return 0
	})
	return out
}
