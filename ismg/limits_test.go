package ismg

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/billing"
	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/sim/smscsim"
)

func connectStatus(t *testing.T, addr, secret string) uint32 {
	t.Helper()
	_, err := dialSP(t, addr, cmpp.V30, secret)
	if err == nil {
		return cmpp.ConnectOK
	}
	var ce *cmpp.ConnectError
	if !errors.As(err, &ce) {
		t.Fatalf("CONNECT: %v", err)
	}
	return ce.Status
}

func TestConnectLimits(t *testing.T) {
	t.Run("wrong password then blocked", func(t *testing.T) {
		e := newEnv(t, nil)
		for range 3 {
			if st := connectStatus(t, e.node.CMPPAddr(), "wrong"); st != cmpp.ConnectAuthFailed {
				t.Fatalf("status %d, want 3", st)
			}
		}
		// limits.auth_failures = 3: the IP is now refused even with the
		// right secret until the window passes.
		if st := connectStatus(t, e.node.CMPPAddr(), testSecret); st != cmpp.ConnectOther {
			t.Fatalf("status %d after 3 failures, want 5", st)
		}
		if got := metric(t, e.node.HTTPAddr(), "ismg_connect_rejected_total", `reason="blocked"`); got != 1 {
			t.Errorf("blocked metric %v", got)
		}
	})
	t.Run("ip not allowed", func(t *testing.T) {
		e := newEnv(t, nil, replace("allowed_ips: [127.0.0.1]", "allowed_ips: [10.0.0.0/8]"))
		if st := connectStatus(t, e.node.CMPPAddr(), testSecret); st != cmpp.ConnectOther {
			t.Fatalf("status %d, want 5", st)
		}
		if got := metric(t, e.node.HTTPAddr(), "ismg_connect_rejected_total", `reason="ip"`); got != 1 {
			t.Errorf("ip metric %v", got)
		}
	})
	t.Run("too many connections", func(t *testing.T) {
		e := newEnv(t, nil, replace("max_connections: 4", "max_connections: 2"))
		mustSP(t, e.node.CMPPAddr(), cmpp.V30)
		mustSP(t, e.node.CMPPAddr(), cmpp.V20)
		if st := connectStatus(t, e.node.CMPPAddr(), testSecret); st != cmpp.ConnectOther {
			t.Fatalf("third connection: status %d, want 5", st)
		}
		if got := metric(t, e.node.HTTPAddr(), "ismg_connect_rejected_total", `reason="connections"`); got != 1 {
			t.Errorf("connections metric %v", got)
		}
	})
}

