package ismg

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/sim/smscsim"
)

// TestHLLEstimate: small sets are counted (nearly) exactly, repeats do not
// count, and large sets stay within a few standard errors (1.6%).
func TestHLLEstimate(t *testing.T) {
	for _, n := range []int{0, 1, 10, 1000, 100_000, 1_000_000} {
		var r hll
		for i := range n {
			h := hllHash(fmt.Sprintf("1380010%04d", i))
			r.add(h)
			r.add(h) // a second SUBMIT to the same user
		}
		got := float64(r.estimate())
		if tol := max(0.05*float64(n), 1); got < float64(n)-tol || got > float64(n)+tol {
			t.Errorf("%d distinct users estimated as %v", n, got)
		}
	}
}

// TestQueryUsersNeverExceedMessages: the distinct-user estimate can
// overshoot (64 users here estimate as 65); CMPP_QUERY's MT_TLUsr is
// capped at MT_TLMsg, in total and per service.
func TestQueryUsersNeverExceedMessages(t *testing.T) {
	b := newStatsBook(time.UTC)
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for i := range 64 {
		b.mtAccepted("901234", "NEWS", at, fmt.Sprintf("1380010%04d", i+1))
	}
	if est := b.m[statKey{"901234", "20261122", ""}].users.estimate(); est <= 64 {
		t.Fatalf("the estimate is %d: pick users it overshoots, or the test proves nothing", est)
	}
	for _, q := range []*cmpp.Query{
		{Time: "20261122", QueryType: cmpp.QueryTotal},
		{Time: "20261122", QueryType: cmpp.QueryByService, QueryCode: "NEWS"},
	} {
		if r := b.query("901234", q); r.MTTLMsg != 64 || r.MTTLUsr != 64 {
			t.Errorf("query %d %q: %d messages, %d users; want 64 and 64", q.QueryType, q.QueryCode, r.MTTLMsg, r.MTTLUsr)
		}
	}
}

