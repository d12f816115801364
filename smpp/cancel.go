package smpp

// CancelSM is cancel_sm (§2.3). An empty MessageID with source and
// destination set cancels every pending message between them.
type CancelSM struct {
	ServiceType string // C6
	MessageID   string // C65
	SourceAddr  Addr   // C21
	DestAddr    Addr   // C21
}

func (p *CancelSM) CommandID() CommandID { return CmdCancelSM }

func (p *CancelSM) Append(b []byte) []byte {
	b = appendCString(b, p.ServiceType)
	b = appendCString(b, p.MessageID)
	b = appendAddr(b, p.SourceAddr)
	return appendAddr(b, p.DestAddr)
}

func (p *CancelSM) Decode(body []byte) error {
	d := newDec(CmdCancelSM, body)
	*p = CancelSM{
		ServiceType: d.cstr("service_type", 6, StatusInvSerTyp),
		MessageID:   d.cstr("message_id", 65, StatusInvMsgID),
		SourceAddr:  d.addr("source_addr", 21, StatusInvSrcAdr),
		DestAddr:    d.addr("destination_addr", 21, StatusInvDstAdr),
	}
	return d.end()
}

func (p *CancelSM) Validate() error {
	v := val{id: CmdCancelSM}
	v.cstr("service_type", p.ServiceType, 6, StatusInvSerTyp)
	v.cstr("message_id", p.MessageID, 65, StatusInvMsgID)
	v.addr("source_addr", p.SourceAddr, 21, StatusInvSrcAdr)
	v.addr("destination_addr", p.DestAddr, 21, StatusInvDstAdr)
	return v.err
}

// CancelSMResp answers cancel_sm; header only.
type CancelSMResp struct{ empty }

func (p *CancelSMResp) CommandID() CommandID { return CmdCancelSMResp }

func (p *CancelSMResp) Decode(body []byte) error { return decodeEmpty(CmdCancelSMResp, body) }
