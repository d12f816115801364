package smsclink

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/tandem-sms/tandem/internal/waitfor"
	"github.com/tandem-sms/tandem/smpp"
	"github.com/tandem-sms/tandem/smpp/smpptest"
)

func TestConfigValidate(t *testing.T) {
	good := testConfig(t, "127.0.0.1:2775")
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	tests := []struct {
		field string
		mut   func(*Config)
	}{
		{"Name", func(c *Config) { c.Name = "" }},
		{"Address", func(c *Config) { c.Address = "localhost" }},
		{"SystemID", func(c *Config) { c.SystemID = "" }},
		{"SystemID", func(c *Config) { c.SystemID = strings.Repeat("x", 16) }},
		{"Password", func(c *Config) { c.Password = "123456789" }},
		{"SystemType", func(c *Config) { c.SystemType = strings.Repeat("x", 13) }},
		{"BindType", func(c *Config) { c.BindType = "both" }},
		{"Binds", func(c *Config) { c.Binds = 0 }},
		{"Window", func(c *Config) { c.Window = 0 }},
		{"Rate", func(c *Config) { c.Rate = -1 }},
		{"Burst", func(c *Config) { c.Burst = -1 }},
		{"EnquireLink", func(c *Config) { c.EnquireLink = -time.Second }},
		{"ResponseTimeout", func(c *Config) { c.ResponseTimeout = 0 }},
		{"ConnectTimeout", func(c *Config) { c.ConnectTimeout = 0 }},
		{"ReconnectMin", func(c *Config) { c.ReconnectMin = 0 }},
		{"ReconnectMax", func(c *Config) { c.ReconnectMax = c.ReconnectMin / 2 }},
		{"ThrottleBackoff", func(c *Config) { c.ThrottleBackoff = 0 }},
		{"ThrottleBackoffMax", func(c *Config) { c.ThrottleBackoffMax = c.ThrottleBackoff / 2 }},
		{"ShutdownTimeout", func(c *Config) { c.ShutdownTimeout = 0 }},
		{"MaxDeliverInFlight", func(c *Config) { c.MaxDeliverInFlight = 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			c := good
			tt.mut(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("Validate() = %v, want an error naming %s", err, tt.field)
			}
			if _, err := New(c, nil); err == nil {
				t.Fatal("New accepted an invalid config")
			}
		})
	}
}

func TestReconnectDelay(t *testing.T) {
	lo, hi := 100*time.Millisecond, time.Second
	top := func(n int64) int64 { return n - 1 } // the jitter's upper bound
	want := []time.Duration{100, 200, 400, 800, 1000, 1000, 1000}
	for attempt, w := range want {
		if got := reconnectDelay(attempt, lo, hi, top); got != w*time.Millisecond {
			t.Errorf("attempt %d: max delay %v, want %v", attempt, got, w*time.Millisecond)
		}
		if got := reconnectDelay(attempt, lo, hi, func(int64) int64 { return 0 }); got != 0 {
			t.Errorf("attempt %d: min delay %v, want 0 (full jitter)", attempt, got)
		}
	}
	if got := reconnectDelay(1000, lo, hi, top); got != hi {
		t.Errorf("attempt 1000: %v, want the cap %v", got, hi)
	}
}

func TestLimiter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if newLimiter(0, 5) != nil {
		t.Fatal("rate 0 must mean no limiter")
	}
	l := newLimiter(10, 1)
	reserve := func(l *rate.Limiter, now time.Time) time.Duration { return l.ReserveN(now, 1).DelayFrom(now) }
	var got []time.Duration
	var last *rate.Reservation
	for range 4 {
		last = l.ReserveN(now, 1)
		got = append(got, last.DelayFrom(now))
	}
	want := []time.Duration{0, 100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond}
	if !slices.Equal(got, want) {
		t.Fatalf("burst 1 reservations %v, want %v", got, want)
	}
	last.CancelAt(now) // the 300 ms one gives up
	if d := reserve(l, now); d != 300*time.Millisecond {
		t.Fatalf("after cancel: %v, want the freed 300ms slot", d)
	}
	if d := reserve(l, now.Add(time.Second)); d != 0 {
		t.Fatalf("after an idle second: %v, want 0", d)
	}

	l = newLimiter(100, 3)
	got = got[:0]
	for range 5 {
		got = append(got, reserve(l, now))
	}
	want = []time.Duration{0, 0, 0, 10 * time.Millisecond, 20 * time.Millisecond}
	if !slices.Equal(got, want) {
		t.Fatalf("burst 3 reservations %v, want %v", got, want)
	}
}

