package smpp

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"reflect"
	"testing"
)

type vector struct {
	Name      string `json:"name"`
	Command   string `json:"command"`
	CommandID string `json:"command_id"`
	Sequence  uint32 `json:"sequence"`
	Length    int    `json:"length"`
	Hex       string `json:"hex"`
}

func loadVectors(t testing.TB) []vector {
	t.Helper()
	raw, err := os.ReadFile("../testdata/smpp_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Vectors []vector `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	return f.Vectors
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ucs2 of "nghắ nghiêng nghiễng ngả", gosmpp's test text.
const gosmppUCS2 = "006e006700681eaf0020006e00670068006900ea006e00670020006e0067006800691ec5006e00670020006e00671ea3"

// expected holds, per vector, the status and the PDU we must decode to.
// Every vector in the JSON must appear here.
func expectedVectors(t testing.TB) map[string]struct {
	status Status
	pdu    PDU
} {
	u := func(s string) []byte { return mustHex(t, s) }
	submitUCS2 := func() SubmitSM {
		return SubmitSM{
			SourceAddr:         Addr{Addr: "10661234"},
			DestAddr:           Addr{TON: 1, NPI: 1, Addr: "8613800138000"},
			RegisteredDelivery: 1,
			DataCoding:         CodingUCS2,
			ShortMessage:       u("4f60597dff0c4e16754c"),
		}
	}
	udh := submitUCS2()
	udh.ESMClass = ESMClassUDHI
	udh.ShortMessage = u("050003a50201957f77ed4fe17b2c4e006bb5")
	sar := submitUCS2()
	sar.ShortMessage = u("957f77ed4fe17b2c4e006bb5")
	sar.TLVs.SetSAR(SAR{Ref: 165, Total: 2, Seq: 1})
	receipt := DeliverSM{
		SourceAddr:   Addr{TON: 1, NPI: 1, Addr: "8613800138000"},
		DestAddr:     Addr{Addr: "10661234"},
		ESMClass:     ESMClassReceipt,
		ShortMessage: []byte("id:1A2B3C4D sub:001 dlvrd:001 submit date:2410151430 done date:2410151431 stat:DELIVRD err:000 text:"),
	}
	receipt.TLVs.SetReceiptedMessageID("1A2B3C4D")
	receipt.TLVs.SetMessageState(StateDelivered)
	gosmppBind := func(m BindMode) *Bind {
		return &Bind{Mode: m, SystemID: "system_id_fake", Password: "password", SystemType: "only",
			InterfaceVersion: 44, AddrTON: 23, AddrNPI: 101, AddressRange: "emptY"}
	}
	type exp = struct {
		status Status
		pdu    PDU
	}
	var bindResp BindResp
	bindResp.Mode = BindTransceiver
	bindResp.SystemID = "SMSC01"
	bindResp.TLVs.SetSCInterfaceVersion(0x34)
	return map[string]exp{
		"gosmpp_bind_receiver":               {0, gosmppBind(BindReceiver)},
		"gosmpp_bind_transceiver":            {0, gosmppBind(BindTransceiver)},
		"gosmpp_bind_transceiver_resp_empty": {0, &BindResp{Mode: BindTransceiver}},
		"gosmpp_submit_sm_ucs2": {0, &SubmitSM{
			ServiceType: "abc", SourceAddr: Addr{TON: 28, NPI: 29, Addr: "Alicer"},
			DestAddr: Addr{TON: 79, NPI: 80, Addr: "Bob"}, ESMClass: 13, ProtocolID: 99, PriorityFlag: 61,
			RegisteredDelivery: 83, DataCoding: 8, ShortMessage: u(gosmppUCS2)}},
		"gosmpp_deliver_sm_udh_ucs2": {0, &DeliverSM{
			ServiceType: "abc", SourceAddr: Addr{TON: 28, NPI: 29, Addr: "Alicer"},
			DestAddr: Addr{TON: 30, NPI: 31, Addr: "Bobo"}, ESMClass: 0x4d, ProtocolID: 99, PriorityFlag: 61,
			RegisteredDelivery: 83, DataCoding: 8, ShortMessage: u("050003fe0201" + gosmppUCS2)}},
		"bind_transceiver": {0, &Bind{Mode: BindTransceiver, SystemID: "ismg_bj01", Password: "pw123456",
			SystemType: "CMPPGW", InterfaceVersion: 0x34}},
		"bind_transceiver_resp":                            {0, &bindResp},
		"bind_transceiver_resp_invalid_password":           {StatusInvPaswd, &BindResp{Mode: BindTransceiver}},
		"bind_transceiver_resp_invalid_password_with_body": {StatusInvPaswd, &BindResp{Mode: BindTransceiver, ErrBody: true}},
		"submit_sm_ucs2":                                   {0, func() *SubmitSM { p := submitUCS2(); return &p }()},
		"submit_sm_resp":                                   {0, &SubmitSMResp{MessageID: "1A2B3C4D"}},
		"submit_sm_ucs2_udh_part1":                         {0, &udh},
		"submit_sm_ucs2_sar_part1":                         {0, &sar},
		"deliver_sm_receipt":                               {0, &receipt},
		"deliver_sm_resp":                                  {0, &DeliverSMResp{}},
		"enquire_link":                                     {0, &EnquireLink{}},
		"enquire_link_resp":                                {0, &EnquireLinkResp{}},
		"generic_nack_invalid_cmd":                         {StatusInvCmdID, &GenericNack{}},
		"unbind":                                           {0, &Unbind{}},
		"unbind_resp":                                      {0, &UnbindResp{}},
	}
}

func TestGoldenVectors(t *testing.T) {
	want := expectedVectors(t)
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			e, ok := want[v.Name]
			if !ok {
				t.Fatalf("vector %q has no expectation in expectedVectors", v.Name)
			}
			b := mustHex(t, v.Hex)
			if len(b) != v.Length {
				t.Fatalf("hex is %d bytes, vector says %d", len(b), v.Length)
			}
			h, p, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if h.ID.String() != v.Command {
				t.Errorf("command = %v, want %s", h.ID, v.Command)
			}
			if h.Seq != v.Sequence || h.Status != e.status {
				t.Errorf("seq, status = %d, %v; want %d, %v", h.Seq, h.Status, v.Sequence, e.status)
			}
			if !reflect.DeepEqual(p, e.pdu) {
				t.Errorf("decoded\n %#v\nwant\n %#v", p, e.pdu)
			}
			// Re-encode what we decoded, and encode the hand-built value.
			if got := AppendPDU(nil, p, h.Seq, h.Status); !bytes.Equal(got, b) {
				t.Errorf("re-encode\n got %x\nwant %x", got, b)
			}
			if err := e.pdu.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
			if got := AppendPDU(nil, e.pdu, v.Sequence, e.status); !bytes.Equal(got, b) {
				t.Errorf("encode expectation\n got %x\nwant %x", got, b)
			}
			// The same bytes framed from a stream.
			if _, err := DecodeBody(h, b[HeaderLen:]); err != nil {
				t.Errorf("DecodeBody: %v", err)
			}
		})
	}
}
