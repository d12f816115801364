package cmpp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// ErrNotReport reports a DELIVER or FWD whose Msg_Content is not a status
// report (Registered_Delivery is not 1, or Msg_Fwd_Type is not 2 or 3).
var ErrNotReport = errors.New("cmpp: not a status report")

// Deliver is CMPP_DELIVER (ISMG → SP), protocols.md §1.8: either an MO
// message or, when RegisteredDelivery is 1, a status report whose body is
// Msg_Content (see Report and SetReport). SrcTerminalID is 21 bytes in 2.x
// and 32 in 3.0; SrcTerminalType exists only in 3.0.
type Deliver struct {
	MsgID              uint64
	DestID             string // 21: the SP service code the user sent to
	ServiceID          string // 10
	TPPID              uint8
	TPUDHI             uint8
	MsgFmt             uint8
	SrcTerminalID      string // 21 / 32: sender; in a report the SUBMIT's destination
	SrcTerminalType    uint8  // 3.0: 0 real, 1 pseudo
	RegisteredDelivery uint8  // 0 MO, 1 status report
	MsgContent         string // raw bytes, at most 255
	LinkID             string // 3.0 LinkID (20); in 2.x the 8-byte Reserve
}

func (*Deliver) Command() CommandID { return CmdDeliver }

// BodyLen returns the encoded body length: 73+L in 2.x, 97+L in 3.0.
func (p *Deliver) BodyLen(v Version) int {
	l := len(clampContent(p.MsgContent))
	if v.Is3() {
		return 97 + l
	}
	return 73 + l
}

func (p *Deliver) AppendBody(b []byte, v Version) []byte {
	content := clampContent(p.MsgContent)
	b = slices.Grow(b, p.BodyLen(v))
	b = binary.BigEndian.AppendUint64(b, p.MsgID)
	b = appendFixed(b, p.DestID, 21)
	b = appendFixed(b, p.ServiceID, 10)
	b = append(b, p.TPPID, p.TPUDHI, p.MsgFmt)
	b = appendFixed(b, p.SrcTerminalID, termLen(v))
	if v.Is3() {
		b = append(b, p.SrcTerminalType)
	}
	b = append(b, p.RegisteredDelivery)
	return appendTail(b, content, p.LinkID, v)
}

// DecodeBody decodes a DELIVER. Msg_Content is kept as raw bytes whatever
// RegisteredDelivery says; Report parses it on demand.
func (p *Deliver) DecodeBody(body []byte, v Version) error {
	if p.decodeFast(body, v) {
		return nil
	}
	return p.decodeChecked(body, v)
}

// decodeFast decodes a body whose Msg_Length matches its length exactly
// (see copyBody in fields.go). It returns false, having changed nothing,
// for any other body, which decodeChecked then rejects with an error naming
// the field.
func (p *Deliver) decodeFast(body []byte, v Version) bool {
	tl, tr, x := termLen(v), trailerLen(v), 0
	if v.Is3() {
		x = 1 // Src_terminal_type
	}
	// m is where Msg_Length is.
	m := 42 + tl + x + 1
	if len(body) <= m {
		return false
	}
	l := int(body[m])
	if len(body) != m+1+l+tr {
		return false
	}
	// Copy from Dest_Id to the end of LinkID's value: Msg_Id is an integer
	// and LinkID's padding is dropped.
	c := copyBody(body, 8, m+1+l+trimLen(body[m+1+l:]))

	p.MsgID = binary.BigEndian.Uint64(body)
	p.DestID = c.fixed(8, 21)
	p.ServiceID = c.fixed(29, 10)
	p.TPPID, p.TPUDHI, p.MsgFmt = body[39], body[40], body[41]
	p.SrcTerminalID = c.fixed(42, tl)
	p.SrcTerminalType = 0
	if x == 1 {
		p.SrcTerminalType = body[42+tl]
	}
	p.RegisteredDelivery = body[m-1]
	p.MsgContent = c.raw(m+1, l)
	p.LinkID = c.tail(m + 1 + l)
	return true
}

// decodeChecked is the field-by-field decoder: the reference that
// decodeFast must agree with (FuzzDecodeFast), and the one that explains
// why a body is bad.
func (p *Deliver) decodeChecked(body []byte, v Version) error {
	r := newReader("DELIVER", body)
	p.MsgID = r.u64("Msg_Id")
	p.DestID = r.fixed("Dest_Id", 21)
	p.ServiceID = r.fixed("Service_Id", 10)
	p.TPPID = r.u8("TP_pid")
	p.TPUDHI = r.u8("TP_udhi")
	p.MsgFmt = r.u8("Msg_Fmt")
	p.SrcTerminalID = r.fixed("Src_terminal_Id", termLen(v))
	p.SrcTerminalType = 0
	if v.Is3() {
		p.SrcTerminalType = r.u8("Src_terminal_type")
	}
	p.RegisteredDelivery = r.u8("Registered_Delivery")
	p.MsgContent = r.content(trailerLen(v))
	p.LinkID = r.fixed(trailerName(v), trailerLen(v))
	return r.done()
}

// IsReport reports whether Msg_Content holds a status report.
func (p *Deliver) IsReport() bool { return p.RegisteredDelivery == 1 }

// Report parses the status report in Msg_Content. The layout is chosen by
// Msg_Length (60 or 71 bytes), not by the session version, because some
// 3.0 peers send the 2.x layout (protocols.md §5.2 item 1). The returned
// strings share memory with MsgContent; no allocation is made.
func (p *Deliver) Report() (Report, error) {
	var rep Report
	if !p.IsReport() {
		return rep, fmt.Errorf("cmpp: DELIVER: Registered_Delivery=%d: %w", p.RegisteredDelivery, ErrNotReport)
	}
	err := rep.DecodeString(p.MsgContent)
	return rep, err
}

// SetReport makes p a status report carrying rep in the layout of v
// (60 bytes in 2.x, 71 in 3.0), clearing TPUDHI and MsgFmt since a report
// is plain bytes. The caller still sets the envelope: SrcTerminalID is the
// SUBMIT's destination, DestID its Src_Id.
func (p *Deliver) SetReport(rep *Report, v Version) {
	var buf [ReportLen30]byte
	p.RegisteredDelivery = 1
	p.MsgFmt = 0
	p.TPUDHI = 0
	p.MsgContent = string(rep.Append(buf[:0], v))
}

// ErrorResponse answers a DELIVER that will not be processed.
func (p *Deliver) ErrorResponse(result uint32) PDU {
	return &DeliverResp{MsgID: p.MsgID, Result: result}
}

// DeliverResp is CMPP_DELIVER_RESP: the DELIVER's Msg_Id and a Result of
// 1 byte in 2.x, 4 in 3.0.
type DeliverResp struct {
	MsgID  uint64
	Result uint32
}

func (*DeliverResp) Command() CommandID { return CmdDeliverResp }

func (p *DeliverResp) AppendBody(b []byte, v Version) []byte {
	b = binary.BigEndian.AppendUint64(b, p.MsgID)
	return appendResult(b, p.Result, v)
}

func (p *DeliverResp) DecodeBody(body []byte, v Version) error {
	r := newReader("DELIVER_RESP", body)
	p.MsgID = r.u64("Msg_Id")
	p.Result = r.result("Result", v)
	return r.done()
}
