package cmpp

import (
	"encoding/binary"
	"reflect"
	"strings"
	"testing"
	"time"
)

// benchSubmit is a typical MT: one destination, 140 bytes of content.
func benchSubmit() *Submit {
	return &Submit{
		PkTotal: 1, PkNumber: 1, RegisteredDelivery: 1, ServiceID: "MTEST", FeeUserType: 2,
		MsgFmt: 8, MsgSrc: "901234", FeeType: "02", FeeCode: "000010", SrcID: "10661234",
		DestTerminalIDs: []string{"13800138000"}, MsgContent: strings.Repeat("\x4f\x60", 70),
	}
}

func benchMODeliver() *Deliver {
	return &Deliver{
		MsgID: 0xA7B9F28134FD004D, DestID: "10661234", ServiceID: "MTEST", MsgFmt: 8,
		SrcTerminalID: "13800138000", MsgContent: strings.Repeat("\x4f\x60", 70),
	}
}

func benchReportDeliver() *Deliver {
	d := &Deliver{MsgID: 0xA7B9F28134FD004D, DestID: "10661234", ServiceID: "MTEST", SrcTerminalID: "13800138000"}
	d.SetReport(&Report{MsgID: 0xA7B9E14134FD0001, Stat: StatDelivered, SubmitTime: "2410151430",
		DoneTime: "2410151431", DestTerminalID: "13800138000", SMSCSequence: 12345}, V30)
	return d
}

func benchFwd() *Fwd {
	return &Fwd{
		SourceID: "001001", DestinationID: "020001", MsgFwdType: FwdMT, MsgID: 0xA7B9E14134FD0001,
		PkTotal: 1, PkNumber: 1, ServiceID: "MTEST", FeeUserType: 2, MsgFmt: 8, MsgSrc: "901234",
		FeeType: "02", FeeCode: "000010", SrcID: "10661234", DestID: "13800138000",
		MsgContent: strings.Repeat("\x4f\x60", 70),
	}
}

func benchDecode[T any, P interface {
	*T
	PDU
}](b *testing.B, src P, v Version) {
	body := src.AppendBody(nil, v)
	var p T
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := P(&p).DecodeBody(body, v); err != nil {
			b.Fatal(err)
		}
	}
}

