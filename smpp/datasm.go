package smpp

// DataSM is data_sm (§2.3): addresses up to 65 octets and the content in
// the message_payload TLV. It may flow in either direction.
type DataSM struct {
	ServiceType        string // C6
	SourceAddr         Addr   // C65
	DestAddr           Addr   // C65
	ESMClass           uint8
	RegisteredDelivery uint8
	DataCoding         uint8
	TLVs               TLVs
}

func (p *DataSM) CommandID() CommandID { return CmdDataSM }

func (p *DataSM) Append(b []byte) []byte {
	b = appendCString(b, p.ServiceType)
	b = appendAddr(b, p.SourceAddr)
	b = appendAddr(b, p.DestAddr)
	b = append(b, p.ESMClass, p.RegisteredDelivery, p.DataCoding)
	return p.TLVs.Append(b)
}

func (p *DataSM) Decode(body []byte) error {
	d := newDec(CmdDataSM, body)
	tl := p.TLVs
	*p = DataSM{
		ServiceType:        d.cstr("service_type", 6, StatusInvSerTyp),
		SourceAddr:         d.addr("source_addr", 65, StatusInvSrcAdr),
		DestAddr:           d.addr("destination_addr", 65, StatusInvDstAdr),
		ESMClass:           d.u8("esm_class"),
		RegisteredDelivery: d.u8("registered_delivery"),
		DataCoding:         d.u8("data_coding"),
	}
	p.TLVs = d.tlvs(tl)
	return d.end()
}

func (p *DataSM) Validate() error {
	v := val{id: CmdDataSM}
	v.cstr("service_type", p.ServiceType, 6, StatusInvSerTyp)
	v.addr("source_addr", p.SourceAddr, 65, StatusInvSrcAdr)
	v.addr("destination_addr", p.DestAddr, 65, StatusInvDstAdr)
	v.tlvs(p.TLVs)
	return v.err
}

// DataSMResp answers data_sm: message_id and TLVs such as
// delivery_failure_reason and network_error_code.
type DataSMResp struct {
	MessageID string // C65
	TLVs      TLVs
	ErrBody   bool
}

func (p *DataSMResp) CommandID() CommandID { return CmdDataSMResp }
func (p *DataSMResp) errBody() *bool       { return &p.ErrBody }

func (p *DataSMResp) Append(b []byte) []byte {
	return p.TLVs.Append(appendCString(b, p.MessageID))
}

func (p *DataSMResp) Decode(body []byte) error {
	id, tl, err := decodeMsgIDResp(CmdDataSMResp, body, p.TLVs)
	*p = DataSMResp{MessageID: id, TLVs: tl}
	return err
}

func (p *DataSMResp) Validate() error { return validateMsgIDResp(CmdDataSMResp, p.MessageID, p.TLVs) }
