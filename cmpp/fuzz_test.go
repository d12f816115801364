package cmpp

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"testing"
)

// FuzzDecode decodes arbitrary bodies as any command in any version. It
// must never panic, and whatever decodes must survive encode→decode
// unchanged. Byte-exact re-encoding of the input is not required: fixed
// fields are trimmed at the first NUL, so bytes after it are lost; instead
// decode(encode(decode(x))) == decode(x) and the encoding is stable.
func FuzzDecode(f *testing.F) {
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
		for _, p := range samples(v) {
			f.Add(uint32(p.Command()), uint8(v), p.AppendBody(nil, v))
		}
	}
	f.Fuzz(func(t *testing.T, cmd uint32, ver uint8, body []byte) {
		v := Version(ver)
		// Fold the id onto the small space of real ones so that mutations
		// of it still land on decoders.
		id := CommandID(cmd&0x1f) | CommandID(cmd)&RespBit
		p, err := New(id)
		if err != nil {
			return
		}
		if err := p.DecodeBody(body, v); err != nil {
			return
		}
		ev := v
		if _, ok := p.(*ConnectResp); ok {
			// CONNECT_RESP picks its layout from the body length.
			switch len(body) {
			case 18:
				ev = V20
			case 21:
				ev = V30
			}
		}
		enc := p.AppendBody(nil, ev)
		if _, ok := p.(*ActiveTestResp); !(ok && len(body) == 0) && len(enc) != len(body) {
			t.Fatalf("%v: decoded %d bytes, re-encoded %d", p.Command(), len(body), len(enc))
		}
		q, _ := New(id)
		if err := q.DecodeBody(enc, ev); err != nil {
			t.Fatalf("%v: re-encoded body does not decode: %v", p.Command(), err)
		}
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("%v: round trip\n got %+v\nwant %+v", p.Command(), q, p)
		}
		if again := q.AppendBody(nil, ev); !bytes.Equal(again, enc) {
			t.Fatalf("%v: encoding not stable", p.Command())
		}
		// Nested report bodies must not panic either.
		switch d := p.(type) {
		case *Deliver:
			_, _ = d.Report()
		case *Fwd:
			_, _ = d.Report()
			_, _ = d.MOReport()
		}
	})
}

// FuzzReport decodes arbitrary Msg_Content as a status report and as an MO
// status report.
func FuzzReport(f *testing.F) {
	for _, vec := range loadVectors(f) {
		switch {
		case vec.CommandID == "n/a":
			f.Add(vec.bytes(f))
		case vec.Inputs["report"] != nil:
			var d Deliver
			v := vec.versions()[0]
			if err := d.DecodeBody(vec.bytes(f)[HeaderLen:], v); err != nil {
				f.Fatal(err)
			}
			f.Add([]byte(d.MsgContent))
		}
	}
	f.Add((&MOReport{MsgID: 1, Stat: "DELIVRD", DestID: "1066"}).Append(nil))
	f.Fuzz(func(t *testing.T, content []byte) {
		var r Report
		if err := r.Decode(content); err == nil {
			v := V20
			if len(content) == ReportLen30 {
				v = V30
			}
			enc := r.Append(nil, v)
			var q Report
			if len(enc) != len(content) || q.Decode(enc) != nil || q != r {
				t.Fatalf("report round trip: %+v vs %+v", r, q)
			}
		}
		var m MOReport
		if err := m.Decode(content); err == nil {
			enc := m.Append(nil)
			var q MOReport
			if len(enc) != len(content) || q.Decode(enc) != nil || q != m {
				t.Fatalf("MO report round trip: %+v vs %+v", m, q)
			}
		}
	})
}