// TestStatsRecord: the saved form round-trips; days past the retention
// leave memory and the store; a failed save marks the entries dirty again.
func TestStatsRecord(t *testing.T) {
	b := newStatsBook(time.UTC)
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	b.mtAccepted("901234", "NEWS", now, "13800100001")
	b.mtAccepted("901234", "NEWS", now, "13800100002")
	b.mtForwarded("901234", "NEWS", now)
	b.mtFailed("901234", "NEWS", now)
	b.moQueued("901234", now)
	b.moDone("901234", now, true)
	old := now.AddDate(0, 0, -statsKeepDays)
	b.mtAccepted("901234", "", old, "13800100003")

	k := statKey{"901234", "20261122", "NEWS"}
	c := b.m[k]
	back, err := decodeStatCounts(c.encode())
	if err != nil || back.mtIn != 2 || back.mtFwd != 1 || back.mtFail != 1 || back.users != c.users {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	if dk, ok := decodeStatKey(k.encode()); !ok || dk != k {
		t.Fatalf("key round trip: %+v", dk)
	}
	if _, err := decodeStatCounts([]byte{statsVersion, 1}); err == nil {
		t.Fatal("a short record decoded")
	}

	ops, done := b.flushOps(now)
	if len(ops) != 3 { // two puts (NEWS and the total) and the old day's delete
		t.Fatalf("%d ops, want 3", len(ops))
	}
	if _, kept := b.m[statKey{"901234", old.Format("20060102"), ""}]; kept {
		t.Fatal("a day past the retention stayed in memory")
	}
	done(context.Canceled)
	if !b.m[k].dirty {
		t.Fatal("a failed save left the entry clean")
	}
	ops, done = b.flushOps(now)
	done(nil)
	if ops, _ = b.flushOps(now); len(ops) != 0 {
		t.Fatalf("%d ops after a successful save, want 0", len(ops))
	}
}

// TestQuery: CMPP_QUERY returns the day's counters for the SP, in total
// and for one Service_Id: MT accepted, distinct users, forwarded (the SMSC
// took them), failed (here: cancelled before they were sent) and waiting;
// the counters survive a restart.
func TestQuery(t *testing.T) {
	e := newEnv(t, func(c *smscsim.Config) { c.ReceiptDelay = 10 * time.Millisecond })
	c := mustSP(t, e.node.CMPPAddr(), cmpp.V30)
	const sent = 5
	for i := range sent {
		p := submitPDU(fmt.Sprintf("1380010%04d", i%3), 0, []byte("hi"))
		c.submit(t, p)
	}
	waitSMSC(t, e.smsc, func(s smscsim.Stats) bool { return s.Accepted >= sent })
	later := submitPDU("13800100009", 0, []byte("later"))
	later.ServiceID = "OTHER"
	later.AtTime = "000000010000000R"
	r := c.submit(t, later)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if resp, err := c.s.SendWait(ctx, &cmpp.Cancel{MsgID: r.MsgID}); err != nil || resp.(*cmpp.CancelResp).SuccessID != cmpp.CancelOK {
		t.Fatalf("CANCEL: %+v, %v", resp, err)
	}
	c.waitDelivers(t, 10*time.Second, func(ds []*cmpp.Deliver) bool { return len(reports(ds)) == sent })

	today := time.Now().Format("20060102")
	query := func(c *sp, typ uint8, code string) *cmpp.QueryResp {
		t.Helper()
		resp, err := c.s.SendWait(ctx, &cmpp.Query{Time: today, QueryType: typ, QueryCode: code})
		if err != nil {
			t.Fatalf("QUERY: %v", err)
		}
		return resp.(*cmpp.QueryResp)
	}
	check := func(c *sp) {
		t.Helper()
		// Forwarded counts once the move to await is durable, which the
		// receipts (and so the reports waited for above) come after.
		total := query(c, cmpp.QueryTotal, "")
		if total.MTTLMsg != sent+1 || total.MTTLUsr != 4 || total.MTScs != sent || total.MTFL != 1 || total.MTWT != 0 {
			t.Errorf("totals %+v", total)
		}
		svc := query(c, cmpp.QueryByService, "TEST")
		if svc.MTTLMsg != sent || svc.MTTLUsr != 3 || svc.MTScs != sent || svc.MTFL != 0 || svc.QueryCode != "TEST" {
			t.Errorf("service TEST %+v", svc)
		}
		if none := query(c, cmpp.QueryByService, "NONE"); none.MTTLMsg != 0 {
			t.Errorf("unknown service %+v", none)
		}
	}
	check(c)

	e.stop()
	e2 := startNode(t, e.cfg)
	check(mustSP(t, e2.node.CMPPAddr(), cmpp.V20))
}

// TestStatsServiceBound: past statsMaxServices Service_Ids per SP and day,
// new ones are counted in the SP's totals only.
func TestStatsServiceBound(t *testing.T) {
	b := newStatsBook(time.UTC)
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for i := range statsMaxServices + 10 {
		b.mtAccepted("901234", fmt.Sprintf("S%d", i), now, "13800100001")
	}
	q := func(svc string) *cmpp.QueryResp {
		typ := cmpp.QueryTotal
		if svc != "" {
			typ = cmpp.QueryByService
		}
		return b.query("901234", &cmpp.Query{Time: "20261122", QueryType: typ, QueryCode: svc})
	}
	if got := q("").MTTLMsg; got != statsMaxServices+10 {
		t.Fatalf("total %d, want every message", got)
	}
	if got := q("S0").MTTLMsg; got != 1 {
		t.Fatalf("first service %d, want 1", got)
	}
	if got := q(fmt.Sprintf("S%d", statsMaxServices+5)).MTTLMsg; got != 0 {
		t.Fatalf("a service past the bound counted apart: %d", got)
	}
	if n := len(b.m); n != statsMaxServices+1 {
		t.Fatalf("%d entries, want %d services + the total", n, statsMaxServices)
	}
}
