package smstext

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestSplitBoundaries(t *testing.T) {
	zh := func(n int) string { return strings.Repeat("中", n) }
	tests := []struct {
		name   string
		c      Coding
		text   string
		method ConcatMethod
		sizes  []int // Data length of each segment
	}{
		{"ucs2 70 single", UCS2, zh(70), ConcatUDH8, []int{140}},
		{"ucs2 71 udh8", UCS2, zh(71), ConcatUDH8, []int{134, 8}},
		{"ucs2 71 udh16", UCS2, zh(71), ConcatUDH16, []int{132, 10}},
		{"ucs2 71 sar", UCS2, zh(71), ConcatSAR, []int{134, 8}},
		{"ucs2 134 exactly two", UCS2, zh(134), ConcatUDH8, []int{134, 134}},
		{"ucs2 135 three", UCS2, zh(135), ConcatUDH8, []int{134, 134, 2}},
		{"gsm7 160 single", GSM7, strings.Repeat("a", 160), ConcatUDH8, []int{160}},
		{"gsm7 161 udh8", GSM7, strings.Repeat("a", 161), ConcatUDH8, []int{153, 8}},
		{"gsm7 161 udh16", GSM7, strings.Repeat("a", 161), ConcatUDH16, []int{152, 9}},
		{"gsm7 escapes count as two", GSM7, strings.Repeat("€", 80), ConcatUDH8, []int{160}},
		{"gsm7 escapes 81", GSM7, strings.Repeat("€", 81), ConcatUDH8, []int{152, 10}},
		{"binary 140 single", Binary, strings.Repeat("\xff", 140), ConcatUDH8, []int{140}},
		{"binary 141 udh8", Binary, strings.Repeat("\xff", 141), ConcatUDH8, []int{134, 7}},
		{"binary 141 udh16", Binary, strings.Repeat("\xff", 141), ConcatUDH16, []int{133, 8}},
		{"ascii 141", ASCII, strings.Repeat("x", 141), ConcatSAR, []int{134, 7}},
		{"latin1 141", Latin1, strings.Repeat("é", 141), ConcatUDH8, []int{134, 7}},
		{"gbk 70 single", GBK, zh(70), ConcatUDH8, []int{140}},
		{"gbk 71", GBK, zh(71), ConcatUDH8, []int{134, 8}},
		{"empty", UCS2, "", ConcatUDH8, []int{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			segs, err := SplitText(tt.text, tt.c, SplitOptions{Method: tt.method, Ref: 0x1234})
			if err != nil {
				t.Fatal(err)
			}
			if len(segs) != len(tt.sizes) {
				t.Fatalf("%d segments, want %d", len(segs), len(tt.sizes))
			}
			for i, s := range segs {
				if len(s.Data) != tt.sizes[i] {
					t.Errorf("segment %d: %d octets, want %d", i+1, len(s.Data), tt.sizes[i])
				}
				checkSegment(t, tt.c, tt.method, segs, i)
			}
		})
	}
}

// checkSegment verifies the header, numbering and that the segment decodes
// on its own (no split surrogate, escape or multi-byte character).
func checkSegment(t *testing.T, c Coding, m ConcatMethod, segs []Segment, i int) {
	t.Helper()
	s := segs[i]
	if s.Seq != uint8(i+1) || int(s.Total) != len(segs) {
		t.Fatalf("segment %d: seq %d total %d", i+1, s.Seq, s.Total)
	}
	if len(segs) == 1 {
		if s.UDH != nil || s.Ref != 0 {
			t.Fatalf("single segment has UDH %x ref %d", s.UDH, s.Ref)
		}
	} else {
		switch m {
		case ConcatSAR:
			if s.UDH != nil {
				t.Fatalf("SAR segment has UDH %x", s.UDH)
			}
		default:
			h, rest, err := ParseUDH(s.Bytes())
			if err != nil {
				t.Fatalf("segment %d UDH: %v", i+1, err)
			}
			if h.Concat.Seq != s.Seq || h.Concat.Total != s.Total || h.Concat.Ref != s.Ref || h.Concat.Ref16 != (m == ConcatUDH16) || !bytes.Equal(rest, s.Data) {
				t.Fatalf("segment %d: UDH %+v vs %+v", i+1, h.Concat, s)
			}
		}
	}
	if c != Binary {
		if _, err := Decode(c, s.Data); err != nil {
			t.Fatalf("segment %d does not decode alone: %v", i+1, err)
		}
	}
}

