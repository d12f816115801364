package spsim

import (
	"strings"
	"testing"
	"time"
)

// Two nodes of one gateway (Addrs): the first crashes with SUBMITs in
// flight and the connections log in at the second at once; when that one
// crashes too, they come back to the first, restarted meanwhile. Every
// message is acked, and each node saw SUBMITs after the drop that sent
// the SP to it.
func TestReconnectTriesNextAddress(t *testing.T) {
	a := newGateway(t, func(g *gateway) { g.noReport, g.drop = true, func(n int) bool { return n == 25 } })
	aBack := make(chan struct{})
	b := newGateway(t, func(g *gateway) {
		g.noReport = true
		g.drop = func(n int) bool {
			if n != 10 {
				return false
			}
			<-aBack // the first node is up again before the second dies
			return true
		}
	})
	go func() {
		<-a.crashed
		a.drop = nil // restarted, it keeps running (no SUBMIT reaches it before start)
		a.start()
		close(aBack)
	}()
	cfg := testConfig(t, "")
	cfg.Addrs = []string{a.addr, b.addr}
	cfg.Total = 60
	cfg.Window = 4
	cfg.Connections = 2
	cfg.RegisteredDelivery = 0
	cfg.ReconnectTimeout = time.Minute
	cfg.ReconnectWait = time.Millisecond
	path := recordTo(t, &cfg)
	res, err := Run(ctxT(t), cfg)
	if err != nil {
		t.Fatalf("run: %v (result %+v)", err, res)
	}
	// Each connection reconnects once per drop that reached it (a
	// connection that had not yet moved to the second node when it died
	// goes straight back to the first): 2 to 4 in all.
	if res.Acked != 60 || res.Errors != 0 || res.Reconnects < 2 || res.Reconnects > 4 || res.Resent < 2 || res.UnknownReports != 0 {
		t.Fatalf("result %+v: want 60 acked, no errors, 2..4 reconnects, the unanswered resent", res)
	}
	// a: 25 SUBMITs before its crash, more after the SP came back.
	// b: its 10th crashed it after taking its share.
	if n := len(a.seen()); n <= 25 {
		t.Fatalf("first node saw %d SUBMITs: the SP never came back to it", n)
	}
	if n := len(b.seen()); n < 10 {
		t.Fatalf("second node saw %d SUBMITs, want >= 10", n)
	}
	evs := readRecord(t, path)
	if got, want := evs[0].Addr, a.addr+","+b.addr; got != want {
		t.Fatalf("run line addr %q, want %q", got, want)
	}
}

func TestAddrsConfig(t *testing.T) {
	cfg := testConfig(t, "")
	cfg.Addrs = []string{"127.0.0.1:1", ""}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "Addrs") {
		t.Fatalf("empty address in Addrs: %v", err)
	}
	cfg.Addrs = nil
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "Addr is empty") {
		t.Fatalf("no address: %v", err)
	}
}
