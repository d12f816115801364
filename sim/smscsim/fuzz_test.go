package smscsim

import (
	"testing"
	"unicode/utf8"

	"github.com/tandem-sms/tandem/smpp"
)

// FuzzParseStatusMix: no input panics, and what parses formats back to
// something that parses to the same mix.
func FuzzParseStatusMix(f *testing.F) {
	for _, s := range []string{"DELIVRD=98,UNDELIV=2", "delivrd=1", "EXPIRED=0,REJECTD=5,", "=", "DELIVRD=99999999999999999999", ",,,", "UNKNOWN=1, ACCEPTD=2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		mix, err := ParseStatusMix(s)
		if err != nil {
			return
		}
		again, err := ParseStatusMix(FormatStatusMix(mix))
		if err != nil || len(again) != len(mix) {
			t.Fatalf("round trip of %q: %v %v", s, again, err)
		}
		for i := range mix {
			if mix[i] != again[i] {
				t.Fatalf("round trip of %q: %v vs %v", s, mix, again)
			}
		}
		cfg := DefaultConfig()
		cfg.StatusMix = mix
		if err := cfg.Validate(); err != nil {
			t.Fatalf("parsed mix %v does not validate: %v", mix, err)
		}
	})
}

// FuzzReceiptText: any content, coding and esm_class gives at most 20
// printable ASCII characters, and the receipt built around it parses back.
func FuzzReceiptText(f *testing.F) {
	f.Add([]byte("hello world, a longer text than twenty"), uint8(0), uint8(0))
	f.Add([]byte{5, 0, 3, 1, 2, 1, 0, 'h', 0, 'i'}, uint8(8), uint8(0x40))
	f.Add([]byte{0xff, 0xfe, 0x1b}, uint8(15), uint8(0x40))
	f.Fuzz(func(t *testing.T, b []byte, dc, esm uint8) {
		sub := &Submission{ShortMessage: b, DataCoding: dc, ESMClass: esm, MessageID: "1", Number: 1}
		text := receiptText(sub)
		if len(text) > 20 || !utf8.ValidString(text) {
			t.Fatalf("text %q", text)
		}
		for i := 0; i < len(text); i++ {
			if text[i] < 0x20 || text[i] > 0x7e {
				t.Fatalf("text %q has %#x", text, text[i])
			}
		}
		r := smpp.Receipt{ID: "1", Stat: "DELIVRD", Text: text}
		got, err := smpp.ParseReceipt(r.Append(nil))
		if err != nil || got.ID != "1" || got.Stat != "DELIVRD" {
			t.Fatalf("receipt with text %q: %+v %v", text, got, err)
		}
	})
}
