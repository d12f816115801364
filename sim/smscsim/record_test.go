package smscsim

import (
	"path/filepath"
	"testing"

	"github.com/tandem-sms/tandem/sim/record"
	"github.com/tandem-sms/tandem/smpp"
	"github.com/tandem-sms/tandem/smstext"
)

// With Config.Record, every accepted submit_sm is recorded with its
// message id and the client key of its text (whatever its coding, after a
// UDH), and every receipt once answered, or once given up.
func TestRecordAcceptsAndReceipts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "smsc.jsonl")
	w, err := record.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	s := startSMSC(t, func(c *Config) {
		c.Record = w
		c.ReceiptAttempts = 1
		c.StatusFor = func(sub *Submission) string {
			if sub.DestAddr.Addr == "13800138009" {
				return smpp.StatUndeliverable
			}
			return ""
		}
	})
	ok := mustBind(t, s, smpp.BindTransceiver, "ismg1")
	ctx := ctxT(t)
	ucs2, _ := smstext.Encode(smstext.UCS2, record.Prefix("0badcafe-2.1")+"长消息")
	gsm, _ := smstext.Encode(smstext.GSM7, "hi "+record.Prefix("0badcafe-3")+"text")
	for _, p := range []*smpp.SubmitSM{
		{DestAddr: smpp.Addr{Addr: "13800138000"}, RegisteredDelivery: 1, DataCoding: smpp.CodingIA5, ShortMessage: []byte(record.Prefix("0badcafe-1") + "hello")},
		{DestAddr: smpp.Addr{Addr: "13800138001"}, RegisteredDelivery: 1, DataCoding: 8, ESMClass: smpp.ESMClassUDHI, ShortMessage: append([]byte{5, 0, 3, 7, 2, 1}, ucs2...)},
		{DestAddr: smpp.Addr{Addr: "13800138009"}, RegisteredDelivery: 1, DataCoding: 0, ShortMessage: gsm},
		{DestAddr: smpp.Addr{Addr: "13800138002"}, RegisteredDelivery: 0, DataCoding: smpp.CodingIA5, ShortMessage: []byte("no key here")},
	} {
		if _, err := ok.sess.Submit(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.WaitReceipts(ctx, 3); err != nil {
		t.Fatal(err)
	}
	// A receipt for a system_id whose receiver refuses it for good is
	// given up and recorded so.
	refuse := smpp.HandlerFunc(func(r *smpp.Request) { _ = r.Respond(nil, smpp.StatusSysErr) })
	bad, _, err := smpp.DialBind(ctx, s.Addr(), smpp.DefaultConfig(), &smpp.Bind{Mode: smpp.BindTransceiver, SystemID: "ismg2"}, refuse)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if _, err := bad.Submit(ctx, &smpp.SubmitSM{DestAddr: smpp.Addr{Addr: "13800138005"}, RegisteredDelivery: 1, DataCoding: smpp.CodingIA5, ShortMessage: []byte(record.Prefix("0badcafe-4") + "x")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Wait(ctx, func(st Stats) bool { return st.ReceiptsFailed == 1 }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil || s.RecordErr() != nil {
		t.Fatal(err, s.RecordErr())
	}

	var evs []record.Event
	if _, err := record.ReadFile(path, func(e *record.Event) error { evs = append(evs, *e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 || evs[0].Ev != record.EvRun || evs[0].Tool != record.ToolSMSCSim || evs[0].SystemID != "smscsim" || evs[0].Addr != s.Addr() || !record.ValidRunID(evs[0].Run) {
		t.Fatalf("run line %+v", evs)
	}
	accepted := map[string]record.Event{} // by dest
	receipts := map[string]record.Event{} // by key
	var failed []record.Event
	for _, e := range evs[1:] {
		switch e.Ev {
		case record.EvAccept:
			accepted[e.Dest] = e
		case record.EvReceipt:
			receipts[e.Key] = e
		case record.EvReceiptFailed:
			failed = append(failed, e)
		default:
			t.Fatalf("unexpected %+v", e)
		}
	}
	wantKeys := map[string]string{"13800138000": "0badcafe-1", "13800138001": "0badcafe-2.1", "13800138009": "0badcafe-3", "13800138002": "", "13800138005": "0badcafe-4"}
	for dest, key := range wantKeys {
		a, found := accepted[dest]
		if !found || a.Key != key || a.SMSCID == "" || a.ESME == "" {
			t.Errorf("accept of %s: %+v, want key %q", dest, a, key)
		}
	}
	if len(accepted) != 5 || accepted["13800138002"].RD != 0 || accepted["13800138000"].RD != 1 || accepted["13800138005"].ESME != "ismg2" {
		t.Fatalf("accepts %+v", accepted)
	}
	if len(receipts) != 3 || receipts["0badcafe-3"].Stat != "UNDELIV" || receipts["0badcafe-1"].Stat != "DELIVRD" ||
		receipts["0badcafe-1"].SMSCID != accepted["13800138000"].SMSCID || receipts["0badcafe-2.1"].Dest != "13800138001" {
		t.Fatalf("receipts %+v", receipts)
	}
	if len(failed) != 1 || failed[0].Key != "0badcafe-4" || failed[0].SMSCID != accepted["13800138005"].SMSCID || failed[0].Err == "" {
		t.Fatalf("failed receipts %+v", failed)
	}
}
