package billing

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const goodLine = "MT,LOCAL,1,0000000000000001,901234,S,0,02,10,,1065,138,1,1,2026-11-22T14:00:00.000Z,,DELIVRD,001001,,,,8,10\n"

// Resume skips a record whose fields do not parse, or that has the wrong
// number of fields, and goes on with the next; a broken quote stays fatal.
func TestReaderResume(t *testing.T) {
	for _, tc := range []struct {
		name    string
		bad     string
		resumes bool
	}{
		{"bad field", strings.Replace(goodLine, ",1,0000", ",1x,0000", 1), true},
		{"few fields", "MT,LOCAL,1\n", true},
		{"broken quote", "MT,\"LOCAL,1\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := Header + goodLine + tc.bad + strings.Replace(goodLine, ",1,0000000000000001,", ",2,0000000000000002,", 1)
			rd := NewReader(strings.NewReader(in), "f.csv")
			if _, err := rd.Read(); err != nil {
				t.Fatal(err)
			}
			_, err := rd.Read()
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("bad record: err %v", err)
			}
			if got := rd.Resume(); got != tc.resumes {
				t.Fatalf("Resume = %v after %v", got, err)
			}
			if !tc.resumes {
				if _, err2 := rd.Read(); err2 != err {
					t.Fatalf("after a fatal error Read = %v, want it again", err2)
				}
				return
			}
			rec, err := rd.Read()
			if err != nil || rec.MsgID != 2 {
				t.Fatalf("after Resume: %+v, %v; want Msg_Id 2", rec, err)
			}
			if rd.nextLine != 5 {
				t.Errorf("next line %d, want 5", rd.nextLine)
			}
		})
	}
}

// SummarizeDirs reads several directories (once each, however often
// named) and, with SkipBad, skips and counts bad records naming file:line.
func TestSummarizeDirsSkipBad(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	writeSample(t, a)
	bad := filepath.Join(b, "cdr-020001-2026112214.csv")
	if err := os.WriteFile(bad, []byte(Header+strings.Replace(goodLine, ",1,0000", ",1x,0000", 1)+
		strings.Replace(goodLine, "001001", "020001", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := SummarizeDirs([]string{a, b}, ReadOptions{}); err == nil || !strings.Contains(err.Error(), bad+":2:10: column msg_id") {
		t.Fatalf("strict: err %v, want %s:2:10", err, bad)
	}
	var skipped []string
	sums, info, err := SummarizeDirs([]string{a, b, a}, ReadOptions{SkipBad: func(e *ParseError) { skipped = append(skipped, e.Error()) }})
	if err != nil {
		t.Fatal(err)
	}
	want := Total(Summarize(sampleRecords()))
	got := Total(sums)
	if info.Bad != 1 || len(skipped) != 1 || !strings.Contains(skipped[0], bad+":2:10") {
		t.Fatalf("bad %d, skipped %q", info.Bad, skipped)
	}
	if got.MT != want.MT+1 || info.Files != len(listDir(t, a))+1 {
		t.Fatalf("read %d MT in %d files, want %d MT (the sample once, plus 1)", got.MT, info.Files, want.MT+1)
	}
}
