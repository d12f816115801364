package smpp

// AlertNotification tells an ESME that a mobile became available (§2.3).
// It has no response.
type AlertNotification struct {
	SourceAddr Addr // C65
	ESMEAddr   Addr // C65
	TLVs       TLVs // ms_availability_status
}

func (p *AlertNotification) CommandID() CommandID { return CmdAlertNotification }

func (p *AlertNotification) Append(b []byte) []byte {
	return p.TLVs.Append(appendAddr(appendAddr(b, p.SourceAddr), p.ESMEAddr))
}

func (p *AlertNotification) Decode(body []byte) error {
	d := newDec(CmdAlertNotification, body)
	tl := p.TLVs
	*p = AlertNotification{
		SourceAddr: d.addr("source_addr", 65, StatusInvSrcAdr),
		ESMEAddr:   d.addr("esme_addr", 65, StatusInvDstAdr),
	}
	p.TLVs = d.tlvs(tl)
	return d.end()
}

func (p *AlertNotification) Validate() error {
	v := val{id: CmdAlertNotification}
	v.addr("source_addr", p.SourceAddr, 65, StatusInvSrcAdr)
	v.addr("esme_addr", p.ESMEAddr, 65, StatusInvDstAdr)
	v.tlvs(p.TLVs)
	return v.err
}