// Submits spread over all binds, and no bind ever has more than Window
// outstanding: the SMSC holds the responses and counts.
func TestLoadShareAndWindow(t *testing.T) {
	smsc := &testSMSC{hold: true}
	srv := startSMSC(t, smsc)
	cfg := testConfig(t, srv.Addr)
	cfg.Binds, cfg.Window = 3, 2
	l := startLink(t, cfg, nil)
	waitBound(t, l.Link, 3)
	ctx := testCtx(t)

	type result struct {
		id  string
		err error
	}
	results := make(chan result, 7)
	submit := func() {
		id, err := l.Submit(ctx, newSubmit("8613800000000"))
		results <- result{id, err}
	}
	for range 6 {
		go submit()
	}
	smsc.waitFor(t, "6 held submits", func() bool { return len(smsc.held) == 6 })
	smsc.mu.Lock()
	if len(smsc.perSession) != 3 {
		t.Errorf("submits went to %d sessions, want 3", len(smsc.perSession))
	}
	for s, n := range smsc.perSession {
		if n != 2 {
			t.Errorf("session %v got %d submits, want 2 (least outstanding first)", s.RemoteAddr(), n)
		}
	}
	smsc.mu.Unlock()
	for _, b := range l.Status().Binds {
		if b.Outstanding != 2 {
			t.Errorf("bind %d: Outstanding %d, want 2", b.Slot, b.Outstanding)
		}
	}

	// Every window is full: the 7th waits instead of overrunning one.
	go submit()
	waitfor.Cond(t, "a submit waiting for a window", func() bool { return l.Counters().WindowWaits == 1 })
	if n := smsc.count(); n != 6 {
		t.Fatalf("SMSC saw %d submits with every window full, want 6", n)
	}
	freed := smsc.release(1)[0]
	smsc.waitFor(t, "the 7th submit", func() bool { return smsc.submits == 7 })
	smsc.mu.Lock()
	if n := smsc.perSession[freed]; n != 3 {
		t.Errorf("the 7th submit did not take the freed window slot (that bind has %d)", n)
	}
	smsc.mu.Unlock()
	smsc.release(-1)
	ids := map[string]bool{}
	for range 7 {
		r := <-results
		if r.err != nil {
			t.Fatalf("Submit: %v", r.err)
		}
		ids[r.id] = true
	}
	if len(ids) != 7 {
		t.Fatalf("message ids %v, want 7 distinct", ids)
	}

	// Many concurrent callers with an answering SMSC.
	smsc.mu.Lock()
	smsc.hold = false
	smsc.mu.Unlock()
	var wg sync.WaitGroup
	var failed atomic.Int32
	for range 20 {
		wg.Go(func() {
			for range 15 {
				if _, err := l.Submit(ctx, newSubmit("8613800000001")); err != nil {
					failed.Add(1)
					t.Errorf("Submit: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	smsc.mu.Lock()
	defer smsc.mu.Unlock()
	for s, n := range smsc.perSession {
		if n < 10 {
			t.Errorf("session %v got only %d of 307 submits", s.RemoteAddr(), n)
		}
		if m := smsc.maxInflight[s]; m > cfg.Window {
			t.Errorf("session %v had %d outstanding, window is %d", s.RemoteAddr(), m, cfg.Window)
		}
	}
	c := l.Counters()
	if c.Submits != 307 || c.SubmitOK != 307 || len(c.SubmitErrors) != 0 {
		t.Errorf("counters %+v, want 307 submits all OK", c)
	}
}

// A slot whose connection the SMSC drops reconnects, and the link never
// holds more sockets than slots.
func TestReconnect(t *testing.T) {
	for _, bt := range []BindType{Transceiver, TxRx} {
		t.Run(string(bt), func(t *testing.T) {
			smsc := &testSMSC{}
			srv := startSMSC(t, smsc)
			cfg := testConfig(t, srv.Addr)
			cfg.Binds, cfg.BindType = 2, bt
			var socks sockets
			cfg.Dial = socks.dial
			l := startLink(t, cfg, nil)
			slots := len(l.slots)
			waitBound(t, l.Link, 2)
			waitfor.Cond(t, "all slots bound", func() bool { return l.Counters().BindsUp == int64(slots) })

			victim := srv.SMPP.Sessions()[0]
			_ = victim.Close()
			waitfor.Cond(t, "the slot to reconnect", func() bool {
				return l.Counters().Reconnects == 1 && l.Counters().BindsUp == int64(slots)
			})
			dials, open, maxOpen := socks.snapshot()
			if dials != slots+1 || open != slots || maxOpen > slots {
				t.Fatalf("dials %d, open %d, max open %d; want %d, %d, <= %d", dials, open, maxOpen, slots+1, slots, slots)
			}
			var re int
			for _, b := range l.Status().Binds {
				re += int(b.Reconnects)
				if b.State != BindBound || b.ConnectedSince.IsZero() {
					t.Errorf("bind %d: %v since %v, want bound", b.Slot, b.State, b.ConnectedSince)
				}
			}
			if re != 1 {
				t.Errorf("per-bind reconnects sum to %d, want 1", re)
			}
			if _, err := l.Submit(testCtx(t), newSubmit("8613800000002")); err != nil {
				t.Fatalf("Submit after reconnect: %v", err)
			}
			if err := l.stop(t); err != nil {
				t.Fatal(err)
			}
			if _, open, maxOpen := socks.snapshot(); open != 0 || maxOpen > slots {
				t.Fatalf("after Run: %d sockets open (max %d)", open, maxOpen)
			}
		})
	}
}

// While the SMSC is down Submit fails fast with ErrNoBind; once it is back
// the slots reconnect on their own.
func TestSMSCDownThenUp(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens there now

	cfg := testConfig(t, addr)
	cfg.Binds = 2
	var socks sockets
	cfg.Dial = socks.dial
	l := startLink(t, cfg, nil)
	waitfor.Cond(t, "failed bind attempts", func() bool { return l.Counters().BindFailures >= 2 })

	_, err = l.Submit(testCtx(t), newSubmit("8613800000003"))
	if !errors.Is(err, ErrNoBind) || !Temporary(err) || Classify(err) != KindNoBind {
		t.Fatalf("Submit while down: %v, want a temporary ErrNoBind", err)
	}
	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	err = l.WaitReady(short)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitReady while down: %v", err)
	}

	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("relisten on %s: %v", addr, err)
	}
	smsc := &testSMSC{}
	srv := &smpp.Server{Config: smpptest.Config(), Handler: smsc}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); <-served })

	if err := l.WaitReady(testCtx(t)); err != nil {
		t.Fatalf("WaitReady after the SMSC came back: %v", err)
	}
	if _, err := l.Submit(testCtx(t), newSubmit("8613800000003")); err != nil {
		t.Fatalf("Submit after the SMSC came back: %v", err)
	}
	waitBound(t, l.Link, 2)
	if _, open, maxOpen := socks.snapshot(); open != 2 || maxOpen > 2 {
		t.Fatalf("%d sockets open (max %d), want 2", open, maxOpen)
	}
	if c := l.Counters(); c.SubmitErrors[KindNoBind] != 1 || c.SubmitOK != 1 {
		t.Fatalf("counters %+v", c)
	}
}

// ESME_RTHROTTLED and ESME_RMSGQFUL fail the submit and pause the whole
// link; the pause doubles while the SMSC keeps throttling and resets after
// a success. The fake clock shows the pause without waiting for it.
func TestThrottle(t *testing.T) {
	for _, tc := range []struct {
		status smpp.Status
		target error
		kind   Kind
	}{
		{smpp.StatusThrottled, smpp.ErrThrottled, KindThrottled},
		{smpp.StatusMsgQFul, smpp.ErrQueueFull, KindQueueFull},
	} {
		t.Run(tc.status.Name(), func(t *testing.T) {
			smsc := &testSMSC{status: func(n int) smpp.Status {
				if n <= 2 {
					return tc.status
				}
				return smpp.StatusOK
			}}
			srv := startSMSC(t, smsc)
			clk := newFakeClock()
			cfg := testConfig(t, srv.Addr)
			cfg.Binds = 2
			cfg.Clock = clk
			cfg.ThrottleBackoff, cfg.ThrottleBackoffMax = time.Second, 3*time.Second
			l := startLink(t, cfg, nil)
			waitBound(t, l.Link, 2)
			ctx := testCtx(t)

			_, err := l.Submit(ctx, newSubmit("8613800000004"))
			var se *smpp.StatusError
			if !errors.Is(err, tc.target) || !errors.As(err, &se) || se.Status != tc.status || !Temporary(err) || Classify(err) != tc.kind {
				t.Fatalf("Submit: %v, want a temporary %v", err, tc.status)
			}
			st := l.Status()
			if st.ThrottleBackoff != time.Second || !st.PausedUntil.Equal(clk.Now().Add(time.Second)) {
				t.Fatalf("after throttling: backoff %v until %v, want 1s from %v", st.ThrottleBackoff, st.PausedUntil, clk.Now())
			}

			// A caller whose deadline ends inside the pause is refused at once.
			short, cancel := context.WithTimeout(ctx, time.Millisecond)
			_, err = l.Submit(short, newSubmit("8613800000004"))
			cancel()
			if !errors.Is(err, ErrPaused) || !Temporary(err) {
				t.Fatalf("Submit with a deadline inside the pause: %v, want ErrPaused", err)
			}

			// The next submit is held for the pause: nothing reaches the
			// SMSC until the clock moves past it.
			errc := make(chan error, 1)
			go func() { _, err := l.Submit(ctx, newSubmit("8613800000004")); errc <- err }()
			if got := clk.waitTimers(t, 1); got[0] != time.Second {
				t.Fatalf("submit waits %v, want the 1s pause", got[0])
			}
			if n := smsc.count(); n != 1 {
				t.Fatalf("SMSC saw %d submits during the pause, want 1", n)
			}
			clk.Advance(time.Second)
			if err := <-errc; !errors.Is(err, tc.target) {
				t.Fatalf("first submit after the pause: %v, want %v again", err, tc.target)
			}
			if st := l.Status(); st.ThrottleBackoff != 2*time.Second {
				t.Fatalf("repeated throttling: backoff %v, want doubled to 2s", st.ThrottleBackoff)
			}

			go func() { _, err := l.Submit(ctx, newSubmit("8613800000004")); errc <- err }()
			if got := clk.waitTimers(t, 1); got[0] != 2*time.Second {
				t.Fatalf("submit waits %v, want the 2s pause", got[0])
			}
			if n := smsc.count(); n != 2 {
				t.Fatalf("SMSC saw %d submits during the pause, want 2", n)
			}
			clk.Advance(2 * time.Second)
			if err := <-errc; err != nil {
				t.Fatalf("submit after the second pause: %v", err)
			}
			if st := l.Status(); st.ThrottleBackoff != 0 || !st.PausedUntil.IsZero() {
				t.Fatalf("after a success: backoff %v until %v, want reset", st.ThrottleBackoff, st.PausedUntil)
			}
			c := l.Counters()
			if c.Throttled != 2 || c.Pauses != 2 || c.PauseWaits != 2 || c.SubmitErrors[tc.kind] != 2 || c.SubmitErrors[KindPaused] != 1 || c.SubmitOK != 1 {
				t.Fatalf("counters %+v", c)
			}
		})
	}
}

// Submits in flight when the first throttled response arrives do not
// stretch the pause: one pause per throttling episode.
func TestThrottleOnePausePerEpisode(t *testing.T) {
	smsc := &testSMSC{hold: true, status: func(int) smpp.Status { return smpp.StatusThrottled }}
	srv := startSMSC(t, smsc)
	clk := newFakeClock()
	cfg := testConfig(t, srv.Addr)
	cfg.Clock = clk
	cfg.Window = 5
	l := startLink(t, cfg, nil)
	waitBound(t, l.Link, 1)
	ctx := testCtx(t)
	errc := make(chan error, 5)
	for range 5 {
		go func() { _, err := l.Submit(ctx, newSubmit("8613800000005")); errc <- err }()
	}
	smsc.waitFor(t, "5 held", func() bool { return len(smsc.held) == 5 })
	smsc.release(-1)
	for range 5 {
		if err := <-errc; !errors.Is(err, smpp.ErrThrottled) {
			t.Fatalf("Submit: %v", err)
		}
	}
	if c := l.Counters(); c.Pauses != 1 || c.Throttled != 5 {
		t.Fatalf("5 throttled in flight gave %d pauses (%d throttled), want 1", c.Pauses, c.Throttled)
	}
	if b := l.Status().ThrottleBackoff; b != cfg.ThrottleBackoff {
		t.Fatalf("backoff %v, want %v", b, cfg.ThrottleBackoff)
	}
}

// With Rate set a burst is spread: each submit reserves its turn from the
// limiter and waits for it on the (fake) clock.
func TestRateCap(t *testing.T) {
	smsc := &testSMSC{}
	srv := startSMSC(t, smsc)
	clk := newFakeClock()
	cfg := testConfig(t, srv.Addr)
	cfg.Binds = 2
	cfg.Rate, cfg.Burst = 10, 1
	cfg.Clock = clk
	l := startLink(t, cfg, nil)
	waitBound(t, l.Link, 2)
	ctx := testCtx(t)

	errc := make(chan error, 3)
	for range 3 {
		go func() { _, err := l.Submit(ctx, newSubmit("8613800000006")); errc <- err }()
	}
	got := clk.waitTimers(t, 2)
	if want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}; !slices.Equal(got, want) {
		t.Fatalf("rate waits %v, want %v", got, want)
	}
	smsc.waitFor(t, "the first submit", func() bool { return smsc.submits == 1 })
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	clk.Advance(100 * time.Millisecond)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if n := smsc.count(); n != 2 {
		t.Fatalf("after 100ms the SMSC saw %d submits, want 2", n)
	}
	clk.Advance(100 * time.Millisecond)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}

	// A caller that cannot wait for its turn is refused and gives the
	// token back.
	_ = l.lim.ReserveN(clk.Now(), 1) // someone else holds the next slot
	short, cancel := context.WithTimeout(ctx, time.Millisecond)
	_, err := l.Submit(short, newSubmit("8613800000006"))
	cancel()
	if !errors.Is(err, ErrRateWait) || !Temporary(err) {
		t.Fatalf("Submit with a deadline before its turn: %v, want ErrRateWait", err)
	}
	if c := l.Counters(); c.RateWaits != 2 || c.SubmitOK != 3 || c.SubmitErrors[KindRateWait] != 1 {
		t.Fatalf("counters %+v", c)
	}
}