func benchEncode(b *testing.B, p PDU, v Version) {
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendPDU(buf[:0], v, 1, p)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkDecodeSubmit30(b *testing.B) { benchDecode(b, benchSubmit(), V30) }
func BenchmarkEncodeSubmit30(b *testing.B) { benchEncode(b, benchSubmit(), V30) }
func BenchmarkDecodeSubmit20(b *testing.B) { benchDecode(b, benchSubmit(), V20) }
func BenchmarkEncodeSubmit20(b *testing.B) { benchEncode(b, benchSubmit(), V20) }

func BenchmarkDecodeDeliver30MO(b *testing.B)     { benchDecode(b, benchMODeliver(), V30) }
func BenchmarkEncodeDeliver30MO(b *testing.B)     { benchEncode(b, benchMODeliver(), V30) }
func BenchmarkDecodeDeliver30Report(b *testing.B) { benchDecode(b, benchReportDeliver(), V30) }
func BenchmarkEncodeDeliver30Report(b *testing.B) { benchEncode(b, benchReportDeliver(), V30) }

// BenchmarkDecodeDeliver30ReportParsed also parses the report body, which
// is what a gateway does with every report it receives.
func BenchmarkDecodeDeliver30ReportParsed(b *testing.B) {
	body := benchReportDeliver().AppendBody(nil, V30)
	var d Deliver
	b.ReportAllocs()
	for b.Loop() {
		if err := d.DecodeBody(body, V30); err != nil {
			b.Fatal(err)
		}
		if _, err := d.Report(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeFwd30(b *testing.B) { benchDecode(b, benchFwd(), V30) }
func BenchmarkEncodeFwd30(b *testing.B) { benchEncode(b, benchFwd(), V30) }

func BenchmarkMsgIDGenerator(b *testing.B) {
	g := NewMsgIDGenerator(79101, time.Now, time.Time{})
	b.ReportAllocs()
	for b.Loop() {
		g.Next()
	}
}

func BenchmarkMsgIDGeneratorParallel(b *testing.B) {
	g := NewMsgIDGenerator(79101, time.Now, time.Time{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			g.Next()
		}
	})
}

// BenchmarkBodyCopy30 is roughly the floor under BenchmarkDecodeSubmit30:
// the one allocation and copy of the body that every decode makes (the fast
// path copies 291 of these 323 bytes, a 320-byte size class instead of
// 352). The difference between the two is the cost of the field decoding.
func BenchmarkBodyCopy30(b *testing.B) {
	body := benchSubmit().AppendBody(nil, V30)
	var s string
	b.ReportAllocs()
	for b.Loop() {
		s = string(body)
	}
	_ = s
}

func benchChecked[T any, P interface {
	*T
	PDU
}](b *testing.B, src P, v Version, decode func(P, []byte, Version) error) {
	body := src.AppendBody(nil, v)
	var p T
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := decode(P(&p), body, v); err != nil {
			b.Fatal(err)
		}
	}
}

// The *Checked benchmarks run the field-by-field decoder that bodies which
// fail the fast path's layout check fall back to: the baseline the fast
// paths are measured against.
func BenchmarkDecodeSubmit30Checked(b *testing.B) {
	benchChecked(b, benchSubmit(), V30, (*Submit).decodeChecked)
}

func BenchmarkDecodeDeliver30MOChecked(b *testing.B) {
	benchChecked(b, benchMODeliver(), V30, (*Deliver).decodeChecked)
}

func BenchmarkDecodeFwd30Checked(b *testing.B) {
	benchChecked(b, benchFwd(), V30, (*Fwd).decodeChecked)
}

// FuzzDecodeFast checks that the fast paths of SUBMIT, DELIVER and FWD
// agree with the field-by-field decoders: every body the checked decoder
// accepts takes the fast path (so valid traffic never falls off it) and
// decodes to the same PDU, and every body it rejects the fast path
// declines.
func FuzzDecodeFast(f *testing.F) {
	for _, vec := range loadVectors(f) {
		if vec.CommandID == "n/a" {
			continue
		}
		b := vec.bytes(f)
		for _, v := range vec.versions() {
			f.Add(binary.BigEndian.Uint32(b[4:8]), uint8(v), b[HeaderLen:])
		}
	}
	for _, v := range []Version{V20, V30} {
		for _, p := range append(samples(v), benchSubmit(), benchMODeliver(), benchReportDeliver(), benchFwd()) {
			switch p.(type) {
			case *Submit, *Deliver, *Fwd:
				f.Add(uint32(p.Command()), uint8(v), p.AppendBody(nil, v))
			}
		}
	}
	f.Fuzz(func(t *testing.T, cmd uint32, ver uint8, body []byte) {
		v := Version(ver)
		var fast, checked PDU
		var ok bool
		var err error
		// The seeds carry real command ids; anything else the fuzzer makes
		// of them still picks one of the three decoders.
		kind := cmd % 3
		switch CommandID(cmd) {
		case CmdSubmit:
			kind = 0
		case CmdDeliver:
			kind = 1
		case CmdFwd:
			kind = 2
		}
		switch kind {
		case 0:
			var a, b Submit
			ok, err = a.decodeFast(body, v), b.decodeChecked(body, v)
			fast, checked = &a, &b
		case 1:
			var a, b Deliver
			ok, err = a.decodeFast(body, v), b.decodeChecked(body, v)
			fast, checked = &a, &b
		default:
			var a, b Fwd
			ok, err = a.decodeFast(body, v), b.decodeChecked(body, v)
			fast, checked = &a, &b
		}
		switch {
		case ok && err != nil:
			t.Fatalf("%v: fast path accepted a body the checked decoder rejects: %v", fast.Command(), err)
		case !ok && err == nil:
			t.Fatalf("%v: fast path declined a valid body", fast.Command())
		case ok && !reflect.DeepEqual(fast, checked):
			t.Fatalf("%v: fast path\n got %+v\nwant %+v", fast.Command(), fast, checked)
		}
	})
}
