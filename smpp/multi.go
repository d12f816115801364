package smpp

import "fmt"

// DestFlag says whether a submit_multi destination is an address or a
// distribution list.
type DestFlag uint8

// Destination flags of submit_multi.
const (
	DestSME      DestFlag = 1 // an SME address
	DestDistList DestFlag = 2 // a distribution list name
)

// MultiDest is one destination of a submit_multi.
type MultiDest struct {
	Flag   DestFlag
	Addr   Addr   // when Flag == DestSME; C21
	DLName string // when Flag == DestDistList; C21
}

// MaxMultiDests is the largest number_of_dests.
const MaxMultiDests = 254

// SubmitMulti is submit_multi (§2.3).
type SubmitMulti struct {
	ServiceType          string // C6
	SourceAddr           Addr   // C21
	Dests                []MultiDest
	ESMClass             uint8
	ProtocolID           uint8
	PriorityFlag         uint8
	ScheduleDeliveryTime string // C17
	ValidityPeriod       string // C17
	RegisteredDelivery   uint8
	ReplaceIfPresent     uint8
	DataCoding           uint8
	SMDefaultMsgID       uint8
	ShortMessage         []byte
	TLVs                 TLVs
}

func (p *SubmitMulti) CommandID() CommandID { return CmdSubmitMulti }

func (p *SubmitMulti) Append(b []byte) []byte {
	b = appendCString(b, p.ServiceType)
	b = appendAddr(b, p.SourceAddr)
	b = append(b, byte(len(p.Dests)))
	for _, d := range p.Dests {
		b = append(b, byte(d.Flag))
		if d.Flag == DestDistList {
			b = appendCString(b, d.DLName)
		} else {
			b = appendAddr(b, d.Addr)
		}
	}
	b = append(b, p.ESMClass, p.ProtocolID, p.PriorityFlag)
	b = appendCString(b, p.ScheduleDeliveryTime)
	b = appendCString(b, p.ValidityPeriod)
	b = append(b, p.RegisteredDelivery, p.ReplaceIfPresent, p.DataCoding, p.SMDefaultMsgID)
	b = appendSM(b, p.ShortMessage)
	return p.TLVs.Append(b)
}

func (p *SubmitMulti) Decode(body []byte) error {
	d := newDec(CmdSubmitMulti, body)
	tl := p.TLVs
	*p = SubmitMulti{
		ServiceType: d.cstr("service_type", 6, StatusInvSerTyp),
		SourceAddr:  d.addr("source_addr", 21, StatusInvSrcAdr),
	}
	n := int(d.u8("number_of_dests"))
	if n > 0 && d.err == nil {
		// Each destination takes at least 2 bytes, so a lying count cannot
		// make us allocate more than the body justifies.
		p.Dests = make([]MultiDest, 0, min(n, (len(body)-d.off)/2))
	}
	for i := 0; i < n && d.err == nil; i++ {
		switch f := DestFlag(d.u8("dest_flag")); f {
		case DestSME:
			p.Dests = append(p.Dests, MultiDest{Flag: f, Addr: d.addr("destination_addr", 21, StatusInvDstAdr)})
		case DestDistList:
			p.Dests = append(p.Dests, MultiDest{Flag: f, DLName: d.cstr("dl_name", 21, StatusInvDLName)})
		default:
			if d.err == nil {
				d.fail("dest_flag", StatusInvDestFlag, fmt.Errorf("%w: %d in destination %d", ErrBadValue, f, i))
			}
		}
	}
	p.ESMClass = d.u8("esm_class")
	p.ProtocolID = d.u8("protocol_id")
	p.PriorityFlag = d.u8("priority_flag")
	p.ScheduleDeliveryTime = d.cstr("schedule_delivery_time", 17, StatusInvSched)
	p.ValidityPeriod = d.cstr("validity_period", 17, StatusInvExpiry)
	p.RegisteredDelivery = d.u8("registered_delivery")
	p.ReplaceIfPresent = d.u8("replace_if_present_flag")
	p.DataCoding = d.u8("data_coding")
	p.SMDefaultMsgID = d.u8("sm_default_msg_id")
	p.ShortMessage = d.sm()
	p.TLVs = d.tlvs(tl)
	return d.end()
}

