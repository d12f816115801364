package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/cmpp/cmpptest"
	"github.com/tandem-sms/tandem/sim/record"
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

// -reconnect-timeout rides out a dropped connection (the summary counts
// the reconnect and the resends) and -record keeps the ledger.
func TestRunReconnectAndRecord(t *testing.T) {
	var (
		mu sync.Mutex
		n  int
	)
	gen := cmpp.NewMsgIDGenerator(1, time.Now, time.Time{})
	srv := cmpptest.NewServer(t, cmpp.HandlerFunc(func(s *cmpp.Session, h cmpp.Header, req cmpp.PDU) {
		sub, ok := req.(*cmpp.Submit)
		if !ok {
			return
		}
		mu.Lock()
		n++
		k := n
		mu.Unlock()
		if k == 4 {
			_ = s.Close() // the gateway drops the connection, SUBMIT unanswered
			return
		}
		id := gen.Next()
		_ = s.Reply(h, &cmpp.SubmitResp{MsgID: id})
		d := &cmpp.Deliver{MsgID: gen.Next(), DestID: sub.SrcID, SrcTerminalID: sub.DestTerminalIDs[0]}
		d.SetReport(&cmpp.Report{MsgID: id, Stat: cmpp.StatDelivered, DestTerminalID: sub.DestTerminalIDs[0]}, s.Version())
		_, _ = s.SendWait(s.Context(), d)
	}))
	path := filepath.Join(t.TempDir(), "sp.jsonl")
	out, err := runArgs(t, srv.Addr, "-n", "10", "-window", "1", "-wait-reports", "-reconnect-timeout", "30s", "-reconnect-wait", "1ms", "-record", path, "-run-id", "00c0ffee")
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	for _, want := range []string{"acked                10", "reports              10", "reconnects            1   resent 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	counts := map[string]int{}
	if _, err := record.ReadFile(path, func(e *record.Event) error {
		counts[e.Ev]++
		if e.Key != "" && !strings.HasPrefix(e.Key, "00c0ffee-") {
			t.Errorf("key %q not of run 00c0ffee", e.Key)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if counts[record.EvRun] != 1 || counts[record.EvSubmit] != 11 || counts[record.EvAck] != 10 || counts[record.EvReport] != 10 ||
		counts[record.EvNoResp] != 1 || counts[record.EvConn] != 2 || counts[record.EvEnd] != 1 {
		t.Fatalf("record events %v", counts)
	}
	// Without -reconnect-timeout the same drop ends the run.
	mu.Lock()
	n = 0
	mu.Unlock()
	if _, err := runArgs(t, srv.Addr, "-n", "10", "-window", "1"); err == nil || !strings.Contains(err.Error(), "connection(s) lost") {
		t.Fatalf("without reconnects: %v", err)
	}
}

func TestRecordFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-reconnect-timeout", "-1s"},
		{"-reconnect-timeout", "1s", "-reconnect-wait", "0s"},
		{"-reconnect-timeout", "1s", "-reconnect-wait", "2s", "-reconnect-max-wait", "1s"},
		{"-run-id", "XYZ"},
	} {
		err := run(context.Background(), args, &bytes.Buffer{}, &bytes.Buffer{})
		if !errors.Is(err, errUsage) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
	srv := newISMG(t, false)
	_, err := runArgs(t, srv.Addr, "-n", "1", "-record", filepath.Join(t.TempDir(), "no", "such", "dir", "x.jsonl"))
	if err == nil || !strings.Contains(err.Error(), "-record") {
		t.Fatalf("unwritable record: %v", err)
	}
}

// -addr a,b: the nodes of one gateway. Connections start at the first; the
// first node drops the SP and a reconnect logs in at the second, which
// takes the rest of the run.
func TestRunAddrList(t *testing.T) {
	var (
		mu   sync.Mutex
		n    int
		atB  int
		drop = true
	)
	first := cmpptest.NewServer(t, cmpp.HandlerFunc(func(s *cmpp.Session, h cmpp.Header, req cmpp.PDU) {
		if _, ok := req.(*cmpp.Submit); !ok {
			return
		}
		mu.Lock()
		n++
		k, d := n, drop
		mu.Unlock()
		if d && k == 4 {
			_ = s.Close() // the node dies with this SUBMIT unanswered
			return
		}
		_ = s.Reply(h, &cmpp.SubmitResp{MsgID: uint64(k)})
	}))
	gen := cmpp.NewMsgIDGenerator(2, time.Now, time.Time{})
	second := cmpptest.NewServer(t, cmpp.HandlerFunc(func(s *cmpp.Session, h cmpp.Header, req cmpp.PDU) {
		if _, ok := req.(*cmpp.Submit); !ok {
			return
		}
		mu.Lock()
		atB++
		drop = false // the first node "restarted": never again the first's drop
		mu.Unlock()
		_ = s.Reply(h, &cmpp.SubmitResp{MsgID: gen.Next()})
	}))
	out, err := runArgs(t, first.Addr+","+second.Addr, "-n", "10", "-window", "1", "-report", "0",
		"-reconnect-timeout", "30s", "-reconnect-wait", "1ms")
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	if !strings.Contains(out, "acked                10") || !strings.Contains(out, "reconnects            1   resent 1") {
		t.Fatalf("summary:\n%s", out)
	}
	mu.Lock()
	defer mu.Unlock()
	if n != 4 || atB != 7 {
		t.Fatalf("SUBMITs: %d at the first node, %d at the second; want 4 (the 4th unanswered) and 7 (it resent, then the rest)", n, atB)
	}
}

func TestAddrListErrors(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:1,", ",127.0.0.1:1", "127.0.0.1:1,,127.0.0.1:2"} {
		if _, err := runArgs(t, addr, "-n", "1"); !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "-addr") {
			t.Errorf("-addr %q: %v, want a usage error naming -addr", addr, err)
		}
	}
}
