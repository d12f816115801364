package cmpp_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/cmpp/cmpptest"
	"github.com/tandem-sms/tandem/internal/waitfor"
)

// dialFrom opens a TCP connection to addr from the loopback address src,
// so one test can play several source IPs.
func dialFrom(t testing.TB, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Idle connections that never send CONNECT are capped per source address
// and in total; the ones over a cap are closed at once and counted, and a
// valid client from another address still logs in while the flood holds
// its slots.
func TestPendingConnectionsCapped(t *testing.T) {
	checkGoroutines(t)
	var mu sync.Mutex
	refused := map[string]int{}
	ts := cmpptest.NewUnstartedServer(okHandler)
	ts.MaxPending, ts.MaxPendingPerIP = 6, 4
	ts.ConnectTimeout = time.Minute // the flood would otherwise time out by itself
	ts.OnRefuse = func(_ net.Addr, reason string) {
		mu.Lock()
		refused[reason]++
		mu.Unlock()
	}
	ts.Start(t)
	count := func(reason string) int {
		mu.Lock()
		defer mu.Unlock()
		return refused[reason]
	}

	// 10 idle connects from 127.0.0.2: 4 are held, 6 refused per IP.
	for range 10 {
		dialFrom(t, "127.0.0.2", ts.Addr)
	}
	waitfor.Cond(t, "6 per-IP refusals", func() bool { return count(cmpp.RefusePendingPerIP) == 6 })
	waitfor.Cond(t, "4 pending", func() bool { return ts.PendingConns() == 4 })
	// A valid client from 127.0.0.1 logs in while 127.0.0.2's flood holds
	// its slots.
	s, err := cmpp.Dial(context.Background(), ts.Addr, ts.ClientConfig(t, cmpp.V30))
	if err != nil {
		t.Fatalf("valid login during the flood: %v", err)
	}
	if _, err := s.Send(context.Background(), newSubmit()); err != nil {
		t.Fatal(err)
	}
	s.Close()

	// 2 more from 127.0.0.3 fill the global cap; the third is refused.
	for range 3 {
		dialFrom(t, "127.0.0.3", ts.Addr)
	}
	waitfor.Cond(t, "a global refusal", func() bool { return count(cmpp.RefusePending) == 1 })

	// A refused connection is closed by the server without a byte read.
	c := dialFrom(t, "127.0.0.2", ts.Addr)
	c.SetReadDeadline(time.Now().Add(cmpptest.Timeout))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("over-cap connection: read %d, %v; want EOF", n, err)
	}

}

// An idle connection is closed at the login deadline.
func TestConnectDeadline(t *testing.T) {
	checkGoroutines(t)
	ts := cmpptest.NewUnstartedServer(okHandler)
	ts.ConnectTimeout = 50 * time.Millisecond
	ts.Start(t)
	c := dialFrom(t, "127.0.0.1", ts.Addr)
	c.SetReadDeadline(time.Now().Add(cmpptest.Timeout))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("idle connection: read %d, %v; want it closed at the deadline", n, err)
	}
	waitfor.Cond(t, "no pending connection", func() bool { return ts.PendingConns() == 0 })
}
