package smpp

// DeliverSM is deliver_sm: the layout of submit_sm (§2.3), with
// schedule_delivery_time, validity_period, replace_if_present_flag and
// sm_default_msg_id unused. Convert with (*SubmitSM)(p) to share helpers.
type DeliverSM SubmitSM

func (p *DeliverSM) CommandID() CommandID   { return CmdDeliverSM }
func (p *DeliverSM) Append(b []byte) []byte { return appendSMBody(b, (*SubmitSM)(p)) }

// Decode overwrites p with body; see SubmitSM.Decode for allocations.
func (p *DeliverSM) Decode(body []byte) error {
	return decodeSMBody(CmdDeliverSM, (*SubmitSM)(p), body)
}

func (p *DeliverSM) Validate() error { return validateSM(CmdDeliverSM, (*SubmitSM)(p)) }

// Payload returns message_payload when present, otherwise short_message.
func (p *DeliverSM) Payload() []byte { return (*SubmitSM)(p).Payload() }

// IsReceipt reports whether esm_class marks an SMSC delivery receipt or an
// intermediate notification.
func (p *DeliverSM) IsReceipt() bool {
	t := p.ESMClass & ESMClassTypeMask
	return t == ESMClassReceipt || t == ESMClassIntermediate
}

// DeliverSMResp answers deliver_sm; message_id is unused (a single NUL).
type DeliverSMResp struct {
	MessageID string
	TLVs      TLVs
	ErrBody   bool
}

func (p *DeliverSMResp) CommandID() CommandID { return CmdDeliverSMResp }
func (p *DeliverSMResp) errBody() *bool       { return &p.ErrBody }

func (p *DeliverSMResp) Append(b []byte) []byte {
	return p.TLVs.Append(appendCString(b, p.MessageID))
}

func (p *DeliverSMResp) Decode(body []byte) error {
	id, tl, err := decodeMsgIDResp(CmdDeliverSMResp, body, p.TLVs)
	*p = DeliverSMResp{MessageID: id, TLVs: tl}
	return err
}

func (p *DeliverSMResp) Validate() error {
	return validateMsgIDResp(CmdDeliverSMResp, p.MessageID, p.TLVs)
}