func TestSplitKeepsCharactersWhole(t *testing.T) {
	tests := []struct {
		name  string
		c     Coding
		text  string
		first int
	}{
		// 66 units then a surrogate pair: 132+4 > 134, the pair moves on.
		{"ucs2 surrogate pair", UCS2, strings.Repeat("a", 66) + "😀" + strings.Repeat("b", 10), 132},
		{"ucs2 pair fits", UCS2, strings.Repeat("a", 65) + "😀" + strings.Repeat("b", 10), 134},
		{"gsm7 escape pair", GSM7, strings.Repeat("a", 152) + "€" + strings.Repeat("b", 10), 152},
		{"gsm7 escape fits", GSM7, strings.Repeat("a", 151) + "€" + strings.Repeat("b", 10), 153},
		{"gbk double byte", GBK, strings.Repeat("a", 133) + "中文中文", 133},
		{"gbk double byte fits", GBK, strings.Repeat("a", 132) + "中文中文中", 134},
		{"all emoji", UCS2, strings.Repeat("😀", 40), 132},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			segs, err := SplitText(tt.text, tt.c, SplitOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(segs) < 2 || len(segs[0].Data) != tt.first {
				t.Fatalf("first segment %d octets (of %d segments), want %d", len(segs[0].Data), len(segs), tt.first)
			}
			var text strings.Builder
			for i := range segs {
				checkSegment(t, tt.c, ConcatUDH8, segs, i)
				s, _ := Decode(tt.c, segs[i].Data)
				text.WriteString(s)
			}
			if text.String() != tt.text {
				t.Fatalf("segments decode to %q", text.String())
			}
		})
	}
	// A GB18030 four-byte character from a peer stays whole too.
	four := append(bytes.Repeat([]byte{'a'}, 132), 0x94, 0x39, 0xFC, 0x36, 'z', 'z', 'z', 'z', 'z')
	segs, err := Split(four, GBK, SplitOptions{})
	if err != nil || len(segs[0].Data) != 132 {
		t.Fatalf("gb18030 four-byte: %v, first %d", err, len(segs[0].Data))
	}
}

func TestSplitRefAndMethods(t *testing.T) {
	p := bytes.Repeat([]byte{1}, 300)
	segs, err := Split(p, Binary, SplitOptions{Method: ConcatUDH8, Ref: 0x1234})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range segs {
		if s.Ref != 0x34 || !bytes.Equal(s.UDH, []byte{5, 0, 3, 0x34, 3, s.Seq}) {
			t.Fatalf("udh8 segment %+v", s)
		}
	}
	segs, err = Split(p, Binary, SplitOptions{Method: ConcatUDH16, Ref: 0x1234})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range segs {
		if s.Ref != 0x1234 || !bytes.Equal(s.UDH, []byte{6, 8, 4, 0x12, 0x34, 3, s.Seq}) {
			t.Fatalf("udh16 segment %+v", s)
		}
	}
	// Appending to one segment's Data or UDH must not touch the next.
	_ = append(segs[0].Data, 0xEE)
	_ = append(segs[0].UDH, 0xEE)
	if segs[1].Data[0] != 1 || segs[1].UDH[0] != 6 {
		t.Fatal("segments share writable capacity")
	}
}

