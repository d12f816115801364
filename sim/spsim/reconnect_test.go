package spsim

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/cmpp/cmpptest"
	"github.com/tandem-sms/tandem/internal/waitfor"
	"github.com/tandem-sms/tandem/sim/record"
	"github.com/tandem-sms/tandem/smstext"
)

// gateway is a CMPP server that can crash (every connection and the
// listener closed at once) and come back on the same address, keeping
// what it acked, as an ISMG does with its store: status reports for
// messages acked before a crash are sent to the SP's next session.
type gateway struct {
	t    *testing.T
	addr string
	gen  *cmpp.MsgIDGenerator

	// drop, if set, is asked for every SUBMIT (n counts from 1 over
	// every run of the gateway): true leaves it unanswered and crashes the
	// gateway, as a kill -9 between the store and the SUBMIT_RESP would.
	drop     func(n int) bool
	crashed  chan struct{} // receives once per crash that drop caused
	noReport bool          // acked SUBMITs get no status report

	mu      sync.Mutex
	srv     *cmpp.Server
	done    chan error
	n       int
	submits []cmpp.Submit
	owed    []owedReport // acked, report not yet sent
}

type owedReport struct {
	id   uint64
	dest string
}

func newGateway(t *testing.T, mod func(*gateway)) *gateway {
	g := &gateway{t: t, addr: "127.0.0.1:0", gen: cmpp.NewMsgIDGenerator(79101, time.Now, time.Time{}), crashed: make(chan struct{}, 16)}
	if mod != nil {
		mod(g)
	}
	g.start()
	t.Cleanup(g.crash)
	return g
}

func (g *gateway) start() {
	l, err := net.Listen("tcp", g.addr)
	if err != nil {
		g.t.Fatalf("gateway listen: %v", err)
	}
	srv := &cmpp.Server{
		Auth: cmpp.AuthenticatorFunc(func(context.Context, net.Addr, *cmpp.Connect) (string, uint32) {
			return cmpptest.Secret, cmpp.ConnectOK
		}),
		Handler:   cmpp.HandlerFunc(g.serve),
		OnSession: g.payDebts,
		Logger:    cmpptest.Logger(g.t),
	}
	done := make(chan error, 1)
	g.mu.Lock()
	g.addr, g.srv, g.done = l.Addr().String(), srv, done
	g.mu.Unlock()
	go func() { done <- srv.Serve(l) }()
}

// crash closes the listener and every session at once.
func (g *gateway) crash() {
	g.mu.Lock()
	srv, done := g.srv, g.done
	g.srv = nil
	g.mu.Unlock()
	if srv == nil {
		return
	}
	srv.Close()
	<-done
}

func (g *gateway) serve(s *cmpp.Session, h cmpp.Header, req cmpp.PDU) {
	sub, ok := req.(*cmpp.Submit)
	if !ok {
		return
	}
	g.mu.Lock()
	g.n++
	n := g.n
	cp := *sub
	cp.DestTerminalIDs = append([]string(nil), sub.DestTerminalIDs...)
	g.submits = append(g.submits, cp)
	g.mu.Unlock()
	if g.drop != nil && g.drop(n) {
		go func() {
			g.crash()
			g.crashed <- struct{}{}
		}()
		return
	}
	id := g.gen.Next()
	if s.Reply(h, &cmpp.SubmitResp{MsgID: id}) != nil || g.noReport {
		return
	}
	g.sendReport(s, owedReport{id: id, dest: sub.DestTerminalIDs[0]})
}

func (g *gateway) sendReport(s *cmpp.Session, r owedReport) {
	d := &cmpp.Deliver{MsgID: g.gen.Next(), DestID: "10657001", SrcTerminalID: r.dest}
	d.SetReport(&cmpp.Report{MsgID: r.id, Stat: cmpp.StatDelivered, DestTerminalID: r.dest}, s.Version())
	if _, err := s.SendWait(s.Context(), d); err != nil {
		g.mu.Lock()
		g.owed = append(g.owed, r) // the SP's next session gets it
		g.mu.Unlock()
	}
}

