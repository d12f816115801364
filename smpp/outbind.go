package smpp

// Outbind asks an ESME to bind_receiver back to the SMSC (§2.3). It has no
// response.
type Outbind struct {
	SystemID string // C16
	Password string // C9
}

func (p *Outbind) CommandID() CommandID { return CmdOutbind }

func (p *Outbind) Append(b []byte) []byte {
	b = appendCString(b, p.SystemID)
	return appendCString(b, p.Password)
}

func (p *Outbind) Decode(body []byte) error {
	d := newDec(CmdOutbind, body)
	*p = Outbind{
		SystemID: d.cstr("system_id", 16, StatusInvSysID),
		Password: d.cstr("password", 9, StatusInvPaswd),
	}
	return d.end()
}

func (p *Outbind) Validate() error {
	v := val{id: CmdOutbind}
	v.cstr("system_id", p.SystemID, 16, StatusInvSysID)
	v.cstr("password", p.Password, 9, StatusInvPaswd)
	return v.err
}
