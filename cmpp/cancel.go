package cmpp

import "encoding/binary"

// CANCEL_RESP Success_Id values.
const (
	CancelOK     uint32 = 0
	CancelFailed uint32 = 1
)

// Cancel is CMPP_CANCEL: the SP asks the ISMG to drop a message it has not
// delivered yet.
type Cancel struct {
	MsgID uint64
}

func (*Cancel) Command() CommandID { return CmdCancel }

func (p *Cancel) AppendBody(b []byte, _ Version) []byte {
	return binary.BigEndian.AppendUint64(b, p.MsgID)
}

func (p *Cancel) DecodeBody(body []byte, _ Version) error {
	r := newReader("CANCEL", body)
	p.MsgID = r.u64("Msg_Id")
	return r.done()
}

// ErrorResponse answers a CANCEL that will not be processed. Success_Id
// only knows success and failure, so every non-zero result is a failure.
func (p *Cancel) ErrorResponse(result uint32) PDU {
	if result != 0 {
		result = CancelFailed
	}
	return &CancelResp{SuccessID: result}
}

// CancelResp is CMPP_CANCEL_RESP. Success_Id is 1 byte in 2.x, 4 in 3.0.
type CancelResp struct {
	SuccessID uint32 // CancelOK or CancelFailed
}

func (*CancelResp) Command() CommandID { return CmdCancelResp }

func (p *CancelResp) AppendBody(b []byte, v Version) []byte {
	return appendResult(b, p.SuccessID, v)
}

func (p *CancelResp) DecodeBody(body []byte, v Version) error {
	r := newReader("CANCEL_RESP", body)
	p.SuccessID = r.result("Success_Id", v)
	return r.done()
}
