package smpp

import (
	"errors"
	"testing"
	"time"
)

func TestParseReceipt(t *testing.T) {
	d := func(s string) time.Time {
		layout := "0601021504"
		if len(s) == 12 {
			layout = "060102150405"
		}
		tm, err := time.Parse(layout, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	cases := []struct {
		name string
		in   string
		want Receipt
	}{
		{"appendix B", "id:1A2B3C4D sub:001 dlvrd:001 submit date:2410151430 done date:2410151431 stat:DELIVRD err:000 text:",
			Receipt{ID: "1A2B3C4D", Sub: 1, Dlvrd: 1, SubmitDate: d("2410151430"), DoneDate: d("2410151431"), Stat: "DELIVRD", Err: "000"}},
		{"capitalised keys, seconds, text with spaces", "ID:0012345 Sub:1 DLVRD:0 Submit Date:241015143059 Done Date:241015143100 Stat:UNDELIV Err:00B Text:hello  world ",
			Receipt{ID: "0012345", Sub: 1, SubmitDate: d("241015143059"), DoneDate: d("241015143100"), Stat: "UNDELIV", Err: "00B", Text: "hello  world "}},
		{"missing fields", "id:77 stat:EXPIRED",
			Receipt{ID: "77", Stat: "EXPIRED"}},
		{"underscored dates, bad date", "id:x submit_date:2413991430 done_date:2410151431 stat:ACCEPTD",
			Receipt{ID: "x", DoneDate: d("2410151431"), Stat: "ACCEPTD"}},
		{"text holding keys", "id:5 stat:DELIVRD text:id:6 stat:REJECTD",
			Receipt{ID: "5", Stat: "DELIVRD", Text: "id:6 stat:REJECTD"}},
		{"keys only after a space", "id:ab:sub:3 sub:002",
			Receipt{ID: "ab:sub:3", Sub: 2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseReceipt([]byte(c.in))
			if err != nil {
				t.Fatal(err)
			}
			if !receiptEqual(got, c.want) {
				t.Fatalf("got  %+v\nwant %+v", got, c.want)
			}
			again, err := ParseReceipt([]byte(got.Format()))
			if err != nil || !receiptEqual(again, got) {
				t.Fatalf("format round trip: %q -> %+v (%v)", got.Format(), again, err)
			}
		})
	}
	if _, err := ParseReceipt([]byte("hello world")); !errors.Is(err, ErrNotReceipt) {
		t.Fatalf("plain text: err = %v", err)
	}
}

func receiptEqual(a, b Receipt) bool {
	return a.ID == b.ID && a.Sub == b.Sub && a.Dlvrd == b.Dlvrd && a.SubmitDate.Equal(b.SubmitDate) &&
		a.DoneDate.Equal(b.DoneDate) && a.Stat == b.Stat && a.Err == b.Err && a.Text == b.Text
}

func TestReceiptFormatAppendixB(t *testing.T) {
	r := Receipt{ID: "1A2B3C4D", Sub: 1, Dlvrd: 1,
		SubmitDate: time.Date(2024, 10, 15, 14, 30, 0, 0, time.UTC),
		DoneDate:   time.Date(2024, 10, 15, 14, 31, 0, 0, time.UTC),
		Stat:       StatDelivered, Err: "000"}
	want := "id:1A2B3C4D sub:001 dlvrd:001 submit date:2410151430 done date:2410151431 stat:DELIVRD err:000 text:"
	if got := r.Format(); got != want {
		t.Fatalf("Format\n got %q\nwant %q", got, want)
	}
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() { buf = r.Append(buf[:0]) }); n != 0 {
		t.Fatalf("Append allocs = %v", n)
	}
}

func TestParseDeliverReceipt(t *testing.T) {
	text := []byte("id:0000001234 sub:001 dlvrd:000 submit date:2410151430 done date:2410151431 stat:UNDELIV err:001 text:x")
	// TLVs win over text.
	p := &DeliverSM{ESMClass: ESMClassReceipt, ShortMessage: text}
	p.TLVs.SetReceiptedMessageID("4d2")
	p.TLVs.SetMessageState(StateDelivered)
	info, err := ParseDeliverReceipt(p)
	if err != nil || info.MessageID != "4d2" || info.State != StateDelivered || !info.FromTLV || info.Receipt.Stat != "UNDELIV" {
		t.Fatalf("with TLVs: %+v %v", info, err)
	}
	// Text only.
	p = &DeliverSM{ESMClass: ESMClassReceipt, ShortMessage: text}
	if !p.IsReceipt() {
		t.Fatal("IsReceipt")
	}
	info, err = ParseDeliverReceipt(p)
	if err != nil || info.MessageID != "0000001234" || info.State != StateUndeliverable || info.FromTLV {
		t.Fatalf("text only: %+v %v", info, err)
	}
	// Text in message_payload.
	p = &DeliverSM{ESMClass: ESMClassReceipt}
	p.TLVs.SetMessagePayload([]byte("id:9 stat:EXPIRED"))
	if info, err = ParseDeliverReceipt(p); err != nil || info.MessageID != "9" || info.State != StateExpired {
		t.Fatalf("payload: %+v %v", info, err)
	}
	// Nothing to go on.
	if _, err := ParseDeliverReceipt(&DeliverSM{ShortMessage: []byte("hi")}); !errors.Is(err, ErrNoReceiptID) {
		t.Fatalf("err = %v", err)
	}
}

func TestNormalizeMessageID(t *testing.T) {
	cases := []struct {
		in   string
		mode IDMode
		want string
		err  bool
	}{
		{"0A1b", IDAsIs, "0A1b", false},
		{"4D2", IDHexToDec, "1234", false},
		{"0000001234", IDDecToHex, "4d2", false},
		{"0000004D2", IDCanonical, "4d2", false},
		{"000", IDCanonical, "0", false},
		{"xyz", IDHexToDec, "", true},
		{"12a", IDDecToHex, "", true},
		{"1", IDMode(9), "", true},
	}
	for _, c := range cases {
		got, err := NormalizeMessageID(c.in, c.mode)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("NormalizeMessageID(%q, %d) = %q, %v; want %q", c.in, c.mode, got, err, c.want)
		}
	}
	// The §5.2 item 8 case: hex in submit_sm_resp, zero-padded decimal in the receipt.
	a, _ := NormalizeMessageID("0000001234", IDDecToHex)
	b, _ := NormalizeMessageID("04D2", IDCanonical)
	if a != b {
		t.Errorf("%q != %q", a, b)
	}
}