// deliver_sm reaches the Handler, and deliver_sm_resp carries its status
// and is sent only after it returns.
func TestDeliver(t *testing.T) {
	srv := startSMSC(t, &testSMSC{})
	type call struct {
		d *smpp.DeliverSM
	}
	calls := make(chan call)
	release := make(chan smpp.Status)
	var returned atomic.Bool
	h := HandlerFunc(func(ctx context.Context, d *smpp.DeliverSM) smpp.Status {
		calls <- call{d}
		st := <-release
		returned.Store(true)
		return st
	})
	cfg := testConfig(t, srv.Addr)
	cfg.MaxDeliverInFlight = 1
	l := startLink(t, cfg, h)
	waitBound(t, l.Link, 1)
	ss := srv.SMPP.Sessions()[0]
	ctx := testCtx(t)

	receipt := &smpp.DeliverSM{
		SourceAddr:   smpp.Addr{Addr: "8613800000007"},
		DestAddr:     smpp.Addr{Addr: "Tandem"},
		ESMClass:     smpp.ESMClassReceipt,
		ShortMessage: []byte("id:M1 sub:001 dlvrd:001 submit date:2601020304 done date:2601020305 stat:DELIVRD err:000 text:hello"),
	}
	type result struct {
		resp *smpp.DeliverSMResp
		err  error
	}
	res := make(chan result, 2)
	go func() { r, err := ss.Deliver(ctx, receipt); res <- result{r, err} }()
	c := <-calls
	if !c.d.IsReceipt() || string(c.d.ShortMessage) != string(receipt.ShortMessage) {
		t.Fatalf("handler got %+v", c.d)
	}

	// The handler is busy and MaxDeliverInFlight is 1: another delivery is
	// refused at once with a temporary status, without queueing.
	if _, err := ss.Deliver(ctx, receipt); !errors.Is(err, &smpp.StatusError{Status: smpp.StatusXTAppn}) {
		t.Fatalf("delivery beyond MaxDeliverInFlight: %v, want ESME_RX_T_APPN", err)
	}
	select {
	case r := <-res:
		t.Fatalf("deliver_sm_resp before the handler returned: %+v", r)
	default:
	}
	release <- smpp.StatusXTAppn
	r := <-res
	if !returned.Load() {
		t.Fatal("response arrived before the handler returned")
	}
	if !errors.Is(r.err, &smpp.StatusError{Status: smpp.StatusXTAppn}) {
		t.Fatalf("deliver_sm_resp: %v, want the handler's ESME_RX_T_APPN", r.err)
	}

	// OK acknowledges; data_sm arrives as a DeliverSM with its payload.
	go func() { r, err := ss.Deliver(ctx, receipt); res <- result{r, err} }()
	<-calls
	release <- smpp.StatusOK
	if r := <-res; r.err != nil || r.resp == nil {
		t.Fatalf("deliver_sm_resp: %+v", r)
	}
	ds := &smpp.DataSM{SourceAddr: smpp.Addr{Addr: "8613800000008"}, DestAddr: smpp.Addr{Addr: "10086"}, DataCoding: smpp.CodingUCS2}
	ds.TLVs.SetMessagePayload([]byte{0, 'h', 0, 'i'})
	dres := make(chan error, 1)
	go func() { _, err := ss.DataSM(ctx, ds); dres <- err }()
	c = <-calls
	if string(c.d.Payload()) != "\x00h\x00i" || c.d.SourceAddr.Addr != "8613800000008" || c.d.DataCoding != smpp.CodingUCS2 {
		t.Fatalf("data_sm reached the handler as %+v", c.d)
	}
	release <- smpp.StatusOK
	if err := <-dres; err != nil {
		t.Fatalf("data_sm_resp: %v", err)
	}
	if c := l.Counters(); c.Delivers != 4 || c.DeliverErrors != 1 || c.DeliverRejected != 1 {
		t.Fatalf("counters %+v", c)
	}
}

