package smpp

// ReplaceSM is replace_sm (§2.3).
type ReplaceSM struct {
	MessageID            string // C65
	SourceAddr           Addr   // C21
	ScheduleDeliveryTime string // C17
	ValidityPeriod       string // C17
	RegisteredDelivery   uint8
	SMDefaultMsgID       uint8
	ShortMessage         []byte // ≤ 254 octets, aliases the decoded body
}

func (p *ReplaceSM) CommandID() CommandID { return CmdReplaceSM }

func (p *ReplaceSM) Append(b []byte) []byte {
	b = appendCString(b, p.MessageID)
	b = appendAddr(b, p.SourceAddr)
	b = appendCString(b, p.ScheduleDeliveryTime)
	b = appendCString(b, p.ValidityPeriod)
	b = append(b, p.RegisteredDelivery, p.SMDefaultMsgID)
	return appendSM(b, p.ShortMessage)
}

func (p *ReplaceSM) Decode(body []byte) error {
	d := newDec(CmdReplaceSM, body)
	*p = ReplaceSM{
		MessageID:            d.cstr("message_id", 65, StatusInvMsgID),
		SourceAddr:           d.addr("source_addr", 21, StatusInvSrcAdr),
		ScheduleDeliveryTime: d.cstr("schedule_delivery_time", 17, StatusInvSched),
		ValidityPeriod:       d.cstr("validity_period", 17, StatusInvExpiry),
		RegisteredDelivery:   d.u8("registered_delivery"),
		SMDefaultMsgID:       d.u8("sm_default_msg_id"),
		ShortMessage:         d.sm(),
	}
	return d.end()
}

func (p *ReplaceSM) Validate() error {
	v := val{id: CmdReplaceSM}
	v.cstr("message_id", p.MessageID, 65, StatusInvMsgID)
	v.addr("source_addr", p.SourceAddr, 21, StatusInvSrcAdr)
	v.cstr("schedule_delivery_time", p.ScheduleDeliveryTime, 17, StatusInvSched)
	v.cstr("validity_period", p.ValidityPeriod, 17, StatusInvExpiry)
	v.sm(p.ShortMessage)
	return v.err
}

// ReplaceSMResp answers replace_sm; header only.
type ReplaceSMResp struct{ empty }

func (p *ReplaceSMResp) CommandID() CommandID { return CmdReplaceSMResp }

func (p *ReplaceSMResp) Decode(body []byte) error { return decodeEmpty(CmdReplaceSMResp, body) }
