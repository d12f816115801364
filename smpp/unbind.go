package smpp

// Unbind ends a bound session; header only.
type Unbind struct{ empty }

func (p *Unbind) CommandID() CommandID     { return CmdUnbind }
func (p *Unbind) Decode(body []byte) error { return decodeEmpty(CmdUnbind, body) }

// UnbindResp answers unbind; header only.
type UnbindResp struct{ empty }

func (p *UnbindResp) CommandID() CommandID     { return CmdUnbindResp }
func (p *UnbindResp) Decode(body []byte) error { return decodeEmpty(CmdUnbindResp, body) }
