package cmpp

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// Msg_Fwd_Type values of CMPP_FWD.
const (
	FwdMT       uint8 = 0 // MT forward
	FwdMO       uint8 = 1 // MO forward
	FwdMTReport uint8 = 2 // MT status report (Msg_Content is a Report)
	FwdMOReport uint8 = 3 // MO status report (Msg_Content is an MOReport)
)

// FWD_RESP Result codes beyond the shared ones in pdu.go.
const (
	ResultFwdDecision uint32 = 9 // this SP should not be routed to this ISMG
)

// fwdIDLen is the width of FWD's Fee_terminal_Id, Src_Id and Dest_Id: 21
// bytes in 2.x and, unlike SUBMIT and DELIVER, in 3.0 too.
const fwdIDLen = 21

// pseudoLen is the width of the 3.0 *_Pseudo fields.
const pseudoLen = 32

// Fwd is CMPP_FWD (ISMG ↔ ISMG), protocols.md §1.11. In 3.0 the terminal
// ids stay 21 bytes and the *_Pseudo / *_UserType / SrcType fields are
// added; after a 2.x decode those are zero. DestUsr_tl is always 1, so the
// destination is a single DestID.
//
// What SrcID and DestID mean depends on MsgFwdType: for MT the SP service
// code and the destination MSISDN; for MO the sender MSISDN and the SP
// service code; for an MT report the MSISDN that received the MT and the SP
// service code; for an MO report the SP service code and the MO sender.
type Fwd struct {
	SourceID            string // 6, source ISMG code
	DestinationID       string // 6, destination ISMG code
	NodesCount          uint8  // gateways passed so far
	MsgFwdType          uint8  // FwdMT, FwdMO, FwdMTReport, FwdMOReport
	MsgID               uint64
	PkTotal             uint8
	PkNumber            uint8
	RegisteredDelivery  uint8 // 0 no, 1 yes, 2 generate SMC bill
	MsgLevel            uint8
	ServiceID           string // 10
	FeeUserType         uint8
	FeeTerminalID       string // 21
	FeeTerminalPseudo   string // 3.0: 32
	FeeTerminalUserType uint8  // 3.0: 0 GoTone, 1 Shenzhouxing
	TPPID               uint8
	TPUDHI              uint8
	MsgFmt              uint8
	MsgSrc              string // 6, SP_Id
	FeeType             string // 2
	FeeCode             string // 6
	ValidTime           string // 17
	AtTime              string // 17
	SrcID               string // 21
	SrcPseudo           string // 3.0: 32
	SrcUserType         uint8  // 3.0
	SrcType             uint8  // 3.0: type of the source number given to the SP, 0 real, 1 pseudo
	DestID              string // 21; DestUsr_tl is always 1
	DestPseudo          string // 3.0: 32
	DestUserType        uint8  // 3.0
	MsgContent          string // raw bytes, at most 255
	LinkID              string // 3.0 LinkID (20); in 2.x the 8-byte Reserve
}

func (*Fwd) Command() CommandID { return CmdFwd }

// BodyLen returns the encoded body length: 161+L in 2.x, 273+L in 3.0
// (protocols.md: 140+21n+L and 252+21n+L with n=1).
func (p *Fwd) BodyLen(v Version) int {
	l := len(clampContent(p.MsgContent))
	if v.Is3() {
		return 273 + l
	}
	return 161 + l
}

func (p *Fwd) AppendBody(b []byte, v Version) []byte {
	content := clampContent(p.MsgContent)
	b = slices.Grow(b, p.BodyLen(v))
	b = appendFixed(b, p.SourceID, 6)
	b = appendFixed(b, p.DestinationID, 6)
	b = append(b, p.NodesCount, p.MsgFwdType)
	b = binary.BigEndian.AppendUint64(b, p.MsgID)
	b = append(b, p.PkTotal, p.PkNumber, p.RegisteredDelivery, p.MsgLevel)
	b = appendFixed(b, p.ServiceID, 10)
	b = append(b, p.FeeUserType)
	b = appendFixed(b, p.FeeTerminalID, fwdIDLen)
	if v.Is3() {
		b = appendFixed(b, p.FeeTerminalPseudo, pseudoLen)
		b = append(b, p.FeeTerminalUserType)
	}
	b = append(b, p.TPPID, p.TPUDHI, p.MsgFmt)
	b = appendFixed(b, p.MsgSrc, 6)
	b = appendFixed(b, p.FeeType, 2)
	b = appendFixed(b, p.FeeCode, 6)
	b = appendFixed(b, p.ValidTime, 17)
	b = appendFixed(b, p.AtTime, 17)
	b = appendFixed(b, p.SrcID, fwdIDLen)
	if v.Is3() {
		b = appendFixed(b, p.SrcPseudo, pseudoLen)
		b = append(b, p.SrcUserType, p.SrcType)
	}
	b = append(b, 1) // DestUsr_tl
	b = appendFixed(b, p.DestID, fwdIDLen)
	if v.Is3() {
		b = appendFixed(b, p.DestPseudo, pseudoLen)
		b = append(b, p.DestUserType)
	}
	return appendTail(b, content, p.LinkID, v)
}

