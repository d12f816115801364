package ismg

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/internal/pipenet"
	"github.com/tandem-sms/tandem/sim/smscsim"
)

// The TTL, expiry and retry tests run a whole node inside a
// testing/synctest bubble: its SP port and SMSC binds are in-memory pipes
// (internal/pipenet), so the fake clock jumps over hours of TTL as soon as
// every goroutine waits, and the tests use production-scale values (a
// deliver_ttl of hours, a 30 s expiry sweep, retries minutes apart)
// instead of shrunken ones.

// within waits, on the bubble's clock, until cond holds: each step lets
// every goroutine of the bubble settle (synctest.Wait), checks, then moves
// the fake clock on by step. It fails the test after d.
func within(t *testing.T, d, step time.Duration, what string, cond func() bool) {
	t.Helper()
	for start := time.Now(); ; time.Sleep(step) {
		synctest.Wait()
		if cond() {
			return
		}
		if time.Since(start) > d {
			t.Fatalf("no %s after %v", what, d)
		}
	}
}

// bubbleEnv is a node with its SMSC simulator on an in-memory network.
type bubbleEnv struct {
	t    *testing.T
	node *Node
	smsc *smscsim.SMSC
	sp   *pipenet.Listener
	reg  *prometheus.Registry
	stop func()
}

// newBubbleEnv starts smscsim and a node inside the caller's bubble.
func newBubbleEnv(t *testing.T, smscMod func(*smscsim.Config), mods ...func(string) string) *bubbleEnv {
	t.Helper()
	c := smscsim.DefaultConfig()
	c.ReceiptDelay = 5 * time.Millisecond
	c.ReceiptRetry = 50 * time.Millisecond
	c.Seed = 1
	if smscMod != nil {
		smscMod(&c)
	}
	smsc, err := smscsim.New(c)
	if err != nil {
		t.Fatal(err)
	}
	smscLn := pipenet.Listen("smsc")
	go smsc.Serve(smscLn)
	dir := t.TempDir()
	mods = append([]func(string) string{replace("  http: 127.0.0.1:0\n", "  http: \"\"\n")}, mods...)
	cfg := loadYAML(t, dir, nodeYAML(t, dir, "smsc.pipe:2775", mods...))
	e := &bubbleEnv{t: t, smsc: smsc, sp: pipenet.Listen("sp"), reg: prometheus.NewRegistry()}
	// WithoutFsync: over days of fake time the node's periodic commits
	// (the Msg_Id lease, the QUERY counters) are many, and what these
	// tests check is timing, not durability.
	e.node, err = New(cfg, WithLogger(testLogger(t)), WithRegistry(e.reg), WithSPListener(e.sp),
		WithSMSCDialer(smscLn.Dial), WithoutFsync())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.node.Run(ctx) }()
	e.stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		smsc.Close()
	}
	t.Cleanup(e.stop)
	return e
}

// login dials the node's SP port over a pipe.
func (e *bubbleEnv) login(v cmpp.Version) *sp {
	e.t.Helper()
	c := &sp{changed: make(chan struct{})}
	conn, err := e.sp.Dial(context.Background(), "pipe", "sp")
	if err != nil {
		e.t.Fatal(err)
	}
	s, err := cmpp.NewClient(context.Background(), conn, c.clientConfig(v, testSecret))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { s.Close() })
	c.s = s
	return c
}

// metric sums a series of the node's registry whose labels contain every
// filter (`name="value"`).
func (e *bubbleEnv) metric(name string, filters ...string) float64 {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			for _, f := range filters {
				if !strings.Contains(strings.Join(labels, ","), f) {
					continue metrics
				}
			}
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// TestDeliverTTL: a status report its SP keeps refusing, or one waiting
// for an SP that never returns, is dropped once delivery.deliver_ttl (6
// hours here) has passed — on the bubble's clock — counted and not left
// in the store.
func TestDeliverTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The production retry_max (5m): a report refused for hours is
		// retried every few minutes, as in production.
		e := newBubbleEnv(t, func(c *smscsim.Config) { c.ReceiptDelay = 10 * time.Millisecond },
			replace("  retry_max: 200ms\n", "  retry_max: 5m\n  deliver_ttl: 6h\n"))
		outQ := qOutPrefix + testSP
		expired := func() float64 { return e.metric("ismg_sp_delivers_total", `result="expired"`, `kind="report"`) }

		// Refused again and again: dropped when next due after the TTL.
		start := time.Now()
		c := e.login(cmpp.V30)
		c.mu.Lock()
		c.refuse = true
		c.mu.Unlock()
		c.submit(t, submitPDU(bjNumber, 0, []byte("refused")))
		within(t, 8*time.Hour, time.Minute, "expiry of the refused report", func() bool { return expired() == 1 })
		if waited := time.Since(start); waited < 6*time.Hour {
			t.Fatalf("the report expired after %v, before the 6h TTL", waited)
		}
		within(t, time.Minute, time.Second, "empty out queue", func() bool { return e.node.Store().Len(outQ) == 0 })
		if n := e.metric("ismg_sp_delivers_total", `result="error"`); n == 0 {
			t.Error("the refusals were not counted")
		}

		// Queued while the SP is away, and it never comes back.
		e.smsc.HoldReceipts(true)
		c.submit(t, submitPDU(bjNumber, 0, []byte("offline")))
		within(t, time.Minute, 10*time.Millisecond, "second MT at the SMSC", func() bool { return e.smsc.Stats().Accepted >= 2 })
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.s.Terminate(ctx); err != nil {
			t.Fatal(err)
		}
		e.smsc.HoldReceipts(false)
		left := time.Now()
		within(t, 8*time.Hour, time.Minute, "expiry of the offline report", func() bool { return expired() == 2 })
		if waited := time.Since(left); waited < 6*time.Hour-time.Minute {
			t.Fatalf("the offline report expired after %v, before the TTL", waited)
		}
		if n := e.node.Store().Len(outQ); n != 0 {
			t.Fatalf("out queue holds %d after the TTL", n)
		}
	})
}

