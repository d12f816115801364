package cmpp

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// samples returns one PDU of every type with non-trivial field values that
// fit the layout of v, so encode→decode must give back the same struct.
// Fields that do not exist in v are left zero.
func samples(v Version) []PDU {
	is3 := v.Is3()
	pick := func(v3 string, v2 string) string {
		if is3 {
			return v3
		}
		return v2
	}
	pick8 := func(x uint8) uint8 {
		if is3 {
			return x
		}
		return 0
	}
	var rep Report
	rep = Report{MsgID: 0xA7B9E14134FD0001, Stat: "DELIVRD", SubmitTime: "2410151430", DoneTime: "2410151431",
		DestTerminalID: pick("8613800138000123456789012345678", "861380013800012345678"), SMSCSequence: 0xDEADBEEF}
	mtReport := &Deliver{MsgID: 0xA7B9F28134FD004D, DestID: "10661234", ServiceID: "MTEST",
		SrcTerminalID: "13800138000", SrcTerminalType: pick8(1), LinkID: "lnk"}
	mtReport.SetReport(&rep, v)
	fwdReport := &Fwd{SourceID: "001001", DestinationID: "020001", NodesCount: 1, MsgID: 42, SrcID: "13900139000",
		DestID: "10661234", LinkID: pick("0123456789abcdefghij", "01234567")}
	fwdReport.SetReport(&rep, v)
	moReport := &Fwd{SourceID: "020001", DestinationID: "001001", NodesCount: 2, MsgID: 43, SrcID: "10661234", DestID: "13900139000"}
	moReport.SetMOReport(&MOReport{MsgID: 99, Stat: "SB:0008", DeliverTime: "2410151430", DeliverRespTime: "2410151431",
		DestID: "10661234", Reserved: 7})
	return []PDU{
		&Connect{SourceAddr: "901234", Authenticator: [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, Version: v, Timestamp: 1015143000},
		&ConnectResp{Status: 3, Authenticator: [16]byte{0: 9, 15: 1}, Version: V30},
		&Terminate{}, &TerminateResp{}, &ActiveTest{}, &ActiveTestResp{Reserved: 7},
		&Submit{
			MsgID: 0x1122334455667788, PkTotal: 3, PkNumber: 2, RegisteredDelivery: 1, MsgLevel: 9,
			ServiceID: "SVC-123456", FeeUserType: 3, FeeTerminalID: pick("+8613800138000-pseudo-0123456789", "+86138001380001234567"),
			FeeTerminalType: pick8(1), TPPID: 0x7f, TPUDHI: 1, MsgFmt: 8, MsgSrc: "901234", FeeType: "02", FeeCode: "000100",
			ValidTime: "241016143000032+", AtTime: "241015150000032+", SrcID: "106612345678901234567",
			DestTerminalIDs:  []string{"13800138000", pick("8613900139000123456789012345678x", "861390013900012345678"), "+8613700137000"},
			DestTerminalType: pick8(1), MsgContent: "\x05\x00\x03\xa5\x02\x01\x00\x00binary\x00content\xff", LinkID: pick("LINK-ID-0123456789ab", "RESERVE8"),
		},
		&SubmitResp{MsgID: 0xB2B9DA8000010000, Result: ResultFlowControl},
		&Deliver{
			MsgID: 0xB4C5530000010000, DestID: "106612345678901234567", ServiceID: "SVC", TPPID: 1, TPUDHI: 1, MsgFmt: 15,
			SrcTerminalID: pick("8613412340000-pseudo-0123456789a", "8613412340000"), SrcTerminalType: pick8(1),
			MsgContent: strings.Repeat("M", 140), LinkID: pick("LINK-ID-0123456789ab", "RSV"),
		},
		mtReport,
		&DeliverResp{MsgID: 0xB4C5530000010000, Result: 8},
		&Query{Time: "20241015", QueryType: QueryByService, QueryCode: "SVC-123456", Reserve: "reserved"},
		&QueryResp{Time: "20241015", QueryType: 1, QueryCode: "SVC", MTTLMsg: 1, MTTLUsr: 2, MTScs: 3, MTWT: 4, MTFL: 5, MOScs: 6, MOWT: 7, MOFL: 0xFFFFFFFF},
		&Cancel{MsgID: 0xA7B9E14134FD0001},
		&CancelResp{SuccessID: CancelFailed},
		&Fwd{
			SourceID: "001001", DestinationID: "020001", NodesCount: 3, MsgFwdType: FwdMT, MsgID: 0xA7B9E14134FD0001,
			PkTotal: 2, PkNumber: 1, RegisteredDelivery: 2, MsgLevel: 1, ServiceID: "SVC-123456", FeeUserType: 3,
			FeeTerminalID: "861380013800012345678", FeeTerminalPseudo: pick("pseudo-fee-0123456789abcdefghijk", ""),
			FeeTerminalUserType: pick8(1), TPPID: 2, TPUDHI: 1, MsgFmt: 8, MsgSrc: "901234", FeeType: "06", FeeCode: "000200",
			ValidTime: "241016143000032+", AtTime: "241015150000032+", SrcID: "10661234", SrcPseudo: pick("src-pseudo", ""),
			SrcUserType: pick8(2), SrcType: pick8(1), DestID: "13800138000", DestPseudo: pick("dest-pseudo-0123456789abcdefghij", ""),
			DestUserType: pick8(1), MsgContent: "\x00\x01hello\x00", LinkID: pick("LINK", "RSV"),
		},
		&Fwd{SourceID: "020001", DestinationID: "001001", MsgFwdType: FwdMO, MsgID: 5, SrcID: "13900139000", DestID: "10661234",
			MsgContent: "MO text", SrcPseudo: pick("p", "")},
		fwdReport,
		moReport,
		&FwdResp{MsgID: 0xB2B9DA8000010000, PkTotal: 3, PkNumber: 2, Result: ResultFwdDecision},
		&MTRoute{SourceID: "079101", TerminalID: "13800138000"},
		&MTRouteResp{RouteID: 7, DestinationID: "001001", GatewayIP: "255.255.255.255", GatewayPort: 7930, StartID: "1380013",
			EndID: "1380014", AreaCode: "010", Result: GNSNoRoute, UserType: 2, TimeStamp: "20241015143000"},
		&MORoute{SourceID: "079101", SPCode: "10661234", ServiceID: "SVC", ServiceCode: 0xCAFEBABE},
		&MORouteResp{RouteID: 8, DestinationID: "020001", GatewayIP: "10.0.0.1", GatewayPort: 65535, SPID: "901234",
			SPCode: "10661234", SPAccessType: 1, StartCode: 1000, EndCode: 9999, Result: GNSBusy, TimeStamp: "20241015143001"},
		&GetMTRoute{SourceID: "079101", RouteType: RouteTypeMT, LastRouteID: -1},
		&GetMTRouteResp{RouteID: 9, DestinationID: "001001", GatewayIP: "10.1.2.3", GatewayPort: 7930, StartID: "1390013",
			EndID: "1390013", AreaCode: "0791", Result: 0, UserType: 1, RouteTotal: 100, RouteNumber: 3, TimeStamp: "20241015143002"},
		&GetMORoute{SourceID: "079101", RouteType: RouteTypeMO, LastRouteID: 2147483647},
		&GetMORouteResp{RouteID: 10, DestinationID: "020001", GatewayIP: "10.1.2.4", GatewayPort: 7931, SPID: "901234",
			SPCode: "10661234", SPAccessType: 0, ServiceID: "SVC-123456", StartCode: 1, EndCode: 2, Result: 0,
			RouteTotal: 5, RouteNumber: 5, TimeStamp: "20241015143003"},
		&MTRouteUpdate{UpdateType: RouteUpdate, RouteID: 11, DestinationID: "001001", GatewayIP: "10.1.2.5", GatewayPort: 1,
			StartID: "1350000", EndID: "1359999", AreaCode: "020", UserType: 2},
		&MTRouteUpdateResp{Result: GNSBadGatewayIP, RouteID: 11, TimeStamp: "20241015143004"},
		&MORouteUpdate{UpdateType: RouteAdd, RouteID: 0, DestinationID: "020001", GatewayIP: "10.1.2.6", GatewayPort: 2,
			SPID: "901234", SPCode: "106612345678901234567", SPAccessType: 1, ServiceID: "SVC", StartCode: 3, EndCode: 4},
		&MORouteUpdateResp{Result: 0, RouteID: 12, TimeStamp: "20241015143005"},
		&PushMTRouteUpdate{MTRouteUpdate: MTRouteUpdate{UpdateType: RouteDelete, RouteID: 13, DestinationID: "001001",
			GatewayIP: "10.1.2.7", GatewayPort: 3, StartID: "1370000", EndID: "1370001", AreaCode: "0771", UserType: 1},
			TimeStamp: "20241015143006"},
		&PushMTRouteUpdateResp{Result: GNSStaleTimestamp},
		&PushMORouteUpdate{MORouteUpdate: MORouteUpdate{UpdateType: RouteUpdate, RouteID: 14, DestinationID: "020001",
			GatewayIP: "10.1.2.8", GatewayPort: 4, SPID: "901234", SPCode: "1066", SPAccessType: 0, ServiceID: "S",
			StartCode: 5, EndCode: 6}, TimeStamp: "20241015143007"},
		&PushMORouteUpdateResp{Result: GNSUpdateFailed},
	}
}

// sample returns the first sample of type T.
func sample[T PDU](v Version) T {
	for _, p := range samples(v) {
		if q, ok := p.(T); ok {
			return q
		}
	}
	panic("no sample")
}

// TestRoundTrip encodes every PDU type in 2.0, 2.1 and 3.0, decodes it back
// through DecodePDU and expects the same struct, and checks that every
// command id New knows has a sample.
func TestRoundTrip(t *testing.T) {
	for _, v := range []Version{V20, V21, V30} {
		seen := map[CommandID]bool{}
		for i, p := range samples(v) {
			seen[p.Command()] = true
			b := AppendPDU(nil, v, uint32(i+1), p)
			if bl, ok := p.(interface{ BodyLen(Version) int }); ok && bl.BodyLen(v) != len(b)-HeaderLen {
				t.Errorf("%v %v: BodyLen %d, encoded %d", v, p.Command(), bl.BodyLen(v), len(b)-HeaderLen)
			}
			h, q, err := DecodePDU(b, v, DefaultMaxPDU)
			if err != nil {
				t.Errorf("%v %v: %v", v, p.Command(), err)
				continue
			}
			if h.Seq != uint32(i+1) || h.Command != p.Command() {
				t.Errorf("%v %v: header %+v", v, p.Command(), h)
			}
			if !reflect.DeepEqual(p, q) {
				t.Errorf("%v %v:\n got %+v\nwant %+v", v, p.Command(), q, p)
			}
			if again := AppendPDU(nil, v, uint32(i+1), q); !bytes.Equal(again, b) {
				t.Errorf("%v %v: re-encode differs", v, p.Command())
			}
		}
		for c := range commandNames {
			for _, id := range []CommandID{c, c.Response()} {
				if _, err := New(id); err != nil {
					t.Errorf("New(%v): %v", id, err)
				}
				if !seen[id] {
					t.Errorf("%v: no round-trip sample for %v", v, id)
				}
			}
		}
	}
}

// TestWidths pins the body lengths of protocols.md for both layouts.
func TestWidths(t *testing.T) {
	body := func(p PDU, v Version) int { return len(p.AppendBody(nil, v)) }
	sub := &Submit{DestTerminalIDs: []string{"a", "b"}, MsgContent: "12345"}
	fwd := &Fwd{MsgContent: strings.Repeat("x", 24)}
	for _, c := range []struct {
		name string
		got  int
		want int
	}{
		{"SUBMIT 2.0 n=2 L=5", body(sub, V20), 126 + 21*2 + 5},
		{"SUBMIT 3.0 n=2 L=5", body(sub, V30), 151 + 32*2 + 5},
		{"DELIVER 2.0 L=0", body(&Deliver{}, V20), 73},
		{"DELIVER 3.0 L=0", body(&Deliver{}, V30), 97},
		{"FWD 2.0 PDU L=24", HeaderLen + body(fwd, V20), 197},
		{"FWD 3.0 PDU L=24", HeaderLen + body(fwd, V30), 309},
		{"FWD_RESP 2.0", body(&FwdResp{}, V20), 11},
		{"FWD_RESP 3.0", body(&FwdResp{}, V30), 14},
		{"SUBMIT_RESP 2.0", body(&SubmitResp{}, V20), 9},
		{"SUBMIT_RESP 3.0", body(&SubmitResp{}, V30), 12},
		{"CANCEL_RESP 2.0", body(&CancelResp{}, V20), 1},
		{"CANCEL_RESP 3.0", body(&CancelResp{}, V30), 4},
		{"QUERY", body(&Query{}, V30), 27},
		{"QUERY_RESP", body(&QueryResp{}, V30), 51},
		{"CANCEL", body(&Cancel{}, V30), 8},
		{"MT_ROUTE", body(&MTRoute{}, V30), 27},
		{"MT_ROUTE_RESP", body(&MTRouteResp{}, V30), 65},
		{"MO_ROUTE", body(&MORoute{}, V30), 41},
		{"MO_ROUTE_RESP", body(&MORouteResp{}, V30), 78},
		{"GET_MT_ROUTE", body(&GetMTRoute{}, V30), 14},
		{"GET_MT_ROUTE_RESP", body(&GetMTRouteResp{}, V30), 73},
		{"GET_MO_ROUTE", body(&GetMORoute{}, V30), 14},
		{"GET_MO_ROUTE_RESP", body(&GetMORouteResp{}, V30), 96},
		{"MT_ROUTE_UPDATE", body(&MTRouteUpdate{}, V30), 51},
		{"MT_ROUTE_UPDATE_RESP", body(&MTRouteUpdateResp{}, V30), 19},
		{"MO_ROUTE_UPDATE", body(&MORouteUpdate{}, V30), 74},
		{"MO_ROUTE_UPDATE_RESP", body(&MORouteUpdateResp{}, V30), 19},
		{"PUSH_MT_ROUTE_UPDATE", body(&PushMTRouteUpdate{}, V30), 65},
		{"PUSH_MT_ROUTE_UPDATE_RESP", body(&PushMTRouteUpdateResp{}, V30), 1},
		{"PUSH_MO_ROUTE_UPDATE", body(&PushMORouteUpdate{}, V30), 88},
		{"PUSH_MO_ROUTE_UPDATE_RESP", body(&PushMORouteUpdateResp{}, V30), 1},
		{"GNS result stays 1 byte in 2.0", body(&MTRouteResp{}, V20), 65},
		{"report 2.0", len((&Report{}).Append(nil, V20)), ReportLen20},
		{"report 3.0", len((&Report{}).Append(nil, V30)), ReportLen30},
		{"MO report", len((&MOReport{}).Append(nil)), MOReportLen},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d bytes, want %d", c.name, c.got, c.want)
		}
	}
}