// burst sends n SUBMITs at once and counts the results.
func burst(t *testing.T, c *sp, n int) map[uint32]int {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	res := map[uint32]int{}
	for i := range n {
		wg.Add(1)
		p := submitPDU(bjNumber, 0, fmt.Appendf(nil, "b%d", i)) // ASCII: Msg_Fmt 0 refuses bytes >= 0x80
		err := c.s.SendAsync(context.Background(), p, func(resp cmpp.PDU, err error) {
			defer wg.Done()
			if err != nil {
				t.Errorf("SUBMIT: %v", err)
				return
			}
			mu.Lock()
			res[resp.(*cmpp.SubmitResp).Result]++
			mu.Unlock()
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	return res
}

func TestSubmitLimits(t *testing.T) {
	t.Run("rate", func(t *testing.T) {
		e := newEnv(t, nil, replace("submit_rate: 100000\n    burst: 10000", "submit_rate: 1\n    burst: 5"))
		c := mustSP(t, e.node.CMPPAddr(), cmpp.V30)
		res := burst(t, c, 20)
		if res[0] < 5 || res[cmpp.ResultFlowControl] == 0 || res[0]+res[8] != 20 {
			t.Fatalf("results %v", res)
		}
		if got := metric(t, e.node.HTTPAddr(), "ismg_sp_submits_total", `reason="rate"`); got != float64(res[8]) {
			t.Errorf("rate metric %v, want %d", got, res[8])
		}
	})
	t.Run("window", func(t *testing.T) {
		e := newEnv(t, nil, replace("window: 64", "window: 2"))
		c := mustSP(t, e.node.CMPPAddr(), cmpp.V30)
		res := burst(t, c, 200)
		if res[cmpp.ResultFlowControl] == 0 || res[0]+res[8] != 200 {
			t.Fatalf("results %v", res)
		}
		if got := metric(t, e.node.HTTPAddr(), "ismg_sp_submits_total", `reason="window"`); got != float64(res[8]) {
			t.Errorf("window metric %v, want %d", got, res[8])
		}
	})
	t.Run("queue depth", func(t *testing.T) {
		e := newEnv(t, func(c *smscsim.Config) { c.Down = true }, replace("  auth_failures: 3", "  auth_failures: 3\n  queue_depth: 3"))
		c := mustSP(t, e.node.CMPPAddr(), cmpp.V30)
		for i := range 3 {
			if r := c.submit(t, submitPDU(bjNumber, 0, []byte{'q', byte(i)})); r.Result != 0 {
				t.Fatalf("SUBMIT %d: result %d", i, r.Result)
			}
		}
		if r := c.submit(t, submitPDU(bjNumber, 0, []byte("over"))); r.Result != cmpp.ResultFlowControl {
			t.Fatalf("over the queue depth: result %d, want 8", r.Result)
		}
		if got := metric(t, e.node.HTTPAddr(), "ismg_sp_submits_total", `reason="queue"`); got != 1 {
			t.Errorf("queue metric %v", got)
		}
		// The SMSC never came up: /healthz says so.
		if code, err := httpGet(e.node.HTTPAddr(), "/healthz"); err != nil || code != 503 {
			t.Errorf("healthz with the SMSC down: %d %v", code, err)
		}
	})
	t.Run("link high water", func(t *testing.T) {
		e := newEnv(t, func(c *smscsim.Config) { c.Down = true }, replace("    throttle_backoff: 20ms\n", "    throttle_backoff: 20ms\n    high_water: 3\n"))
		c := mustSP(t, e.node.CMPPAddr(), cmpp.V30)
		for i := range 3 {
			if r := c.submit(t, submitPDU(bjNumber, 0, []byte{'h', byte(i)})); r.Result != 0 {
				t.Fatalf("SUBMIT %d: result %d", i, r.Result)
			}
		}
		if r := c.submit(t, submitPDU(bjNumber, 0, []byte("over"))); r.Result != cmpp.ResultFlowControl {
			t.Fatalf("over the link's high water: result %d, want 8", r.Result)
		}
		if got := metric(t, e.node.HTTPAddr(), "ismg_sp_submits_total", `reason="link_queue"`); got != 1 {
			t.Errorf("link_queue metric %v", got)
		}
		if got := metric(t, e.node.HTTPAddr(), "ismg_smsc_backpressure_total", `link="north"`); got != 1 {
			t.Errorf("backpressure metric %v", got)
		}
	})
	t.Run("checks", func(t *testing.T) {
		e := newEnv(t, nil)
		c := mustSP(t, e.node.CMPPAddr(), cmpp.V20)
		p := submitPDU(bjNumber, 0, []byte("x"))
		p.MsgSrc = "900000"
		if r := c.submit(t, p); r.Result != cmpp.ResultBadMsgSrc {
			t.Errorf("Msg_src: %d", r.Result)
		}
		p = submitPDU(bjNumber, 0, []byte("x"))
		p.SrcID = "10658888"
		if r := c.submit(t, p); r.Result != cmpp.ResultBadSrcID {
			t.Errorf("Src_Id: %d", r.Result)
		}
		p = submitPDU(bjNumber, 8, make([]byte, 142))
		if r := c.submit(t, p); r.Result != cmpp.ResultTooLong {
			t.Errorf("too long: %d", r.Result)
		}
		p = submitPDU("12", 0, []byte("x"))
		if r := c.submit(t, p); r.Result != cmpp.ResultBadDestTerminal {
			t.Errorf("bad dest: %d", r.Result)
		}
		p = submitPDU(bjNumber, 0, []byte("x"))
		p.ValidTime = "garbage"
		if r := c.submit(t, p); r.Result != cmpp.ResultBadStructure {
			t.Errorf("bad time: %d", r.Result)
		}
	})
}

// TestSMSCDownThenUp: while the SMSC is down SPs keep getting Result 0 and
// the messages wait; they drain when it comes back.
func TestSMSCDownThenUp(t *testing.T) {
	e := newEnv(t, nil)
	c := mustSP(t, e.node.CMPPAddr(), cmpp.V30)
	e.smsc.SetDown(true)
	res := burst(t, c, 20)
	if res[0] != 20 {
		t.Fatalf("results while down %v", res)
	}
	if d := e.node.Store().Len(qMTPrefix + "north"); d != 20 {
		t.Fatalf("mt depth %d, want 20", d)
	}
	if got := metric(t, e.node.HTTPAddr(), "ismg_queue_depth", `queue="mt:north"`); got != 20 {
		t.Errorf("queue depth metric %v", got)
	}
	e.smsc.SetDown(false)
	c.waitDelivers(t, 20*time.Second, func(ds []*cmpp.Deliver) bool { return len(reports(ds)) == 20 })
	if resp, err := httpGet(e.node.HTTPAddr(), "/healthz"); err != nil || resp != 200 {
		t.Errorf("healthz after: %d %v", resp, err)
	}
}

// TestReloadRate: a reload lowers the SP's rate without dropping its
// session.
func TestReloadRate(t *testing.T) {
	s := startSMSC(t, nil)
	dir := t.TempDir()
	cfg := loadYAML(t, dir, nodeYAML(t, dir, s.Addr()))
	e := startNode(t, cfg)
	c := mustSP(t, e.node.CMPPAddr(), cmpp.V30)
	if res := burst(t, c, 10); res[0] != 10 {
		t.Fatalf("before reload %v", res)
	}
	next := loadYAML(t, dir, nodeYAML(t, dir, s.Addr(), replace("submit_rate: 100000\n    burst: 10000", "submit_rate: 0.001\n    burst: 1")))
	if err := e.node.Reload(next); err != nil {
		t.Fatal(err)
	}
	res := burst(t, c, 10)
	if res[0] > 1 || res[cmpp.ResultFlowControl] < 9 {
		t.Fatalf("after reload %v", res)
	}
	if c.s.Err() != nil {
		t.Fatalf("session dropped: %v", c.s.Err())
	}
}

// TestCancel: CMPP_CANCEL removes an MT still waiting for its SMSC link
// (scheduled here), voids its CDR with a DELETED REPORT record and sends
// no status report; cancelling it again, an unknown Msg_Id, or an MT the
// SMSC already has, fails.
func TestCancel(t *testing.T) {
	e := newEnv(t, nil)
	c := mustSP(t, e.node.CMPPAddr(), cmpp.V30)
	cancelMT := func(id uint64) uint32 {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := c.s.SendWait(ctx, &cmpp.Cancel{MsgID: id})
		if err != nil {
			t.Fatalf("CANCEL: %v", err)
		}
		return resp.(*cmpp.CancelResp).SuccessID
	}

	later := submitPDU(bjNumber, 0, []byte("in an hour"))
	later.AtTime = "000000010000000R"
	r := c.submit(t, later)
	if got := cancelMT(r.MsgID); got != cmpp.CancelOK {
		t.Fatalf("CANCEL of a scheduled MT: Success_Id %d", got)
	}
	if n := e.node.Store().Len(qMTPrefix + "north"); n != 0 {
		t.Fatalf("mt:north holds %d after the cancel", n)
	}
	if got := cancelMT(r.MsgID); got != cmpp.CancelFailed {
		t.Fatalf("second CANCEL: Success_Id %d", got)
	}
	if got := cancelMT(r.MsgID + 1000); got != cmpp.CancelFailed {
		t.Fatalf("CANCEL of an unknown Msg_Id: Success_Id %d", got)
	}

	sent := c.submit(t, submitPDU(bjNumber, 0, []byte("now")))
	waitSMSC(t, e.smsc, func(s smscsim.Stats) bool { return s.Accepted >= 1 })
	if got := cancelMT(sent.MsgID); got != cmpp.CancelFailed {
		t.Fatalf("CANCEL of an MT the SMSC has: Success_Id %d", got)
	}
	ds := c.waitDelivers(t, 10*time.Second, func(ds []*cmpp.Deliver) bool { return len(reports(ds)) >= 1 })
	if _, ok := reports(ds)[r.MsgID]; ok {
		t.Fatal("a status report for the cancelled MT")
	}
	if n := metric(t, e.node.HTTPAddr(), "ismg_sp_cancels_total", `result="ok"`); n != 1 {
		t.Fatalf("ismg_sp_cancels_total{result=ok} = %v", n)
	}

	waitFiled(t, e.node)
	recs, err := billing.ReadFile(e.node.cdr.Path())
	if err != nil {
		t.Fatal(err)
	}
	var mt, deleted bool
	for _, rec := range recs {
		if rec.MsgID != r.MsgID {
			continue
		}
		mt = mt || rec.Kind == billing.KindMT
		deleted = deleted || rec.Kind == billing.KindReport && rec.FinalStatus == cmpp.StatDeleted
	}
	if !mt || !deleted {
		t.Fatalf("CDRs of the cancelled MT: MT %v, DELETED REPORT %v", mt, deleted)
	}
}