// Cancelling Run drains and unbinds every session, closes every socket and
// leaves no goroutine behind.
func TestShutdown(t *testing.T) {
	smsc := &testSMSC{hold: true}
	srv := startSMSC(t, smsc)
	cfg := testConfig(t, srv.Addr)
	cfg.Binds = 3
	var socks sockets
	cfg.Dial = socks.dial
	l := startLink(t, cfg, HandlerFunc(func(context.Context, *smpp.DeliverSM) smpp.Status { return smpp.StatusOK }))
	waitBound(t, l.Link, 3)
	server := srv.SMPP.Sessions()
	if len(server) != 3 {
		t.Fatalf("%d server sessions, want 3", len(server))
	}

	// One submit is outstanding when Run's context ends: it completes
	// before the unbind.
	errc := make(chan error, 1)
	go func() { _, err := l.Submit(testCtx(t), newSubmit("8613800000009")); errc <- err }()
	smsc.waitFor(t, "a held submit", func() bool { return len(smsc.held) == 1 })
	l.cancel()
	// Polling with Submit itself could send (and the SMSC hold) a submit
	// that raced with the cancel, so wait on the link's own check.
	waitfor.Cond(t, "the link closing", func() bool { return errors.Is(l.available(), ErrClosed) })
	if _, err := l.Submit(testCtx(t), newSubmit("8613800000009")); !errors.Is(err, ErrClosed) || Classify(err) != KindClosed {
		t.Fatalf("Submit during shutdown: %v, want ErrClosed", err)
	}
	select {
	case err := <-l.done:
		t.Fatalf("Run returned %v with a submit outstanding", err)
	default:
	}
	smsc.release(-1)
	if err := <-errc; err != nil {
		t.Fatalf("outstanding submit during shutdown: %v", err)
	}
	if err := l.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, s := range server {
		if err := s.Wait(); err != nil {
			t.Errorf("server session %v ended with %v, want a clean unbind", s.RemoteAddr(), err)
		}
	}
	if _, open, _ := socks.snapshot(); open != 0 {
		t.Fatalf("%d sockets still open after Run", open)
	}
	for _, b := range l.Status().Binds {
		if b.State != BindClosed {
			t.Errorf("bind %d is %v after Run, want closed", b.Slot, b.State)
		}
	}
	if err := l.Run(context.Background()); !errors.Is(err, ErrRunning) {
		t.Fatalf("second Run: %v", err)
	}
	_ = srv.Close()
	waitfor.Cond(t, "no link or session goroutines", func() bool {
		var b strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
		dump := b.String()
		return !strings.Contains(dump, "smsclink.(*Link)") && !strings.Contains(dump, "smpp.(*Session)")
	})
}

