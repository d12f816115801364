package check

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/sim/record"
)

var t0 = time.Date(2026, 11, 22, 14, 30, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// lines encodes events as a record file.
func lines(evs ...record.Event) []byte {
	var b []byte
	for i := range evs {
		b = evs[i].Append(b)
	}
	return b
}

const runA, runB = "aaaaaaaa", "bbbbbbbb"

func key(run string, n uint64) string { return record.Key(run, n, 1, 1) }

func sub(run string, n uint64, ms int) record.Event {
	return record.Event{Ev: record.EvSubmit, T: at(ms), Key: key(run, n), Dest: "13800138000", Conn: 1}
}

func ack(run string, n, id uint64, ms int) record.Event {
	return record.Event{Ev: record.EvAck, T: at(ms), Key: key(run, n), MsgID: id, Dest: "13800138000", SubmitT: at(ms - 1)}
}

func rpt(id uint64, stat string) record.Event {
	return record.Event{Ev: record.EvReport, T: at(900), MsgID: id, Stat: stat}
}

func acc(k string) record.Event {
	return record.Event{Ev: record.EvAccept, T: at(500), SMSCID: "x" + k, Key: k, Dest: "13800138000", RD: 1}
}

func rcpt(k string) record.Event {
	return record.Event{Ev: record.EvReceipt, T: at(600), SMSCID: "x" + k, Key: k, Stat: "DELIVRD"}
}

// The crafted run: every fate a message can meet, each once.
var (
	spFileA = lines(
		record.Event{Ev: record.EvRun, T: at(0), Tool: record.ToolSPSim, Run: runA, SP: "901234", RD: 1},
		rpt(1, "DELIVRD"),                    // a report recorded ahead of its ack
		sub(runA, 0, 1), ack(runA, 0, 1, 10), // clean
		sub(runA, 1, 2), ack(runA, 1, 2, 20), rpt(2, "DELIVRD"), // the SMSC got it twice: the gateway's duplicate
		sub(runA, 2, 3), record.Event{Ev: record.EvNoResp, T: at(4), Key: key(runA, 2), Err: "closed", Resend: true},
		record.Event{Ev: record.EvConn, T: at(5), Conn: 1, State: record.StateLost},
		record.Event{Ev: record.EvConn, T: at(1205), Conn: 1, State: record.StateUp},
		record.Event{Ev: record.EvSubmit, T: at(1206), Key: key(runA, 2), Dest: "13800138000", Conn: 1, Resend: true},
		ack(runA, 2, 3, 1210), rpt(3, "DELIVRD"), rpt(3, "DELIVRD"), // resent, delivered twice, reported twice
		sub(runA, 3, 6), ack(runA, 3, 4, 1220), // lost
		sub(runA, 4, 7), ack(runA, 4, 5, 1230), rpt(5, "UNDELIV"), // lost, but the gateway said so
		sub(runA, 5, 8), ack(runA, 5, 6, 1240), // delivered and receipted; no report at the SP
		sub(runA, 6, 9), ack(runA, 6, 7, 1250), // delivered, never receipted
		sub(runA, 7, 10), record.Event{Ev: record.EvReject, T: at(11), Key: key(runA, 7), Result: 8},
		sub(runA, 8, 12), record.Event{Ev: record.EvNoResp, T: at(13), Key: key(runA, 8), Err: "timeout"}, // unanswered, delivered
		// key 9 was delivered but its spsim died before recording it
		rpt(999, "DELIVRD"), // unknown
		record.Event{Ev: record.EvEnd, T: at(2000)},
	)
	spFileB = lines(
		record.Event{Ev: record.EvRun, T: at(0), Tool: record.ToolSPSim, Run: runB, SP: "901235"}, // no reports asked
		sub(runB, 0, 1), ack(runB, 0, 1, 10), // Msg_Id 1 again: reused
		sub(runB, 1, 2), // in flight when spsim was killed: no end line
	)
	smscFile = lines(
		record.Event{Ev: record.EvRun, T: at(0), Tool: record.ToolSMSCSim, Run: "cccccccc", SystemID: "smscsim"},
		acc(key(runA, 0)), rcpt(key(runA, 0)),
		acc(key(runA, 1)), acc(key(runA, 1)), rcpt(key(runA, 1)),
		acc(key(runA, 2)), acc(key(runA, 2)), rcpt(key(runA, 2)),
		acc(key(runA, 5)), rcpt(key(runA, 5)),
		acc(key(runA, 6)),
		acc(key(runA, 8)),
		acc(key(runA, 9)),
		acc(key(runB, 0)),
		acc(""), // no key: someone else's traffic
		acc(key("dddddddd", 1)),
		record.Event{Ev: record.EvReceiptFailed, T: at(700), SMSCID: "x", Key: key(runA, 6), Err: "refused"},
	)
)

func crafted(t *testing.T) *Checker {
	t.Helper()
	c := New()
	// The SMSC's file first: the join does not depend on the order.
	torn := append(bytes.Clone(smscFile), `{"ev":"acc","t":"2026-11-22T14:3`...)
	for _, f := range []struct {
		name string
		b    []byte
	}{{"smsc.jsonl", torn}, {"sp-a.jsonl", spFileA}, {"sp-b.jsonl", spFileB}} {
		if err := c.Add(bytes.NewReader(f.b), f.name); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func TestJoinCrafted(t *testing.T) {
	rep, err := crafted(t).Report(Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := Counts{
		Sent: 12, Submits: 12, Resent: 1, // A: 10 keys (9 recorded + 1 seen only at the SMSC), 10 SUBMITs; B: 2
		Acked: 8, Rejected: 1, Unanswered: 3,
		Delivered: 8, DeliveredUnacked: 2,
		Duplicated: 2, DuplicatedAfterResend: 1, DuplicateCopies: 2,
		Lost: 2, LostWithReport: 1,
		ReportsExpected: 5, Reports: 3, ReportsMissing: 2, ReportsMissingNoReceipt: 1,
		ReportsRepeated: 1, ReportsUnknown: 1,
		MsgIDsReused: 1,
		Reconnects:   1, LongestAckGap: 1190 * time.Millisecond, AckGapFrom: at(20),
	}
	if rep.Total != want {
		t.Fatalf("total\n got %+v\nwant %+v", rep.Total, want)
	}
	if len(rep.Runs) != 2 || rep.Runs[0].Run != runA || !rep.Runs[0].Ended || rep.Runs[1].Run != runB || rep.Runs[1].Ended ||
		rep.Runs[1].Sent != 2 || rep.Runs[1].Acked != 1 || rep.Runs[1].ReportsExpected != 0 || rep.Runs[1].Delivered != 1 {
		t.Fatalf("runs %+v", rep.Runs)
	}
	if rep.SMSC != (SMSCCounts{Runs: 1, Accepted: 12, Unkeyed: 1, Foreign: 1, Receipts: 4, ReceiptsFailed: 1}) {
		t.Fatalf("smsc %+v", rep.SMSC)
	}
	if rep.Files[0].Path != "smsc.jsonl" || rep.Files[0].Tool != record.ToolSMSCSim || rep.Files[0].Torn == nil || rep.Files[0].Torn.Line != 19 ||
		rep.Files[1].Torn != nil || rep.Files[1].Runs != 1 || rep.Files[2].Events != 4 {
		t.Fatalf("files %+v", rep.Files)
	}
	wantFail := []string{"lost 2", "reports missing 2", "duplicated 2 (at most 0 allowed)", "Msg_Ids reused 1"}
	if strings.Join(rep.Failures, "|") != strings.Join(wantFail, "|") || rep.OK() {
		t.Fatalf("failures %q", rep.Failures)
	}
	if rep, _ := crafted(t).Report(Limits{MaxDuplicates: 2}); len(rep.Failures) != 3 {
		t.Fatalf("with 2 duplicates allowed: %q", rep.Failures)
	}

	var out bytes.Buffer
	if err := rep.Print(&out); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		"2 spsim run(s) in 2 file(s), 1 smscsim run(s) in 1 file(s)",
		"sent                    12   (12 SUBMITs, 1 keys resent)",
		"duplicated               2   (1 after an SP resend; 2 extra copies)",
		"lost                     2   (1 with a failure report)",
		"reports missing          2   (1 never receipted by the SMSC)",
		"longest ack gap 1.19s (from 14:30:00.020 UTC)",
		"note: smsc.jsonl: torn last line 19",
		"note: run bbbbbbbb (sp-b.jsonl) has no end line",
		"aaaaaaaa  901234",
		"verdict: FAIL: lost 2, reports missing 2, duplicated 2 (at most 0 allowed), Msg_Ids reused 1",
	} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("output lacks %q:\n%s", s, out.String())
		}
	}
	out.Reset()
	if err := rep.WriteJSON(&out); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(out.Bytes(), &back); err != nil || back.Total != rep.Total || len(back.Runs) != 2 || back.SMSC != rep.SMSC {
		t.Fatalf("json round trip: %v\n%s", err, out.String())
	}
	// Report counts without changing what it counts from.
	again, _ := crafted(t).Report(Limits{})
	if again.Total != want {
		t.Fatalf("second report differs: %+v", again.Total)
	}
}

func TestCleanRunPasses(t *testing.T) {
	c := New()
	sp := lines(record.Event{Ev: record.EvRun, T: at(0), Tool: record.ToolSPSim, Run: runA, RD: 1},
		sub(runA, 0, 1), ack(runA, 0, 1, 2), rpt(1, "DELIVRD"), record.Event{Ev: record.EvEnd, T: at(3)})
	smsc := lines(record.Event{Ev: record.EvRun, T: at(0), Tool: record.ToolSMSCSim, Run: "cccccccc"}, acc(key(runA, 0)), rcpt(key(runA, 0)))
	_ = c.Add(bytes.NewReader(sp), "sp")
	_ = c.Add(bytes.NewReader(smsc), "smsc")
	rep, err := c.Report(Limits{})
	if err != nil || !rep.OK() || rep.Total.Sent != 1 || rep.Total.Reports != 1 {
		t.Fatalf("%+v %v", rep, err)
	}
	var out bytes.Buffer
	_ = rep.Print(&out)
	if !strings.HasSuffix(out.String(), "verdict: ok\n") || strings.Contains(out.String(), "RUN ") {
		t.Fatalf("output:\n%s", out.String())
	}
}

func TestCheckErrors(t *testing.T) {
	sp := lines(record.Event{Ev: record.EvRun, T: at(0), Tool: record.ToolSPSim, Run: runA})
	smsc := lines(record.Event{Ev: record.EvRun, T: at(0), Tool: record.ToolSMSCSim, Run: "cccccccc"})
	c := New()
	_ = c.Add(bytes.NewReader(smsc), "smsc")
	if _, err := c.Report(Limits{}); !errors.Is(err, ErrNoSPRecord) {
		t.Fatalf("no SP record: %v", err)
	}
	c = New()
	_ = c.Add(bytes.NewReader(sp), "sp")
	if _, err := c.Report(Limits{}); !errors.Is(err, ErrNoSMSCRecord) {
		t.Fatalf("no SMSC record: %v", err)
	}
	if err := c.Add(bytes.NewReader(sp), "sp-again"); err == nil || !strings.Contains(err.Error(), "run aaaaaaaa already read from sp") {
		t.Fatalf("same run twice: %v", err)
	}
	for name, b := range map[string][]byte{
		"before run":   lines(sub(runA, 0, 1)),
		"mixed tools":  append(bytes.Clone(smsc), lines(record.Event{Ev: record.EvRun, T: at(0), Tool: record.ToolSPSim, Run: runB})...),
		"unknown tool": lines(record.Event{Ev: record.EvRun, T: at(0), Tool: "curl", Run: runB}),
		"bad run id":   lines(record.Event{Ev: record.EvRun, T: at(0), Tool: record.ToolSPSim, Run: "XYZ"}),
		"bad line":     []byte("{\"ev\":\"sub\"}\n"),
	} {
		if err := New().Add(bytes.NewReader(b), name); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v, want an error naming the file", name, err)
		}
	}
	if err := New().AddFile(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}
