package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/cmpp/cmpptest"
	"github.com/tandem-sms/tandem/sim/check"
	"github.com/tandem-sms/tandem/sim/record"
	"github.com/tandem-sms/tandem/sim/simtest"
)

var t0 = time.Date(2026, 11, 22, 14, 30, 0, 0, time.UTC)

func writeRecord(t *testing.T, path string, evs ...record.Event) {
	t.Helper()
	var b []byte
	for i := range evs {
		b = evs[i].Append(b)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// records writes an SP record of n messages (acked, reported) and an SMSC
// record that delivered the first `delivered` of them, one of them twice
// when dup is set.
func records(t *testing.T, dir string, n, delivered int, dup bool) {
	t.Helper()
	sp := []record.Event{{Ev: record.EvRun, T: t0, Tool: record.ToolSPSim, Run: "aaaaaaaa", SP: "901234", RD: 1}}
	smsc := []record.Event{{Ev: record.EvRun, T: t0, Tool: record.ToolSMSCSim, Run: "cccccccc", SystemID: "smscsim"}}
	for i := range n {
		k := record.Key("aaaaaaaa", uint64(i), 1, 1)
		id := uint64(1000 + i)
		sp = append(sp,
			record.Event{Ev: record.EvSubmit, T: t0, Key: k, Dest: "13800138000", Conn: 1},
			record.Event{Ev: record.EvAck, T: t0.Add(time.Duration(i) * time.Millisecond), Key: k, MsgID: id},
			record.Event{Ev: record.EvReport, T: t0, MsgID: id, Stat: "DELIVRD"})
		if i < delivered {
			smsc = append(smsc, record.Event{Ev: record.EvAccept, T: t0, SMSCID: "x", Key: k})
			if dup && i == 0 {
				smsc = append(smsc, record.Event{Ev: record.EvAccept, T: t0, SMSCID: "y", Key: k})
			}
		}
	}
	sp = append(sp, record.Event{Ev: record.EvEnd, T: t0})
	writeRecord(t, filepath.Join(dir, "sp.jsonl"), sp...)
	writeRecord(t, filepath.Join(dir, "smsc.jsonl"), smsc...)
}

func runCheck(args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestExitStatuses(t *testing.T) {
	clean, lost, dup := t.TempDir(), t.TempDir(), t.TempDir()
	records(t, clean, 5, 5, false)
	records(t, lost, 5, 4, false)
	records(t, dup, 5, 5, true)

	out, _, err := runCheck(clean) // a directory: its *.jsonl files
	if err != nil || !strings.Contains(out, "verdict: ok") || !strings.Contains(out, "sent                     5") {
		t.Fatalf("clean: %v\n%s", err, out)
	}
	out, _, err = runCheck(filepath.Join(lost, "sp.jsonl"), filepath.Join(lost, "smsc.jsonl"))
	if !errors.Is(err, errFailed) || !strings.Contains(out, "verdict: FAIL: lost 1") {
		t.Fatalf("lost: %v\n%s", err, out)
	}
	if _, _, err = runCheck(dup); !errors.Is(err, errFailed) || !strings.Contains(err.Error(), "duplicated 1") {
		t.Fatalf("duplicate: %v", err)
	}
	if _, _, err = runCheck("-max-duplicates", "1", dup); err != nil {
		t.Fatalf("duplicate allowed: %v", err)
	}
	out, _, err = runCheck("-o", "json", lost)
	var rep check.Report
	if !errors.Is(err, errFailed) || json.Unmarshal([]byte(out), &rep) != nil || rep.Total.Lost != 1 || rep.Failures[0] != "lost 1" {
		t.Fatalf("json: %v\n%s", err, out)
	}

	for _, args := range [][]string{nil, {"-o", "xml", clean}, {"-max-duplicates", "-1", clean}, {"-x"}} {
		if _, _, err := runCheck(args...); !errors.Is(err, errUsage) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
	empty := t.TempDir()
	for name, args := range map[string][]string{
		"missing file":   {filepath.Join(empty, "nope.jsonl")},
		"empty dir":      {empty},
		"only SP record": {filepath.Join(clean, "sp.jsonl")},
	} {
		if _, _, err := runCheck(args...); err == nil || errors.Is(err, errUsage) || errors.Is(err, errFailed) {
			t.Errorf("%s: %v, want an input error", name, err)
		}
	}
	if _, errOut, err := runCheck("-h"); err != nil || !strings.Contains(errOut, "-max-duplicates") {
		t.Fatalf("-h: %v %q", err, errOut)
	}
}

// buildSims builds the simulator commands into a temporary directory.
func buildSims(t *testing.T) (spsim, smscsim string) {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"spsim", "smscsim"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name), "github.com/tandem-sms/tandem/cmd/"+name)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", name, err, out)
		}
	}
	return filepath.Join(dir, "spsim"), filepath.Join(dir, "smscsim")
}

// The commands as the fault tests run them: an smscsim and an spsim
// process, each with -record, meet through a relay gateway that drops the
// SP's connection once between a delivery and its SUBMIT_RESP; spsim
// reconnects and resends, and tandem-check counts every message delivered,
// none lost, every report back.
func TestSimulatorProcesses(t *testing.T) {
	spsimBin, smscBin := buildSims(t)
	dir := t.TempDir()
	smsc := exec.Command(smscBin, "-listen", "127.0.0.1:0", "-delay", "1ms", "-stats", "0", "-log-level", "warn",
		"-record", filepath.Join(dir, "smsc.jsonl"))
	smsc.Stderr = t.Output()
	stdout, err := smsc.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := smsc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = smsc.Process.Kill(); _ = smsc.Wait() })
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "smscsim: listening on "); ok {
				addrc <- strings.Fields(a)[0]
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	var smscAddr string
	select {
	case smscAddr = <-addrc:
	case <-time.After(cmpptest.Timeout):
		t.Fatal("smscsim is not listening")
	}

	gw := simtest.StartRelay(t, smscAddr, 30)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	sp := exec.CommandContext(ctx, spsimBin, "-addr", gw.Addr, "-sp-id", cmpptest.SourceAddr, "-secret", cmpptest.Secret,
		"-n", "200", "-conns", "2", "-window", "8", "-wait-reports", "-reconnect-timeout", "30s", "-reconnect-wait", "10ms",
		"-record", filepath.Join(dir, "sp.jsonl"), "-log-level", "warn")
	sp.Stderr = t.Output()
	out, err := sp.Output()
	if err != nil {
		t.Fatalf("spsim: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "reconnects            1") || !strings.Contains(string(out), "acked               200") {
		t.Fatalf("spsim summary:\n%s", out)
	}
	if err := smsc.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := smsc.Wait(); err != nil {
		t.Fatalf("smscsim: %v", err)
	}

	// The SUBMITs the drop caught are resent: those the relay had
	// delivered arrive twice, which the window bounds.
	text, _, err := runCheck("-max-duplicates", "16", dir)
	if err != nil {
		t.Fatalf("tandem-check: %v\n%s", err, text)
	}
	for _, want := range []string{"sent                   200", "acked                  200", "delivered              200",
		"lost                     0", "reports                200   of 200 expected", "reports missing          0", "verdict: ok"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	t.Logf("tandem-check output:\n%s", text)
}