// payDebts sends a new session the reports a crash kept from the last.
func (g *gateway) payDebts(s *cmpp.Session) {
	g.mu.Lock()
	owed := g.owed
	g.owed = nil
	g.mu.Unlock()
	if len(owed) == 0 {
		return
	}
	go func() {
		for _, r := range owed {
			g.sendReport(s, r)
		}
	}()
}

func (g *gateway) seen() []cmpp.Submit {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]cmpp.Submit(nil), g.submits...)
}

// readRecord returns a record file's events.
func readRecord(t *testing.T, path string) []record.Event {
	t.Helper()
	var evs []record.Event
	torn, err := record.ReadFile(path, func(e *record.Event) error { evs = append(evs, *e); return nil })
	if err != nil || torn.Line != 0 {
		t.Fatalf("record %s: torn %+v, %v", path, torn, err)
	}
	return evs
}

func recordTo(t *testing.T, cfg *Config) string {
	path := filepath.Join(t.TempDir(), "sp.jsonl")
	w, err := record.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	cfg.Record = w
	return path
}

// keyOf returns the client key of a SUBMIT's text.
func keyOf(t *testing.T, s *cmpp.Submit, c smstext.Coding) string {
	t.Helper()
	ud := []byte(s.MsgContent)
	if s.TPUDHI == 1 {
		seg, err := smstext.SegmentFromUD(ud)
		if err != nil {
			t.Fatal(err)
		}
		ud = seg.Data
	}
	text, err := smstext.Decode(c, ud)
	if err != nil {
		t.Fatal(err)
	}
	return record.FindKey(text)
}

// A gateway that crashes with SUBMITs in flight and comes back: spsim
// reconnects, sends the unanswered SUBMITs again with their keys, gets
// every message acked and every report (those of messages acked before
// the crash arrive on the new session), and records it all.
func TestReconnectResendsUnacked(t *testing.T) {
	g := newGateway(t, func(g *gateway) { g.drop = func(n int) bool { return n == 25 } })
	cfg := testConfig(t, g.addr)
	cfg.Total = 60
	cfg.Window = 8
	cfg.Connections = 2
	cfg.WaitReports = true
	cfg.ReconnectTimeout = time.Minute
	cfg.ReconnectWait = time.Millisecond
	path := recordTo(t, &cfg)
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	type out struct {
		res Result
		err error
	}
	done := make(chan out, 1)
	go func() {
		r, err := c.Run(ctxT(t))
		done <- out{r, err}
	}()
	<-g.crashed
	// Down until spsim has seen the drop and is dialling a closed port.
	waitfor.Cond(t, "spsim to record a lost connection", func() bool {
		b, _ := os.ReadFile(path)
		return strings.Contains(string(b), `"state":"lost"`)
	})
	g.start()
	o := <-done
	if o.err != nil {
		t.Fatal(o.err)
	}
	r := o.res
	if r.Reconnects < 1 || r.Resent < 1 || r.Acked != 60 || r.Errors != 0 || r.Reports != 60 || r.NoReport != 0 || r.Submitted != 60+r.Resent {
		t.Fatalf("result %+v", r)
	}

	// Every key was acked once; every resent SUBMIT repeats the key and
	// text of one sent before.
	subs := g.seen()
	byKey := map[string]int{}
	for i := range subs {
		k := keyOf(t, &subs[i], cfg.Coding)
		if !strings.HasPrefix(k, r.RunID+"-") {
			t.Fatalf("SUBMIT %d has key %q, want one of run %s", i, k, r.RunID)
		}
		byKey[k]++
	}
	if len(byKey) != 60 {
		t.Fatalf("%d distinct keys at the gateway, want 60", len(byKey))
	}
	evs := readRecord(t, path)
	acks, resends, reports, ups := map[string]int{}, 0, 0, 0
	unanswered := map[string]bool{}
	for _, e := range evs {
		switch e.Ev {
		case record.EvNoResp:
			if !e.Resend {
				t.Fatalf("noresp not resent: %+v", e)
			}
			unanswered[e.Key] = true
		case record.EvAck:
			acks[e.Key]++
			if e.MsgID == 0 || e.Dest == "" || e.SubmitT.IsZero() {
				t.Fatalf("ack %+v", e)
			}
		case record.EvSubmit:
			if e.Resend {
				resends++
				// (A SUBMIT the crash caught on the wire reached the
				// gateway once only, so no count is checked here.)
				if !unanswered[e.Key] {
					t.Fatalf("key %s resent before a noresp line for it", e.Key)
				}
			}
		case record.EvReport:
			reports++
		case record.EvConn:
			if e.State == record.StateUp {
				ups++
			}
		}
	}
	// A gateway that crashes may report twice, or report a message whose
	// SUBMIT_RESP the crash ate; every report received is recorded.
	if len(acks) != 60 || resends != int(r.Resent) || reports != int(r.Reports+r.DuplicateReports+r.UnknownReports) || ups != int(r.Reconnects) {
		t.Fatalf("record: %d keys acked, %d resends, %d reports, %d reconnects; result %+v", len(acks), resends, reports, ups, r)
	}
	for k, n := range acks {
		if n != 1 {
			t.Fatalf("key %s acked %d times", k, n)
		}
	}
	if evs[0].Ev != record.EvRun || evs[0].Run != r.RunID || evs[0].SP != cfg.SPID || evs[0].RD != 1 || evs[len(evs)-1].Ev != record.EvEnd {
		t.Fatalf("run and end lines: %+v ... %+v", evs[0], evs[len(evs)-1])
	}
}

