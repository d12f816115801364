package smscsim

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/smpp"
	"github.com/tandem-sms/tandem/smstext"
)

const timeout = 10 * time.Second

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// startSMSC runs an SMSC on a loopback port; it is closed when the test
// ends.
func startSMSC(t *testing.T, mod func(*Config)) *SMSC {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.ReceiptDelay = 0
	cfg.FirstID = 0xABC00
	cfg.Seed = 1
	cfg.Logger = testLogger(t)
	cfg.Session.RequestTimeout = 5 * time.Second
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	t.Cleanup(cancel)
	return ctx
}

// esme is one of our own smpp ESME sessions that collects what the SMSC
// delivers.
type esme struct {
	sess *smpp.Session
	in   chan *smpp.DeliverSM
}

func bindESME(t *testing.T, s *SMSC, mode smpp.BindMode, systemID, password string) (*esme, error) {
	t.Helper()
	e := &esme{in: make(chan *smpp.DeliverSM, 64)}
	h := smpp.HandlerFunc(func(r *smpp.Request) {
		if d, ok := r.PDU.(*smpp.DeliverSM); ok {
			e.in <- d
		}
		_ = r.Respond(nil, smpp.StatusOK)
	})
	cfg := smpp.DefaultConfig()
	cfg.RequestTimeout = 5 * time.Second
	cfg.Logger = testLogger(t)
	sess, _, err := smpp.DialBind(ctxT(t), s.Addr(), cfg, &smpp.Bind{Mode: mode, SystemID: systemID, Password: password}, h)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = sess.Close(); <-sess.Done() })
	e.sess = sess
	return e, nil
}

// mustBind binds and waits until the SMSC has registered the bind: the
// ESME sees bind_resp a moment before the SMSC counts the session as a
// receiver.
func mustBind(t *testing.T, s *SMSC, mode smpp.BindMode, systemID string) *esme {
	t.Helper()
	before := s.Stats().Binds
	e, err := bindESME(t, s, mode, systemID, "pw")
	if err != nil {
		t.Fatalf("bind %s: %v", systemID, err)
	}
	if err := s.Wait(ctxT(t), func(st Stats) bool { return st.Binds > before }); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *esme) next(t *testing.T) *smpp.DeliverSM {
	t.Helper()
	select {
	case d := <-e.in:
		return d
	case <-time.After(timeout):
		t.Fatal("no deliver_sm")
		return nil
	}
}

func submit(ctx context.Context, e *esme, dest, text string, reg uint8) (*smpp.SubmitSMResp, error) {
	return e.sess.Submit(ctx, &smpp.SubmitSM{
		SourceAddr:         smpp.Addr{Addr: "10657001"},
		DestAddr:           smpp.Addr{TON: 1, NPI: 1, Addr: dest},
		RegisteredDelivery: reg,
		DataCoding:         smpp.CodingIA5,
		ShortMessage:       []byte(text),
	})
}

