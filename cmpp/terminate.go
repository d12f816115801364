package cmpp

import "fmt"

// Terminate is CMPP_TERMINATE: either side asks to close the connection.
type Terminate struct{}

func (*Terminate) Command() CommandID                      { return CmdTerminate }
func (*Terminate) AppendBody(b []byte, _ Version) []byte   { return b }
func (*Terminate) DecodeBody(body []byte, _ Version) error { return emptyBody("TERMINATE", body) }

// TerminateResp is CMPP_TERMINATE_RESP.
type TerminateResp struct{}

func (*TerminateResp) Command() CommandID                    { return CmdTerminateResp }
func (*TerminateResp) AppendBody(b []byte, _ Version) []byte { return b }
func (*TerminateResp) DecodeBody(body []byte, _ Version) error {
	return emptyBody("TERMINATE_RESP", body)
}

func emptyBody(pdu string, body []byte) error {
	if len(body) != 0 {
		return fmt.Errorf("cmpp: decode %s: %w: %d unexpected body bytes", pdu, ErrTrailingBytes, len(body))
	}
	return nil
}
