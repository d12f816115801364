package smpp

// GenericNack rejects a PDU whose command_id or command_length is invalid;
// header only, the reason is in command_status.
type GenericNack struct{ empty }

func (p *GenericNack) CommandID() CommandID     { return CmdGenericNack }
func (p *GenericNack) Decode(body []byte) error { return decodeEmpty(CmdGenericNack, body) }
