package ismg

import (
	"testing"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
)

// TestCheckSubmit covers the acceptance test of a SUBMIT's own fields,
// including the probe's cases that used to be acked, billed and failed
// later with a report MB:0001.
func TestCheckSubmit(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	codes := []string{"10657001"}
	ok := func(mod func(p *cmpp.Submit)) *cmpp.Submit {
		p := submitPDU(bjNumber, 0, []byte("hello"))
		p.MsgSrc, p.SrcID = "901234", "10657001"
		if mod != nil {
			mod(p)
		}
		return p
	}
	gbk := []byte{0xC4, 0xE3, 0xBA, 0xC3} // 你好
	for _, tc := range []struct {
		name   string
		p      *cmpp.Submit
		result uint32
		reason string
	}{
		{"ascii", ok(nil), 0, ""},
		{"gbk", ok(func(p *cmpp.Submit) { p.MsgFmt, p.MsgContent = 15, string(gbk) }), 0, ""},
		{"ucs2", ok(func(p *cmpp.Submit) { p.MsgFmt, p.MsgContent = 8, "\x4f\x60\x59\x7d" }), 0, ""},
		{"ucs2 surrogate pair", ok(func(p *cmpp.Submit) { p.MsgFmt, p.MsgContent = 8, "\xd8\x3d\xde\x00" }), 0, ""},
		{"binary", ok(func(p *cmpp.Submit) { p.MsgFmt, p.MsgContent = 4, "\xff\x00\x01" }), 0, ""},
		{"udh + ascii", ok(func(p *cmpp.Submit) { p.TPUDHI, p.MsgContent = 1, "\x05\x00\x03\x01\x02\x01part one" }), 0, ""},
		{"free, no fee fields", ok(func(p *cmpp.Submit) { p.FeeType, p.FeeCode = "", "" }), 0, ""},
		{"msg_src", ok(func(p *cmpp.Submit) { p.MsgSrc = "999999" }), cmpp.ResultBadMsgSrc, reasonMsgSrc},
		{"src_id", ok(func(p *cmpp.Submit) { p.SrcID = "10658" }), cmpp.ResultBadSrcID, reasonSrcID},
		{"no destination", ok(func(p *cmpp.Submit) { p.DestTerminalIDs = nil }), cmpp.ResultBadStructure, reasonStruct},
		{"empty", ok(func(p *cmpp.Submit) { p.MsgContent = "" }), cmpp.ResultBadLength, reasonLength},
		{"pk_number > pk_total", ok(func(p *cmpp.Submit) { p.PkNumber = 2 }), cmpp.ResultBadStructure, reasonStruct},
		{"tp_udhi 2", ok(func(p *cmpp.Submit) { p.TPUDHI = 2 }), cmpp.ResultBadStructure, reasonStruct},
		{"msg_fmt 3", ok(func(p *cmpp.Submit) { p.MsgFmt = 3 }), cmpp.ResultBadStructure, reasonMsgFmt},
		{"msg_fmt 99", ok(func(p *cmpp.Submit) { p.MsgFmt = 99 }), cmpp.ResultBadStructure, reasonMsgFmt},
		{"msg_fmt 255", ok(func(p *cmpp.Submit) { p.MsgFmt = 255 }), cmpp.ResultBadStructure, reasonMsgFmt},
		{"ascii with 0xff", ok(func(p *cmpp.Submit) { p.MsgContent = "ab\xff" }), cmpp.ResultBadStructure, reasonContent},
		{"invalid gbk", ok(func(p *cmpp.Submit) { p.MsgFmt, p.MsgContent = 15, "\xc4\xe3\xff" }), cmpp.ResultBadStructure, reasonContent},
		{"udhi=1 without a header", ok(func(p *cmpp.Submit) { p.TPUDHI, p.MsgContent = 1, "\x30hello" }), cmpp.ResultBadStructure, reasonContent},
		{"ucs2 odd length", ok(func(p *cmpp.Submit) { p.MsgFmt, p.MsgContent = 8, "\x4f\x60\x59" }), cmpp.ResultBadStructure, reasonContent},
		{"ucs2 lone surrogate", ok(func(p *cmpp.Submit) { p.MsgFmt, p.MsgContent = 8, "\xd8\x3d\x00\x41" }), cmpp.ResultBadStructure, reasonContent},
		{"fee type ZZ", ok(func(p *cmpp.Submit) { p.FeeType = "ZZ" }), cmpp.ResultBadFeeCode, reasonFee},
		{"fee code abcdef", ok(func(p *cmpp.Submit) { p.FeeCode = "abcdef" }), cmpp.ResultBadFeeCode, reasonFee},
		{"bad at_time", ok(func(p *cmpp.Submit) { p.AtTime = "26130100000000+" }), cmpp.ResultBadStructure, reasonTime},
		{"at_time after valid_time", ok(func(p *cmpp.Submit) {
			p.AtTime, p.ValidTime = "261207120000032+", "261207110000032+"
		}), cmpp.ResultBadStructure, reasonTime},
	} {
		t.Run(tc.name, func(t *testing.T) {
			times, ref := checkSubmit(tc.p, "901234", codes, now, time.UTC, time.Hour)
			if ref.result != tc.result || ref.reason != tc.reason {
				t.Fatalf("refusal %+v, want Result %d reason %q", ref, tc.result, tc.reason)
			}
			if tc.result == 0 && !times.valid.Equal(now.Add(time.Hour)) {
				t.Fatalf("valid %v, want the default validity from now", times.valid)
			}
		})
	}
}

// A scheduled message keeps its At_Time and ValId_Time.
func TestCheckSubmitTimes(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	p := submitPDU(bjNumber, 0, []byte("later"))
	p.MsgSrc, p.SrcID = "901234", "10657001"
	p.AtTime, p.ValidTime = "261207110000032+", "261207120000032+" // 11:00 and 12:00 at UTC+8
	times, ref := checkSubmit(p, "901234", []string{"10657001"}, now, time.UTC, time.Hour)
	if ref != accepted {
		t.Fatalf("refused: %+v", ref)
	}
	if want := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC); !times.at.Equal(want) {
		t.Errorf("at %v, want %v", times.at, want)
	}
	if want := time.Date(2026, 12, 7, 4, 0, 0, 0, time.UTC); !times.valid.Equal(want) {
		t.Errorf("valid %v, want %v", times.valid, want)
	}
}
