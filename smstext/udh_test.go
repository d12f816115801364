package smstext

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestParseUDH(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		concat ConcatInfo
		ies    int
		rest   string
	}{
		{"8-bit ref", "050003a50201 957f", ConcatInfo{Ref: 0xA5, Total: 2, Seq: 1}, 1, "957f"},
		{"16-bit ref", "060804beef0302 41", ConcatInfo{Ref: 0xBEEF, Total: 3, Seq: 2, Ref16: true}, 1, "41"},
		{"no concat, port IE", "0605040b8423f0 ff", ConcatInfo{}, 1, "ff"},
		{"unknown IE kept before concat", "0a 7002abcd 050401020304 00", ConcatInfo{}, 2, "00"},
		{"ports then concat", "0b 05040b8423f0 00030a0301 aa", ConcatInfo{Ref: 10, Total: 3, Seq: 1}, 2, "aa"},
		{"last concat wins", "0a 00030103 01 0003020202 bb", ConcatInfo{Ref: 2, Total: 2, Seq: 2}, 2, "bb"},
		{"empty header", "00 41", ConcatInfo{}, 0, "41"},
		{"header only", "050003010101", ConcatInfo{Ref: 1, Total: 1, Seq: 1}, 1, ""},
		{"zero-length IE", "02 2400 41", ConcatInfo{}, 1, "41"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := unhex(t, strings.ReplaceAll(tt.in, " ", ""))
			h, rest, err := ParseUDH(in)
			if err != nil {
				t.Fatalf("ParseUDH: %v", err)
			}
			if h.Concat != tt.concat || len(h.IEs) != tt.ies || !bytes.Equal(rest, unhex(t, tt.rest)) {
				t.Fatalf("got %+v rest %x", h, rest)
			}
			if got := h.Append(nil); !bytes.Equal(got, in[:len(in)-len(rest)]) {
				t.Fatalf("Append = %x, want %x", got, in[:len(in)-len(rest)])
			}
			if h.Len() != len(in)-len(rest) {
				t.Fatalf("Len = %d", h.Len())
			}
		})
	}
}

func TestParseUDHErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		msg  string
	}{
		{"empty", "", "smstext: bad user data header: empty user data, no UDHL"},
		{"UDHL beyond length", "0500030102", "smstext: bad user data header: UDHL 5 exceeds user data length 4"},
		{"IEDL beyond header", "03 0005 01", "smstext: bad user data header: IEI 0x00 IEDL 5 exceeds header (1 octets left)"},
		{"truncated IE", "01 00", "smstext: bad user data header: truncated IE at header offset 0"},
		{"concat IEDL mismatch", "06 0004 01020301", "smstext: bad user data header: IEI 0x00 IEDL 4, want 3"},
		{"concat16 IEDL mismatch", "05 0803 010203", "smstext: bad user data header: IEI 0x08 IEDL 3, want 4"},
		{"total 0", "050003010001", "smstext: bad user data header: IEI 0x00 total segments 0"},
		{"seq 0", "050003010200", "smstext: bad user data header: IEI 0x00 sequence 0 outside 1..2"},
		{"seq beyond total", "06080400010203", "smstext: bad user data header: IEI 0x08 sequence 3 outside 1..2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ParseUDH(unhex(t, strings.ReplaceAll(tt.in, " ", "")))
			if !errors.Is(err, ErrBadUDH) || err.Error() != tt.msg {
				t.Fatalf("err = %v, want %q", err, tt.msg)
			}
			if _, err := SegmentFromUD(unhex(t, strings.ReplaceAll(tt.in, " ", ""))); !errors.Is(err, ErrBadUDH) {
				t.Fatalf("SegmentFromUD err = %v", err)
			}
		})
	}
}

func TestSegmentFromUD(t *testing.T) {
	ud := unhex(t, "050003fe0302 0041")
	s, err := SegmentFromUD(ud)
	if err != nil {
		t.Fatal(err)
	}
	if s.Ref != 0xFE || s.Total != 3 || s.Seq != 2 || !bytes.Equal(s.Data, []byte{0, 0x41}) || !bytes.Equal(s.UDH, ud[:6]) {
		t.Fatalf("got %+v", s)
	}
	if !bytes.Equal(s.Bytes(), ud) {
		t.Fatalf("Bytes = %x", s.Bytes())
	}
	// A header without concatenation is a whole message.
	s, err = SegmentFromUD(unhex(t, "0605040b8423f0 61"))
	if err != nil || s.Total != 1 || s.Seq != 1 || string(s.Data) != "a" {
		t.Fatalf("got %+v, %v", s, err)
	}
}
