package cmpp

import "fmt"

// New returns a zero PDU of type cmd, ready for DecodeBody.
func New(cmd CommandID) (PDU, error) {
	switch cmd {
	case CmdConnect:
		return new(Connect), nil
	case CmdConnectResp:
		return new(ConnectResp), nil
	case CmdTerminate:
		return new(Terminate), nil
	case CmdTerminateResp:
		return new(TerminateResp), nil
	case CmdActiveTest:
		return new(ActiveTest), nil
	case CmdActiveTestResp:
		return new(ActiveTestResp), nil
	}
	return nil, fmt.Errorf("cmpp: %w: %v", ErrUnknownCommand, cmd)
}