func TestSplitErrors(t *testing.T) {
	long := bytes.Repeat([]byte{'a'}, 134*3+1)
	tests := []struct {
		name    string
		payload []byte
		c       Coding
		opts    SplitOptions
		is      error
	}{
		{"too many segments", long, Binary, SplitOptions{MaxSegments: 3}, ErrTooManySegments},
		{"over 255", bytes.Repeat([]byte{'a'}, 134*255+1), Binary, SplitOptions{}, ErrTooManySegments},
		{"odd ucs2", []byte{0, 'a', 0}, UCS2, SplitOptions{}, ErrBadPayload},
		{"unknown coding", []byte("a"), Coding(0), SplitOptions{}, ErrUnknownCoding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Split(tt.payload, tt.c, tt.opts); !errors.Is(err, tt.is) {
				t.Fatalf("err = %v, want %v", err, tt.is)
			}
		})
	}
	for _, opts := range []SplitOptions{{MaxSegments: 256}, {MaxSegments: -1}, {Limit: -1}, {Method: 9}, {Limit: 3}} {
		if _, err := Split([]byte("abcd"), UCS2, opts); err == nil {
			t.Errorf("Split with %+v: no error", opts)
		}
	}
	// Exactly 255 segments is fine.
	segs, err := Split(bytes.Repeat([]byte{'a'}, 134*255), Binary, SplitOptions{})
	if err != nil || len(segs) != 255 || segs[254].Total != 255 {
		t.Fatalf("255 segments: %v", err)
	}
}

func TestSplitLimit(t *testing.T) {
	segs, err := SplitText(strings.Repeat("中", 10), UCS2, SplitOptions{Limit: 7})
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) != 4 || len(segs[0].Data) != 6 || len(segs[3].Data) != 2 {
		t.Fatalf("limit 7 (6 for ucs2): %d segments, first %d", len(segs), len(segs[0].Data))
	}
	// Limit above the standard capacity changes nothing.
	segs, _ = SplitText(strings.Repeat("中", 71), UCS2, SplitOptions{Limit: 1000})
	if len(segs) != 2 || len(segs[0].Data) != 134 {
		t.Fatalf("limit 1000: %d segments", len(segs))
	}
}