func TestSubmitAndReceiptIDFormats(t *testing.T) {
	s := startSMSC(t, func(c *Config) {
		c.IDFormat = IDHex
		c.ReceiptIDFormat = IDDecimal10
	})
	e := mustBind(t, s, smpp.BindTransceiver, "ismg1")
	ctx := ctxT(t)
	resp, err := submit(ctx, e, "8613800138000", "hello, receipt text field", smpp.RegDeliveryFinal)
	if err != nil {
		t.Fatal(err)
	}
	if resp.MessageID != "abc00" {
		t.Fatalf("message_id %q, want abc00", resp.MessageID)
	}
	d := e.next(t)
	if d.ESMClass != smpp.ESMClassReceipt || !d.IsReceipt() {
		t.Fatalf("esm_class %#x, want receipt", d.ESMClass)
	}
	if d.SourceAddr.Addr != "8613800138000" || d.DestAddr.Addr != "10657001" {
		t.Fatalf("receipt addresses %v → %v, want the submit's reversed", d.SourceAddr, d.DestAddr)
	}
	info, err := smpp.ParseDeliverReceipt(d)
	if err != nil {
		t.Fatal(err)
	}
	if !info.FromTLV || info.MessageID != "abc00" || info.State != smpp.StateDelivered {
		t.Fatalf("receipt TLVs: %+v", info)
	}
	rt := info.Receipt
	if rt.ID != "0000703488" || rt.Stat != "DELIVRD" || rt.Sub != 1 || rt.Dlvrd != 1 || rt.Err != "000" || rt.Text != "hello, receipt text " {
		t.Fatalf("receipt text %q parsed as %+v", d.ShortMessage, rt)
	}
	if hex, err := smpp.NormalizeMessageID(rt.ID, smpp.IDDecToHex); err != nil || hex != resp.MessageID {
		t.Fatalf("text id %s → %q, %v; want %s", rt.ID, hex, err, resp.MessageID)
	}
	if err := s.WaitReceipts(ctx, 1); err != nil {
		t.Fatal(err)
	}
	subs := s.Submitted()
	if len(subs) != 1 {
		t.Fatalf("%d submissions recorded", len(subs))
	}
	got := subs[0]
	if got.SystemID != "ismg1" || got.Bind != 1 || got.MessageID != "abc00" || got.DestAddr.Addr != "8613800138000" ||
		string(got.Content()) != "hello, receipt text field" || got.DataCoding != smpp.CodingIA5 || got.ReceiptStat != "DELIVRD" {
		t.Fatalf("recorded %+v", got)
	}
	st := s.Stats()
	if st.Binds != 1 || st.Bound != 1 || st.Submits != 1 || st.Accepted != 1 || st.ReceiptsSent != 1 || st.ReceiptsAcked != 1 || st.ReceiptsPending != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestDecimalIDsAndTextOnlyReceipts(t *testing.T) {
	s := startSMSC(t, func(c *Config) {
		c.IDFormat = IDDecimal
		c.ReceiptIDFormat = IDHexUpper
		c.OmitReceiptTLVs = true
	})
	e := mustBind(t, s, smpp.BindTransceiver, "ismg1")
	resp, err := submit(ctxT(t), e, "8613800138000", "x", smpp.RegDeliveryFinal)
	if err != nil {
		t.Fatal(err)
	}
	if resp.MessageID != "703488" {
		t.Fatalf("message_id %q", resp.MessageID)
	}
	d := e.next(t)
	if len(d.TLVs) != 0 {
		t.Fatalf("TLVs %v, want none", d.TLVs)
	}
	info, err := smpp.ParseDeliverReceipt(d)
	if err != nil {
		t.Fatal(err)
	}
	if info.FromTLV || info.MessageID != "ABC00" {
		t.Fatalf("receipt %+v", info)
	}
}

func TestOverloadStatuses(t *testing.T) {
	s := startSMSC(t, func(c *Config) { c.ThrottleEvery = 2 })
	e := mustBind(t, s, smpp.BindTransmitter, "ismg1")
	ctx := ctxT(t)
	if _, err := submit(ctx, e, "1", "a", 0); err != nil {
		t.Fatal(err)
	}
	_, err := submit(ctx, e, "2", "b", 0)
	var se *smpp.StatusError
	if !errors.Is(err, smpp.ErrThrottled) || !errors.As(err, &se) || se.Status != smpp.StatusThrottled {
		t.Fatalf("2nd submit: %v, want ESME_RTHROTTLED", err)
	}
	if _, err := submit(ctx, e, "3", "c", 0); err != nil {
		t.Fatal(err)
	}

	s.SetThrottleEvery(0)
	s.SetQueueFull(true)
	if _, err := submit(ctx, e, "4", "d", 0); !errors.Is(err, smpp.ErrQueueFull) {
		t.Fatalf("queue full: %v", err)
	}
	s.SetQueueFull(false)

	// One token, refilled once in 1000 s: the second submit is over the rate.
	s.SetMaxRate(0.001)
	if _, err := submit(ctx, e, "5", "e", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := submit(ctx, e, "6", "f", 0); !errors.Is(err, smpp.ErrThrottled) {
		t.Fatalf("over max rate: %v", err)
	}
	st := s.Stats()
	if st.Submits != 6 || st.Accepted != 3 || st.Throttled != 2 || st.QueueFull != 1 {
		t.Fatalf("stats %+v", st)
	}
	ref := s.Refused()
	if len(ref) != 3 || ref[0].Status != smpp.StatusThrottled || ref[0].DestAddr.Addr != "2" || ref[1].Status != smpp.StatusMsgQFul {
		t.Fatalf("refused %+v", ref)
	}
}

func TestMOToTransceiver(t *testing.T) {
	s := startSMSC(t, nil)
	ctx := ctxT(t)
	// Inject before anyone binds: InjectMO waits for a receiver.
	errc := make(chan error, 1)
	text := strings.Repeat("短信", 40) // 80 UCS2 chars: two segments
	go func() { errc <- s.InjectMO(ctx, "8613900139000", "10657001", text, smstext.UCS2) }()
	e := mustBind(t, s, smpp.BindTransceiver, "ismg1")
	var parts []*smpp.DeliverSM
	for range 2 {
		parts = append(parts, e.next(t))
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	r, err := smstext.NewReassembler(smstext.DefaultReassemblerConfig())
	if err != nil {
		t.Fatal(err)
	}
	var msg []byte
	for i, d := range parts {
		if d.ESMClass != smpp.ESMClassUDHI || d.DataCoding != smpp.CodingUCS2 || d.SourceAddr.Addr != "8613900139000" || d.DestAddr.Addr != "10657001" {
			t.Fatalf("segment %d: esm %#x dc %d %v → %v", i, d.ESMClass, d.DataCoding, d.SourceAddr, d.DestAddr)
		}
		seg, err := smstext.SegmentFromUD(d.ShortMessage)
		if err != nil {
			t.Fatal(err)
		}
		if seg.Total != 2 || int(seg.Seq) != i+1 {
			t.Fatalf("segment %d: %d/%d", i, seg.Seq, seg.Total)
		}
		if m, done, err := r.Add("k", seg, time.Now()); err != nil {
			t.Fatal(err)
		} else if done {
			msg = m
		}
	}
	got, err := smstext.Decode(smstext.UCS2, msg)
	if err != nil || got != text {
		t.Fatalf("reassembled %q, %v", got, err)
	}
	if st := s.Stats(); st.MOSent != 2 || st.MOAcked != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestDownRefusesBinds(t *testing.T) {
	s := startSMSC(t, nil)
	e := mustBind(t, s, smpp.BindTransceiver, "ismg1")
	s.SetDown(true)
	select {
	case <-e.sess.Done():
	case <-time.After(timeout):
		t.Fatal("session not closed by SetDown")
	}
	_, err := bindESME(t, s, smpp.BindTransceiver, "ismg1", "")
	var se *smpp.StatusError
	if !errors.As(err, &se) || se.Status != smpp.StatusBindFail {
		t.Fatalf("bind while down: %v, want ESME_RBINDFAIL", err)
	}
	s.SetDown(false)
	mustBind(t, s, smpp.BindTransceiver, "ismg1")
	if st := s.Stats(); st.Binds != 2 || st.BindsRefused != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestAccounts(t *testing.T) {
	s := startSMSC(t, func(c *Config) { c.Accounts = map[string]string{"ismg1": "pw"} })
	mustBind(t, s, smpp.BindTransmitter, "ismg1")
	for _, tc := range []struct {
		id, pw string
		want   smpp.Status
	}{{"ismg1", "bad", smpp.StatusInvPaswd}, {"nobody", "pw", smpp.StatusInvSysID}} {
		_, err := bindESME(t, s, smpp.BindTransmitter, tc.id, tc.pw)
		var se *smpp.StatusError
		if !errors.As(err, &se) || se.Status != tc.want {
			t.Fatalf("bind %s/%s: %v, want %v", tc.id, tc.pw, err, tc.want)
		}
	}
}

// A receipt for a transmitter-only ESME waits until a receiver of the same
// system_id binds.
func TestReceiptWaitsForReceiver(t *testing.T) {
	s := startSMSC(t, nil)
	tx := mustBind(t, s, smpp.BindTransmitter, "ismg1")
	other := mustBind(t, s, smpp.BindReceiver, "someone-else")
	ctx := ctxT(t)
	resp, err := submit(ctx, tx, "8613800138000", "x", smpp.RegDeliveryFinal)
	if err != nil {
		t.Fatal(err)
	}
	rx := mustBind(t, s, smpp.BindReceiver, "ismg1")
	d := rx.next(t)
	if id, _ := d.TLVs.ReceiptedMessageID(); id != resp.MessageID {
		t.Fatalf("receipt for %q, want %q", id, resp.MessageID)
	}
	if err := s.WaitReceipts(ctx, 1); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-other.in:
		t.Fatalf("receipt went to another system_id: %q", d.ShortMessage)
	default:
	}
}

func TestReceiptRoundRobin(t *testing.T) {
	s := startSMSC(t, nil)
	tx := mustBind(t, s, smpp.BindTransmitter, "ismg1")
	rx1 := mustBind(t, s, smpp.BindReceiver, "ismg1")
	rx2 := mustBind(t, s, smpp.BindReceiver, "ismg1")
	ctx := ctxT(t)
	for range 4 {
		if _, err := submit(ctx, tx, "8613800138000", "x", smpp.RegDeliveryFinal); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.WaitReceipts(ctx, 4); err != nil {
		t.Fatal(err)
	}
	if len(rx1.in) != 2 || len(rx2.in) != 2 {
		t.Fatalf("receipts per receiver %d and %d, want 2 and 2", len(rx1.in), len(rx2.in))
	}
}

func TestStatusForAndFailureOnlyReceipts(t *testing.T) {
	s := startSMSC(t, func(c *Config) {
		c.StatusFor = func(sub *Submission) string {
			if strings.HasSuffix(sub.DestAddr.Addr, "9") {
				return smpp.StatUndeliverable
			}
			return ""
		}
	})
	e := mustBind(t, s, smpp.BindTransceiver, "ismg1")
	ctx := ctxT(t)
	if _, err := submit(ctx, e, "8613800138000", "ok", smpp.RegDeliveryFailure); err != nil {
		t.Fatal(err)
	}
	resp, err := submit(ctx, e, "8613800138009", "fails", smpp.RegDeliveryFailure)
	if err != nil {
		t.Fatal(err)
	}
	d := e.next(t)
	info, err := smpp.ParseDeliverReceipt(d)
	if err != nil || info.MessageID != resp.MessageID || info.State != smpp.StateUndeliverable || info.Receipt.Stat != "UNDELIV" || info.Receipt.Dlvrd != 0 {
		t.Fatalf("receipt %+v, %v", info, err)
	}
	if err := s.WaitReceipts(ctx, 1); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.ReceiptsScheduled != 1 || st.ReceiptsByStat["UNDELIV"] != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// In ReceiptFirst mode the ESME sees the receipt before the submit_sm_resp
// that tells it the id.
func TestReceiptFirst(t *testing.T) {
	s := startSMSC(t, func(c *Config) { c.ReceiptFirst = true })
	var answered atomic.Bool
	var mu sync.Mutex
	var early []string
	got := make(chan struct{}, 1)
	h := smpp.HandlerFunc(func(r *smpp.Request) {
		if d, ok := r.PDU.(*smpp.DeliverSM); ok && d.IsReceipt() {
			id, _ := d.TLVs.ReceiptedMessageID()
			mu.Lock()
			if !answered.Load() {
				early = append(early, id)
			}
			mu.Unlock()
			got <- struct{}{}
		}
		_ = r.Respond(nil, smpp.StatusOK)
	})
	cfg := smpp.DefaultConfig()
	sess, _, err := smpp.DialBind(ctxT(t), s.Addr(), cfg, &smpp.Bind{Mode: smpp.BindTransceiver, SystemID: "ismg1"}, h)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	resp, err := sess.Submit(ctxT(t), &smpp.SubmitSM{DestAddr: smpp.Addr{Addr: "1"}, RegisteredDelivery: 1, ShortMessage: []byte("x")})
	answered.Store(true)
	if err != nil {
		t.Fatal(err)
	}
	<-got
	mu.Lock()
	defer mu.Unlock()
	if len(early) != 1 || early[0] != resp.MessageID {
		t.Fatalf("receipts before submit_sm_resp %v, want [%s]", early, resp.MessageID)
	}
}

func TestHoldReceipts(t *testing.T) {
	s := startSMSC(t, nil)
	e := mustBind(t, s, smpp.BindTransceiver, "ismg1")
	s.HoldReceipts(true)
	ctx := ctxT(t)
	for range 3 {
		if _, err := submit(ctx, e, "1", "x", smpp.RegDeliveryFinal); err != nil {
			t.Fatal(err)
		}
	}
	if st := s.Stats(); st.ReceiptsPending != 3 || st.ReceiptsAcked != 0 {
		t.Fatalf("stats while held %+v", st)
	}
	s.HoldReceipts(false)
	if err := s.WaitReceipts(ctx, 3); err != nil {
		t.Fatal(err)
	}
}

func TestReceiptRetriedAfterTemporaryError(t *testing.T) {
	s := startSMSC(t, func(c *Config) { c.ReceiptRetry = time.Millisecond })
	var calls atomic.Int32
	done := make(chan struct{})
	h := smpp.HandlerFunc(func(r *smpp.Request) {
		if calls.Add(1) == 1 {
			_ = r.Respond(nil, smpp.StatusXTAppn) // temporary: try again
			return
		}
		_ = r.Respond(nil, smpp.StatusOK)
		close(done)
	})
	sess, _, err := smpp.DialBind(ctxT(t), s.Addr(), smpp.DefaultConfig(), &smpp.Bind{Mode: smpp.BindTransceiver, SystemID: "ismg1"}, h)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if _, err := sess.Submit(ctxT(t), &smpp.SubmitSM{DestAddr: smpp.Addr{Addr: "1"}, RegisteredDelivery: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitReceipts(ctxT(t), 1); err != nil {
		t.Fatal(err)
	}
	<-done
	if st := s.Stats(); st.ReceiptsSent != 2 || st.ReceiptsRetried != 1 || st.ReceiptsAcked != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestShutdownUnbinds(t *testing.T) {
	s := startSMSC(t, nil)
	e := mustBind(t, s, smpp.BindTransceiver, "ismg1")
	if err := s.Shutdown(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	<-e.sess.Done()
	if err := e.sess.Err(); err != nil {
		t.Fatalf("ESME session ended with %v, want a clean unbind", err)
	}
	if err := s.Start("127.0.0.1:0"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Shutdown: %v", err)
	}
}

func TestParseStatusMix(t *testing.T) {
	mix, err := ParseStatusMix("delivrd=98, UNDELIV=2,EXPIRED=0")
	if err != nil {
		t.Fatal(err)
	}
	if got := FormatStatusMix(mix); got != "DELIVRD=98,UNDELIV=2,EXPIRED=0" {
		t.Fatalf("mix %s", got)
	}
	for _, bad := range []string{"", "DELIVRD", "DELIVRD=x", "DELIVRD=-1", "FOO=1", "DELIVRD=0", "DELIVERED=1"} {
		if _, err := ParseStatusMix(bad); err == nil {
			t.Errorf("ParseStatusMix(%q) accepted", bad)
		}
	}
}

func TestStatusMixProportions(t *testing.T) {
	// A fixed seed makes the draw deterministic; the check is loose on
	// purpose (it is about the weighting, not the generator).
	cfg := DefaultConfig()
	cfg.Seed = 42
	cfg.StatusMix = []StatWeight{{"DELIVRD", 90}, {"UNDELIV", 10}}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n := map[string]int{}
	for range 10000 {
		n[s.chooseStat(&Submission{})]++
	}
	if n["UNDELIV"] < 800 || n["UNDELIV"] > 1200 || n["DELIVRD"]+n["UNDELIV"] != 10000 {
		t.Fatalf("draws %v", n)
	}
}

func TestIDFormat(t *testing.T) {
	for _, tc := range []struct {
		f    string
		want string
	}{{"hex", "abc00"}, {"HEX", "ABC00"}, {"dec", "703488"}, {"dec10", "0000703488"}} {
		f, err := ParseIDFormat(tc.f)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.Format(0xABC00); got != tc.want || f.String() != tc.f {
			t.Errorf("%s: %q (%s), want %q", tc.f, got, f, tc.want)
		}
	}
	if _, err := ParseIDFormat("octal"); err == nil {
		t.Error("octal accepted")
	}
}

func TestConfigValidate(t *testing.T) {
	for name, mod := range map[string]func(*Config){
		"delay":     func(c *Config) { c.ReceiptDelay = -1 },
		"delaymax":  func(c *Config) { c.ReceiptDelay, c.ReceiptDelayMax = 2, 1 },
		"respdelay": func(c *Config) { c.RespDelay = -1 },
		"throttle":  func(c *Config) { c.ThrottleEvery = -1 },
		"mix":       func(c *Config) { c.StatusMix = []StatWeight{{"NOPE123", 1}} },
		"workers":   func(c *Config) { c.ReceiptWorkers = 0 },
		"session":   func(c *Config) { c.Session.Window = -1 },
		"sysid":     func(c *Config) { c.SystemID = strings.Repeat("x", 16) },
	} {
		cfg := DefaultConfig()
		mod(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: invalid config accepted", name)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

// A graceful Shutdown sends the receipts it owes before it unbinds (they
// live in memory only: a restart would lose them), and refuses the
// submit_sm that come meanwhile with ESME_RTHROTTLED, so the ESME keeps
// them for after the restart.
func TestShutdownSendsOwedReceipts(t *testing.T) {
	s := startSMSC(t, nil)
	e := mustBind(t, s, smpp.BindTransceiver, "ismg1")
	s.HoldReceipts(true)
	ctx := ctxT(t)
	for range 3 {
		if _, err := submit(ctx, e, "1", "x", smpp.RegDeliveryFinal); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(ctx) }()
	// Until Shutdown has begun a submit may still be taken (and owes a
	// receipt too).
	owed := 3
	var refused error
	for refused == nil {
		if _, refused = submit(ctx, e, "1", "late", smpp.RegDeliveryFinal); refused == nil {
			owed++
		}
	}
	var se *smpp.StatusError
	if !errors.As(refused, &se) || se.Status != smpp.StatusThrottled {
		t.Fatalf("submit during the drain: %v, want ESME_RTHROTTLED", refused)
	}
	s.HoldReceipts(false)
	for range owed {
		e.next(t)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.ReceiptsAcked != uint64(owed) || st.ReceiptsPending != 0 {
		t.Fatalf("after Shutdown: %+v", st)
	}
}

// RespDelay delays each submit_sm_resp without holding up the submit_sm
// behind it: both of two pipelined submits are accepted before either is
// answered, and neither answer comes sooner than the delay.
func TestRespDelayPipelines(t *testing.T) {
	const delay = time.Second
	s := startSMSC(t, func(c *Config) { c.RespDelay = delay })
	e := mustBind(t, s, smpp.BindTransceiver, "ismg1")
	ctx := ctxT(t)
	type answer struct {
		at  time.Time
		err error
	}
	answers := make(chan answer, 2)
	sent := time.Now()
	for _, dest := range []string{"8613800138000", "8613800138001"} {
		p := &smpp.SubmitSM{
			SourceAddr: smpp.Addr{Addr: "10657001"}, DestAddr: smpp.Addr{TON: 1, NPI: 1, Addr: dest},
			DataCoding: smpp.CodingIA5, ShortMessage: []byte("pipelined"),
		}
		if err := e.sess.SendAsync(ctx, p, func(_ smpp.PDU, err error) { answers <- answer{time.Now(), err} }); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Wait(ctx, func(st Stats) bool { return st.Accepted == 2 }); err != nil {
		t.Fatal(err)
	}
	if len(answers) != 0 {
		t.Fatal("a submit_sm was answered before the SMSC accepted both")
	}
	for range 2 {
		select {
		case a := <-answers:
			if a.err != nil {
				t.Fatal(a.err)
			}
			if d := a.at.Sub(sent); d < delay {
				t.Fatalf("answered after %v, want at least %v", d, delay)
			}
		case <-ctx.Done():
			t.Fatal("no answer")
		}
	}
}
