package smpp

// Addr is an SME address: type of number, numbering plan and the address.
type Addr struct {
	TON  uint8
	NPI  uint8
	Addr string
}

// ESM class bits (§2.4).
const (
	ESMClassReceipt      uint8 = 0x04 // message type: SMSC delivery receipt
	ESMClassSMEAck       uint8 = 0x08
	ESMClassUserAck      uint8 = 0x10
	ESMClassIntermediate uint8 = 0x20 // intermediate delivery notification
	ESMClassTypeMask     uint8 = 0x3C
	ESMClassUDHI         uint8 = 0x40 // short_message starts with a UDH
	ESMClassReplyPath    uint8 = 0x80
)

// Registered delivery values (§2.4).
const (
	RegDeliveryNone        uint8 = 0x00
	RegDeliveryFinal       uint8 = 0x01 // receipt on final success or failure
	RegDeliveryFailure     uint8 = 0x02 // receipt on failure only
	RegDeliveryReceiptMask uint8 = 0x03
	RegDeliveryInterm      uint8 = 0x10 // intermediate notification
)

// Data coding values this package names; the rest are carried as bytes.
const (
	CodingDefault uint8 = 0x00 // SMSC default alphabet, usually GSM 03.38
	CodingIA5     uint8 = 0x01
	CodingBinary  uint8 = 0x02
	CodingLatin1  uint8 = 0x03
	CodingBinary4 uint8 = 0x04
	CodingUCS2    uint8 = 0x08
)

// SubmitSM is submit_sm (§2.3). ShortMessage and TLV values alias the
// decoded buffer; strings are copies.
type SubmitSM struct {
	ServiceType          string // C6
	SourceAddr           Addr   // C21
	DestAddr             Addr   // C21
	ESMClass             uint8
	ProtocolID           uint8
	PriorityFlag         uint8
	ScheduleDeliveryTime string // C17, "" for immediate
	ValidityPeriod       string // C17, "" for the SMSC default
	RegisteredDelivery   uint8
	ReplaceIfPresent     uint8
	DataCoding           uint8
	SMDefaultMsgID       uint8
	ShortMessage         []byte // ≤ 254 octets; sm_length is derived
	TLVs                 TLVs
}

func (p *SubmitSM) CommandID() CommandID { return CmdSubmitSM }

func (p *SubmitSM) Append(b []byte) []byte { return appendSMBody(b, p) }

// Decode overwrites p with body, reusing the capacity of p.TLVs. It makes
// one allocation for all string fields, plus one for the TLV list when its
// capacity is short.
func (p *SubmitSM) Decode(body []byte) error { return decodeSMBody(CmdSubmitSM, p, body) }

func (p *SubmitSM) Validate() error { return validateSM(CmdSubmitSM, p) }

// Payload returns the message content: message_payload when present,
// otherwise short_message.
func (p *SubmitSM) Payload() []byte {
	if v, ok := p.TLVs.MessagePayload(); ok {
		return v
	}
	return p.ShortMessage
}

func appendSMBody(b []byte, p *SubmitSM) []byte {
	b = appendCString(b, p.ServiceType)
	b = appendAddr(b, p.SourceAddr)
	b = appendAddr(b, p.DestAddr)
	b = append(b, p.ESMClass, p.ProtocolID, p.PriorityFlag)
	b = appendCString(b, p.ScheduleDeliveryTime)
	b = appendCString(b, p.ValidityPeriod)
	b = append(b, p.RegisteredDelivery, p.ReplaceIfPresent, p.DataCoding, p.SMDefaultMsgID)
	b = appendSM(b, p.ShortMessage)
	return p.TLVs.Append(b)
}

func decodeSMBody(id CommandID, p *SubmitSM, body []byte) error {
	d := newDec(id, body)
	tl := p.TLVs
	*p = SubmitSM{
		ServiceType:          d.cstr("service_type", 6, StatusInvSerTyp),
		SourceAddr:           d.addr("source_addr", 21, StatusInvSrcAdr),
		DestAddr:             d.addr("destination_addr", 21, StatusInvDstAdr),
		ESMClass:             d.u8("esm_class"),
		ProtocolID:           d.u8("protocol_id"),
		PriorityFlag:         d.u8("priority_flag"),
		ScheduleDeliveryTime: d.cstr("schedule_delivery_time", 17, StatusInvSched),
		ValidityPeriod:       d.cstr("validity_period", 17, StatusInvExpiry),
		RegisteredDelivery:   d.u8("registered_delivery"),
		ReplaceIfPresent:     d.u8("replace_if_present_flag"),
		DataCoding:           d.u8("data_coding"),
		SMDefaultMsgID:       d.u8("sm_default_msg_id"),
		ShortMessage:         d.sm(),
	}
	p.TLVs = d.tlvs(tl)
	return d.end()
}

func validateSM(id CommandID, p *SubmitSM) error {
	v := val{id: id}
	v.cstr("service_type", p.ServiceType, 6, StatusInvSerTyp)
	v.addr("source_addr", p.SourceAddr, 21, StatusInvSrcAdr)
	v.addr("destination_addr", p.DestAddr, 21, StatusInvDstAdr)
	v.cstr("schedule_delivery_time", p.ScheduleDeliveryTime, 17, StatusInvSched)
	v.cstr("validity_period", p.ValidityPeriod, 17, StatusInvExpiry)
	v.sm(p.ShortMessage)
	v.tlvs(p.TLVs)
	return v.err
}

// SubmitSMResp answers submit_sm. With a non-zero status the spec sends no
// body; ErrBody records or requests one anyway. TLVs are an SMPP 5.0
// addition some SMSCs already send; they are kept.
type SubmitSMResp struct {
	MessageID string // C65
	TLVs      TLVs
	ErrBody   bool
}

func (p *SubmitSMResp) CommandID() CommandID { return CmdSubmitSMResp }
func (p *SubmitSMResp) errBody() *bool       { return &p.ErrBody }

func (p *SubmitSMResp) Append(b []byte) []byte {
	return p.TLVs.Append(appendCString(b, p.MessageID))
}

func (p *SubmitSMResp) Decode(body []byte) error {
	id, tl, err := decodeMsgIDResp(CmdSubmitSMResp, body, p.TLVs)
	*p = SubmitSMResp{MessageID: id, TLVs: tl}
	return err
}

func (p *SubmitSMResp) Validate() error {
	return validateMsgIDResp(CmdSubmitSMResp, p.MessageID, p.TLVs)
}

// decodeMsgIDResp decodes the message_id + TLVs body shared by
// submit_sm_resp, deliver_sm_resp and data_sm_resp. An empty body is
// accepted: some SMSCs send it even with status 0.
func decodeMsgIDResp(id CommandID, body []byte, tl TLVs) (string, TLVs, error) {
	if len(body) == 0 {
		return "", nil, nil
	}
	d := newDec(id, body)
	mid := d.cstr("message_id", 65, StatusInvMsgID)
	tl = d.tlvs(tl)
	return mid, tl, d.end()
}

func validateMsgIDResp(id CommandID, mid string, tl TLVs) error {
	v := val{id: id}
	v.cstr("message_id", mid, 65, StatusInvMsgID)
	v.tlvs(tl)
	return v.err
}
