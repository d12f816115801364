package smpp

import (
	"bufio"
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// samplePDUs has one filled-in value of every PDU type, with the status it
// is sent with.
func samplePDUs() []struct {
	name   string
	status Status
	p      PDU
} {
	var tl TLVs
	tl.SetUserMessageReference(7)
	tl.SetSAR(SAR{Ref: 0x1234, Total: 3, Seq: 2})
	tl = append(tl, TLV{Tag: 0x1401, Value: []byte{1, 2, 3}}) // vendor tag, kept
	var rtl TLVs
	rtl.SetReceiptedMessageID("abc123")
	rtl.SetMessageState(StateExpired)
	rtl.SetNetworkErrorCode(NetworkErrorCode{Type: 3, Code: 0x0102})
	sm := SubmitSM{
		ServiceType: "CMT", SourceAddr: Addr{TON: 5, NPI: 0, Addr: "Tandem"},
		DestAddr: Addr{TON: 1, NPI: 1, Addr: "8613800138000"}, ESMClass: 3, ProtocolID: 1, PriorityFlag: 2,
		ScheduleDeliveryTime: "241015143000000+", ValidityPeriod: "000001000000000R",
		RegisteredDelivery: 1, ReplaceIfPresent: 1, DataCoding: 8, SMDefaultMsgID: 4,
		ShortMessage: []byte("hello"), TLVs: tl,
	}
	dl := DeliverSM(sm)
	dl.TLVs = rtl
	var payload TLVs
	payload.SetMessagePayload(bytes.Repeat([]byte("x"), 300))
	var sc TLVs
	sc.SetSCInterfaceVersion(0x34)
	type s = struct {
		name   string
		status Status
		p      PDU
	}
	return []s{
		{"bind_transmitter", 0, &Bind{Mode: BindTransmitter, SystemID: "esme", Password: "secret", SystemType: "VMS", InterfaceVersion: 0x34, AddrTON: 1, AddrNPI: 1, AddressRange: "^86"}},
		{"bind_receiver", 0, &Bind{Mode: BindReceiver, SystemID: "esme"}},
		{"bind_transceiver", 0, &Bind{Mode: BindTransceiver, SystemID: "123456789012345", Password: "12345678"}},
		{"bind_transmitter_resp", 0, &BindResp{Mode: BindTransmitter, SystemID: "SMSC", TLVs: sc}},
		{"bind_receiver_resp_err", StatusInvPaswd, &BindResp{Mode: BindReceiver}},
		{"bind_transceiver_resp_errbody", StatusInvSysID, &BindResp{Mode: BindTransceiver, SystemID: "x", ErrBody: true}},
		{"outbind", 0, &Outbind{SystemID: "smsc", Password: "pw"}},
		{"submit_sm", 0, &sm},
		{"submit_sm_payload", 0, &SubmitSM{DestAddr: Addr{Addr: "1"}, TLVs: payload}},
		{"submit_sm_resp", 0, &SubmitSMResp{MessageID: strings.Repeat("f", 64)}},
		{"submit_sm_resp_throttled", StatusThrottled, &SubmitSMResp{}},
		{"deliver_sm", 0, &dl},
		{"deliver_sm_resp", 0, &DeliverSMResp{}},
		{"deliver_sm_resp_err", StatusXTAppn, &DeliverSMResp{ErrBody: true}},
		{"data_sm", 0, &DataSM{ServiceType: "WAP", SourceAddr: Addr{Addr: strings.Repeat("1", 64)}, DestAddr: Addr{TON: 1, Addr: "2"}, ESMClass: 1, RegisteredDelivery: 1, DataCoding: 4, TLVs: payload}},
		{"data_sm_resp", 0, &DataSMResp{MessageID: "m1", TLVs: rtl}},
		{"data_sm_resp_err", StatusDeliveryFailure, &DataSMResp{TLVs: rtl, ErrBody: true}},
		{"query_sm", 0, &QuerySM{MessageID: "m1", SourceAddr: Addr{TON: 1, NPI: 1, Addr: "123"}}},
		{"query_sm_resp", 0, &QuerySMResp{MessageID: "m1", FinalDate: "241015143000000+", MessageState: StateDelivered, ErrorCode: 0}},
		{"cancel_sm", 0, &CancelSM{ServiceType: "", MessageID: "m1", SourceAddr: Addr{Addr: "1"}, DestAddr: Addr{Addr: "2"}}},
		{"cancel_sm_resp", 0, &CancelSMResp{}},
		{"replace_sm", 0, &ReplaceSM{MessageID: "m1", SourceAddr: Addr{Addr: "1"}, ValidityPeriod: "000001000000000R", RegisteredDelivery: 1, ShortMessage: []byte("new text")}},
		{"replace_sm_resp", 0, &ReplaceSMResp{}},
		{"submit_multi", 0, &SubmitMulti{ServiceType: "", SourceAddr: Addr{Addr: "10661234"},
			Dests:    []MultiDest{{Flag: DestSME, Addr: Addr{TON: 1, NPI: 1, Addr: "8613800138000"}}, {Flag: DestDistList, DLName: "friends"}},
			ESMClass: 0, DataCoding: 0, ShortMessage: []byte("hi all"), TLVs: tl}},
		{"submit_multi_254", 0, &SubmitMulti{SourceAddr: Addr{Addr: "10661234"}, Dests: manyDests(MaxMultiDests), ShortMessage: []byte("x")}},
		{"submit_multi_resp", 0, &SubmitMultiResp{MessageID: "m2", Unsuccess: []UnsuccessSME{{Addr: Addr{TON: 1, NPI: 1, Addr: "86138"}, Status: StatusInvDstAdr}}}},
		{"submit_multi_resp_none", 0, &SubmitMultiResp{MessageID: "m3"}},
		{"enquire_link", 0, &EnquireLink{}},
		{"enquire_link_resp", 0, &EnquireLinkResp{}},
		{"unbind", 0, &Unbind{}},
		{"unbind_resp", 0, &UnbindResp{}},
		{"generic_nack", StatusInvCmdLen, &GenericNack{}},
		{"alert_notification", 0, &AlertNotification{SourceAddr: Addr{TON: 1, NPI: 1, Addr: "8613800138000"}, ESMEAddr: Addr{Addr: "esme"}, TLVs: TLVs{{Tag: TagMSAvailabilityStatus, Value: []byte{0}}}}},
	}
}

func TestRoundTripEveryPDU(t *testing.T) {
	seen := map[CommandID]bool{}
	for _, c := range samplePDUs() {
		t.Run(c.name, func(t *testing.T) {
			if err := c.p.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			b := AppendPDU([]byte("prefix"), c.p, 42, c.status)[len("prefix"):]
			h, got, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode(%x): %v", b, err)
			}
			if h.ID != c.p.CommandID() || h.Seq != 42 || h.Status != c.status || int(h.Length) != len(b) {
				t.Fatalf("header %+v", h)
			}
			if !reflect.DeepEqual(got, c.p) {
				t.Fatalf("round trip\n got %#v\nwant %#v", got, c.p)
			}
			if again := AppendPDU(nil, got, 42, c.status); !bytes.Equal(again, b) {
				t.Fatalf("re-encode differs\n got %x\nwant %x", again, b)
			}
			seen[h.ID] = true
		})
	}
	for id := CommandID(0); id < 0x200; id++ {
		for _, x := range []CommandID{id, id.Response()} {
			if x.Known() && !seen[x] {
				t.Errorf("no round-trip sample for %v", x)
			}
		}
	}
}

func TestErrorResponseBodyForms(t *testing.T) {
	// Header-only and single-NUL error responses both decode; the spec form
	// is the default encoding.
	for _, id := range []CommandID{CmdBindTransmitterResp, CmdBindReceiverResp, CmdBindTransceiverResp,
		CmdSubmitSMResp, CmdDeliverSMResp, CmdDataSMResp, CmdQuerySMResp, CmdSubmitMultiResp} {
		p, err := New(id)
		if err != nil {
			t.Fatal(err)
		}
		b := AppendPDU(nil, p, 1, StatusSysErr)
		if len(b) != HeaderLen {
			t.Errorf("%v error response encodes %d bytes, want header only", id, len(b))
		}
		if _, _, err := Decode(b); err != nil {
			t.Errorf("%v header-only: %v", id, err)
		}
	}
	b := mustHex(t, "00000011800000040000000800000001"+"00")
	_, p, err := Decode(b)
	if err != nil || !p.(*SubmitSMResp).ErrBody {
		t.Fatalf("single-NUL submit_sm_resp: %v %#v", err, p)
	}
}

func TestDecodeErrorsNameField(t *testing.T) {
	sm := func(mod func(b []byte) []byte) []byte {
		b := AppendPDU(nil, &SubmitSM{ServiceType: "CMT", SourceAddr: Addr{Addr: "123"}, DestAddr: Addr{Addr: "456"}, ShortMessage: []byte("hi")}, 1, 0)
		b = mod(b)
		b[3] = byte(len(b)) // patch command_length (short PDUs only)
		return b
	}
	cases := []struct {
		name   string
		b      []byte
		field  string
		status Status
		is     error
	}{
		{"service_type too long", sm(func(b []byte) []byte {
			return append(append(b[:HeaderLen:HeaderLen], "TOOLONG"...), b[HeaderLen+4:]...)
		}), "service_type", StatusInvSerTyp, ErrCString},
		{"truncated in short_message", sm(func(b []byte) []byte { return b[:len(b)-1] }), "short_message", StatusInvCmdLen, ErrTruncated},
		{"truncated in source_addr", sm(func(b []byte) []byte { return b[:HeaderLen+7] }), "source_addr", StatusInvCmdLen, ErrTruncated},
		{"stray TLV bytes", sm(func(b []byte) []byte { return append(b, 0x02) }), "tlv", StatusInvOptParStream, ErrBadTLV},
		{"TLV past end", sm(func(b []byte) []byte { return append(b, 0x04, 0x24, 0x00, 0x09, 'x') }), "message_payload", StatusInvParLen, ErrBadTLV},
		{"enquire_link with body", mustHex(t, "0000001100000015000000000000000100"), "body", StatusInvCmdLen, ErrTrailing},
		{"bad dest_flag", AppendPDU(nil, &SubmitMulti{Dests: []MultiDest{{Flag: 9}}}, 1, 0), "dest_flag", StatusInvDestFlag, ErrBadValue},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := Decode(c.b)
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want *FieldError", err)
			}
			if fe.Field != c.field || StatusFor(err) != c.status || !errors.Is(err, c.is) {
				t.Fatalf("err = %v (field %q, status %v), want field %q status %v is %v", err, fe.Field, StatusFor(err), c.field, c.status, c.is)
			}
			if !strings.HasPrefix(err.Error(), "smpp: decode "+fe.Command.String()+": "+c.field) {
				t.Fatalf("message %q does not name PDU and field", err)
			}
		})
	}
}

func TestDecodeBadHeaders(t *testing.T) {
	for _, c := range []struct {
		name string
		hex  string
		is   error
	}{
		{"short", "000000100000", ErrTruncated},
		{"length below header", "0000000800000015000000000000000100", ErrBadLength},
		{"length mismatch", "0000002000000015000000000000000100", ErrBadLength},
		{"unknown command", "00000010000000ff0000000000000001", ErrUnknownCommand},
	} {
		_, _, err := Decode(mustHex(t, c.hex))
		if !errors.Is(err, c.is) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.is)
		}
	}
}

func TestValidateNamesField(t *testing.T) {
	cases := []struct {
		p     PDU
		field string
	}{
		{&Bind{SystemID: strings.Repeat("s", 16)}, "system_id"},
		{&Bind{Password: "123456789"}, "password"},
		{&SubmitSM{DestAddr: Addr{Addr: strings.Repeat("1", 21)}}, "destination_addr"},
		{&SubmitSM{ShortMessage: make([]byte, 255)}, "short_message"},
		{&SubmitSM{SourceAddr: Addr{Addr: "a\x00b"}}, "source_addr"},
		{&SubmitSM{TLVs: TLVs{{Tag: TagMessagePayload, Value: make([]byte, 70000)}}}, "message_payload"},
		{&SubmitMulti{}, "number_of_dests"},
		{&DataSM{SourceAddr: Addr{Addr: strings.Repeat("1", 65)}}, "source_addr"},
	}
	for _, c := range cases {
		err := c.p.Validate()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != c.field || fe.Op != "encode" {
			t.Errorf("%T: err = %v, want field %s", c.p, err, c.field)
		}
	}
}

func TestTLVHelpers(t *testing.T) {
	var tl TLVs
	tl.Set(0x1500, []byte{9})
	tl.SetReceiptedMessageID("X1")
	tl.SetMessageState(StateRejected)
	tl.SetSAR(SAR{Ref: 7, Total: 2, Seq: 1})
	tl.SetSCInterfaceVersion(0x34)
	tl.SetUserMessageReference(0xBEEF)
	tl.SetNetworkErrorCode(NetworkErrorCode{Type: 3, Code: 11})
	tl.SetMessagePayload([]byte("long"))
	tl.SetMessageState(StateDelivered) // replaces in place
	if id, ok := tl.ReceiptedMessageID(); !ok || id != "X1" {
		t.Errorf("receipted_message_id = %q %v", id, ok)
	}
	if v, _ := tl.Get(TagReceiptedMessageID); string(v) != "X1\x00" {
		t.Errorf("receipted_message_id bytes %q: NUL must be in the value", v)
	}
	if st, ok := tl.MessageState(); !ok || st != StateDelivered {
		t.Errorf("message_state = %v", st)
	}
	if s, ok := tl.SAR(); !ok || s != (SAR{7, 2, 1}) {
		t.Errorf("sar = %+v", s)
	}
	if v, ok := tl.SCInterfaceVersion(); !ok || v != 0x34 {
		t.Errorf("sc_interface_version = %x", v)
	}
	if v, ok := tl.UserMessageReference(); !ok || v != 0xBEEF {
		t.Errorf("user_message_reference = %x", v)
	}
	if v, ok := tl.NetworkErrorCode(); !ok || v != (NetworkErrorCode{3, 11}) {
		t.Errorf("network_error_code = %+v", v)
	}
	if v, ok := tl.MessagePayload(); !ok || string(v) != "long" {
		t.Errorf("message_payload = %q", v)
	}
	if tl[0].Tag != 0x1500 || len(tl) != 10 {
		t.Errorf("order/count changed: %v", tl)
	}
	tl.Del(TagSARMsgRefNum)
	if _, ok := tl.SAR(); ok || tl.Has(TagSARMsgRefNum) {
		t.Error("Del left sar_msg_ref_num")
	}
	// A receipted_message_id without NUL (a common deviation) still reads.
	if id, _ := (TLVs{{Tag: TagReceiptedMessageID, Value: []byte("abc")}}).ReceiptedMessageID(); id != "abc" {
		t.Errorf("no-NUL id = %q", id)
	}
}

func TestStatusError(t *testing.T) {
	var err error = &StatusError{Command: CmdSubmitSMResp, Status: StatusThrottled}
	if !errors.Is(err, ErrThrottled) || !errors.Is(err, ErrTemporary) || errors.Is(err, ErrQueueFull) {
		t.Error("throttled matching")
	}
	err = &StatusError{Command: CmdSubmitSMResp, Status: StatusMsgQFul}
	if !errors.Is(err, ErrQueueFull) || errors.Is(err, ErrThrottled) {
		t.Error("queue full matching")
	}
	if !errors.Is(err, &StatusError{Status: StatusMsgQFul}) {
		t.Error("match by status")
	}
	if s := StatusThrottled.String(); s != "ESME_RTHROTTLED(0x58)" {
		t.Errorf("String = %q", s)
	}
	if s := Status(0x401).String(); s != "ESME_0x401" {
		t.Errorf("vendor String = %q", s)
	}
	if CmdSubmitSM.String() != "submit_sm" || CmdDataSMResp.String() != "data_sm_resp" || CommandID(0x77).String() != "command_0x77" {
		t.Error("CommandID.String")
	}
}

func TestReadHeaderNoAllocs(t *testing.T) {
	pdu := AppendPDU(nil, &EnquireLink{}, 1, 0)
	r := bytes.NewReader(nil)
	br := bufio.NewReader(r)
	n := testing.AllocsPerRun(1000, func() {
		r.Reset(pdu)
		br.Reset(r)
		if _, err := ReadHeader(br, DefaultMaxPDU); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Fatalf("ReadHeader allocs = %v, want 0", n)
	}
}

func TestEncodeNoAllocs(t *testing.T) {
	for _, c := range samplePDUs() {
		buf := make([]byte, 0, 16<<10)
		if n := testing.AllocsPerRun(200, func() { buf = AppendPDU(buf[:0], c.p, 1, c.status) }); n != 0 {
			t.Errorf("%s: AppendPDU allocs = %v, want 0", c.name, n)
		}
	}
}

func TestDecodeAllocs(t *testing.T) {
	b := mustHex(t, "000000ac000000050000000000000007000101383631333830303133383030300000003130363631323334000400000000000000006469643a3141324233433444207375623a30303120646c7672643a303031207375626d697420646174653a3234313031353134333020646f6e6520646174653a3234313031353134333120737461743a44454c49565244206572723a30303020746578743a001e00093141324233433444000427000102")
	body := b[HeaderLen:]
	var d DeliverSM
	if n := testing.AllocsPerRun(1000, func() { d = DeliverSM{}; _ = d.Decode(body) }); n > 2 {
		t.Errorf("DeliverSM.Decode allocs = %v, want <= 2", n)
	}
	if n := testing.AllocsPerRun(1000, func() { _ = d.Decode(body) }); n > 1 {
		t.Errorf("DeliverSM.Decode into reused value allocs = %v, want <= 1", n)
	}
	sb := AppendPDU(nil, &SubmitSM{SourceAddr: Addr{Addr: "10661234"}, DestAddr: Addr{Addr: "8613800138000"}, ShortMessage: []byte("hello")}, 1, 0)[HeaderLen:]
	var s SubmitSM
	if n := testing.AllocsPerRun(1000, func() { s = SubmitSM{}; _ = s.Decode(sb) }); n > 2 {
		t.Errorf("SubmitSM.Decode allocs = %v, want <= 2", n)
	}
}

func TestDecodeAliasesInput(t *testing.T) {
	b := AppendPDU(nil, &SubmitSM{DestAddr: Addr{Addr: "1"}, ShortMessage: []byte("abc")}, 1, 0)
	_, p, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	sm := p.(*SubmitSM)
	b[len(b)-1] = 'Z'
	if string(sm.ShortMessage) != "abZ" {
		t.Fatalf("short_message should alias the input, got %q", sm.ShortMessage)
	}
	if sm.DestAddr.Addr != "1" {
		t.Fatal("strings must not alias")
	}
	if cap(sm.ShortMessage) != len(sm.ShortMessage) {
		t.Fatal("aliased slice capacity must be clipped")
	}
}

func manyDests(n int) []MultiDest {
	d := make([]MultiDest, n)
	for i := range d {
		d[i] = MultiDest{Flag: DestSME, Addr: Addr{TON: 1, NPI: 1, Addr: "86138001" + strings.Repeat(string(rune('0'+i%10)), 12)}}
		if i%7 == 0 {
			d[i] = MultiDest{Flag: DestDistList, DLName: "list" + strings.Repeat("z", i%17)}
		}
	}
	return d
}
