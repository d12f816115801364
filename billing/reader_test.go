package billing

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func readAll(t testing.TB, b []byte, name string) ([]Record, error) {
	t.Helper()
	var recs []Record
	rd := NewReader(bytes.NewReader(b), name)
	for {
		r, err := rd.Read()
		if err == io.EOF {
			return recs, nil
		}
		if err != nil {
			return recs, err
		}
		recs = append(recs, r)
	}
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	writeSample(t, dir)
	var got []Record
	for _, n := range listDir(t, dir) {
		recs, err := ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, recs...)
	}
	want := sampleRecords()
	if !reflect.DeepEqual(got, want) {
		for i := range min(len(got), len(want)) {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Errorf("record %d:\n got %+v\nwant %+v", i, got[i], want[i])
			}
		}
		t.Fatalf("round trip: %d records, want %d", len(got), len(want))
	}
}

// TestRoundTripEdgeValues covers extremes of every typed field and text that
// needs quoting.
func TestRoundTripEdgeValues(t *testing.T) {
	recs := []Record{
		{Kind: KindReport, Direction: DirFwdIn, MsgID: ^uint64(0), FeeUserType: 255, Segments: 255,
			SegmentNo: 255, MsgFmt: 255, Length: ^uint32(0),
			SubmitTime: time.Date(1, 1, 1, 0, 0, 0, 1e6, time.UTC), DoneTime: time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC)},
		{Kind: KindMO, SPID: `\.`, ServiceID: " lead", FeeType: "\t", FeeCode: `""`, FeeTerminalID: "a\rb",
			Src: "x\ny", Dest: "é,中", FinalStatus: "\x00", SMSCMsgID: "\"", HandlingGateway: "a\r\n"},
	}
	var b []byte
	b = append(b, Header...)
	for i := range recs {
		var err error
		if b, err = recs[i].AppendCSV(b); err != nil {
			t.Fatal(err)
		}
	}
	got, err := readAll(t, b, "edge")
	if err != nil {
		t.Fatal(err)
	}
	recs[1].HandlingGateway = "a\n" // CSV readers turn CRLF inside a field into LF
	if !reflect.DeepEqual(got, recs) {
		t.Fatalf("got  %+v\nwant %+v", got, recs)
	}
}

// TestAppendCSVQuotesLikeEncodingCSV compares the hand-written encoder with
// encoding/csv's Writer field by field.
func TestAppendCSVQuotesLikeEncodingCSV(t *testing.T) {
	for _, s := range []string{"", "a", "a,b", `a"b`, "a\nb", "a\rb", " a", "\ta", "\u00a0a", `\.`, `\..`,
		"中文", "\x00", `"`, "a ", "\xff"} {
		var want bytes.Buffer
		cw := csv.NewWriter(&want)
		if err := cw.Write([]string{s}); err != nil {
			t.Fatal(err)
		}
		cw.Flush()
		got := append(appendField(nil, s), '\n')
		if !bytes.Equal(got, want.Bytes()) {
			t.Errorf("appendField(%q) = %q, encoding/csv writes %q", s, got, want.Bytes())
		}
	}
}

