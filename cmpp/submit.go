package cmpp

import (
	"encoding/binary"
	"slices"
)

// MaxDestinations is the largest DestUsr_tl a SUBMIT may carry (the spec
// says "< 100").
const MaxDestinations = 99

// SUBMIT_RESP Result codes beyond the shared ones in pdu.go (protocols.md §1.6).
const (
	ResultNotServed        uint32 = 9  // this gateway does not serve the charged number
	ResultBadSrcID         uint32 = 10 // Src_Id error
	ResultBadMsgSrc        uint32 = 11 // Msg_src error
	ResultBadFeeTerminalID uint32 = 12 // Fee_terminal_Id error
	ResultBadDestTerminal  uint32 = 13 // Dest_terminal_Id error
)

// Submit is CMPP_SUBMIT (SP → ISMG), protocols.md §1.6. Terminal ids are 21
// bytes wide in 2.x and 32 in 3.0; FeeTerminalType and DestTerminalType
// exist only in 3.0 and are zero after a 2.x decode.
//
// DecodeBody reuses the backing array of DestTerminalIDs when it is large
// enough, which is what makes decoding into a reused Submit cost a single
// allocation; do not decode into a Submit whose DestTerminalIDs slice is
// still referenced elsewhere.
type Submit struct {
	MsgID              uint64 // 0 from the SP; the ISMG assigns it
	PkTotal            uint8  // parts sharing this Msg_Id, from 1
	PkNumber           uint8  // part number, from 1
	RegisteredDelivery uint8  // 1 = status report wanted (2 = SMC bill, 2.x only)
	MsgLevel           uint8
	ServiceID          string // 10
	FeeUserType        uint8  // 0 dest, 1 source, 2 SP, 3 FeeTerminalID
	FeeTerminalID      string // 21 / 32
	FeeTerminalType    uint8  // 3.0: 0 real, 1 pseudo
	TPPID              uint8
	TPUDHI             uint8
	MsgFmt             uint8
	MsgSrc             string   // 6, SP_Id
	FeeType            string   // 2
	FeeCode            string   // 6, fen
	ValidTime          string   // 17
	AtTime             string   // 17
	SrcID              string   // 21
	DestTerminalIDs    []string // 21 / 32 each; 1..99 of them
	DestTerminalType   uint8    // 3.0: 0 real, 1 pseudo
	MsgContent         string   // raw bytes, at most 255
	LinkID             string   // 3.0 LinkID (20); in 2.x the 8-byte Reserve
}

func (*Submit) Command() CommandID { return CmdSubmit }

// BodyLen returns the encoded body length in the layout of v:
// 126+21n+L in 2.x, 151+32n+L in 3.0.
func (p *Submit) BodyLen(v Version) int {
	n := min(len(p.DestTerminalIDs), 255)
	l := len(clampContent(p.MsgContent))
	if v.Is3() {
		return 151 + 32*n + l
	}
	return 126 + 21*n + l
}

// AppendBody encodes p. More than 255 destinations or 255 content bytes are
// cut so the PDU stays self-consistent; validate before encoding to reject
// such messages instead.
func (p *Submit) AppendBody(b []byte, v Version) []byte {
	tl := termLen(v)
	dests := p.DestTerminalIDs
	if len(dests) > 255 {
		dests = dests[:255]
	}
	content := clampContent(p.MsgContent)
	b = slices.Grow(b, p.BodyLen(v))
	b = binary.BigEndian.AppendUint64(b, p.MsgID)
	b = append(b, p.PkTotal, p.PkNumber, p.RegisteredDelivery, p.MsgLevel)
	b = appendFixed(b, p.ServiceID, 10)
	b = append(b, p.FeeUserType)
	b = appendFixed(b, p.FeeTerminalID, tl)
	if v.Is3() {
		b = append(b, p.FeeTerminalType)
	}
	b = append(b, p.TPPID, p.TPUDHI, p.MsgFmt)
	b = appendFixed(b, p.MsgSrc, 6)
	b = appendFixed(b, p.FeeType, 2)
	b = appendFixed(b, p.FeeCode, 6)
	b = appendFixed(b, p.ValidTime, 17)
	b = appendFixed(b, p.AtTime, 17)
	b = appendFixed(b, p.SrcID, 21)
	b = append(b, byte(len(dests)))
	for _, d := range dests {
		b = appendFixed(b, d, tl)
	}
	if v.Is3() {
		b = append(b, p.DestTerminalType)
	}
	return appendTail(b, content, p.LinkID, v)
}

// DecodeBody decodes a SUBMIT. DestUsr_tl must be 1..99 and, together with
// Msg_Length, account for every byte of the body.
func (p *Submit) DecodeBody(body []byte, v Version) error {
	if p.decodeFast(body, v) {
		return nil
	}
	return p.decodeChecked(body, v)
}

