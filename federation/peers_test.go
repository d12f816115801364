package federation_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/federation"
	"github.com/tandem-sms/tandem/internal/waitfor"
	"github.com/tandem-sms/tandem/routing"
)

// TestPeersFollowTargets: Peers makes a link per target gateway (not for
// itself), re-addresses links in place and stops the links of gateways
// that are no longer targets, closing their sessions.
func TestPeersFollowTargets(t *testing.T) {
	const gwTJ = "030001"
	gz := startServer(t, peerConfig(t, gwGZ), newRecorder(answerOK), "127.0.0.1:0")
	gz2 := startServer(t, peerConfig(t, gwGZ), newRecorder(answerOK), "127.0.0.1:0")
	tj := startServer(t, peerConfig(t, gwTJ), newRecorder(answerOK), "127.0.0.1:0")

	cfg := peerConfig(t, gwBJ)
	reg := prometheus.NewRegistry()
	cfg.Metrics = federation.NewPeerMetrics(reg)
	p, err := federation.NewPeers(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.Update([]federation.PeerTarget{{Code: gwGZ, Addrs: []string{gz.addr}}, {Code: gwTJ, Addrs: []string{tj.addr}}, {Code: gwBJ, Addrs: []string{"127.0.0.1:1"}}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	if p.Link(gwBJ) != nil {
		t.Fatal("a link to ourselves")
	}
	waitReady(t, p.Link(gwGZ))
	waitReady(t, p.Link(gwTJ))
	send := func(dst string) error {
		ch := make(chan error, 1)
		if err := p.SendAsync(context.Background(), fwdOf(gwBJ, dst, cmpp.FwdMO, 1, cmpp.V30), time.Time{}, func(_ *cmpp.FwdResp, err error) { ch <- err }); err != nil {
			return err
		}
		return <-ch
	}
	for _, dst := range []string{gwGZ, gwTJ} {
		if err := send(dst); err != nil {
			t.Fatalf("to %s: %v", dst, err)
		}
	}
	if err := send("040001"); !errors.Is(err, federation.ErrNoPeer) {
		t.Fatalf("to a gateway without a link: %v", err)
	}

	gzLink := p.Link(gwGZ)
	p.Update([]federation.PeerTarget{{Code: gwGZ, Addrs: []string{gz2.addr}}})
	if p.Link(gwGZ) != gzLink {
		t.Fatal("re-addressing replaced the link")
	}
	if p.Link(gwTJ) != nil {
		t.Fatal("Tianjin's link still there")
	}
	waitfor.Cond(t, "Tianjin's session closed", func() bool { return len(tj.Sessions()) == 0 })
	waitfor.Cond(t, "Guangzhou's link moved", func() bool { return len(gz.Sessions()) == 0 && len(gz2.Sessions()) == 1 })
	waitfor.Cond(t, "Tianjin's series dropped", func() bool {
		fams, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fams {
			if f.GetName() != "federation_peer_link_sessions_up" {
				continue
			}
			for _, m := range f.GetMetric() {
				if m.GetLabel()[0].GetValue() == gwTJ {
					return false
				}
			}
		}
		return true
	})
	// The server counts the session before the link has read its
	// CONNECT_RESP: wait for the link's side too.
	waitReady(t, p.Link(gwGZ))
	if err := send(gwGZ); err != nil {
		t.Fatal(err)
	}
	if st := p.Status(); len(st) != 1 || st[0].Peer != gwGZ || st[0].Addrs[0] != gz2.addr {
		t.Fatalf("status %+v", st)
	}
}

// TestPeersSkipPeerWithoutSecret: a target gateway with no secret of its
// own and no Default secret gets no link (it could never log in).
func TestPeersSkipPeerWithoutSecret(t *testing.T) {
	cfg := peerConfig(t, gwBJ)
	cfg.Default.Secret = ""
	cfg.Peers = []federation.PeerSettings{{Code: gwGZ, Secret: "gz"}}
	p, err := federation.NewPeers(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.Update([]federation.PeerTarget{{Code: gwGZ}, {Code: "030001"}})
	if p.Link(gwGZ) == nil || p.Link("030001") != nil {
		t.Fatalf("links: %+v", p.Status())
	}
	err = p.SendAsync(context.Background(), fwdOf(gwBJ, "030001", 0, 1, cmpp.V30), time.Time{}, nil)
	if !errors.Is(err, federation.ErrNoPeer) {
		t.Fatalf("%v", err)
	}
}

// TestPeersFollowTableAndMembers: Follow points a peer's link at its
// healthy gossip members' FWD addresses, falls back to the table's
// fwd_addr when none is healthy, and follows a table change.
func TestPeersFollowTableAndMembers(t *testing.T) {
	type state struct {
		t  *routing.Table
		ch chan struct{}
	}
	tableWith := func(rev uint64, gzAddr string) *routing.Table {
		b := routing.NewBuilder()
		for _, g := range []routing.Gateway{{Code: gwBJ, Region: "north", FwdAddr: "127.0.0.1:7931"}, {Code: gwGZ, Region: "south", FwdAddr: gzAddr}} {
			if err := b.PutGateway(g); err != nil {
				t.Fatal(err)
			}
		}
		return b.Table(rev)
	}
	var cur atomic.Pointer[state]
	cur.Store(&state{tableWith(1, "127.0.0.1:7001"), make(chan struct{})})
	table := func() (*routing.Table, <-chan struct{}) { s := cur.Load(); return s.t, s.ch }

	key := gossipKey(t)
	bj := startMember(t, memberConfig(t, "bj-1", gwBJ, key))
	gzCfg := memberConfig(t, "gz-1", gwGZ, key, bj.LocalAddr())
	gzCfg.FwdAddr = "127.0.0.1:7101"
	gz := startMember(t, gzCfg)

	p, err := federation.NewPeers(peerConfig(t, gwBJ), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = p.Run(ctx) })
	wg.Go(func() { p.Follow(ctx, table, bj.Membership) })
	defer func() { cancel(); wg.Wait() }()

	addrs := func(want string) {
		t.Helper()
		waitfor.Cond(t, "Guangzhou at "+want, func() bool {
			l := p.Link(gwGZ)
			return l != nil && slices.Equal(l.Status().Addrs, []string{want})
		})
	}
	addrs("127.0.0.1:7101")
	if err := gz.SetHealth(federation.HealthDraining); err != nil {
		t.Fatal(err)
	}
	addrs("127.0.0.1:7001")
	old := cur.Swap(&state{tableWith(2, "127.0.0.1:7002"), make(chan struct{})})
	close(old.ch)
	addrs("127.0.0.1:7002")
	if err := gz.SetHealth(federation.HealthOK); err != nil {
		t.Fatal(err)
	}
	addrs("127.0.0.1:7101")
	if p.Link(gwBJ) != nil {
		t.Fatal("a link to ourselves")
	}
}
