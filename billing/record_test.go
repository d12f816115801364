package billing

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func TestKindDirectionText(t *testing.T) {
	for _, k := range []Kind{KindMT, KindMO, KindReport} {
		b, err := k.MarshalText()
		if err != nil || string(b) != k.String() {
			t.Fatalf("%v: MarshalText %q, %v", k, b, err)
		}
		var back Kind
		if err := back.UnmarshalText(b); err != nil || back != k {
			t.Fatalf("%v: UnmarshalText %v, %v", k, back, err)
		}
	}
	for _, d := range []Direction{DirLocal, DirFwdOut, DirFwdIn} {
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		var back Direction
		if err := json.Unmarshal(b, &back); err != nil || back != d {
			t.Fatalf("%v: JSON %s back %v, %v", d, b, back, err)
		}
	}
	if s := Kind(0).String(); s != "Kind(0)" {
		t.Errorf("Kind(0) = %q", s)
	}
	if s := Direction(7).String(); s != "Direction(7)" {
		t.Errorf("Direction(7) = %q", s)
	}
	if _, err := Kind(0).MarshalText(); err == nil {
		t.Error("Kind(0) marshals")
	}
	var k Kind
	if err := k.UnmarshalText([]byte("")); err == nil {
		t.Error(`"" unmarshals as a Kind`)
	}
	var d Direction
	if err := d.UnmarshalText([]byte("local")); err == nil {
		t.Error(`"local" unmarshals as a Direction`)
	}
}

func TestAppendCSVLayout(t *testing.T) {
	r := Record{Kind: KindMT, MsgID: 0xA7B9E14134FD0001, SegmentNo: 1, Segments: 1,
		SubmitTime: time.Date(2026, 11, 22, 22, 0, 5, 123456789, time.FixedZone("CST", 8*3600))}
	b, err := r.AppendCSV([]byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	// Times go out in UTC, truncated to milliseconds; msg_id twice.
	want := "xMT,LOCAL,12085938745203556353,A7B9E14134FD0001,,,0,,,,,,1,1,2026-11-22T14:00:05.123Z,,,,,,,0,0\n"
	if string(b) != want {
		t.Fatalf("AppendCSV =\n%q\nwant\n%q", b, want)
	}
	r.Kind = 0
	if b, err := r.AppendCSV([]byte("x")); !errors.Is(err, ErrInvalidRecord) || string(b) != "x" {
		t.Fatalf("invalid record: %q, %v", b, err)
	}
}

func TestAccountingTime(t *testing.T) {
	sub := mustTime("2026-11-22T13:00:00.000Z")
	done := mustTime("2026-11-22T14:00:00.000Z")
	if got := (&Record{SubmitTime: sub}).AccountingTime(); !got.Equal(sub) {
		t.Errorf("no done time: %v", got)
	}
	if got := (&Record{SubmitTime: sub, DoneTime: done}).AccountingTime(); !got.Equal(done) {
		t.Errorf("with done time: %v", got)
	}
}

// FuzzAppendField holds the hand-written quoting to encoding/csv's Writer.
func FuzzAppendField(f *testing.F) {
	for _, s := range []string{"", "a,b", `a"b`, "a\r\nb", " x", `\.`, "\u3000x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var want bytes.Buffer
		cw := csv.NewWriter(&want)
		if err := cw.Write([]string{s, "x"}); err != nil {
			t.Fatal(err)
		}
		cw.Flush()
		got := append(appendField(nil, s), ",x\n"...)
		if !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("appendField(%q) = %q, encoding/csv %q", s, got, want.Bytes())
		}
	})
}