func (p *SubmitMulti) Validate() error {
	v := val{id: CmdSubmitMulti}
	v.cstr("service_type", p.ServiceType, 6, StatusInvSerTyp)
	v.addr("source_addr", p.SourceAddr, 21, StatusInvSrcAdr)
	if len(p.Dests) == 0 || len(p.Dests) > MaxMultiDests {
		v.fail("number_of_dests", StatusInvNumDests, fmt.Errorf("%w: %d, want 1..%d", ErrBadValue, len(p.Dests), MaxMultiDests))
	}
	for _, d := range p.Dests {
		switch d.Flag {
		case DestSME:
			v.addr("destination_addr", d.Addr, 21, StatusInvDstAdr)
		case DestDistList:
			v.cstr("dl_name", d.DLName, 21, StatusInvDLName)
		default:
			v.fail("dest_flag", StatusInvDestFlag, fmt.Errorf("%w: %d", ErrBadValue, d.Flag))
		}
	}
	v.cstr("schedule_delivery_time", p.ScheduleDeliveryTime, 17, StatusInvSched)
	v.cstr("validity_period", p.ValidityPeriod, 17, StatusInvExpiry)
	v.sm(p.ShortMessage)
	v.tlvs(p.TLVs)
	return v.err
}

// UnsuccessSME is one destination a submit_multi could not be sent to.
type UnsuccessSME struct {
	Addr   Addr // C21
	Status Status
}

// SubmitMultiResp answers submit_multi.
type SubmitMultiResp struct {
	MessageID string // C65
	Unsuccess []UnsuccessSME
	ErrBody   bool
}

func (p *SubmitMultiResp) CommandID() CommandID { return CmdSubmitMultiResp }
func (p *SubmitMultiResp) errBody() *bool       { return &p.ErrBody }

func (p *SubmitMultiResp) Append(b []byte) []byte {
	b = appendCString(b, p.MessageID)
	b = append(b, byte(len(p.Unsuccess)))
	for _, u := range p.Unsuccess {
		b = appendAddr(b, u.Addr)
		b = append(b, byte(u.Status>>24), byte(u.Status>>16), byte(u.Status>>8), byte(u.Status))
	}
	return b
}

func (p *SubmitMultiResp) Decode(body []byte) error {
	d := newDec(CmdSubmitMultiResp, body)
	*p = SubmitMultiResp{MessageID: d.cstr("message_id", 65, StatusInvMsgID)}
	n := int(d.u8("no_unsuccess"))
	if n > 0 && d.err == nil {
		p.Unsuccess = make([]UnsuccessSME, 0, min(n, (len(body)-d.off)/7))
	}
	for i := 0; i < n && d.err == nil; i++ {
		a := d.addr("destination_addr", 21, StatusInvDstAdr)
		st := Status(d.u32("error_status_code"))
		if d.err == nil {
			p.Unsuccess = append(p.Unsuccess, UnsuccessSME{Addr: a, Status: st})
		}
	}
	return d.end()
}

func (p *SubmitMultiResp) Validate() error {
	v := val{id: CmdSubmitMultiResp}
	v.cstr("message_id", p.MessageID, 65, StatusInvMsgID)
	if len(p.Unsuccess) > MaxMultiDests {
		v.fail("no_unsuccess", StatusInvNumDests, fmt.Errorf("%w: %d", ErrBadValue, len(p.Unsuccess)))
	}
	for _, u := range p.Unsuccess {
		v.addr("destination_addr", u.Addr, 21, StatusInvDstAdr)
	}
	return v.err
}
