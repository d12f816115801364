package ismg

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/sim/smscsim"
	"github.com/tandem-sms/tandem/smpp"
	"github.com/tandem-sms/tandem/smstext"
)

func enc(t testing.TB, c smstext.Coding, s string) []byte {
	t.Helper()
	b, err := smstext.Encode(c, s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMTReportE2E: SP → ismg → smscsim → receipt → CMPP_DELIVER report, in
// both CMPP versions, for GBK, UCS2 and ASCII text and a long message in
// two UDH segments (one report per segment, each with its own Msg_Id).
func TestMTReportE2E(t *testing.T) {
	e := newEnv(t, nil)
	for _, v := range []cmpp.Version{cmpp.V20, cmpp.V30} {
		t.Run(v.String(), func(t *testing.T) {
			c := mustSP(t, e.node.CMPPAddr(), v)
			type sent struct {
				id     uint64
				dc     uint8
				want   []byte // short_message the SMSC must see
				esm    uint8
				number string
			}
			var all []sent
			send := func(number string, msgFmt uint8, content []byte, udhi uint8, wantDC uint8, want []byte) {
				p := submitPDU(number, msgFmt, content)
				p.TPUDHI = udhi
				if udhi == 1 {
					p.PkTotal, p.PkNumber = content[4], content[5]
				}
				r := c.submit(t, p)
				if r.Result != 0 || r.MsgID == 0 {
					t.Fatalf("SUBMIT_RESP %+v", r)
				}
				esm := uint8(0)
				if udhi == 1 {
					esm = smpp.ESMClassUDHI
				}
				all = append(all, sent{r.MsgID, wantDC, want, esm, number})
			}
			text := "你好，世界 " + v.String()
			send("13800100001", 15, enc(t, smstext.GBK, text), 0, 8, enc(t, smstext.UCS2, text))
			send("8613800100002", 8, enc(t, smstext.UCS2, "UCS2 短信 "+v.String()), 0, 8, enc(t, smstext.UCS2, "UCS2 短信 "+v.String()))
			send("13800100003", 0, []byte("hello ascii "+v.String()), 0, 0, enc(t, smstext.GSM7, "hello ascii "+v.String()))
			// A long UCS2 message the SP split itself: two SUBMITs with UDH.
			long := []rune("开头。这是一条很长的短信，用来测试长短信的分段发送以及每个分段的状态报告是否都能正确返回给SP。这是一条很长的短信，用来测试长短信的分段发送。" + v.String())
			segs, err := smstext.SplitText(string(long), smstext.UCS2, smstext.SplitOptions{Ref: 7})
			if err != nil || len(segs) != 2 {
				t.Fatalf("split: %d segments, %v", len(segs), err)
			}
			for _, s := range segs {
				b := s.Bytes()
				send("13800100004", 8, b, 1, 8, b)
			}

			// Wait for our own ids: a report of the previous subtest may be
			// repeated here if its DELIVER_RESP was lost when that session
			// closed (at-least-once delivery to the SP).
			ds := c.waitDelivers(t, 20*time.Second, func(ds []*cmpp.Deliver) bool {
				reps := reports(ds)
				for _, s := range all {
					if _, ok := reps[s.id]; !ok {
						return false
					}
				}
				return true
			})
			reps := reports(ds)
			for _, s := range all {
				r, ok := reps[s.id]
				if !ok {
					t.Fatalf("no report for Msg_Id %x", s.id)
				}
				if r.Stat != cmpp.StatDelivered || r.DestTerminalID != s.number[len(s.number)-11:] {
					t.Errorf("report %+v", r)
				}
			}
			for _, d := range ds {
				if want := cmpp.ReportLen(v); d.RegisteredDelivery == 1 && len(d.MsgContent) != want {
					t.Errorf("report length %d in %v, want %d", len(d.MsgContent), v, want)
				}
			}
			// What the SMSC received.
			subs := e.smsc.Submitted()
			for _, s := range all {
				found := false
				for _, x := range subs {
					if bytes.Equal(x.ShortMessage, s.want) && x.DataCoding == s.dc && x.ESMClass == s.esm && x.RegisteredDelivery == 1 {
						found = true
					}
				}
				if !found {
					t.Errorf("SMSC did not get %x with data_coding %d esm %x", s.want, s.dc, s.esm)
				}
			}
		})
	}
	if got := metric(t, e.node.HTTPAddr(), "ismg_sp_submits_total", `result="ok"`); got != 10 {
		t.Errorf("submits ok metric = %v, want 10", got)
	}
}

// TestGBKOverflowSplit: a GBK text whose UCS2 form no longer fits one
// message goes out as two UDH segments; the SP still gets one report.
func TestGBKOverflowSplit(t *testing.T) {
	e := newEnv(t, nil)
	c := mustSP(t, e.node.CMPPAddr(), cmpp.V30)
	text := "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789中文" // 76 runes → 152 UCS2 octets
	r := c.submit(t, submitPDU(bjNumber, 15, enc(t, smstext.GBK, text)))
	if r.Result != 0 {
		t.Fatalf("result %d", r.Result)
	}
	ds := c.waitDelivers(t, 10*time.Second, func(ds []*cmpp.Deliver) bool { return len(reports(ds)) == 1 })
	if rep := reports(ds)[r.MsgID]; rep.Stat != cmpp.StatDelivered {
		t.Fatalf("report %+v", rep)
	}
	n := 0
	for _, s := range e.smsc.Submitted() {
		if s.DestAddr.Addr == bjNumber && s.ESMClass&smpp.ESMClassUDHI != 0 && s.DataCoding == 8 {
			n++
		}
	}
	if n != 2 {
		t.Errorf("SMSC got %d UDH segments, want 2", n)
	}
}

// TestReceiptRace: the SMSC sends each receipt before its submit_sm_resp,
// so receipts arrive before the mapping exists; they are parked as orphans
// durably and matched once the mapping commits.
func TestReceiptRace(t *testing.T) {
	e := newEnv(t, func(c *smscsim.Config) { c.ReceiptFirst = true; c.RaceWait = 500 * time.Millisecond })
	c := mustSP(t, e.node.CMPPAddr(), cmpp.V30)
	var ids []uint64
	for i := range 5 {
		r := c.submit(t, submitPDU(bjNumber, 0, []byte{'a' + byte(i)}))
		ids = append(ids, r.MsgID)
	}
	ds := c.waitDelivers(t, 20*time.Second, func(ds []*cmpp.Deliver) bool { return len(reports(ds)) == 5 })
	for _, id := range ids {
		if reports(ds)[id].Stat != cmpp.StatDelivered {
			t.Errorf("no DELIVRD report for %x", id)
		}
	}
	if got := metric(t, e.node.HTTPAddr(), "ismg_receipts_total", `result="orphan_matched"`); got == 0 {
		t.Errorf("no orphan was matched (metric %v)", got)
	}
}

// TestReceiptTextOnlyDecimalIDs: receipts without TLVs, quoting the id in
// decimal while submit_sm_resp was hex (id_format: decimal).
func TestReceiptTextOnlyDecimalIDs(t *testing.T) {
	e := newEnv(t, func(c *smscsim.Config) {
		c.OmitReceiptTLVs = true
		c.IDFormat = smscsim.IDHexUpper
		c.ReceiptIDFormat = smscsim.IDDecimal10
	}, replace("    default: true\n", "    default: true\n    id_format: decimal\n"))
	c := mustSP(t, e.node.CMPPAddr(), cmpp.V20)
	r := c.submit(t, submitPDU(bjNumber, 0, []byte("dec")))
	ds := c.waitDelivers(t, 10*time.Second, func(ds []*cmpp.Deliver) bool { return len(reports(ds)) == 1 })
	if reports(ds)[r.MsgID].Stat != cmpp.StatDelivered {
		t.Fatalf("report %+v", reports(ds))
	}
}

// TestMOLocalSP: an MO to Sina's service code from a Beijing user becomes
// a CMPP_DELIVER (Registered_Delivery 0) to Sina at this gateway.
func TestMOLocalSP(t *testing.T) {
	e := newEnv(t, nil)
	c := mustSP(t, e.node.CMPPAddr(), cmpp.V30)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.smsc.InjectMO(ctx, "13800100009", "1065700188", "天气 北京", smstext.UCS2); err != nil {
		t.Fatal(err)
	}
	ds := c.waitDelivers(t, 10*time.Second, func(ds []*cmpp.Deliver) bool { return len(ds) == 1 })
	d := ds[0]
	if d.RegisteredDelivery != 0 || d.SrcTerminalID != "13800100009" || d.DestID != "1065700188" || d.MsgFmt != 8 {
		t.Fatalf("MO DELIVER %+v", d)
	}
	if got, _ := smstext.Decode(smstext.UCS2, []byte(d.MsgContent)); got != "天气 北京" {
		t.Errorf("content %q", got)
	}
	// An unknown service code is refused with a permanent status.
	if err := e.smsc.InjectMO(ctx, "13800100009", "99999", "x", smstext.GSM7); err == nil {
		t.Error("MO to an unknown code accepted")
	}
}

// TestReportQueuedWhileOffline: the SP disconnects before the receipt; the
// report waits in out:<spid> and is delivered when it logs in again.
func TestReportQueuedWhileOffline(t *testing.T) {
	e := newEnv(t, func(c *smscsim.Config) { c.ReceiptDelay = 100 * time.Millisecond })
	c := mustSP(t, e.node.CMPPAddr(), cmpp.V30)
	r := submitThenLeave(t, e, c, 1)
	waitSMSC(t, e.smsc, func(s smscsim.Stats) bool { return s.ReceiptsAcked >= 1 })
	if n := e.node.Store().Len(qOutPrefix + testSP); n != 1 {
		t.Fatalf("out queue holds %d, want the report", n)
	}
	c2 := mustSP(t, e.node.CMPPAddr(), cmpp.V20)
	ds := c2.waitDelivers(t, 10*time.Second, func(ds []*cmpp.Deliver) bool { return len(reports(ds)) == 1 })
	if reports(ds)[r.MsgID].Stat != cmpp.StatDelivered {
		t.Fatalf("report %+v", reports(ds))
	}
}

// TestScheduledAndExpired: an At_Time in the future waits; a Valid_Time
// that passes before delivery gives an EXPIRED report; an MT for another
// gateway waits in fwd:<gw> and expires at its Valid_Time.
func TestScheduledAndExpired(t *testing.T) {
	e := newEnv(t, nil)
	c := mustSP(t, e.node.CMPPAddr(), cmpp.V30)

	sched := submitPDU(bjNumber, 0, []byte("scheduled"))
	sched.AtTime = "000000000001000R" // one second from now
	rs := c.submit(t, sched)
	// Valid for 1 s but scheduled at 2 s: it could only expire, so it is
	// refused at SUBMIT.
	exp := submitPDU(bjNumber, 0, []byte("expires"))
	exp.AtTime = "000000000002000R"
	exp.ValidTime = "000000000001000R"
	if re := c.submit(t, exp); re.Result != cmpp.ResultBadStructure {
		t.Fatalf("At_Time after ValId_Time: Result %d, want 1", re.Result)
	}
	fwd := submitPDU(gzNumber, 0, []byte("guangzhou"))
	fwd.ValidTime = "000000000001000R"
	rf := c.submit(t, fwd)
	if e.node.Store().Len(qFwdPrefix+"020001") != 1 {
		t.Fatal("MT for Guangzhou not in fwd:020001")
	}
	accepted := e.smsc.Stats().Accepted
	if accepted != 0 {
		t.Fatalf("scheduled MT sent at once (%d submits)", accepted)
	}
	ds := c.waitDelivers(t, 15*time.Second, func(ds []*cmpp.Deliver) bool { return len(reports(ds)) == 2 })
	reps := reports(ds)
	if reps[rs.MsgID].Stat != cmpp.StatDelivered || reps[rf.MsgID].Stat != cmpp.StatExpired {
		t.Fatalf("reports %+v", reps)
	}
}

// submitThenLeave submits one MT while the SMSC holds its receipts, waits
// until the SMSC has accepted accepted MTs in all, then terminates the SP's
// session and lets the receipts go: the status report is queued for an SP
// that is away.
func submitThenLeave(t *testing.T, e *testEnv, c *sp, accepted uint64) *cmpp.SubmitResp {
	t.Helper()
	e.smsc.HoldReceipts(true)
	r := c.submit(t, submitPDU(bjNumber, 0, []byte("offline")))
	waitSMSC(t, e.smsc, func(s smscsim.Stats) bool { return s.Accepted >= accepted })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.s.Terminate(ctx); err != nil {
		t.Fatal(err)
	}
	e.smsc.HoldReceipts(false)
	return r
}