// decodeFast decodes a body whose DestUsr_tl and Msg_Length match its
// length exactly (see copyBody in fields.go). It returns false, having
// changed nothing, for any other body, which decodeChecked then rejects
// with an error naming the field.
func (p *Submit) decodeFast(body []byte, v Version) bool {
	tl, tr, x := termLen(v), trailerLen(v), 0
	if v.Is3() {
		x = 1 // Fee_terminal_type and Dest_terminal_type
	}
	// Offsets: o is where TP_pId starts, d where DestUsr_tl is, m where
	// Msg_Length is.
	o := 23 + tl + x
	d := o + 3 + 69
	if len(body) <= d {
		return false
	}
	n := int(body[d])
	if n < 1 || n > MaxDestinations {
		return false
	}
	m := d + 1 + n*tl + x
	if len(body) <= m {
		return false
	}
	l := int(body[m])
	if len(body) != m+1+l+tr {
		return false
	}

	// Copy from Service_Id to the end of LinkID's value: the 12 bytes
	// before are integers and LinkID's padding is dropped.
	c := copyBody(body, 12, m+1+l+trimLen(body[m+1+l:]))

	p.MsgID = binary.BigEndian.Uint64(body)
	p.PkTotal, p.PkNumber, p.RegisteredDelivery, p.MsgLevel = body[8], body[9], body[10], body[11]
	p.ServiceID = c.fixed(12, 10)
	p.FeeUserType = body[22]
	p.FeeTerminalID = c.fixed(23, tl)
	p.FeeTerminalType, p.DestTerminalType = 0, 0
	if x == 1 {
		p.FeeTerminalType, p.DestTerminalType = body[23+tl], body[m-1]
	}
	p.TPPID, p.TPUDHI, p.MsgFmt = body[o], body[o+1], body[o+2]
	p.MsgSrc = c.fixed(o+3, 6)
	p.FeeType = c.fixed(o+9, 2)
	p.FeeCode = c.fixed(o+11, 6)
	p.ValidTime = c.fixed(o+17, 17)
	p.AtTime = c.fixed(o+34, 17)
	p.SrcID = c.fixed(o+51, 21)
	ids := slices.Grow(p.DestTerminalIDs[:0], n)
	for i := range n {
		ids = append(ids, c.fixed(d+1+i*tl, tl))
	}
	p.DestTerminalIDs = ids
	p.MsgContent = c.raw(m+1, l)
	p.LinkID = c.tail(m + 1 + l)
	return true
}

// decodeChecked is the field-by-field decoder: the reference that
// decodeFast must agree with (FuzzDecodeFast), and the one that explains
// why a body is bad.
func (p *Submit) decodeChecked(body []byte, v Version) error {
	tl := termLen(v)
	r := newReader("SUBMIT", body)
	p.MsgID = r.u64("Msg_Id")
	p.PkTotal = r.u8("Pk_total")
	p.PkNumber = r.u8("Pk_number")
	p.RegisteredDelivery = r.u8("Registered_Delivery")
	p.MsgLevel = r.u8("Msg_level")
	p.ServiceID = r.fixed("Service_Id", 10)
	p.FeeUserType = r.u8("Fee_UserType")
	p.FeeTerminalID = r.fixed("Fee_terminal_Id", tl)
	p.FeeTerminalType = 0
	if v.Is3() {
		p.FeeTerminalType = r.u8("Fee_terminal_type")
	}
	p.TPPID = r.u8("TP_pId")
	p.TPUDHI = r.u8("TP_udhi")
	p.MsgFmt = r.u8("Msg_Fmt")
	p.MsgSrc = r.fixed("Msg_src", 6)
	p.FeeType = r.fixed("FeeType", 2)
	p.FeeCode = r.fixed("FeeCode", 6)
	p.ValidTime = r.fixed("ValId_Time", 17)
	p.AtTime = r.fixed("At_Time", 17)
	p.SrcID = r.fixed("Src_Id", 21)
	// After the ids: Dest_terminal_type (3.0), Msg_Length, the trailer.
	// (This once counted a byte too many, rejecting an empty Msg_Content.)
	p.DestTerminalIDs = r.destinations(p.DestTerminalIDs[:0], tl, MaxDestinations, boolInt(v.Is3())+1+trailerLen(v))
	p.DestTerminalType = 0
	if v.Is3() {
		p.DestTerminalType = r.u8("Dest_terminal_type")
	}
	p.MsgContent = r.content(trailerLen(v))
	p.LinkID = r.fixed(trailerName(v), trailerLen(v))
	return r.done()
}

// destinations reads DestUsr_tl and the terminal ids that follow it into
// dst. The count is checked against max and against the body before any
// slice is grown: after the ids at least tail more bytes must remain.
func (r *reader) destinations(dst []string, width, max, tail int) []string {
	n := int(r.u8("DestUsr_tl"))
	if !r.ok() {
		return dst
	}
	if n < 1 || n > max {
		r.fail("DestUsr_tl", "%d, want 1..%d", n, max)
		return dst
	}
	if need := n*width + tail; r.rem() < need {
		r.fail("DestUsr_tl", "%d destinations need at least %d more bytes, body has %d", n, need, r.rem())
		return dst
	}
	dst = slices.Grow(dst, n)
	for range n {
		dst = append(dst, r.fixed("Dest_terminal_Id", width))
	}
	return dst
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ErrorResponse answers a SUBMIT that will not be processed.
func (p *Submit) ErrorResponse(result uint32) PDU { return &SubmitResp{Result: result} }

// SubmitResp is CMPP_SUBMIT_RESP: the ISMG-assigned Msg_Id and a Result of
// 1 byte in 2.x, 4 in 3.0.
type SubmitResp struct {
	MsgID  uint64
	Result uint32
}

func (*SubmitResp) Command() CommandID { return CmdSubmitResp }

func (p *SubmitResp) AppendBody(b []byte, v Version) []byte {
	b = binary.BigEndian.AppendUint64(b, p.MsgID)
	return appendResult(b, p.Result, v)
}

func (p *SubmitResp) DecodeBody(body []byte, v Version) error {
	r := newReader("SUBMIT_RESP", body)
	p.MsgID = r.u64("Msg_Id")
	p.Result = r.result("Result", v)
	return r.done()
}