// TestExpiresWhileSMSCDown: with the SMSC down, an MT valid for an hour is
// reported EXPIRED by the expiry sweep (every delivery.expiry_sweep, the
// default 30 s) soon after its ValId_Time, while one valid for two days
// waits and is delivered when the SMSC comes back.
func TestExpiresWhileSMSCDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Production pacing: a 30 s expiry sweep, binds retried at most
		// every 30 s while the SMSC refuses them.
		e := newBubbleEnv(t, nil, replace("  shutdown_timeout: 5s\n", "  shutdown_timeout: 5s\n  expiry_sweep: 30s\n"),
			replace("    reconnect_max: 100ms\n", "    reconnect_max: 30s\n"))
		c := e.login(cmpp.V30)
		e.smsc.SetDown(true)
		short := submitPDU(bjNumber, 0, []byte("short-lived"))
		short.ValidTime = "000000010000000R" // one hour
		start := time.Now()
		rs := c.submit(t, short)
		rl := c.submit(t, submitPDU(bjNumber, 0, []byte("long-lived")))
		ds := c.waitDelivers(t, 2*time.Hour, func(ds []*cmpp.Deliver) bool { return len(reports(ds)) == 1 })
		if waited := time.Since(start); waited < time.Hour || waited > time.Hour+time.Minute {
			t.Fatalf("EXPIRED after %v, want within a sweep of the hour", waited)
		}
		reps := reports(ds)
		if reps[rs.MsgID].Stat != cmpp.StatExpired {
			t.Fatalf("reports while the SMSC is down: %+v, want EXPIRED for %d", reps, rs.MsgID)
		}
		if d := e.node.Store().Len(qMTPrefix + "north"); d != 1 {
			t.Fatalf("mt:north depth %d, want the long-lived MT still waiting", d)
		}
		if n := e.smsc.Stats().Accepted; n != 0 {
			t.Fatalf("SMSC accepted %d submits while down", n)
		}
		e.smsc.SetDown(false)
		ds = c.waitDelivers(t, time.Hour, func(ds []*cmpp.Deliver) bool { return len(reports(ds)) == 2 })
		if got := reports(ds)[rl.MsgID].Stat; got != cmpp.StatDelivered {
			t.Fatalf("long-lived MT after the SMSC came back: %q", got)
		}
	})
}

// TestSMSCThrottling: the SMSC throttles every 3rd submit_sm; the link
// pauses (throttle_backoff 1 s), the messages are retried (retry_min 1 s,
// retry_max 5 m, on the bubble's clock), and every one is delivered.
func TestSMSCThrottling(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newBubbleEnv(t, func(c *smscsim.Config) { c.ThrottleEvery = 3 },
			replace("  retry_min: 20ms\n  retry_max: 200ms\n", "  retry_min: 1s\n  retry_max: 5m\n"),
			replace("    throttle_backoff: 20ms\n", "    throttle_backoff: 1s\n"))
		c := e.login(cmpp.V30)
		res := burst(t, c, 30)
		if res[0] != 30 {
			t.Fatalf("results %v", res)
		}
		c.waitDelivers(t, time.Hour, func(ds []*cmpp.Deliver) bool { return len(reports(ds)) == 30 })
		if got := e.metric("ismg_smsc_throttled_total"); got == 0 {
			t.Error("throttling not counted")
		}
		if st := e.smsc.Stats(); st.Throttled == 0 || st.Accepted != 30 {
			t.Errorf("smsc stats %v", st)
		}
	})
}
