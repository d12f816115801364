package smpp

// BindMode says which of the three bind PDUs a Bind is.
type BindMode uint8

// Bind modes. The zero value is not a valid mode.
const (
	BindTransmitter BindMode = iota + 1 // bind_transmitter: ESME submits
	BindReceiver                        // bind_receiver: SMSC delivers
	BindTransceiver                     // bind_transceiver: both
)

func (m BindMode) String() string {
	switch m {
	case BindTransmitter:
		return "transmitter"
	case BindReceiver:
		return "receiver"
	case BindTransceiver:
		return "transceiver"
	}
	return "invalid"
}

// CanSubmit reports whether an ESME bound in mode m may send submit_sm,
// data_sm and the other ESME→SMSC requests.
func (m BindMode) CanSubmit() bool { return m == BindTransmitter || m == BindTransceiver }

// CanReceive reports whether the SMSC may send deliver_sm to an ESME bound
// in mode m.
func (m BindMode) CanReceive() bool { return m == BindReceiver || m == BindTransceiver }

// CommandID returns the bind request id for m (bind_transceiver if m is
// invalid, the only mode that allows everything).
func (m BindMode) CommandID() CommandID {
	switch m {
	case BindTransmitter:
		return CmdBindTransmitter
	case BindReceiver:
		return CmdBindReceiver
	}
	return CmdBindTransceiver
}

// InterfaceVersion34 is the interface_version of an SMPP 3.4 ESME.
const InterfaceVersion34 = 0x34

// Bind is bind_transmitter, bind_receiver or bind_transceiver (§2.3).
type Bind struct {
	Mode             BindMode
	SystemID         string // C16
	Password         string // C9
	SystemType       string // C13
	InterfaceVersion uint8  // 0x34 for SMPP 3.4
	AddrTON          uint8
	AddrNPI          uint8
	AddressRange     string // C41
}

func (p *Bind) CommandID() CommandID { return p.Mode.CommandID() }

func (p *Bind) Append(b []byte) []byte {
	b = appendCString(b, p.SystemID)
	b = appendCString(b, p.Password)
	b = appendCString(b, p.SystemType)
	b = append(b, p.InterfaceVersion, p.AddrTON, p.AddrNPI)
	return appendCString(b, p.AddressRange)
}

func (p *Bind) Decode(body []byte) error {
	d := newDec(p.CommandID(), body)
	*p = Bind{
		Mode:             p.Mode,
		SystemID:         d.cstr("system_id", 16, StatusInvSysID),
		Password:         d.cstr("password", 9, StatusInvPaswd),
		SystemType:       d.cstr("system_type", 13, StatusInvSysTyp),
		InterfaceVersion: d.u8("interface_version"),
		AddrTON:          d.u8("addr_ton"),
		AddrNPI:          d.u8("addr_npi"),
		AddressRange:     d.cstr("address_range", 41, StatusBindFail),
	}
	return d.end()
}

func (p *Bind) Validate() error {
	v := val{id: p.CommandID()}
	v.cstr("system_id", p.SystemID, 16, StatusInvSysID)
	v.cstr("password", p.Password, 9, StatusInvPaswd)
	v.cstr("system_type", p.SystemType, 13, StatusInvSysTyp)
	v.cstr("address_range", p.AddressRange, 41, StatusBindFail)
	return v.err
}

// BindResp answers a Bind. With a non-zero status the spec sends no body;
// ErrBody records or requests one anyway (gosmpp and many SMSCs send it).
type BindResp struct {
	Mode     BindMode
	SystemID string // C16, the SMSC's id
	TLVs     TLVs   // sc_interface_version
	ErrBody  bool
}

func (p *BindResp) CommandID() CommandID { return p.Mode.CommandID().Response() }

func (p *BindResp) errBody() *bool { return &p.ErrBody }

func (p *BindResp) Append(b []byte) []byte {
	b = appendCString(b, p.SystemID)
	return p.TLVs.Append(b)
}

func (p *BindResp) Decode(body []byte) error {
	d := newDec(p.CommandID(), body)
	mode := p.Mode
	tl := p.TLVs
	*p = BindResp{Mode: mode}
	if len(body) == 0 {
		return nil
	}
	p.SystemID = d.cstr("system_id", 16, StatusInvSysID)
	p.TLVs = d.tlvs(tl)
	return d.end()
}

func (p *BindResp) Validate() error {
	v := val{id: p.CommandID()}
	v.cstr("system_id", p.SystemID, 16, StatusInvSysID)
	v.tlvs(p.TLVs)
	return v.err
}