func TestReaderMapsColumnsByName(t *testing.T) {
	// Reordered columns plus one this version does not know.
	in := "msg_length,future,kind,direction,msg_id,msg_id_hex,sp_id,service_id,fee_user_type,fee_type,fee_code," +
		"fee_terminal_id,src,dest,pk_total,pk_number,submit_time,done_time,final_status,handling_gateway," +
		"prev_gateway,next_gateway,smsc_msg_id,msg_fmt\n" +
		"7,zzz,MO,LOCAL,255,00000000000000ff,901234,,0,,,,1380,1065,1,1,,,DELIVRD,001001,,,,0\n"
	got, err := readAll(t, []byte(in), "v2.csv")
	if err != nil {
		t.Fatal(err)
	}
	want := []Record{{Kind: KindMO, MsgID: 255, SPID: "901234", Src: "1380", Dest: "1065", Segments: 1,
		SegmentNo: 1, FinalStatus: "DELIVRD", HandlingGateway: "001001", Length: 7}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func TestReaderErrors(t *testing.T) {
	good := "MT,LOCAL,1,0000000000000001,901234,S,0,02,10,,1065,138,1,1,2026-11-22T14:00:00.000Z,,DELIVRD,001001,,,,8,10"
	repl := func(old, new string) string { return Header + strings.Replace(good, old, new, 1) + "\n" }
	for _, tc := range []struct {
		name, in string
		want     string // substring of the error text
		cause    error
	}{
		{"empty", "", "f.csv:1: empty file", nil},
		{"no header", good + "\n", `f.csv:1: header lacks column "kind"`, nil},
		{"duplicate column", "kind,kind\n", `f.csv:1:6: header repeats column "kind"`, nil},
		{"bad kind", repl("MT,", "XX,"), `f.csv:2:1: column kind: unknown kind "XX"`, nil},
		{"bad direction", repl("LOCAL", "SIDEWAYS"), `f.csv:2:4: column direction: unknown direction`, nil},
		{"bad msg_id", repl(",1,", ",-1,"), `f.csv:2:10: column msg_id: "-1" is not a decimal number`, nil},
		{"msg_id overflow", repl(",1,", ",18446744073709551616,"), "column msg_id", nil},
		{"hex mismatch", repl("0000000000000001", "0000000000000002"), "column msg_id_hex: 0000000000000002 does not match msg_id 1", nil},
		{"hex short", repl("0000000000000001", "1"), `column msg_id_hex: "1" is not 16 hex digits`, nil},
		{"hex junk", repl("0000000000000001", "000000000000000g"), `column msg_id_hex`, nil},
		{"fee_user_type", repl(",0,02", ",256,02"), `column fee_user_type: "256"`, nil},
		{"pk_total", repl(",1,1,", ",x,1,"), "column pk_total", nil},
		{"pk_number", repl(",1,1,", ",1,+1,"), "column pk_number", nil},
		{"msg_fmt", repl(",8,10", ", 8,10"), "column msg_fmt", nil},
		{"msg_length", repl(",8,10", ",8,4294967296"), "column msg_length", nil},
		{"time zone", repl(".000Z", ".000+08:00"), "column submit_time", nil},
		{"time no millis", repl("2026-11-22T14:00:00.000Z", "2026-11-22T14:00:00Z"), "column submit_time", nil},
		{"time range", repl("2026-11-22T14", "2026-11-32T14"), "column submit_time", nil},
		{"done_time", repl(",,DELIVRD", ",yesterday,DELIVRD"), "column done_time", nil},
		{"field count", Header + "MT,LOCAL\n", "f.csv:2:1: wrong number of fields", csv.ErrFieldCount},
		{"bare quote", Header + strings.Replace(good, "S", `S"S`, 1) + "\n", "f.csv:2:", csv.ErrBareQuote},
		{"open quote", Header + strings.Replace(good, ",S,", `,"S,`, 1) + "\n", "f.csv:2:", csv.ErrQuote},
		{"too long", Header + `MT,LOCAL,1,"` + strings.Repeat("x", MaxRecordSize+bufSlack), "f.csv:2: record longer", ErrRecordTooLong},
		{"long but under the bound", Header + `MT,LOCAL,1,"` + strings.Repeat("x", MaxRecordSize), "f.csv:2:", csv.ErrQuote},
		{"line after multi-line field", Header + strings.Replace(good, ",S,", ",\"S\nT\",", 1) + "\n" + good + "\n" +
			strings.Repeat("y", 2*MaxRecordSize), "f.csv:5: record longer", ErrRecordTooLong},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs, err := readAll(t, []byte(tc.in), "f.csv")
			if err == nil {
				t.Fatalf("no error; records %+v", recs)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("error %v does not match ErrMalformed", err)
			}
			if tc.cause != nil && !errors.Is(err, tc.cause) {
				t.Errorf("error %v does not match %v", err, tc.cause)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q lacks %q", err, tc.want)
			}
			var pe *ParseError
			if !errors.As(err, &pe) || pe.File != "f.csv" || pe.Line < 1 {
				t.Errorf("error %#v is not a located *ParseError", err)
			}
		})
	}
}

func TestReaderErrorIsSticky(t *testing.T) {
	rd := NewReader(strings.NewReader(Header+"MT,X\nMT,X\n"), "f")
	_, err1 := rd.Read()
	_, err2 := rd.Read()
	if err1 == nil || err1 != err2 {
		t.Fatalf("errors %v then %v, want the same error twice", err1, err2)
	}
}

func TestReadFileMissing(t *testing.T) {
	_, err := ReadFile(filepath.Join(t.TempDir(), "nope.csv"))
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "nope.csv") {
		t.Fatalf("ReadFile of a missing file = %v", err)
	}
}

// TestFormatExample keeps the example in FORMAT.md parseable and right.
func TestFormatExample(t *testing.T) {
	doc, err := os.ReadFile("FORMAT.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```\n"+Header)
	if !ok {
		t.Fatal("FORMAT.md has no example block starting with the header")
	}
	body, _, _ := strings.Cut(rest, "```")
	recs, err := readAll(t, []byte(Header+body), "FORMAT.md")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].MsgID != 0xA7B9E14134FD0001 || recs[1].ServiceID != "A,B" ||
		recs[1].NextGateway != "020001" || recs[1].Direction != DirFwdOut {
		t.Fatalf("FORMAT.md example reads as %+v", recs)
	}
	// And the writer produces exactly those lines.
	var b []byte
	for i := range recs {
		b, _ = recs[i].AppendCSV(b)
	}
	if string(b) != body {
		t.Fatalf("FORMAT.md example is not canonical:\n%s\nwriter:\n%s", body, b)
	}
}

// FuzzReadRecord: the reader never panics or over-allocates, and whatever it
// accepts survives write → read unchanged.
func FuzzReadRecord(f *testing.F) {
	files, _ := filepath.Glob("testdata/golden/*.csv")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(Header))
	f.Add([]byte(""))
	f.Add([]byte(Header + "MO,FWD_IN,1,0000000000000001,,\"a\r\nb\",0,,,,,,0,0,,,,,,,,0,0\n"))
	f.Add([]byte("kind\nMT\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := readAll(t, b, "fuzz")
		if err != nil {
			var pe *ParseError
			if errors.As(err, &pe) && (pe.Line < 1 || pe.File != "fuzz") {
				t.Fatalf("badly located error %#v", pe)
			}
		}
		out := []byte(Header)
		for i := range recs {
			var aerr error
			if out, aerr = recs[i].AppendCSV(out); aerr != nil {
				t.Fatalf("accepted record %+v does not encode: %v", recs[i], aerr)
			}
		}
		again, err := readAll(t, out, "again")
		if err != nil {
			t.Fatalf("re-read of %q: %v", out, err)
		}
		if len(again) != len(recs) {
			t.Fatalf("re-read %d records, want %d", len(again), len(recs))
		}
		for i := range recs {
			if !reflect.DeepEqual(again[i], recs[i]) {
				t.Fatalf("record %d changed:\n%+v\n%+v", i, recs[i], again[i])
			}
		}
	})
}