// TestReportByLength decodes the 60-byte layout inside a 3.0 DELIVER (what
// gocmpp sends) and the 71-byte layout inside a 2.0 one.
func TestReportByLength(t *testing.T) {
	rep := Report{MsgID: 1, Stat: StatUndeliv, SubmitTime: "2410151430", DoneTime: "2410151431", DestTerminalID: "13800138000", SMSCSequence: 5}
	for _, c := range []struct{ session, layout Version }{{V30, V20}, {V20, V30}, {V30, V30}, {V21, V20}} {
		d := &Deliver{SrcTerminalID: "13800138000"}
		d.SetReport(&rep, c.layout)
		var q Deliver
		if err := q.DecodeBody(d.AppendBody(nil, c.session), c.session); err != nil {
			t.Fatal(err)
		}
		got, err := q.Report()
		if err != nil || got != rep {
			t.Errorf("session %v layout %v: %+v, %v", c.session, c.layout, got, err)
		}
	}
	if _, err := (&Deliver{}).Report(); !errors.Is(err, ErrNotReport) {
		t.Errorf("MO Report() err = %v, want ErrNotReport", err)
	}
	if _, err := (&Fwd{MsgFwdType: FwdMO}).Report(); !errors.Is(err, ErrNotReport) {
		t.Errorf("FWD MO Report() err = %v", err)
	}
	if _, err := (&Fwd{MsgFwdType: FwdMTReport}).MOReport(); !errors.Is(err, ErrNotReport) {
		t.Errorf("FWD MT report MOReport() err = %v", err)
	}
}

