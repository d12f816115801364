package spsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/cmpp/cmpptest"
	"github.com/tandem-sms/tandem/smstext"
)

const timeout = 10 * time.Second

// ismg is a tiny CMPP server standing in for the ISMG: it acks SUBMITs
// (refusing every rejectEvery-th with flow control) and sends a status
// report for each acked one that asks for it.
type ismg struct {
	*cmpptest.Server
	rejectEvery int
	stat        func(dest string) string
	reportTwice func(n int) bool // send the n-th report (1-based) twice
	noReports   bool
	unknownOnce bool // send one report for a Msg_Id never handed out
	reportFirst bool // send the reports (answered) before the SUBMIT_RESP

	gen     *cmpp.MsgIDGenerator
	mu      sync.Mutex
	n       int
	submits []cmpp.Submit
	reports int
	moResp  chan *cmpp.DeliverResp
	wg      sync.WaitGroup
}

func newISMG(t *testing.T, mod func(*ismg)) *ismg {
	t.Helper()
	g := &ismg{
		gen:    cmpp.NewMsgIDGenerator(79101, time.Now, time.Time{}),
		stat:   func(string) string { return cmpp.StatDelivered },
		moResp: make(chan *cmpp.DeliverResp, 1),
	}
	if mod != nil {
		mod(g)
	}
	g.Server = cmpptest.NewServer(t, cmpp.HandlerFunc(g.serve))
	t.Cleanup(g.wg.Wait)
	return g
}

func (g *ismg) serve(s *cmpp.Session, h cmpp.Header, req cmpp.PDU) {
	sub, ok := req.(*cmpp.Submit)
	if !ok {
		return // DELIVER_RESPs are responses, not requests
	}
	g.mu.Lock()
	g.n++
	n := g.n
	cp := *sub
	cp.DestTerminalIDs = append([]string(nil), sub.DestTerminalIDs...)
	g.submits = append(g.submits, cp)
	g.mu.Unlock()
	if g.rejectEvery > 0 && n%g.rejectEvery == 0 {
		_ = s.Reply(h, &cmpp.SubmitResp{Result: cmpp.ResultFlowControl})
		return
	}
	id := g.gen.Next()
	if !g.reportFirst {
		_ = s.Reply(h, &cmpp.SubmitResp{MsgID: id})
	}
	if sub.RegisteredDelivery == 1 && !g.noReports {
		g.sendReports(s, sub, id)
	}
	if g.reportFirst {
		_ = s.Reply(h, &cmpp.SubmitResp{MsgID: id})
	}
}

func (g *ismg) sendReports(s *cmpp.Session, sub *cmpp.Submit, id uint64) {
	dest := sub.DestTerminalIDs[0]
	g.mu.Lock()
	g.reports++
	k := g.reports
	unknown := g.unknownOnce && k == 1
	g.mu.Unlock()
	copies := 1
	if g.reportTwice != nil && g.reportTwice(k) {
		copies = 2
	}
	send := func(msgID uint64) {
		d := &cmpp.Deliver{MsgID: g.gen.Next(), DestID: sub.SrcID, SrcTerminalID: dest}
		d.SetReport(&cmpp.Report{MsgID: msgID, Stat: g.stat(dest), SubmitTime: "2611221430", DoneTime: "2611221431", DestTerminalID: dest}, s.Version())
		_, _ = s.SendWait(s.Context(), d)
	}
	for range copies {
		send(id)
	}
	if unknown {
		send(12345)
	}
}

func (g *ismg) submitted() []cmpp.Submit {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]cmpp.Submit(nil), g.submits...)
}

func testConfig(t *testing.T, addr string) Config {
	cfg := DefaultConfig()
	cfg.Addr = addr
	cfg.SPID = cmpptest.SourceAddr
	cfg.Secret = cmpptest.Secret
	cfg.Seed = 7
	cfg.ReportTimeout = timeout
	cfg.Logger = cmpptest.Logger(t)
	cfg.Session.ResponseTimeout = 5 * time.Second
	return cfg
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*timeout)
	t.Cleanup(cancel)
	return ctx
}

