package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/cmpp/cmpptest"
	"github.com/tandem-sms/tandem/sim/spsim"
)

// newISMG starts a CMPP server that acks every SUBMIT and, if reports is
// set, sends a DELIVRD status report for it.
func newISMG(t *testing.T, reports bool) *cmpptest.Server {
	gen := cmpp.NewMsgIDGenerator(1, time.Now, time.Time{})
	return cmpptest.NewServer(t, cmpp.HandlerFunc(func(s *cmpp.Session, h cmpp.Header, req cmpp.PDU) {
		sub, ok := req.(*cmpp.Submit)
		if !ok {
			return
		}
		id := gen.Next()
		_ = s.Reply(h, &cmpp.SubmitResp{MsgID: id})
		if !reports || sub.RegisteredDelivery != 1 {
			return
		}
		d := &cmpp.Deliver{MsgID: gen.Next(), DestID: sub.SrcID, SrcTerminalID: sub.DestTerminalIDs[0]}
		d.SetReport(&cmpp.Report{MsgID: id, Stat: cmpp.StatDelivered, DestTerminalID: sub.DestTerminalIDs[0]}, s.Version())
		_, _ = s.SendWait(s.Context(), d)
	}))
}

func runArgs(t *testing.T, addr string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var out bytes.Buffer
	base := []string{"-addr", addr, "-sp-id", cmpptest.SourceAddr, "-secret", cmpptest.Secret, "-log-level", "error"}
	err := run(ctx, append(base, args...), &out, t.Output())
	return out.String(), err
}

func TestRunSummary(t *testing.T) {
	srv := newISMG(t, true)
	out, err := runArgs(t, srv.Addr, "-n", "20", "-conns", "2", "-window", "4", "-dest", "13800138000,13800138001", "-wait-reports", "-version", "2.0", "-coding", "gbk", "-long")
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	for _, want := range []string{"20 messages, 60 SUBMITs over 2 connection(s), CMPP 2.0", "acked                60", "reports              60  DELIVRD 60", "no report             0", "submit→resp    n=60"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}

func TestRunJSON(t *testing.T) {
	srv := newISMG(t, true)
	out, err := runArgs(t, srv.Addr, "-n", "5", "-json", "-wait-reports", "-coding", "ucs2", "-text", "你好")
	if err != nil {
		t.Fatal(err)
	}
	var r spsim.Result
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if r.Acked != 5 || r.Reports != 5 || r.ReportsByStat["DELIVRD"] != 5 || r.SubmitLatency.Count != 5 {
		t.Fatalf("result %+v", r)
	}
}

func TestRunMissingReportsFails(t *testing.T) {
	srv := newISMG(t, false)
	out, err := runArgs(t, srv.Addr, "-n", "3", "-wait-reports", "-report-timeout", "20ms")
	if !errors.Is(err, errMissingReports) || !strings.Contains(err.Error(), "3 of 3") {
		t.Fatalf("err %v, want missing reports", err)
	}
	if !strings.Contains(out, "no report             3") {
		t.Fatalf("summary:\n%s", out)
	}
	// Without -wait-reports a missing report is not a failure.
	if _, err := runArgs(t, srv.Addr, "-n", "3"); err != nil {
		t.Fatal(err)
	}
}

func TestRunConnectRefused(t *testing.T) {
	srv := newISMG(t, false)
	_, err := runArgs(t, srv.Addr, "-n", "1", "-secret", "wrong")
	var ce *cmpp.ConnectError
	if !errors.As(err, &ce) || ce.Status != cmpp.ConnectAuthFailed {
		t.Fatalf("err %v, want an authentication failure", err)
	}
}

func TestFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-version", "4.0"},
		{"-coding", "ebcdic"},
		{"-conns", "0"},
		{"-n", "0"},
		{"-report", "7"},
		{"-sp-id", "1234567"},
		{"-dest-prefix", "13a"},
		{"-text", "中文"},
		{"-log-level", "loud"},
		{"stray"},
	} {
		err := run(context.Background(), args, &bytes.Buffer{}, &bytes.Buffer{})
		if !errors.Is(err, errUsage) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}

func TestHelp(t *testing.T) {
	var errOut bytes.Buffer
	if err := run(context.Background(), []string{"-h"}, &bytes.Buffer{}, &errOut); err != nil || !strings.Contains(errOut.String(), "-wait-reports") {
		t.Fatalf("-h: %v\n%s", err, errOut.String())
	}
}

// -query sends one CMPP_QUERY (totals, or -query-service) and prints the
// counters; a malformed day is a usage error.
func TestQueryFlag(t *testing.T) {
	var (
		mu  sync.Mutex
		got []cmpp.Query
	)
	srv := cmpptest.NewServer(t, cmpp.HandlerFunc(func(s *cmpp.Session, h cmpp.Header, req cmpp.PDU) {
		q, ok := req.(*cmpp.Query)
		if !ok {
			return
		}
		mu.Lock()
		got = append(got, *q)
		mu.Unlock()
		_ = s.Reply(h, &cmpp.QueryResp{Time: q.Time, QueryType: q.QueryType, QueryCode: q.QueryCode,
			MTTLMsg: 10, MTTLUsr: 7, MTScs: 8, MTWT: 1, MTFL: 1, MOScs: 2})
	}))
	out, err := runArgs(t, srv.Addr, "-query", "20261122", "-query-service", "NEWS")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CMPP_QUERY 20261122 (service NEWS)", "MT  10 messages to 7 users: 8 forwarded, 1 waiting, 1 failed", "MO  2 delivered"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	mu.Lock()
	if len(got) != 1 || got[0].QueryType != cmpp.QueryByService || got[0].QueryCode != "NEWS" {
		t.Errorf("server got %+v", got)
	}
	mu.Unlock()
	if _, err := runArgs(t, srv.Addr, "-query", "2026-11-22"); !errors.Is(err, errUsage) {
		t.Fatalf("bad day: %v, want a usage error", err)
	}
}