func TestErrorResponse(t *testing.T) {
	for _, c := range []struct {
		req  PDU
		want PDU
	}{
		{&Submit{MsgID: 5}, &SubmitResp{Result: ResultFlowControl}},
		{&Deliver{MsgID: 6}, &DeliverResp{MsgID: 6, Result: ResultFlowControl}},
		{&Fwd{MsgID: 7, PkTotal: 2, PkNumber: 1}, &FwdResp{MsgID: 7, PkTotal: 2, PkNumber: 1, Result: ResultFlowControl}},
		{&Cancel{MsgID: 8}, &CancelResp{SuccessID: CancelFailed}},
		{&MTRoute{}, &MTRouteResp{Result: GNSBusy}},
		{&MORoute{}, &MORouteResp{Result: GNSBusy}},
		{&GetMTRoute{}, &GetMTRouteResp{Result: GNSBusy}},
		{&GetMORoute{}, &GetMORouteResp{Result: GNSBusy}},
		{&MTRouteUpdate{RouteID: 3}, &MTRouteUpdateResp{Result: GNSBusy, RouteID: 3}},
		{&MORouteUpdate{RouteID: 4}, &MORouteUpdateResp{Result: GNSBusy, RouteID: 4}},
		{&PushMTRouteUpdate{}, &PushMTRouteUpdateResp{Result: GNSBusy}},
		{&PushMORouteUpdate{}, &PushMORouteUpdateResp{Result: GNSBusy}},
	} {
		er, ok := c.req.(ErrorResponder)
		if !ok {
			t.Errorf("%v is not an ErrorResponder", c.req.Command())
			continue
		}
		got := er.ErrorResponse(ResultFlowControl)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%v: %+v, want %+v", c.req.Command(), got, c.want)
		}
		if got.Command() != c.req.Command().Response() {
			t.Errorf("%v answered with %v", c.req.Command(), got.Command())
		}
	}
}

