package spsim

import (
	"context"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/cmpp/cmpptest"
)

// BenchmarkRun measures a whole run on loopback against a CMPP server
// that acks and reports every SUBMIT: b.N messages over 2 connections with
// a window of 16 each, waiting for all reports.
func BenchmarkRun(b *testing.B) {
	gen := cmpp.NewMsgIDGenerator(1, time.Now, time.Time{})
	srv := cmpptest.NewServer(b, cmpp.HandlerFunc(func(s *cmpp.Session, h cmpp.Header, req cmpp.PDU) {
		sub, ok := req.(*cmpp.Submit)
		if !ok {
			return
		}
		id := gen.Next()
		_ = s.Reply(h, &cmpp.SubmitResp{MsgID: id})
		d := &cmpp.Deliver{MsgID: gen.Next(), SrcTerminalID: sub.DestTerminalIDs[0]}
		d.SetReport(&cmpp.Report{MsgID: id, Stat: cmpp.StatDelivered}, s.Version())
		_, _ = s.SendWait(s.Context(), d)
	}))
	cfg := DefaultConfig()
	cfg.Addr = srv.Addr
	cfg.SPID, cfg.Secret = cmpptest.SourceAddr, cmpptest.Secret
	cfg.Connections = 2
	cfg.Total = b.N
	cfg.WaitReports = true
	cfg.Seed = 1
	b.ReportAllocs()
	b.ResetTimer()
	res, err := Run(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if res.Reports != uint64(b.N) {
		b.Fatalf("%d reports of %d", res.Reports, b.N)
	}
	b.ReportMetric(res.Throughput, "acked/s")
	b.ReportMetric(float64(res.SubmitLatency.P99.Microseconds()), "p99-resp-µs")
}
