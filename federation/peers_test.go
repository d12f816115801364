package federation_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/federation"
	"github.com/tandem-sms/tandem/internal/waitfor"
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
	if err := send(gwGZ); err != nil {
		t.Fatal(err)
	}
	if st := p.Status(); len(st) != 1 || st[0].Peer != gwGZ || st[0].Addrs[0] != gz2.addr {
		t.Fatalf("status %+v", st)
	}
}
