package check_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/cmpp/cmpptest"
	"github.com/tandem-sms/tandem/sim/check"
	"github.com/tandem-sms/tandem/sim/record"
	"github.com/tandem-sms/tandem/sim/simtest"
	"github.com/tandem-sms/tandem/sim/smscsim"
	"github.com/tandem-sms/tandem/sim/spsim"
	"github.com/tandem-sms/tandem/smstext"
)

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
			gw := simtest.StartRelay(t, smsc.Addr(), tc.dropAt)

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