// A receiver-only link never submits.
func TestReceiverOnly(t *testing.T) {
	srv := startSMSC(t, &testSMSC{})
	cfg := testConfig(t, srv.Addr)
	cfg.BindType = Receiver
	l := startLink(t, cfg, nil)
	waitfor.Cond(t, "bound", func() bool { return l.Counters().BindsUp == 1 })
	if _, err := l.Submit(testCtx(t), newSubmit("8613800000010")); !errors.Is(err, ErrNoBind) {
		t.Fatalf("Submit on a receiver: %v, want ErrNoBind", err)
	}
	if b := l.Status().Binds[0]; b.Mode != smpp.BindReceiver || b.State != BindBound {
		t.Fatalf("bind %+v", b)
	}
}

func TestClassify(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("smsclink x: bind 0: %w", err) }
	tests := []struct {
		err  error
		kind Kind
		temp bool
	}{
		{nil, KindNone, false},
		{wrap(&smpp.StatusError{Command: smpp.CmdSubmitSMResp, Status: smpp.StatusThrottled}), KindThrottled, true},
		{wrap(&smpp.StatusError{Command: smpp.CmdSubmitSMResp, Status: smpp.StatusMsgQFul}), KindQueueFull, true},
		{wrap(&smpp.StatusError{Command: smpp.CmdSubmitSMResp, Status: smpp.StatusXTAppn}), KindTempStatus, true},
		{wrap(&smpp.StatusError{Command: smpp.CmdSubmitSMResp, Status: smpp.StatusInvDstAdr}), KindRejected, false},
		{wrap(&smpp.StatusError{Command: smpp.CmdGenericNack, Status: smpp.StatusInvCmdID}), KindRejected, false},
		{wrap(ErrNoBind), KindNoBind, true},
		{wrap(ErrPaused), KindPaused, true},
		{wrap(ErrRateWait), KindRateWait, true},
		{wrap(ErrClosed), KindClosed, true},
		{wrap(smpp.ErrTimeout), KindTimeout, true},
		{wrap(context.DeadlineExceeded), KindTimeout, true},
		{wrap(context.Canceled), KindCanceled, true},
		{wrap(fmt.Errorf("%w: %w", smpp.ErrClosed, errors.New("EOF"))), KindConnection, true},
		{wrap(newSubmitTooLong().Validate()), KindInvalid, false},
	}
	for _, tt := range tests {
		if k := Classify(tt.err); k != tt.kind {
			t.Errorf("Classify(%v) = %v, want %v", tt.err, k, tt.kind)
		}
		if tmp := Temporary(tt.err); tmp != tt.temp {
			t.Errorf("Temporary(%v) = %v, want %v", tt.err, tmp, tt.temp)
		}
	}
	if len(Kinds()) != int(numKinds)-1 {
		t.Fatalf("Kinds() = %v", Kinds())
	}
}

func newSubmitTooLong() *smpp.SubmitSM {
	p := newSubmit("8613800000011")
	p.ShortMessage = make([]byte, 300)
	return p
}

// An invalid submit_sm is refused before it costs a rate token or a window
// slot, and the error names the field.
func TestSubmitInvalid(t *testing.T) {
	srv := startSMSC(t, &testSMSC{})
	l := startLink(t, testConfig(t, srv.Addr), nil)
	waitBound(t, l.Link, 1)
	_, err := l.Submit(testCtx(t), newSubmitTooLong())
	if err == nil || Temporary(err) || !strings.Contains(err.Error(), "short_message") {
		t.Fatalf("Submit of a 300-octet short_message: %v", err)
	}
}
