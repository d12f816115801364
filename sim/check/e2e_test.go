package check_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/cmpp/cmpptest"
	"github.com/tandem-sms/tandem/sim/check"
	"github.com/tandem-sms/tandem/sim/record"
	"github.com/tandem-sms/tandem/sim/smscsim"
	"github.com/tandem-sms/tandem/sim/spsim"
	"github.com/tandem-sms/tandem/smpp"
	"github.com/tandem-sms/tandem/smstext"
)

// relay is the smallest gateway that lets the two simulators meet without
// an ISMG (sim/ must not import it): each SUBMIT becomes a submit_sm to
// the SMSC, its SUBMIT_RESP waits for the submit_sm_resp, and each
// receipt becomes a status report to the SP. One fault can be played:
// the SP's connection dropped after the submit_sm of SUBMIT dropAt went
// out and before its SUBMIT_RESP — the window every crash has.
type relay struct {
	t      *testing.T
	esme   *smpp.Session
	gen    *cmpp.MsgIDGenerator
	dropAt int

	mu      sync.Mutex
	n       int
	sp      *cmpp.Session     // the SP's latest session
	byID    map[string]owed   // SMSC message_id → what the SP is owed
	early   map[string]string // receipts ahead of their submit_sm_resp: message_id → stat
	pending []owed            // reports the SP was not there for
}

type owed struct {
	msgID uint64
	dest  string
	stat  string
}

func startRelay(t *testing.T, smscAddr string, dropAt int) *cmpptest.Server {
	r := &relay{t: t, gen: cmpp.NewMsgIDGenerator(1001, time.Now, time.Time{}), dropAt: dropAt,
		byID: map[string]owed{}, early: map[string]string{}}
	esme, _, err := smpp.DialBind(t.Context(), smscAddr, smpp.DefaultConfig(),
		&smpp.Bind{Mode: smpp.BindTransceiver, SystemID: "relay"}, smpp.HandlerFunc(r.receipt))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = esme.Close(); <-esme.Done() })
	r.esme = esme
	srv := cmpptest.NewUnstartedServer(cmpp.HandlerFunc(r.submit))
	srv.OnSession = r.onSession
	srv.Start(t)
	return srv
}

func (r *relay) onSession(s *cmpp.Session) {
	r.mu.Lock()
	r.sp = s
	owed := r.pending
	r.pending = nil
	r.mu.Unlock()
	go func() {
		for _, o := range owed {
			r.report(o)
		}
	}()
}

func (r *relay) submit(s *cmpp.Session, h cmpp.Header, req cmpp.PDU) {
	sub, ok := req.(*cmpp.Submit)
	if !ok {
		return
	}
	p := &smpp.SubmitSM{
		SourceAddr:         smpp.Addr{Addr: sub.SrcID},
		DestAddr:           smpp.Addr{NPI: 1, Addr: sub.DestTerminalIDs[0]},
		RegisteredDelivery: smpp.RegDeliveryFinal,
		DataCoding:         smstext.FromCMPP(sub.MsgFmt).SMPPDataCoding(),
		ShortMessage:       []byte(sub.MsgContent),
	}
	if smstext.FromCMPP(sub.MsgFmt) == smstext.ASCII {
		p.DataCoding = smpp.CodingIA5
	}
	if sub.TPUDHI == 1 {
		p.ESMClass = smpp.ESMClassUDHI
	}
	id := r.gen.Next()
	r.mu.Lock()
	r.n++
	drop := r.n == r.dropAt
	r.mu.Unlock()
	// Not the SP session's context: a gateway delivers what it took even
	// when the SP went away.
	resp, err := r.esme.Submit(r.t.Context(), p)
	if err != nil {
		r.t.Errorf("relay: submit_sm: %v", err)
		return
	}
	o := owed{msgID: id, dest: sub.DestTerminalIDs[0]}
	r.mu.Lock()
	r.byID[resp.MessageID] = o
	stat, early := r.early[resp.MessageID]
	delete(r.early, resp.MessageID)
	r.mu.Unlock()
	if early {
		o.stat = stat
		go r.report(o)
	}
	if drop {
		_ = s.Close() // delivered, never acked
		return
	}
	_ = s.Reply(h, &cmpp.SubmitResp{MsgID: id})
}

func (r *relay) receipt(req *smpp.Request) {
	d, ok := req.PDU.(*smpp.DeliverSM)
	if !ok {
		_ = req.Respond(nil, smpp.StatusOK)
		return
	}
	info, err := smpp.ParseDeliverReceipt(d)
	_ = req.Respond(nil, smpp.StatusOK)
	if err != nil {
		r.t.Errorf("relay: receipt: %v", err)
		return
	}
	r.mu.Lock()
	o, ok := r.byID[info.MessageID]
	if !ok { // ahead of its submit_sm_resp
		r.early[info.MessageID] = smpp.StateStat(info.State)
	}
	r.mu.Unlock()
	if !ok {
		return
	}
	o.stat = smpp.StateStat(info.State)
	go r.report(o)
}

