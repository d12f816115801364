package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
	bad := t.TempDir()
	badFile := filepath.Join(bad, "cdr-001001-2026112213.csv")
	if err := os.WriteFile(badFile, []byte(billing.Header+
		"MT,LOCAL,1x,0000000000000001,901234,S,0,02,10,,1065,138,1,1,2026-11-22T14:00:00.000Z,,DELIVRD,001001,,,,8,10\n"), 0o644); err != nil {
		t.Fatal(err)
	}
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
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), tc.args, &out, &errOut)
			if err == nil {
				t.Fatalf("run %v succeeded:\n%s", tc.args, out.String())
			}
			if errors.Is(err, errUsage) != tc.usage {
				t.Errorf("usage error = %v, want %v (%v)", errors.Is(err, errUsage), tc.usage, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q lacks %q", err, tc.want)
			}
			if out.Len() != 0 {
				t.Errorf("wrote to stdout on error: %q", out.String())
			}
		})
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