// The golden vectors carry the first segment of a two-part message. Split
// with a Limit equal to that segment reproduces the UDH+payload bytes from
// the vector's text, and the bytes sit in the PDU where they belong.
func TestSplitGoldenVectors(t *testing.T) {
	cmpp := loadVectors(t, "cmpp_vectors.json")
	smpp := loadVectors(t, "smpp_vectors.json")
	const second = "第二段"

	t.Run("submit_v30_long_part1_udh", func(t *testing.T) {
		v := mustVector(t, cmpp, "submit_v30_long_part1_udh")
		text := v.str(t, "text_utf8")
		udh := v.hexInput(t, "UDH_hex")
		segs, err := SplitText(text+second, UCS2, SplitOptions{Method: ConcatUDH8, Ref: uint16(udh[3]), Limit: 2 * len([]rune(text))})
		if err != nil {
			t.Fatal(err)
		}
		got := segs[0].Bytes()
		want := v.hexInput(t, "Msg_Content_hex")
		if !bytes.Equal(got, want) || !bytes.Equal(segs[0].UDH, udh) {
			t.Fatalf("segment 1 = %x, want %x", got, want)
		}
		if int(segs[0].Total) != v.num(t, "Pk_total") || int(segs[0].Seq) != v.num(t, "Pk_number") || len(got) != v.num(t, "Msg_Length") {
			t.Fatalf("Pk_total/Pk_number/Msg_Length mismatch: %+v", segs[0])
		}
		// Msg_Length octet followed by Msg_Content in the PDU.
		if !bytes.Contains(v.pdu(t), append([]byte{byte(len(got))}, got...)) {
			t.Fatal("content not found in PDU")
		}
		// The receiving side parses it back.
		part, err := SegmentFromUD(want)
		if err != nil || part.Ref != 0xA5 || part.Total != 2 || part.Seq != 1 {
			t.Fatalf("SegmentFromUD = %+v, %v", part, err)
		}
		if s, _ := Decode(UCS2, part.Data); s != text {
			t.Fatalf("decoded %q", s)
		}
	})

	t.Run("submit_sm_ucs2_udh_part1", func(t *testing.T) {
		v := mustVector(t, smpp, "submit_sm_ucs2_udh_part1")
		text := v.str(t, "text_utf8")
		segs, err := SplitText(text+second, UCS2, SplitOptions{Ref: 0xA5, Limit: 12})
		if err != nil {
			t.Fatal(err)
		}
		got := segs[0].Bytes()
		if !bytes.Equal(got, v.hexInput(t, "short_message_hex")) || !bytes.Equal(segs[0].UDH, v.hexInput(t, "UDH_hex")) {
			t.Fatalf("segment 1 = %x", got)
		}
		if len(got) != v.num(t, "sm_length") || !bytes.HasSuffix(v.pdu(t), append([]byte{byte(len(got))}, got...)) {
			t.Fatal("short_message not at the end of the PDU")
		}
	})

	t.Run("submit_sm_ucs2_sar_part1", func(t *testing.T) {
		v := mustVector(t, smpp, "submit_sm_ucs2_sar_part1")
		text := v.str(t, "text_utf8")
		segs, err := SplitText(text+second, UCS2, SplitOptions{Method: ConcatSAR, Ref: uint16(v.num(t, "tlv_sar_msg_ref_num(0x020C,2)")), Limit: 12})
		if err != nil {
			t.Fatal(err)
		}
		s := segs[0]
		if s.UDH != nil {
			t.Fatalf("SAR segment has UDH %x", s.UDH)
		}
		if int(s.Total) != v.num(t, "tlv_sar_total_segments(0x020E,1)") || int(s.Seq) != v.num(t, "tlv_sar_segment_seqnum(0x020F,1)") {
			t.Fatalf("segment %+v", s)
		}
		// sm_length, short_message, then the three sar TLVs as the gateway
		// would append them from Ref/Total/Seq.
		var want []byte
		want = append(want, byte(len(s.Data)))
		want = append(want, s.Data...)
		want = binary.BigEndian.AppendUint16(want, 0x020C)
		want = binary.BigEndian.AppendUint16(want, 2)
		want = binary.BigEndian.AppendUint16(want, s.Ref)
		want = append(want, 0x02, 0x0E, 0, 1, s.Total, 0x02, 0x0F, 0, 1, s.Seq)
		if !bytes.HasSuffix(v.pdu(t), want) {
			t.Fatalf("PDU tail %x, want %x", v.pdu(t)[len(v.pdu(t))-len(want):], want)
		}
	})

	t.Run("gosmpp_deliver_sm_udh_ucs2", func(t *testing.T) {
		v := mustVector(t, smpp, "gosmpp_deliver_sm_udh_ucs2")
		text := v.str(t, "short_message_utf8")
		udh := v.hexInput(t, "UDH_hex")
		segs, err := SplitText(text+" (2)", UCS2, SplitOptions{Ref: uint16(udh[3]), Limit: 2 * len([]rune(text))})
		if err != nil {
			t.Fatal(err)
		}
		got := segs[0].Bytes()
		if !bytes.Equal(segs[0].UDH, udh) || len(got) != v.num(t, "sm_length") {
			t.Fatalf("segment 1 = %x", got)
		}
		if !bytes.HasSuffix(v.pdu(t), append([]byte{byte(len(got))}, got...)) {
			t.Fatalf("segment 1 %x not at the end of the PDU", got)
		}
		// And reassembling the two parts gives the text back.
		r := newTestReassembler(t)
		now := time.Unix(0, 0)
		for _, i := range []int{1, 0} {
			part, err := SegmentFromUD(segs[i].Bytes())
			if err != nil {
				t.Fatal(err)
			}
			msg, done, err := r.Add("Alicer|Bobo|254|2", part, now)
			if err != nil || done != (i == 0) {
				t.Fatalf("Add part %d: done=%v err=%v", i+1, done, err)
			}
			if done {
				if s, _ := Decode(UCS2, msg); s != text+" (2)" {
					t.Fatalf("reassembled %q", s)
				}
			}
		}
	})
}

func TestSplitReassembleRandomOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	texts := []struct {
		c    Coding
		text string
	}{
		{UCS2, strings.Repeat("长短信测试😀，", 40)},
		{GBK, strings.Repeat("长短信测试ABC，", 40)},
		{GSM7, strings.Repeat("Hello {world} €5 @home. ", 30)},
		{ASCII, strings.Repeat("plain ascii text ", 40)},
		{Latin1, strings.Repeat("café crème ", 40)},
	}
	for _, tt := range texts {
		for _, m := range []ConcatMethod{ConcatUDH8, ConcatUDH16, ConcatSAR} {
			t.Run(tt.c.String()+"/"+m.String(), func(t *testing.T) {
				segs, err := SplitText(tt.text, tt.c, SplitOptions{Method: m, Ref: uint16(rng.Uint32())})
				if err != nil {
					t.Fatal(err)
				}
				if len(segs) < 3 {
					t.Fatalf("only %d segments", len(segs))
				}
				// Shuffle and add duplicates of a few parts.
				order := rng.Perm(len(segs))
				order = append(order, order[0], order[len(order)/2])
				rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
				r := newTestReassembler(t)
				now := time.Unix(1000, 0)
				var got []byte
				for _, i := range order {
					part := segs[i]
					if m != ConcatSAR {
						part, err = SegmentFromUD(segs[i].Bytes())
						if err != nil {
							t.Fatal(err)
						}
					}
					msg, done, err := r.Add("src|dst", part, now)
					if err != nil {
						t.Fatal(err)
					}
					if done {
						if got != nil {
							t.Fatal("completed twice")
						}
						got = msg
					}
				}
				if got == nil {
					t.Fatal("never completed")
				}
				if s, err := Decode(tt.c, got); err != nil || s != tt.text {
					t.Fatalf("reassembled %q, %v", s, err)
				}
			})
		}
	}
}

func TestSplitReassembleMissingPart(t *testing.T) {
	segs, err := SplitText(strings.Repeat("中", 300), UCS2, SplitOptions{Ref: 7})
	if err != nil {
		t.Fatal(err)
	}
	r := newTestReassembler(t)
	t0 := time.Unix(5000, 0)
	for i, s := range segs {
		if i == 2 {
			continue
		}
		if _, done, err := r.Add("k", s, t0.Add(time.Duration(i)*time.Second)); err != nil || done {
			t.Fatalf("Add %d: done=%v err=%v", i+1, done, err)
		}
	}
	if got := r.Expire(t0.Add(time.Minute - time.Nanosecond)); len(got) != 0 {
		t.Fatalf("expired early: %+v", got)
	}
	got := r.Expire(t0.Add(time.Minute))
	if len(got) != 1 {
		t.Fatalf("Expire returned %d sets", len(got))
	}
	in := got[0]
	if in.Key != "k" || in.Ref != 7 || int(in.Total) != len(segs) || len(in.Parts) != len(segs)-1 || !in.First.Equal(t0) {
		t.Fatalf("incomplete = %+v", in)
	}
	if miss := in.Missing(); len(miss) != 1 || miss[0] != 3 {
		t.Fatalf("missing = %v", miss)
	}
	for _, p := range in.Parts {
		if !bytes.Equal(p.Data, segs[p.Seq-1].Data) {
			t.Fatalf("part %d data differs", p.Seq)
		}
	}
	if r.Len() != 0 {
		t.Fatalf("Len = %d after expiry", r.Len())
	}
}