func (r *relay) report(o owed) {
	r.mu.Lock()
	s := r.sp
	r.mu.Unlock()
	d := &cmpp.Deliver{MsgID: r.gen.Next(), DestID: "10657001", SrcTerminalID: o.dest}
	if s != nil {
		d.SetReport(&cmpp.Report{MsgID: o.msgID, Stat: o.stat, DestTerminalID: o.dest}, s.Version())
		if _, err := s.SendWait(s.Context(), d); err == nil {
			return
		}
	}
	r.mu.Lock()
	if r.sp != s && r.sp != nil { // a new session came meanwhile
		r.mu.Unlock()
		r.report(o)
		return
	}
	r.pending = append(r.pending, o)
	r.mu.Unlock()
}

// The simulators' records, written by their libraries over loopback and
// joined: a clean run counts every message once; a run whose SP
// connection dropped between a submit_sm and its SUBMIT_RESP shows the
// resend, the duplicate it caused (the protocol's, counted apart) and no
// loss.
func TestRecordsOfRealSimulators(t *testing.T) {
	for _, tc := range []struct {
		name   string
		dropAt int
		long   bool
		coding smstext.Coding
		runs   int
	}{
		{"clean", 0, false, smstext.ASCII, 40},
		{"long ucs2", 0, true, smstext.UCS2, 10},
		{"drop before ack", 17, false, smstext.GBK, 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			smscRec, err := record.Create(filepath.Join(dir, "smsc.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			scfg := smscsim.DefaultConfig()
			scfg.ReceiptDelay = time.Millisecond
			scfg.Record = smscRec
			scfg.Logger = cmpptest.Logger(t)
			smsc, err := smscsim.New(scfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := smsc.Start("127.0.0.1:0"); err != nil {
				t.Fatal(err)
			}
			gw := startRelay(t, smsc.Addr(), tc.dropAt)

			spRec, err := record.Create(filepath.Join(dir, "sp.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			cfg := spsim.DefaultConfig()
			cfg.Addr, cfg.SPID, cfg.Secret = gw.Addr, cmpptest.SourceAddr, cmpptest.Secret
			cfg.Total, cfg.Window, cfg.Connections = tc.runs, 4, 2
			cfg.Coding, cfg.Long = tc.coding, tc.long
			cfg.WaitReports, cfg.ReportTimeout = true, 30*time.Second
			cfg.ReconnectTimeout, cfg.ReconnectWait = time.Minute, time.Millisecond
			cfg.Record = spRec
			cfg.Logger = cmpptest.Logger(t)
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			res, err := spsim.Run(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := spRec.Close(); err != nil {
				t.Fatal(err)
			}
			if err := smsc.Close(); err != nil {
				t.Fatal(err)
			}
			if err := smscRec.Close(); err != nil {
				t.Fatal(err)
			}

			c := check.New()
			for _, f := range []string{"sp.jsonl", "smsc.jsonl"} {
				if err := c.AddFile(filepath.Join(dir, f)); err != nil {
					t.Fatal(err)
				}
			}
			// Every SUBMIT the drop left unanswered is resent; those the
			// relay had already delivered arrive twice.
			rep, err := c.Report(check.Limits{MaxDuplicates: int(res.Resent)})
			if err != nil {
				t.Fatal(err)
			}
			n := &rep.Total
			subs := int(res.Submitted - res.Resent) // SUBMITs, one per key
			if n.Sent != subs || n.Acked != subs || n.Delivered != subs || n.Lost != 0 || n.ReportsMissing != 0 ||
				n.Reports != subs || n.ReportsExpected != subs || n.MsgIDsReused != 0 || n.Resent != int(res.Resent) ||
				n.Duplicated != n.DuplicatedAfterResend || n.Duplicated > n.Resent || n.ReportsUnknown > n.Duplicated ||
				n.Reconnects != int(res.Reconnects) || rep.SMSC.Unkeyed != 0 || rep.SMSC.Foreign != 0 || !rep.OK() || !rep.Runs[0].Ended {
				t.Fatalf("check %+v\nsmsc %+v failures %q\nspsim %+v", *n, rep.SMSC, rep.Failures, res)
			}
			// The SUBMIT the relay delivered and then dropped is resent and
			// delivered again. (The report of its first copy, if it came in
			// time, names a Msg_Id the SP never had: an unknown report.)
			if tc.dropAt > 0 && (n.Resent < 1 || n.Duplicated < 1 || n.Reconnects != 1) {
				t.Fatalf("after the drop: %+v", *n)
			}
			if tc.dropAt == 0 && (n.Resent != 0 || n.Duplicated != 0) {
				t.Fatalf("clean run: %+v", *n)
			}
		})
	}
}
