package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/billing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// goldenDir holds CDR files written by billing's own golden test.
var goldenDir = filepath.Join("..", "..", "billing", "testdata", "golden")

func TestReportGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"sp_table", nil},
		{"day_table", []string{"-by", "day"}},
		{"gateway_table", []string{"-by", "gateway"}},
		{"day_json", []string{"-by", "day", "-o", "json"}},
		{"sp_csv", []string{"-o", "csv"}},
		{"gateway_csv", []string{"-by", "gateway", "-o", "csv"}},
		{"peer_table", []string{"-by", "peer"}},
		{"peer_csv", []string{"-by", "peer", "-o", "csv"}},
		{"day22_table", []string{"-from", "2026-11-22", "-to", "2026-11-22", "-by", "day"}},
		{"shanghai_day_table", []string{"-by", "day", "-tz", "Asia/Shanghai"}},
		{"empty_table", []string{"-from", "2030-01-01"}},
		{"empty_json", []string{"-from", "2030-01-01", "-o", "json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := append([]string{"report", "-dir", goldenDir}, tc.args...)
			if err := run(context.Background(), args, &out, &errOut); err != nil {
				t.Fatalf("run %v: %v (stderr %q)", args, err, errOut.String())
			}
			path := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Fatalf("billing %s:\n%s\nwant:\n%s", strings.Join(args, " "), out.Bytes(), want)
			}
		})
	}
}

func TestReportErrors(t *testing.T) {
	bad, badFile := badCDRDir(t)
	for _, tc := range []struct {
		name  string
		args  []string
		usage bool
		want  string
	}{
		{"no command", nil, true, "no command"},
		{"unknown command", []string{"bill"}, true, `unknown command "bill"`},
		{"unknown flag", []string{"report", "-x"}, true, "flag provided but not defined: -x"},
		{"bad by", []string{"report", "-by", "month"}, true, `-by "month"`},
		{"bad output", []string{"report", "-o", "xml"}, true, `-o "xml"`},
		{"bad from", []string{"report", "-from", "22/11/2026"}, true, `-from "22/11/2026": want YYYY-MM-DD`},
		{"bad to", []string{"report", "-to", "2026-13-01"}, true, `-to "2026-13-01"`},
		{"from after to", []string{"report", "-from", "2026-11-23", "-to", "2026-11-22"}, true, "is after -to"},
		{"bad tz", []string{"report", "-tz", "Mars/Olympus"}, true, "-tz"},
		{"stray argument", []string{"report", "extra"}, true, `unexpected argument "extra"`},
		{"missing dir", []string{"report", "-dir", filepath.Join(bad, "nope")}, false, "no such file or directory"},
		{"malformed file", []string{"report", "-dir", bad}, false, badFile + ":2:10: column msg_id"},
	} {
		t.Run(tc.name, func(t *testing.T) { runFails(t, tc.args, tc.usage, tc.want) })
	}
}

// badCDRDir is a directory with one CDR file: a record with a bad msg_id
// (line 2, column 10), then a good delivered MT.
func badCDRDir(t *testing.T) (dir, file string) {
	dir = t.TempDir()
	file = filepath.Join(dir, "cdr-001001-2026112214.csv")
	good := "MT,LOCAL,2,0000000000000002,901234,S,0,02,10,,1065,138,1,1,2026-11-22T14:00:00.000Z,,DELIVRD,001001,,,,8,10\n"
	if err := os.WriteFile(file, []byte(billing.Header+strings.Replace(good, ",2,0000", ",2x,0000", 1)+good), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, file
}

// runFails runs the command with args and checks that it fails with an
// error containing want, a usage error or not, and prints nothing on stdout.
func runFails(t *testing.T, args []string, usage bool, want string) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, &out, &errOut)
	if err == nil {
		t.Fatalf("run %v succeeded:\n%s", args, out.String())
	}
	if errors.Is(err, errUsage) != usage {
		t.Errorf("usage error = %v, want %v (%v)", errors.Is(err, errUsage), usage, err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q lacks %q", err, want)
	}
	if out.Len() != 0 {
		t.Errorf("wrote to stdout on error: %q", out.String())
	}
}

func TestHelp(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"help"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "billing report [-dir DIR]") {
		t.Fatalf("help text: %s", out.String())
	}
}

func TestCanceledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := run(ctx, []string{"report", "-dir", goldenDir}, &bytes.Buffer{}, &bytes.Buffer{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("run with canceled context = %v", err)
	}
}

// A report taken while the gateway runs (or right after a kill -9, before
// its restart) counts the open .part file: a delivered message is
// delivered, not pending, and an incomplete last record is skipped with a
// note on stderr.
func TestReportReadsOpenFile(t *testing.T) {
	dir := t.TempDir()
	cfg := billing.DefaultConfig()
	cfg.Dir, cfg.Gateway = dir, "001001"
	cfg.Now = func() time.Time { return time.Date(2026, 11, 22, 14, 10, 0, 0, time.UTC) }
	w, err := billing.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	submitted := time.Date(2026, 11, 22, 14, 9, 0, 0, time.UTC)
	for _, r := range []billing.Record{
		{Kind: billing.KindMT, MsgID: 7, SPID: "901234", FeeType: "02", FeeCode: "10", Dest: "13800100001", Segments: 1, SegmentNo: 1, SubmitTime: submitted},
		{Kind: billing.KindReport, MsgID: 7, SPID: "901234", FinalStatus: "DELIVRD", DoneTime: submitted.Add(time.Second)},
	} {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Sync(); err != nil { // synced, never closed: the gateway runs, or was killed
		t.Fatal(err)
	}
	f, err := os.OpenFile(w.Path(), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString("MT,LOCAL,8,00000000") // torn by the crash
	_ = f.Close()

	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"report", "-dir", dir, "-o", "json"}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	var sums []billing.Summary
	if err := json.Unmarshal(out.Bytes(), &sums); err != nil {
		t.Fatalf("%v:\n%s", err, out.String())
	}
	if len(sums) != 1 || sums[0].MT != 1 || sums[0].Delivered != 1 || sums[0].Pending != 0 || sums[0].FeeFen != 10 {
		t.Fatalf("report %+v: want the open file's MT delivered and charged", sums)
	}
	for _, want := range []string{w.Path() + " is open (being written, or left by a crash): 2 complete records read",
		w.Path() + ": incomplete last record skipped (line 4, 19 bytes)"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut.String())
		}
	}
}
