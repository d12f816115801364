package cmpp

import (
	"errors"
	"fmt"
)

// ErrBadField reports a field whose value contradicts the layout: a
// DestUsr_tl or Msg_Length that does not match the body, or a value outside
// its defined range. The error text names the PDU and the field.
var ErrBadField = errors.New("bad field value")

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
	case CmdSubmit:
		return new(Submit), nil
	case CmdSubmitResp:
		return new(SubmitResp), nil
	case CmdDeliver:
		return new(Deliver), nil
	case CmdDeliverResp:
		return new(DeliverResp), nil
	case CmdQuery:
		return new(Query), nil
	case CmdQueryResp:
		return new(QueryResp), nil
	case CmdCancel:
		return new(Cancel), nil
	case CmdCancelResp:
		return new(CancelResp), nil
	case CmdFwd:
		return new(Fwd), nil
	case CmdFwdResp:
		return new(FwdResp), nil
	case CmdMTRoute:
		return new(MTRoute), nil
	case CmdMTRouteResp:
		return new(MTRouteResp), nil
	case CmdMORoute:
		return new(MORoute), nil
	case CmdMORouteResp:
		return new(MORouteResp), nil
	case CmdGetMTRoute:
		return new(GetMTRoute), nil
	case CmdGetMTRouteResp:
		return new(GetMTRouteResp), nil
	case CmdGetMORoute:
		return new(GetMORoute), nil
	case CmdGetMORouteResp:
		return new(GetMORouteResp), nil
	case CmdMTRouteUpdate:
		return new(MTRouteUpdate), nil
	case CmdMTRouteUpdateResp:
		return new(MTRouteUpdateResp), nil
	case CmdMORouteUpdate:
		return new(MORouteUpdate), nil
	case CmdMORouteUpdateResp:
		return new(MORouteUpdateResp), nil
	case CmdPushMTRouteUpdate:
		return new(PushMTRouteUpdate), nil
	case CmdPushMTRouteUpdateResp:
		return new(PushMTRouteUpdateResp), nil
	case CmdPushMORouteUpdate:
		return new(PushMORouteUpdate), nil
	case CmdPushMORouteUpdateResp:
		return new(PushMORouteUpdateResp), nil
	}
	return nil, fmt.Errorf("cmpp: %w: %v", ErrUnknownCommand, cmd)
}

// termLen is the width of a terminal id in SUBMIT and DELIVER: 21 bytes in
// 2.x, 32 in 3.0 (FWD keeps 21 in both, see fwd.go).
func termLen(v Version) int {
	if v.Is3() {
		return 32
	}
	return 21
}

// trailerLen is the width of the trailing Reserve (2.x) / LinkID (3.0) of
// SUBMIT, DELIVER and FWD.
func trailerLen(v Version) int {
	if v.Is3() {
		return 20
	}
	return 8
}

func trailerName(v Version) string {
	if v.Is3() {
		return "LinkID"
	}
	return "Reserve"
}

// resultWidth is the width of a status/result field written by appendResult.
func resultWidth(v Version) int {
	if v.Is3() {
		return 4
	}
	return 1
}

// clampContent keeps Msg_Content within what the 1-byte Msg_Length can
// describe, so an oversized value still encodes to a self-consistent PDU.
// Callers that care reject oversize content before encoding (Result 6).
func clampContent(s string) string {
	if len(s) > 255 {
		return s[:255]
	}
	return s
}

// newStringReader reads s without copying: used for bodies nested in a
// field that is already a string (status reports in Msg_Content).
func newStringReader(pdu, s string) reader {
	return reader{pdu: pdu, s: s, size: len(s)}
}

// rem returns the number of unread bytes.
func (r *reader) rem() int { return len(r.s) - r.off }

// fail records a value error for field unless an earlier error stuck.
func (r *reader) fail(field, format string, args ...any) {
	if !r.ok() {
		return
	}
	r.err = fmt.Errorf("cmpp: decode %s: field %s: %w: %s", r.pdu, field, ErrBadField, fmt.Sprintf(format, args...))
}

// content reads Msg_Length and Msg_Content, checking that exactly the
// trailer bytes of Reserve/LinkID follow the content: the body length is
// the only thing Msg_Length can be validated against.
func (r *reader) content(trailer int) string {
	l := int(r.u8("Msg_Length"))
	if r.ok() && r.rem() != l+trailer {
		r.fail("Msg_Length", "%d, but %d bytes follow it (want Msg_Length+%d)", l, r.rem(), trailer)
	}
	return r.raw("Msg_Content", l)
}

func (r *reader) u16(field string) uint16 {
	if !r.need(field, 2) {
		return 0
	}
	s := r.s[r.off:]
	r.off += 2
	return uint16(s[0])<<8 | uint16(s[1])
}