func TestCountsReportsAndFlowControl(t *testing.T) {
	for _, v := range []cmpp.Version{cmpp.V20, cmpp.V30} {
		t.Run(v.String(), func(t *testing.T) {
			g := newISMG(t, func(g *ismg) {
				g.rejectEvery = 10
				g.stat = func(dest string) string {
					if strings.HasSuffix(dest, "9") {
						return cmpp.StatUndeliv
					}
					return cmpp.StatDelivered
				}
			})
			cfg := testConfig(t, g.Addr)
			cfg.Version = v
			cfg.Connections = 2
			cfg.Window = 4
			cfg.Total = 50
			cfg.Dests = []string{"13800138000", "13800138001", "13800138002", "13800138003", "13800138009"}
			cfg.WaitReports = true
			res, err := Run(ctxT(t), cfg)
			if err != nil {
				t.Fatal(err)
			}
			// Which SUBMITs get Result 8 depends on arrival order, so the
			// per-destination stats are only checked in sum.
			if res.Messages != 50 || res.Submitted != 50 || res.Acked != 45 || res.Rejected[cmpp.ResultFlowControl] != 5 || len(res.Rejected) != 1 || res.Errors != 0 {
				t.Fatalf("counts: %+v", res)
			}
			if res.Reports != 45 || res.ReportsByStat["DELIVRD"]+res.ReportsByStat["UNDELIV"] != 45 || res.ReportsByStat["UNDELIV"] == 0 ||
				res.NoReport != 0 || res.DuplicateReports != 0 || res.UnknownReports != 0 || res.MO != 0 {
				t.Fatalf("reports: %+v", res)
			}
			for name, l := range map[string]Latency{"submit": res.SubmitLatency, "report": res.ReportLatency} {
				if !(l.Min <= l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.Max && l.Max > 0) {
					t.Errorf("%s latency out of order: %+v", name, l)
				}
			}
			if res.SubmitLatency.Count != 50 || res.ReportLatency.Count != 45 {
				t.Fatalf("latency counts %d and %d", res.SubmitLatency.Count, res.ReportLatency.Count)
			}
			if res.Throughput <= 0 || res.Version != v.String() {
				t.Fatalf("throughput %v version %q", res.Throughput, res.Version)
			}
			subs := g.submitted()
			if len(subs) != 50 {
				t.Fatalf("server saw %d SUBMITs", len(subs))
			}
			s := subs[0]
			if s.MsgSrc != cfg.SPID || s.SrcID != "10657001" || s.ServiceID != "SPSIM" || s.FeeType != "01" || s.RegisteredDelivery != 1 ||
				s.PkTotal != 1 || s.PkNumber != 1 || s.TPUDHI != 0 || s.MsgFmt != 0 || s.MsgContent != "Tandem spsim test message." {
				t.Fatalf("SUBMIT fields %+v", s)
			}
		})
	}
}