// DecodeBody decodes a FWD. Msg_Fwd_Type must be 0..3, DestUsr_tl must be
// 1 and Msg_Length must account for the rest of the body.
func (p *Fwd) DecodeBody(body []byte, v Version) error {
	if p.decodeFast(body, v) {
		return nil
	}
	return p.decodeChecked(body, v)
}

// decodeFast decodes a body whose Msg_Fwd_Type, DestUsr_tl and Msg_Length
// are valid and match its length exactly (see copyBody in fields.go). It
// returns false, having changed nothing, for any other body, which
// decodeChecked then rejects with an error naming the field.
func (p *Fwd) decodeFast(body []byte, v Version) bool {
	tr, ps, x := trailerLen(v), 0, 0
	if v.Is3() {
		ps, x = pseudoLen, 1 // the *_Pseudo fields and the bytes after them
	}
	// Offsets: o is where TP_pid starts, s where Src_Id ends (3.0 fields
	// follow), d where DestUsr_tl is, m where Msg_Length is.
	o := 37 + fwdIDLen + ps + x
	s := o + 3 + 48 + fwdIDLen
	d := s + ps + 2*x
	m := d + 1 + fwdIDLen + ps + x
	if len(body) <= m || body[13] > FwdMOReport || body[d] != 1 {
		return false
	}
	l := int(body[m])
	if len(body) != m+1+l+tr {
		return false
	}
	// Copy everything up to the end of LinkID's value: Source_Id starts the
	// body, and LinkID's padding is dropped.
	c := copyBody(body, 0, m+1+l+trimLen(body[m+1+l:]))

	p.SourceID = c.fixed(0, 6)
	p.DestinationID = c.fixed(6, 6)
	p.NodesCount, p.MsgFwdType = body[12], body[13]
	p.MsgID = binary.BigEndian.Uint64(body[14:])
	p.PkTotal, p.PkNumber, p.RegisteredDelivery, p.MsgLevel = body[22], body[23], body[24], body[25]
	p.ServiceID = c.fixed(26, 10)
	p.FeeUserType = body[36]
	p.FeeTerminalID = c.fixed(37, fwdIDLen)
	p.FeeTerminalPseudo, p.FeeTerminalUserType = "", 0
	p.SrcPseudo, p.SrcUserType, p.SrcType = "", 0, 0
	p.DestPseudo, p.DestUserType = "", 0
	if x == 1 {
		p.FeeTerminalPseudo, p.FeeTerminalUserType = c.fixed(58, pseudoLen), body[58+pseudoLen]
		p.SrcPseudo, p.SrcUserType, p.SrcType = c.fixed(s, pseudoLen), body[s+pseudoLen], body[s+pseudoLen+1]
		p.DestPseudo, p.DestUserType = c.fixed(d+1+fwdIDLen, pseudoLen), body[m-1]
	}
	p.TPPID, p.TPUDHI, p.MsgFmt = body[o], body[o+1], body[o+2]
	p.MsgSrc = c.fixed(o+3, 6)
	p.FeeType = c.fixed(o+9, 2)
	p.FeeCode = c.fixed(o+11, 6)
	p.ValidTime = c.fixed(o+17, 17)
	p.AtTime = c.fixed(o+34, 17)
	p.SrcID = c.fixed(o+51, fwdIDLen)
	p.DestID = c.fixed(d+1, fwdIDLen)
	p.MsgContent = c.raw(m+1, l)
	p.LinkID = c.tail(m + 1 + l)
	return true
}