// TestClamp: oversize values still encode to PDUs that decode.
func TestClamp(t *testing.T) {
	dests := make([]string, 300)
	for i := range dests {
		dests[i] = "1"
	}
	p := &Submit{DestTerminalIDs: dests, MsgContent: strings.Repeat("x", 300)}
	b := p.AppendBody(nil, V20)
	if len(b) != p.BodyLen(V20) || b[116] != 255 {
		t.Fatalf("len %d BodyLen %d DestUsr_tl %d", len(b), p.BodyLen(V20), b[116])
	}
	d := &Deliver{MsgContent: strings.Repeat("y", 256)}
	var q Deliver
	if err := q.DecodeBody(d.AppendBody(nil, V30), V30); err != nil || len(q.MsgContent) != 255 {
		t.Fatalf("deliver: %v, %d bytes", err, len(q.MsgContent))
	}
}

// TestDecodeReuse decodes a 2.x SUBMIT into a struct that held a 3.0 one:
// the 3.0-only fields must not survive.
func TestDecodeReuse(t *testing.T) {
	s3, s2 := sample[*Submit](V30), sample[*Submit](V20)
	var p Submit
	if err := p.DecodeBody(s3.AppendBody(nil, V30), V30); err != nil {
		t.Fatal(err)
	}
	if err := p.DecodeBody(s2.AppendBody(nil, V20), V20); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&p, s2) {
		t.Errorf("got %+v\nwant %+v", p, s2)
	}
	f3, f2 := sample[*Fwd](V30), sample[*Fwd](V20)
	var f Fwd
	if err := f.DecodeBody(f3.AppendBody(nil, V30), V30); err != nil {
		t.Fatal(err)
	}
	if err := f.DecodeBody(f2.AppendBody(nil, V20), V20); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&f, f2) {
		t.Errorf("got %+v\nwant %+v", f, f2)
	}
}

// TestDecodeAllocs proves that decoding a 3.0 SUBMIT into a reused struct
// costs one allocation (the string copy of the body) and encoding it into a
// reused buffer none.
func TestDecodeAllocs(t *testing.T) {
	p := benchSubmit()
	body := p.AppendBody(nil, V30)
	var q Submit
	if n := testing.AllocsPerRun(1000, func() {
		if err := q.DecodeBody(body, V30); err != nil {
			t.Fatal(err)
		}
	}); n > 1 {
		t.Errorf("decode allocs = %v, want <= 1", n)
	}
	buf := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(1000, func() { buf = AppendPDU(buf[:0], V30, 1, p) }); n != 0 {
		t.Errorf("encode allocs = %v, want 0", n)
	}
	d := benchReportDeliver()
	db := d.AppendBody(nil, V30)
	var dq Deliver
	if n := testing.AllocsPerRun(1000, func() {
		if err := dq.DecodeBody(db, V30); err != nil {
			t.Fatal(err)
		}
		if _, err := dq.Report(); err != nil {
			t.Fatal(err)
		}
	}); n > 1 {
		t.Errorf("deliver+report decode allocs = %v, want <= 1", n)
	}
}
