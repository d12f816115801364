package smpp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
	"testing/iotest"
)

func seedPDUs(f *testing.F) {
	for _, v := range loadVectors(f) {
		f.Add(mustHex(f, v.Hex), uint8(3))
	}
	for _, c := range samplePDUs() {
		f.Add(AppendPDU(nil, c.p, 1, c.status), uint8(7))
	}
}

// FuzzDecode checks that no input panics, that whatever decodes re-encodes
// and decodes to the same value, and that framing the bytes from a stream
// split into small reads gives the same PDUs as decoding them whole.
func FuzzDecode(f *testing.F) {
	seedPDUs(f)
	f.Fuzz(func(t *testing.T, b []byte, chunk uint8) {
		h, p, err := Decode(b)
		if err == nil {
			enc := AppendPDU(nil, p, h.Seq, h.Status)
			h2, p2, err := Decode(enc)
			if err != nil {
				t.Fatalf("re-decode of %x: %v", enc, err)
			}
			if h2.ID != h.ID || h2.Seq != h.Seq || h2.Status != h.Status || !reflect.DeepEqual(p, p2) {
				t.Fatalf("round trip\n in %x\nout %x\n%#v\n%#v", b, enc, p, p2)
			}
		}

		// Stream: the input twice, read in chunks of 1..16 bytes.
		stream := append(append([]byte(nil), b...), b...)
		var r io.Reader = bytes.NewReader(stream)
		if chunk%16 == 0 {
			r = iotest.OneByteReader(r)
		} else {
			r = iotest.HalfReader(r)
		}
		br := bufio.NewReaderSize(r, 16)
		wholeErr := err
		off := 0
		for range 2 {
			sh, err := ReadHeader(br, DefaultMaxPDU)
			if err != nil {
				if !errors.Is(err, ErrBadLength) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("ReadHeader: %v", err)
				}
				return
			}
			body := make([]byte, sh.Length-HeaderLen)
			if _, err := io.ReadFull(br, body); err != nil {
				return
			}
			sp, serr := DecodeBody(sh, body)
			// A frame starting at a copy of b and spanning all of it must
			// agree with the whole-buffer decode.
			if (off == 0 || off == len(b)) && int(sh.Length) == len(b) {
				if (serr == nil) != (wholeErr == nil) {
					t.Fatalf("stream decode err %v, whole decode err %v", serr, wholeErr)
				}
				if serr == nil && !reflect.DeepEqual(sp, p) {
					t.Fatalf("stream decode differs")
				}
			}
			off += int(sh.Length)
		}
	})
}

// FuzzReceipt checks the receipt parser never panics and that parse →
// format → parse is stable.
func FuzzReceipt(f *testing.F) {
	f.Add([]byte("id:1A2B3C4D sub:001 dlvrd:001 submit date:2410151430 done date:2410151431 stat:DELIVRD err:000 text:"))
	f.Add([]byte("ID:0012345 Sub:1 DLVRD:0 Submit Date:241015143059 Done Date:241015143100 Stat:UNDELIV Err:00B Text:hello  world "))
	f.Add([]byte("id:77 stat:EXPIRED"))
	f.Add([]byte("id:x submit_date:2413991430 done_date:2410151431 stat:ACCEPTD"))
	f.Add([]byte("id:5 stat:DELIVRD text:id:6 stat:REJECTD"))
	f.Add([]byte("id:ab:sub:3 sub:002"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseReceipt(b)
		if err != nil {
			return
		}
		out := r.Format()
		r2, err := ParseReceipt([]byte(out))
		if err != nil || !receiptEqual(r, r2) {
			t.Fatalf("round trip\n in %q\nout %q\n%+v\n%+v (%v)", b, out, r, r2, err)
		}
	})
}