// Reconnecting gives up after ReconnectTimeout: the run fails as one
// whose connections all dropped, and what was unanswered counts as
// errors.
func TestReconnectGivesUp(t *testing.T) {
	g := newGateway(t, func(g *gateway) { g.drop = func(n int) bool { return n == 3 } })
	cfg := testConfig(t, g.addr)
	cfg.Total = 10
	cfg.Window = 1
	cfg.RegisteredDelivery = 0
	cfg.ReconnectTimeout = 20 * time.Millisecond // the gateway never comes back
	cfg.ReconnectWait = time.Millisecond
	path := recordTo(t, &cfg)
	res, err := Run(ctxT(t), cfg)
	if err == nil || !strings.Contains(err.Error(), "all 1 connection(s) lost") || !strings.Contains(res.LastError, "no reconnect within") {
		t.Fatalf("err %v, last error %q", err, res.LastError)
	}
	if res.Acked != 2 || res.Errors != 1 || res.Reconnects != 0 {
		t.Fatalf("result %+v", res)
	}
	gone := false
	for _, e := range readRecord(t, path) {
		gone = gone || (e.Ev == record.EvConn && e.State == record.StateGone)
	}
	if !gone {
		t.Fatal("no gave_up line in the record")
	}
}

// A gateway that closes a session (and not its listener) gets the SP
// back at once, and the run goes on (without reconnects such a run
// fails, as TestConnectionLost shows).
func TestReconnectAfterSessionClosed(t *testing.T) {
	srv := closingServer(t, func(k int) bool { return k == 5 || k == 9 })
	cfg := testConfig(t, srv.Addr)
	cfg.Total = 20
	cfg.Window = 2
	cfg.RegisteredDelivery = 0
	cfg.ReconnectTimeout = time.Minute
	cfg.ReconnectWait = time.Millisecond
	res, err := Run(ctxT(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Acked != 20 || res.Reconnects != 2 || res.Resent < 2 || res.Errors != 0 {
		t.Fatalf("result %+v", res)
	}
}

func TestReconnectConfig(t *testing.T) {
	for name, mod := range map[string]func(*Config){
		"negative": func(c *Config) { c.ReconnectTimeout = -1 },
		"wait":     func(c *Config) { c.ReconnectTimeout, c.ReconnectWait = time.Second, 0 },
		"max wait": func(c *Config) { c.ReconnectTimeout, c.ReconnectMaxWait = time.Second, time.Millisecond },
		"run id":   func(c *Config) { c.RunID = "XYZ" },
	} {
		cfg := DefaultConfig()
		mod(&cfg)
		if err := cfg.Validate(); err == nil {
			t.Errorf("%s: invalid config accepted", name)
		}
	}
}

// When recording, every SUBMIT's text starts with its client key, in the
// text's coding, and a long text is split so that each segment has room
// for its own key; the rest of the text is intact.
func TestRecordKeysInText(t *testing.T) {
	for _, tc := range []struct {
		name   string
		coding smstext.Coding
		text   string
		segs   int
	}{
		{"ascii", smstext.ASCII, "", 1},
		{"gbk", smstext.GBK, "短信网关", 1},
		{"ucs2 long", smstext.UCS2, strings.Repeat("长", 150), 4}, // 49 characters a segment beside the key
		{"ascii long", smstext.ASCII, strings.Repeat("x", 300), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGateway(t, nil)
			cfg := testConfig(t, g.addr)
			cfg.Coding, cfg.Text = tc.coding, tc.text
			cfg.Total = 3
			cfg.Window = 1
			cfg.RunID = "0badcafe"
			cfg.WaitReports = true
			path := recordTo(t, &cfg)
			res, err := Run(ctxT(t), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if res.RunID != "0badcafe" || res.Submitted != uint64(3*tc.segs) || res.Reports != res.Submitted {
				t.Fatalf("result %+v", res)
			}
			want := tc.text
			if want == "" {
				want = "Tandem spsim test message."
			}
			var got []string
			texts := map[string]string{}
			for i, s := range g.seen() {
				k := keyOf(t, &s, tc.coding)
				got = append(got, k)
				ud := []byte(s.MsgContent)
				if s.TPUDHI == 1 {
					seg, _ := smstext.SegmentFromUD(ud)
					ud = seg.Data
				}
				text, _ := smstext.Decode(tc.coding, ud)
				msg, _, _ := strings.Cut(k, ".")
				texts[msg] += strings.TrimPrefix(text, record.Prefix(k))
				if int(s.PkTotal) != tc.segs || int(s.PkNumber) != i%tc.segs+1 {
					t.Fatalf("SUBMIT %d: Pk %d/%d", i, s.PkNumber, s.PkTotal)
				}
			}
			for m := range 3 {
				for seg := 1; seg <= tc.segs; seg++ {
					if k := record.Key("0badcafe", uint64(m), uint8(seg), uint8(tc.segs)); got[m*tc.segs+seg-1] != k {
						t.Fatalf("keys %v, want %s at %d", got, k, m*tc.segs+seg-1)
					}
				}
			}
			for msg, text := range texts {
				if text != want {
					t.Fatalf("message %s reassembles to %q, want %q", msg, text, want)
				}
			}
			subs, acks, reports := 0, 0, 0
			for _, e := range readRecord(t, path) {
				switch e.Ev {
				case record.EvSubmit:
					subs++
				case record.EvAck:
					acks++
				case record.EvReport:
					reports++
				}
			}
			if subs != 3*tc.segs || acks != subs || reports != subs {
				t.Fatalf("record: %d sub, %d ack, %d rpt", subs, acks, reports)
			}
		})
	}
}

// A record that cannot be written fails the run: a ledger with holes
// would make tandem-check count wrong.
func TestRecordWriteErrorFailsRun(t *testing.T) {
	g := newGateway(t, nil)
	cfg := testConfig(t, g.addr)
	cfg.Total = 3
	cfg.Record = record.NewWriter(brokenDisk{})
	_, err := Run(ctxT(t), cfg)
	if err == nil || !strings.Contains(err.Error(), "spsim: record") {
		t.Fatalf("err %v", err)
	}
	_ = cfg.Record.Close()
}

type brokenDisk struct{}

func (brokenDisk) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }
