package smpp

import "testing"

func benchSubmit() *SubmitSM {
	return &SubmitSM{
		SourceAddr: Addr{Addr: "10661234"}, DestAddr: Addr{TON: 1, NPI: 1, Addr: "8613800138000"},
		RegisteredDelivery: 1, DataCoding: CodingUCS2,
		ShortMessage: []byte("\x4f\x60\x59\x7d\xff\x0c\x4e\x16\x75\x4c"),
		TLVs:         TLVs{{Tag: TagUserMessageReference, Value: []byte{0, 7}}},
	}
}

func benchDeliver() *DeliverSM {
	p := &DeliverSM{
		SourceAddr: Addr{TON: 1, NPI: 1, Addr: "8613800138000"}, DestAddr: Addr{Addr: "10661234"},
		ESMClass:     ESMClassReceipt,
		ShortMessage: []byte("id:1A2B3C4D sub:001 dlvrd:001 submit date:2410151430 done date:2410151431 stat:DELIVRD err:000 text:"),
	}
	p.TLVs.SetReceiptedMessageID("1A2B3C4D")
	p.TLVs.SetMessageState(StateDelivered)
	return p
}

func BenchmarkEncodeSubmitSM(b *testing.B) {
	p := benchSubmit()
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendPDU(buf[:0], p, 1, 0)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkEncodeDeliverSM(b *testing.B) {
	p := benchDeliver()
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendPDU(buf[:0], p, 1, 0)
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkDecodeSubmitSM decodes into a reused value (the zero-copy path).
func BenchmarkDecodeSubmitSM(b *testing.B) {
	body := AppendPDU(nil, benchSubmit(), 1, 0)[HeaderLen:]
	var p SubmitSM
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := p.Decode(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeDeliverSM(b *testing.B) {
	body := AppendPDU(nil, benchDeliver(), 1, 0)[HeaderLen:]
	var p DeliverSM
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := p.Decode(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeGenericDeliverSM is the session's path: a fresh PDU per
// message through Decode.
func BenchmarkDecodeGenericDeliverSM(b *testing.B) {
	pdu := AppendPDU(nil, benchDeliver(), 1, 0)
	b.ReportAllocs()
	b.SetBytes(int64(len(pdu)))
	for b.Loop() {
		if _, _, err := Decode(pdu); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseReceipt(b *testing.B) {
	text := benchDeliver().ShortMessage
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseReceipt(text); err != nil {
			b.Fatal(err)
		}
	}
}
