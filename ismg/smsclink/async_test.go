package smsclink

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/smpp"
)

// SubmitAsync calls back once per submit_sm with the SMSC's message_id or
// its error status, and frees the window slot either way.
func TestSubmitAsync(t *testing.T) {
	srv := startSMSC(t, &testSMSC{status: func(n int) smpp.Status {
		if n == 2 {
			return smpp.StatusSubmitFail
		}
		return smpp.StatusOK
	}})
	cfg := testConfig(t, srv.Addr)
	cfg.Binds, cfg.Window = 1, 1
	l := startLink(t, cfg, nil)
	waitBound(t, l.Link, 1)
	ctx := testCtx(t)

	type res struct {
		id  string
		err error
	}
	got := make(chan res, 3)
	for range 3 {
		// Window 1: each waits for the previous response's slot.
		if err := l.SubmitAsync(ctx, newSubmit("8613800000001"), time.Time{}, func(id string, err error) { got <- res{id, err} }); err != nil {
			t.Fatalf("SubmitAsync: %v", err)
		}
	}
	want := []res{{"M1", nil}, {"", &smpp.StatusError{Status: smpp.StatusSubmitFail}}, {"M3", nil}}
	for i, w := range want {
		r := <-got
		if r.id != w.id || (w.err == nil) != (r.err == nil) || (w.err != nil && !errors.Is(r.err, w.err)) {
			t.Fatalf("callback %d: %q, %v; want %q, %v", i+1, r.id, r.err, w.id, w.err)
		}
	}
	if c := l.Counters(); c.Submits != 3 || c.SubmitOK != 2 {
		t.Fatalf("counters %+v", c)
	}
	if err := l.SubmitAsync(ctx, newSubmitTooLong(), time.Time{}, func(string, error) { t.Error("callback after a refusal") }); err == nil {
		t.Fatal("SubmitAsync of an invalid submit_sm: no error")
	}
}

// receiptHandler records what reaches each of its two methods.
type receiptHandler struct {
	delivers chan *smpp.DeliverSM
	receipts chan smpp.ReceiptInfo
}

func (h *receiptHandler) HandleDeliver(_ context.Context, d *smpp.DeliverSM) smpp.Status {
	h.delivers <- d
	return smpp.StatusOK
}

func (h *receiptHandler) HandleReceipt(_ context.Context, _ *smpp.DeliverSM, info smpp.ReceiptInfo, err error) smpp.Status {
	if err != nil {
		return smpp.StatusSysErr
	}
	h.receipts <- info
	return smpp.StatusOK
}

// A ReceiptHandler gets receipts parsed, and MO through HandleDeliver.
func TestReceiptHandler(t *testing.T) {
	srv := startSMSC(t, &testSMSC{})
	h := &receiptHandler{delivers: make(chan *smpp.DeliverSM, 1), receipts: make(chan smpp.ReceiptInfo, 1)}
	l := startLink(t, testConfig(t, srv.Addr), h)
	waitBound(t, l.Link, 1)
	ss := srv.SMPP.Sessions()[0]
	ctx := testCtx(t)

	receipt := &smpp.DeliverSM{
		SourceAddr:   smpp.Addr{Addr: "8613800000007"},
		DestAddr:     smpp.Addr{Addr: "Tandem"},
		ESMClass:     smpp.ESMClassReceipt,
		ShortMessage: []byte("id:M1 sub:001 dlvrd:001 submit date:2601020304 done date:2601020305 stat:DELIVRD err:000 text:hello"),
	}
	if _, err := ss.Deliver(ctx, receipt); err != nil {
		t.Fatalf("receipt: %v", err)
	}
	if info := <-h.receipts; info.MessageID != "M1" || info.State != smpp.StateDelivered || info.Receipt.DoneDate.IsZero() {
		t.Fatalf("HandleReceipt got %+v", info)
	}
	mo := &smpp.DeliverSM{SourceAddr: smpp.Addr{Addr: "8613800000008"}, DestAddr: smpp.Addr{Addr: "10086"}, ShortMessage: []byte("hi")}
	if _, err := ss.Deliver(ctx, mo); err != nil {
		t.Fatalf("MO: %v", err)
	}
	if d := <-h.delivers; string(d.ShortMessage) != "hi" {
		t.Fatalf("HandleDeliver got %+v", d)
	}
}

// asyncReceipts is an AsyncReceiptHandler: receipts whose text names id
// "sync" are declined (they must reach HandleReceipt), the others are
// answered later from another goroutine with the status sent on answer.
type asyncReceipts struct {
	taken  chan func(smpp.Status)
	synced chan string
}

func (a *asyncReceipts) HandleDeliver(context.Context, *smpp.DeliverSM) smpp.Status {
	return smpp.StatusSysErr
}

func (a *asyncReceipts) HandleReceipt(_ context.Context, _ *smpp.DeliverSM, info smpp.ReceiptInfo, _ error) smpp.Status {
	a.synced <- info.MessageID
	return smpp.StatusOK
}

func (a *asyncReceipts) HandleReceiptAsync(_ *smpp.DeliverSM, info smpp.ReceiptInfo, _ error, respond func(smpp.Status)) bool {
	if info.MessageID == "sync" {
		return false
	}
	a.taken <- respond
	return true
}

// An AsyncReceiptHandler answers receipts from a callback: the SMSC gets
// the deliver_sm_resp only when respond is called, with its status, and a
// declined receipt goes to HandleReceipt.
func TestAsyncReceiptHandler(t *testing.T) {
	srv := startSMSC(t, &testSMSC{})
	h := &asyncReceipts{taken: make(chan func(smpp.Status), 1), synced: make(chan string, 1)}
	cfg := testConfig(t, srv.Addr)
	l := startLink(t, cfg, h)
	waitBound(t, l.Link, 1)
	ss := srv.SMPP.Sessions()[0]
	ctx := testCtx(t)
	receipt := func(id string) *smpp.DeliverSM {
		return &smpp.DeliverSM{
			SourceAddr: smpp.Addr{Addr: "8613800000007"}, DestAddr: smpp.Addr{Addr: "Tandem"}, ESMClass: smpp.ESMClassReceipt,
			ShortMessage: []byte("id:" + id + " sub:001 dlvrd:001 submit date:2601020304 done date:2601020305 stat:DELIVRD err:000 text:x"),
		}
	}
	res := make(chan error, 1)
	go func() { _, err := ss.Deliver(ctx, receipt("A1")); res <- err }()
	var respond func(smpp.Status)
	select {
	case respond = <-h.taken:
	case <-ctx.Done():
		t.Fatal("receipt not taken by HandleReceiptAsync")
	}
	select {
	case err := <-res:
		t.Fatalf("deliver_sm_resp before respond: %v", err)
	default:
	}
	go respond(smpp.StatusXTAppn)
	if err := <-res; !errors.Is(err, &smpp.StatusError{Status: smpp.StatusXTAppn}) {
		t.Fatalf("deliver_sm_resp: %v, want respond's ESME_RX_T_APPN", err)
	}

	go func() { _, err := ss.Deliver(ctx, receipt("sync")); res <- err }()
	if id := <-h.synced; id != "sync" {
		t.Fatalf("HandleReceipt got %q", id)
	}
	if err := <-res; err != nil {
		t.Fatalf("declined receipt: %v", err)
	}
	if c := l.Counters(); c.Delivers != 2 || c.DeliverErrors != 1 {
		t.Fatalf("counters %+v", c)
	}
}
