package smpp

import "fmt"

// empty implements the body methods of the header-only PDUs.
type empty struct{}

func (empty) Append(b []byte) []byte { return b }
func (empty) Validate() error        { return nil }

func decodeEmpty(id CommandID, body []byte) error {
	if len(body) != 0 {
		return &FieldError{Op: "decode", Command: id, Field: "body", Status: StatusInvCmdLen,
			Err: fmt.Errorf("%w: %d bytes in a header-only PDU", ErrTrailing, len(body))}
	}
	return nil
}

// EnquireLink is enquire_link, the keep-alive; header only.
type EnquireLink struct{ empty }

func (p *EnquireLink) CommandID() CommandID     { return CmdEnquireLink }
func (p *EnquireLink) Decode(body []byte) error { return decodeEmpty(CmdEnquireLink, body) }

// EnquireLinkResp answers enquire_link; header only.
type EnquireLinkResp struct{ empty }

func (p *EnquireLinkResp) CommandID() CommandID { return CmdEnquireLinkResp }
func (p *EnquireLinkResp) Decode(body []byte) error {
	return decodeEmpty(CmdEnquireLinkResp, body)
}
