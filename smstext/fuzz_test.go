package smstext

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// vectorTexts returns every text input of the golden vectors.
func vectorTexts(tb testing.TB) []string {
	var out []string
	for _, file := range []string{"cmpp_vectors.json", "smpp_vectors.json"} {
		for _, v := range loadVectors(tb, file) {
			for _, key := range []string{"Msg_Content", "Msg_Content_utf8", "short_message_utf8", "text_utf8"} {
				if s, ok := v.Inputs[key].(string); ok {
					out = append(out, s)
				}
			}
		}
	}
	if len(out) == 0 {
		tb.Fatal("no texts in golden vectors")
	}
	return out
}

// vectorUserData returns every user-data byte string of the golden vectors
// that carries a UDH.
func vectorUserData(tb testing.TB) [][]byte {
	var out [][]byte
	for _, file := range []string{"cmpp_vectors.json", "smpp_vectors.json"} {
		for _, v := range loadVectors(tb, file) {
			for _, key := range []string{"UDH_hex", "Msg_Content_hex", "short_message_hex"} {
				if _, ok := v.Inputs[key].(string); ok {
					out = append(out, v.hexInput(tb, key))
				}
			}
		}
	}
	if len(out) == 0 {
		tb.Fatal("no UDH in golden vectors")
	}
	return out
}

func FuzzParseUDH(f *testing.F) {
	for _, ud := range vectorUserData(f) {
		f.Add(ud)
	}
	f.Add([]byte{0x06, 0x08, 0x04, 0x12, 0x34, 0x02, 0x01, 0x41})
	f.Add([]byte{0x0b, 0x05, 0x04, 0x0b, 0x84, 0x23, 0xf0, 0x00, 0x03, 0x0a, 0x03, 0x01, 0xaa})
	f.Add([]byte{0x05, 0x00, 0x03, 0x01, 0x00, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, rest, err := ParseUDH(b)
		if err != nil {
			if !errors.Is(err, ErrBadUDH) {
				t.Fatalf("error %v does not wrap ErrBadUDH", err)
			}
			return
		}
		hdr := b[:len(b)-len(rest)]
		if got := h.Append(nil); !bytes.Equal(got, hdr) {
			t.Fatalf("Append = %x, want %x", got, hdr)
		}
		if ci := h.Concat; ci.Total != 0 && (ci.Seq == 0 || ci.Seq > ci.Total) {
			t.Fatalf("accepted concat %+v", ci)
		}
		s, err := SegmentFromUD(b)
		if err != nil || !bytes.Equal(s.Bytes(), b) {
			t.Fatalf("SegmentFromUD: %+v, %v", s, err)
		}
	})
}

func FuzzDecodeGSM7(f *testing.F) {
	for _, s := range vectorTexts(f) {
		if b, err := Encode(GSM7, s); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte{0x1b, 0x65, 0x1b, 0x41, 0x00, 0x1b})
	f.Add([]byte{0x1b, 0x1b, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Decode(GSM7, b)
		if err == nil {
			enc, err := Encode(GSM7, s)
			if err != nil {
				t.Fatalf("decoded %q does not re-encode: %v", s, err)
			}
			if again, err := Decode(GSM7, enc); err != nil || again != s {
				t.Fatalf("re-decode %q, %v; want %q", again, err, s)
			}
		} else if !errors.Is(err, ErrMalformed) {
			t.Fatalf("error %v does not wrap ErrMalformed", err)
		}
		// Packing is lossless for any septets.
		septets := make([]byte, len(b))
		for i, x := range b {
			septets[i] = x & 0x7F
		}
		packed, err := PackGSM7(septets)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := UnpackGSM7(packed, len(septets)); err != nil || !bytes.Equal(back, septets) {
			t.Fatalf("pack round trip: %x, %v", back, err)
		}
		_, _ = UnpackGSM7(b, len(b)) // arbitrary n must not panic
	})
}

var fuzzCodings = [...]Coding{ASCII, GSM7, Latin1, UCS2, GBK, Binary}

func FuzzSplitReassemble(f *testing.F) {
	for i, s := range vectorTexts(f) {
		f.Add(s, uint8(i), uint8(i), uint16(i*37), uint8(0), uint64(i))
		f.Add(strings.Repeat(s, 20), uint8(i), uint8(i+1), uint16(i), uint8(13), uint64(i))
	}
	f.Add(strings.Repeat("😀a", 50), uint8(3), uint8(0), uint16(1), uint8(0), uint64(7))
	f.Add(strings.Repeat("€x", 90), uint8(1), uint8(1), uint16(2), uint8(0), uint64(8))
	f.Add(strings.Repeat("中文", 80), uint8(4), uint8(2), uint16(3), uint8(5), uint64(9))
	f.Fuzz(func(t *testing.T, s string, cs, ms uint8, ref uint16, limit uint8, seed uint64) {
		c := fuzzCodings[int(cs)%len(fuzzCodings)]
		m := ConcatMethod(ms % 3)
		payload, err := Encode(c, s)
		if err != nil {
			return // not representable in c: nothing to split
		}
		opts := SplitOptions{Method: m, Ref: ref, Limit: int(limit)}
		segs, err := Split(payload, c, opts)
		if err != nil {
			if errors.Is(err, ErrTooManySegments) || (limit > 0 && int(limit) < 4) {
				return
			}
			t.Fatalf("Split(%x, %v, %+v): %v", payload, c, opts, err)
		}
		single, segCap := Capacity(c, m)
		if limit > 0 {
			single, segCap = min(single, int(limit)), min(segCap, int(limit))
		}
		var joined []byte
		for i, sg := range segs {
			if int(sg.Seq) != i+1 || int(sg.Total) != len(segs) {
				t.Fatalf("segment %d numbered %d/%d", i+1, sg.Seq, sg.Total)
			}
			if max := segCap; (len(segs) == 1 && len(sg.Data) > single) || (len(segs) > 1 && len(sg.Data) > max) {
				t.Fatalf("segment %d: %d octets over capacity", i+1, len(sg.Data))
			}
			if c != Binary {
				if _, err := Decode(c, sg.Data); err != nil {
					t.Fatalf("segment %d does not decode alone: %v", i+1, err)
				}
			}
			joined = append(joined, sg.Data...)
		}
		if !bytes.Equal(joined, payload) {
			t.Fatal("segments do not join to the payload")
		}

		rng := rand.New(rand.NewPCG(seed, 0))
		order := rng.Perm(len(segs))
		if len(segs) > 1 {
			order = append(order, order[rng.IntN(len(order))]) // one duplicate
			rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		}
		cfg := DefaultReassemblerConfig()
		cfg.MaxParts = MaxSegments
		r, err := NewReassembler(cfg)
		if err != nil {
			t.Fatal(err)
		}
		var got []byte
		completed := 0
		for _, i := range order {
			p := segs[i]
			if p.UDH != nil {
				if p, err = SegmentFromUD(segs[i].Bytes()); err != nil {
					t.Fatal(err)
				}
			}
			msg, done, err := r.Add("k", p, time.Unix(0, 0))
			if err != nil {
				t.Fatal(err)
			}
			if done {
				completed++
				got = msg
			}
		}
		// A duplicate of a part arriving after completion opens a new set;
		// it must not complete a second time.
		if completed != 1 {
			t.Fatalf("completed %d times", completed)
		}
		if !bytes.Equal(got, payload) {
			t.Fatalf("reassembled %x, want %x", got, payload)
		}
		if text, err := Decode(c, got); err != nil || text != s {
			t.Fatalf("decoded %q, %v; want %q", text, err, s)
		}
	})
}