// decodeChecked is the field-by-field decoder: the reference that
// decodeFast must agree with (FuzzDecodeFast), and the one that explains
// why a body is bad.
func (p *Fwd) decodeChecked(body []byte, v Version) error {
	r := newReader("FWD", body)
	p.SourceID = r.fixed("Source_Id", 6)
	p.DestinationID = r.fixed("Destination_Id", 6)
	p.NodesCount = r.u8("NodesCount")
	p.MsgFwdType = r.u8("Msg_Fwd_Type")
	if r.ok() && p.MsgFwdType > FwdMOReport {
		r.fail("Msg_Fwd_Type", "%d, want 0..3", p.MsgFwdType)
	}
	p.MsgID = r.u64("Msg_Id")
	p.PkTotal = r.u8("Pk_total")
	p.PkNumber = r.u8("Pk_number")
	p.RegisteredDelivery = r.u8("Registered_Delivery")
	p.MsgLevel = r.u8("Msg_level")
	p.ServiceID = r.fixed("Service_Id", 10)
	p.FeeUserType = r.u8("Fee_UserType")
	p.FeeTerminalID = r.fixed("Fee_terminal_Id", fwdIDLen)
	p.FeeTerminalPseudo, p.FeeTerminalUserType = "", 0
	if v.Is3() {
		p.FeeTerminalPseudo = r.fixed("Fee_terminal_Pseudo", pseudoLen)
		p.FeeTerminalUserType = r.u8("Fee_terminal_UserType")
	}
	p.TPPID = r.u8("TP_pid")
	p.TPUDHI = r.u8("TP_udhi")
	p.MsgFmt = r.u8("Msg_Fmt")
	p.MsgSrc = r.fixed("Msg_src", 6)
	p.FeeType = r.fixed("FeeType", 2)
	p.FeeCode = r.fixed("FeeCode", 6)
	p.ValidTime = r.fixed("Valid_Time", 17)
	p.AtTime = r.fixed("At_Time", 17)
	p.SrcID = r.fixed("Src_Id", fwdIDLen)
	p.SrcPseudo, p.SrcUserType, p.SrcType = "", 0, 0
	if v.Is3() {
		p.SrcPseudo = r.fixed("Src_Pseudo", pseudoLen)
		p.SrcUserType = r.u8("Src_UserType")
		p.SrcType = r.u8("Src_type")
	}
	if n := r.u8("DestUsr_tl"); r.ok() && n != 1 {
		r.fail("DestUsr_tl", "%d, must be 1", n)
	}
	p.DestID = r.fixed("Dest_Id", fwdIDLen)
	p.DestPseudo, p.DestUserType = "", 0
	if v.Is3() {
		p.DestPseudo = r.fixed("Dest_Pseudo", pseudoLen)
		p.DestUserType = r.u8("Dest_UserType")
	}
	p.MsgContent = r.content(trailerLen(v))
	p.LinkID = r.fixed(trailerName(v), trailerLen(v))
	return r.done()
}

// Report parses the MT status report carried by a FWD of type FwdMTReport,
// choosing the 60- or 71-byte layout by Msg_Length.
func (p *Fwd) Report() (Report, error) {
	var rep Report
	if p.MsgFwdType != FwdMTReport {
		return rep, fmt.Errorf("cmpp: FWD: Msg_Fwd_Type=%d: %w", p.MsgFwdType, ErrNotReport)
	}
	err := rep.DecodeString(p.MsgContent)
	return rep, err
}

// SetReport makes p an MT status report (type 2) carrying rep in the
// layout of v.
func (p *Fwd) SetReport(rep *Report, v Version) {
	var buf [ReportLen30]byte
	p.MsgFwdType = FwdMTReport
	p.MsgFmt, p.TPUDHI = 0, 0
	p.MsgContent = string(rep.Append(buf[:0], v))
}

// MOReport parses the MO status report carried by a FWD of type
// FwdMOReport.
func (p *Fwd) MOReport() (MOReport, error) {
	var rep MOReport
	if p.MsgFwdType != FwdMOReport {
		return rep, fmt.Errorf("cmpp: FWD: Msg_Fwd_Type=%d: %w", p.MsgFwdType, ErrNotReport)
	}
	err := rep.DecodeString(p.MsgContent)
	return rep, err
}

// SetMOReport makes p an MO status report (type 3) carrying rep.
func (p *Fwd) SetMOReport(rep *MOReport) {
	var buf [MOReportLen]byte
	p.MsgFwdType = FwdMOReport
	p.MsgFmt, p.TPUDHI = 0, 0
	p.MsgContent = string(rep.Append(buf[:0]))
}

// ErrorResponse answers a FWD that will not be processed.
func (p *Fwd) ErrorResponse(result uint32) PDU {
	return &FwdResp{MsgID: p.MsgID, PkTotal: p.PkTotal, PkNumber: p.PkNumber, Result: result}
}

// FwdResp is CMPP_FWD_RESP. Result is 1 byte in 2.x, 4 in 3.0.
type FwdResp struct {
	MsgID    uint64
	PkTotal  uint8
	PkNumber uint8
	Result   uint32
}

func (*FwdResp) Command() CommandID { return CmdFwdResp }

func (p *FwdResp) AppendBody(b []byte, v Version) []byte {
	b = binary.BigEndian.AppendUint64(b, p.MsgID)
	b = append(b, p.PkTotal, p.PkNumber)
	return appendResult(b, p.Result, v)
}

func (p *FwdResp) DecodeBody(body []byte, v Version) error {
	r := newReader("FWD_RESP", body)
	p.MsgID = r.u64("Msg_Id")
	p.PkTotal = r.u8("Pk_total")
	p.PkNumber = r.u8("Pk_number")
	p.Result = r.result("Result", v)
	return r.done()
}