func TestLongMessagesUDH(t *testing.T) {
	g := newISMG(t, nil)
	cfg := testConfig(t, g.Addr)
	cfg.Coding = smstext.UCS2
	cfg.Text = strings.Repeat("长", 150) // 150 UCS2 chars: 67+67+16
	cfg.Total = 4
	cfg.Window = 1 // one message at a time: its segments arrive in order
	cfg.Dests = []string{"13800138000"}
	cfg.WaitReports = true
	res, err := Run(ctxT(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Messages != 4 || res.Submitted != 12 || res.Acked != 12 || res.Reports != 12 || res.NoReport != 0 {
		t.Fatalf("result %+v", res)
	}
	subs := g.submitted()
	refs := map[byte]bool{}
	for i, s := range subs {
		seq := i%3 + 1
		ud := []byte(s.MsgContent)
		seg, err := smstext.SegmentFromUD(ud)
		if err != nil {
			t.Fatal(err)
		}
		if s.TPUDHI != 1 || s.MsgFmt != 8 || s.PkTotal != 3 || int(s.PkNumber) != seq || seg.Total != 3 || int(seg.Seq) != seq || !bytes.HasPrefix(ud, []byte{5, 0, 3}) {
			t.Fatalf("SUBMIT %d: udhi %d fmt %d pk %d/%d udh %x", i, s.TPUDHI, s.MsgFmt, s.PkNumber, s.PkTotal, ud[:6])
		}
		if seq == 1 {
			if refs[ud[3]] {
				t.Fatalf("reference %d reused", ud[3])
			}
			refs[ud[3]] = true
		} else if !refs[ud[3]] {
			t.Fatalf("SUBMIT %d: reference %d differs from its first segment", i, ud[3])
		}
		if want := []int{134, 134, 32}[seq-1]; len(seg.Data) != want {
			t.Fatalf("segment %d: %d octets, want %d", seq, len(seg.Data), want)
		}
	}
}

func TestDuplicateAndUnknownReports(t *testing.T) {
	// The reports go ahead of their SUBMIT_RESP (and are answered first),
	// so every copy is counted before Run's wait for reports can end.
	g := newISMG(t, func(g *ismg) {
		g.reportTwice = func(n int) bool { return n == 2 }
		g.unknownOnce = true
		g.reportFirst = true
	})
	cfg := testConfig(t, g.Addr)
	cfg.Total = 3
	cfg.Window = 1
	cfg.WaitReports = true
	res, err := Run(ctxT(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Reports != 3 || res.DuplicateReports != 1 || res.UnknownReports != 1 || res.NoReport != 0 {
		t.Fatalf("result %+v", res)
	}
}

// A report that arrives before spsim has processed the SUBMIT_RESP is
// matched once the Msg_Id is known.
func TestReportAheadOfSubmitResp(t *testing.T) {
	c, err := New(testConfig(t, "127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	c.report(42, "DELIVRD", t0.Add(time.Millisecond))
	c.report(42, "DELIVRD", t0.Add(2*time.Millisecond))
	if r := c.Snapshot(); r.UnknownReports != 2 || r.Reports != 0 {
		t.Fatalf("before the resp: %+v", r)
	}
	c.track(42, t0)
	c.report(42, "DELIVRD", t0.Add(3*time.Millisecond))
	r := c.Snapshot()
	if r.Reports != 1 || r.DuplicateReports != 2 || r.UnknownReports != 0 || r.NoReport != 0 || r.ReportLatency.Max != time.Millisecond {
		t.Fatalf("after: %+v", r)
	}
	c.track(42, t0)
	if r := c.Snapshot(); r.DuplicateMsgIDs != 1 {
		t.Fatalf("duplicate Msg_Id not counted: %+v", r)
	}
}

func TestMOIsAnswered(t *testing.T) {
	g := newISMG(t, func(g *ismg) { g.noReports = true })
	g.OnSession = func(s *cmpp.Session) {
		g.wg.Go(func() {
			d := &cmpp.Deliver{MsgID: 777, DestID: "10657001", SrcTerminalID: "13900139000", MsgContent: "hi"}
			resp, err := s.SendWait(s.Context(), d)
			if err != nil {
				t.Errorf("MO: %v", err)
				return
			}
			g.moResp <- resp.(*cmpp.DeliverResp)
		})
	}
	cfg := testConfig(t, g.Addr)
	cfg.Total = 1
	cfg.RegisteredDelivery = 0
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	done := make(chan Result, 1)
	// Keep the run alive (WaitReports with nothing pending would return at
	// once) until the MO is answered: Duration mode sends until cancelled.
	c.cfg.Total = 0
	c.cfg.Duration = time.Hour
	c.cfg.Rate = 1000
	go func() { r, _ := c.Run(ctx); done <- r }()
	select {
	case resp := <-g.moResp:
		if resp.MsgID != 777 || resp.Result != 0 {
			t.Fatalf("DELIVER_RESP %+v", resp)
		}
	case <-time.After(timeout):
		t.Fatal("MO not answered")
	}
	cancel()
	if r := <-done; r.MO != 1 {
		t.Fatalf("MO count %d", r.MO)
	}
}

func TestWaitReportsTimesOut(t *testing.T) {
	g := newISMG(t, func(g *ismg) { g.noReports = true })
	cfg := testConfig(t, g.Addr)
	cfg.Total = 5
	cfg.WaitReports = true
	cfg.ReportTimeout = 20 * time.Millisecond // ends the wait; nothing is asserted about time
	res, err := Run(ctxT(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Acked != 5 || res.NoReport != 5 || res.Reports != 0 {
		t.Fatalf("result %+v", res)
	}
}

func TestDurationAndRate(t *testing.T) {
	g := newISMG(t, nil)
	cfg := testConfig(t, g.Addr)
	cfg.Total = 0
	cfg.Duration = 50 * time.Millisecond
	cfg.Rate = 200
	cfg.RegisteredDelivery = 0
	res, err := Run(ctxT(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Submitted == 0 || res.Acked != res.Submitted || res.Errors != 0 {
		t.Fatalf("result %+v", res)
	}
}

func TestGeneratedDestinations(t *testing.T) {
	cfg := testConfig(t, "127.0.0.1:1")
	cfg.DestPrefix = "1380013"
	cfg.DestLen = 11
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i := range 100 {
		d := c.dest(uint64(i))
		if len(d) != 11 || !strings.HasPrefix(d, "1380013") || !isDigits(d) {
			t.Fatalf("destination %q", d)
		}
		seen[d] = true
	}
	if len(seen) < 50 {
		t.Fatalf("only %d distinct destinations of 100", len(seen))
	}
}

func TestLongSampleText(t *testing.T) {
	for _, c := range []smstext.Coding{smstext.ASCII, smstext.UCS2, smstext.GBK} {
		segs, err := smstext.SplitText(sampleText(c, true), c, smstext.SplitOptions{})
		if err != nil || len(segs) != 3 {
			t.Errorf("%v: %d segments, %v", c, len(segs), err)
		}
		segs, err = smstext.SplitText(sampleText(c, false), c, smstext.SplitOptions{})
		if err != nil || len(segs) != 1 {
			t.Errorf("%v short: %d segments, %v", c, len(segs), err)
		}
	}
}

func TestConnectRefused(t *testing.T) {
	g := newISMG(t, nil)
	cfg := testConfig(t, g.Addr)
	cfg.Secret = "wrong"
	if _, err := Run(ctxT(t), cfg); err == nil || !strings.Contains(err.Error(), "connection 1 of 1") {
		t.Fatalf("bad secret: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for name, mod := range map[string]func(*Config){
		"addr":    func(c *Config) { c.Addr = "" },
		"spid":    func(c *Config) { c.SPID = "1234567" },
		"version": func(c *Config) { c.Version = 0x40 },
		"conns":   func(c *Config) { c.Connections = 0 },
		"window":  func(c *Config) { c.Window = 0 },
		"amount":  func(c *Config) { c.Total, c.Duration = 0, 0 },
		"prefix":  func(c *Config) { c.DestPrefix = "13x" },
		"destlen": func(c *Config) { c.DestLen = 3 },
		"coding":  func(c *Config) { c.Coding = smstext.GSM7 },
		"reg":     func(c *Config) { c.RegisteredDelivery = 2 },
		"dest":    func(c *Config) { c.Dests = []string{strings.Repeat("1", 33)} },
		"wait":    func(c *Config) { c.WaitReports, c.ReportTimeout = true, 0 },
		"text":    func(c *Config) { c.Text = "中文" }, // not ASCII
	} {
		cfg := DefaultConfig()
		mod(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: invalid config accepted", name)
		}
	}
	if _, err := New(DefaultConfig()); err != nil {
		t.Fatal(err)
	}
}

func TestPrintAndJSON(t *testing.T) {
	r := Result{
		Connections: 2, Version: "3.0", Messages: 10, Submitted: 10, Acked: 9,
		Rejected:      map[uint32]uint64{8: 1},
		Reports:       9,
		ReportsByStat: map[string]uint64{"DELIVRD": 8, "UNDELIV": 1},
		SubmitLatency: Latency{Count: 10, P50: time.Millisecond, P90: 2 * time.Millisecond, P99: 3 * time.Millisecond, Max: 4 * time.Millisecond},
		SendDuration:  time.Second, Duration: 2 * time.Second, Throughput: 9,
	}
	var b bytes.Buffer
	if err := r.Print(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"10 messages, 10 SUBMITs over 2 connection(s), CMPP 3.0", "acked                 9  (9.0/s", "result 8 (flow control): 1", "DELIVRD 8, UNDELIV 1", "p50 1ms  p90 2ms  p99 3ms  max 4ms"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var back Result
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || back.Rejected[8] != 1 || back.SubmitLatency.P99 != 3*time.Millisecond {
		t.Fatalf("json round trip: %v %+v", err, back)
	}
}

// closingServer acks every SUBMIT with Msg_Id k (the k-th, from 1), but
// closes the session instead of answering when closeAt(k).
func closingServer(t *testing.T, closeAt func(k int) bool) *cmpptest.Server {
	var n int
	var mu sync.Mutex
	return cmpptest.NewServer(t, cmpp.HandlerFunc(func(s *cmpp.Session, h cmpp.Header, req cmpp.PDU) {
		if _, ok := req.(*cmpp.Submit); !ok {
			return
		}
		mu.Lock()
		n++
		k := n
		mu.Unlock()
		if closeAt(k) {
			_ = s.Close()
			return
		}
		_ = s.Reply(h, &cmpp.SubmitResp{MsgID: uint64(k)})
	}))
}

func TestConnectionLost(t *testing.T) {
	srv := closingServer(t, func(k int) bool { return k == 3 })
	cfg := testConfig(t, srv.Addr)
	cfg.Total = 10
	cfg.Window = 1
	cfg.RegisteredDelivery = 0
	res, err := Run(ctxT(t), cfg)
	if err == nil || !strings.Contains(err.Error(), "all 1 connection(s) lost") {
		t.Fatalf("err %v", err)
	}
	if res.Acked != 2 || res.Errors != 1 || res.LastError == "" {
		t.Fatalf("result %+v", res)
	}
}

// The pacer is open loop: slot k is due at start + k/rate, and a slot that
// is already due does not wait (missed slots are made up, not dropped).
// Latency starts at the due time of a late SUBMIT, at the send of an early
// or unpaced one.
func TestPacerSchedule(t *testing.T) {
	start := time.Now().Add(-time.Second) // a second behind: 100 slots due
	p := newPacer(100, start)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for k := range 100 {
		due, err := p.wait(context.Background(), timer)
		if err != nil {
			t.Fatal(err)
		}
		if want := start.Add(time.Duration(k) * 10 * time.Millisecond); !due.Equal(want) {
			t.Fatalf("slot %d due %v, want %v", k, due, want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p = newPacer(1, time.Now().Add(time.Hour)) // first slot an hour away
	if _, err := p.wait(ctx, timer); !errors.Is(err, context.Canceled) {
		t.Fatalf("wait with a cancelled context: %v", err)
	}
	if due, err := (*pacer)(nil).wait(context.Background(), timer); err != nil || !due.IsZero() {
		t.Fatalf("nil pacer: %v %v", due, err)
	}
	now := time.Now()
	early, late := now.Add(time.Millisecond), now.Add(-time.Millisecond)
	if got := latencyStart(late, now); !got.Equal(late) {
		t.Errorf("late SUBMIT timed from %v, want its due time", got)
	}
	if got := latencyStart(early, now); !got.Equal(now) {
		t.Errorf("early SUBMIT timed from %v, want its send", got)
	}
	if got := latencyStart(time.Time{}, now); !got.Equal(now) {
		t.Errorf("unpaced SUBMIT timed from %v, want its send", got)
	}
}
