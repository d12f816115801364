package smpp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Decoding errors. They are wrapped with the PDU and field they concern;
// StatusFor maps them to the command_status to answer with.
var (
	// ErrBadLength: command_length below the header size or above the limit.
	ErrBadLength = errors.New("bad command_length")
	// ErrTruncated: the body ends before a mandatory field.
	ErrTruncated = errors.New("truncated")
	// ErrTrailing: bytes left after the last field of a PDU without TLVs.
	ErrTrailing = errors.New("trailing bytes")
	// ErrCString: a C-octet string without its NUL within the field's maximum.
	ErrCString = errors.New("bad C-octet string")
	// ErrBadTLV: a TLV header or value running past the end of the body.
	ErrBadTLV = errors.New("bad TLV")
	// ErrUnknownCommand: a command_id that SMPP 3.4 does not define.
	ErrUnknownCommand = errors.New("unknown command_id")
	// ErrBadValue: a field whose value is out of its range (e.g. dest_flag).
	ErrBadValue = errors.New("bad value")
)

// FieldError reports a problem with one field of one PDU. Error() reads
// "smpp: decode submit_sm: source_addr: bad C-octet string: ...".
type FieldError struct {
	Op      string // "decode" or "encode"
	Command CommandID
	Field   string
	Status  Status // what to answer the peer with
	Err     error
}

func (e *FieldError) Error() string {
	return "smpp: " + e.Op + " " + e.Command.String() + ": " + e.Field + ": " + e.Err.Error()
}

func (e *FieldError) Unwrap() error { return e.Err }

// StatusFor returns the command_status that best describes a decode error,
// for the response or generic_nack sent back to the peer.
func StatusFor(err error) Status {
	var fe *FieldError
	switch {
	case err == nil:
		return StatusOK
	case errors.As(err, &fe) && fe.Status != StatusOK:
		return fe.Status
	case errors.Is(err, ErrUnknownCommand):
		return StatusInvCmdID
	case errors.Is(err, ErrBadTLV):
		return StatusInvOptParStream
	case errors.Is(err, ErrBadLength), errors.Is(err, ErrTruncated), errors.Is(err, ErrTrailing):
		return StatusInvCmdLen
	}
	return StatusSysErr
}

// PDU is the body of one SMPP PDU. Every concrete type is a pointer to a
// struct of this package (*SubmitSM, *EnquireLink, ...).
type PDU interface {
	// CommandID is the command_id this body is sent with.
	CommandID() CommandID
	// Append appends the encoded body (no header) to b. It never fails;
	// call Validate first for values that did not come from Decode.
	Append(b []byte) []byte
	// Decode overwrites the receiver with body. Byte-slice fields
	// (short_message, TLV values) alias body; strings are copies.
	Decode(body []byte) error
	// Validate checks field lengths against the spec's maxima, naming the
	// offending field.
	Validate() error
}

// errBodier is implemented by responses whose body the spec omits when
// command_status is non-zero (bind_*_resp, submit_sm_resp, ...).
type errBodier interface {
	errBody() *bool
}

// New returns a zero PDU for id, ready for Decode.
func New(id CommandID) (PDU, error) {
	switch id {
	case CmdGenericNack:
		return new(GenericNack), nil
	case CmdBindReceiver:
		return &Bind{Mode: BindReceiver}, nil
	case CmdBindTransmitter:
		return &Bind{Mode: BindTransmitter}, nil
	case CmdBindTransceiver:
		return &Bind{Mode: BindTransceiver}, nil
	case CmdBindReceiverResp:
		return &BindResp{Mode: BindReceiver}, nil
	case CmdBindTransmitterResp:
		return &BindResp{Mode: BindTransmitter}, nil
	case CmdBindTransceiverResp:
		return &BindResp{Mode: BindTransceiver}, nil
	case CmdOutbind:
		return new(Outbind), nil
	case CmdQuerySM:
		return new(QuerySM), nil
	case CmdQuerySMResp:
		return new(QuerySMResp), nil
	case CmdSubmitSM:
		return new(SubmitSM), nil
	case CmdSubmitSMResp:
		return new(SubmitSMResp), nil
	case CmdDeliverSM:
		return new(DeliverSM), nil
	case CmdDeliverSMResp:
		return new(DeliverSMResp), nil
	case CmdUnbind:
		return new(Unbind), nil
	case CmdUnbindResp:
		return new(UnbindResp), nil
	case CmdReplaceSM:
		return new(ReplaceSM), nil
	case CmdReplaceSMResp:
		return new(ReplaceSMResp), nil
	case CmdCancelSM:
		return new(CancelSM), nil
	case CmdCancelSMResp:
		return new(CancelSMResp), nil
	case CmdEnquireLink:
		return new(EnquireLink), nil
	case CmdEnquireLinkResp:
		return new(EnquireLinkResp), nil
	case CmdSubmitMulti:
		return new(SubmitMulti), nil
	case CmdSubmitMultiResp:
		return new(SubmitMultiResp), nil
	case CmdAlertNotification:
		return new(AlertNotification), nil
	case CmdDataSM:
		return new(DataSM), nil
	case CmdDataSMResp:
		return new(DataSMResp), nil
	}
	return nil, fmt.Errorf("smpp: %w: %v", ErrUnknownCommand, id)
}

// AppendPDU appends header and body of p with the given sequence number and
// status, and patches command_length. With a non-zero status, responses
// whose body the spec omits on error are written header-only unless their
// ErrBody field asks for the body. It does not allocate when b has room.
func AppendPDU(b []byte, p PDU, seq uint32, status Status) []byte {
	start := len(b)
	b = Header{ID: p.CommandID(), Status: status, Seq: seq}.Append(b)
	if status == StatusOK || !omitBody(p) {
		b = p.Append(b)
	}
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start))
	return b
}

func omitBody(p PDU) bool {
	eb, ok := p.(errBodier)
	return ok && !*eb.errBody()
}

// Decode decodes one complete PDU (header included). command_length must
// equal len(b). Fields may alias b; see PDU.Decode.
func Decode(b []byte) (Header, PDU, error) {
	h, err := ParseHeader(b, ^uint32(0))
	if err != nil {
		return h, nil, err
	}
	if int(h.Length) != len(b) {
		return h, nil, fmt.Errorf("smpp: %v: %w: command_length %d, have %d bytes", h.ID, ErrBadLength, h.Length, len(b))
	}
	p, err := DecodeBody(h, b[HeaderLen:])
	return h, p, err
}

// DecodeBody decodes the body of a PDU whose header is h. A response with a
// non-zero status may have no body at all or a normal one; both decode, and
// ErrBody records which so the PDU re-encodes byte for byte.
func DecodeBody(h Header, body []byte) (PDU, error) {
	p, err := New(h.ID)
	if err != nil {
		return nil, err
	}
	eb, hasErrBody := p.(errBodier)
	if h.Status != StatusOK && hasErrBody && len(body) == 0 {
		return p, nil
	}
	if err := p.Decode(body); err != nil {
		return p, err
	}
	if h.Status != StatusOK && hasErrBody {
		*eb.errBody() = true
	}
	return p, nil
}

// strChunk is how much of the body one string conversion copies. Every
// PDU's C-octet strings fit in the first 160 bytes of its body (data_sm,
// the widest, needs 140), so one conversion serves the whole PDU without
// copying a large short_message or message_payload; only submit_multi
// with many destinations needs more than one.
const strChunk = 160

// dec walks a body. s is a string copy of b[sBase:...] made when a C-octet
// string needs it, and strings are substrings of it, so all strings of a
// PDU usually cost one allocation; byte fields alias b. The first error
// sticks and names the PDU and field.
type dec struct {
	id    CommandID
	b     []byte
	s     string
	sBase int
	off   int
	err   error
}

func newDec(id CommandID, body []byte) dec { return dec{id: id, b: body} }

func (d *dec) fail(field string, st Status, err error) {
	if d.err == nil {
		d.err = &FieldError{Op: "decode", Command: d.id, Field: field, Status: st, Err: err}
	}
}

func (d *dec) need(field string, n int) bool {
	if d.err != nil {
		return false
	}
	if len(d.b)-d.off < n {
		d.fail(field, StatusInvCmdLen, fmt.Errorf("%w: need %d bytes at offset %d, have %d", ErrTruncated, n, d.off, len(d.b)-d.off))
		return false
	}
	return true
}

// cstr reads a C-octet string of at most size octets, NUL included.
func (d *dec) cstr(field string, size int, st Status) string {
	if !d.need(field, 1) {
		return ""
	}
	rest := d.b[d.off:]
	lim := min(len(rest), size)
	i := 0
	for i < lim && rest[i] != 0 {
		i++
	}
	if i == lim {
		if lim == size {
			d.fail(field, st, fmt.Errorf("%w: no NUL within %d octets at offset %d", ErrCString, size, d.off))
		} else {
			d.fail(field, StatusInvCmdLen, fmt.Errorf("%w: %w: no NUL before end of body at offset %d", ErrCString, ErrTruncated, d.off))
		}
		return ""
	}
	if i == 0 {
		d.off++
		return ""
	}
	if d.s == "" || d.off+i > d.sBase+len(d.s) {
		d.s = string(d.b[d.off:min(len(d.b), d.off+max(i, strChunk))])
		d.sBase = d.off
	}
	v := d.s[d.off-d.sBase : d.off-d.sBase+i]
	d.off += i + 1
	return v
}

func (d *dec) u8(field string) uint8 {
	if !d.need(field, 1) {
		return 0
	}
	v := d.b[d.off]
	d.off++
	return v
}

func (d *dec) u32(field string) uint32 {
	if !d.need(field, 4) {
		return 0
	}
	v := binary.BigEndian.Uint32(d.b[d.off:])
	d.off += 4
	return v
}

// bytes returns the next n bytes, aliasing the body. The capacity is
// clipped so an append by the caller cannot overwrite what follows.
func (d *dec) bytes(field string, n int) []byte {
	if !d.need(field, n) {
		return nil
	}
	if n == 0 {
		return nil
	}
	v := d.b[d.off : d.off+n : d.off+n]
	d.off += n
	return v
}

// sm reads sm_length and short_message.
func (d *dec) sm() []byte {
	n := d.u8("sm_length")
	return d.bytes("short_message", int(n))
}

// addr reads ton, npi and the address; a failure in any of the three is
// reported under the address field's name.
func (d *dec) addr(field string, size int, st Status) Addr {
	if !d.need(field, 2) {
		return Addr{}
	}
	a := Addr{TON: d.b[d.off], NPI: d.b[d.off+1]}
	d.off += 2
	a.Addr = d.cstr(field, size, st)
	return a
}

// end fails if bytes are left over.
func (d *dec) end() error {
	if d.err == nil && d.off != len(d.b) {
		d.fail("body", StatusInvCmdLen, fmt.Errorf("%w: %d bytes after the last field", ErrTrailing, len(d.b)-d.off))
	}
	return d.err
}

// tlvs reads TLVs up to the end of the body into dst[:0], growing it at
// most once.
func (d *dec) tlvs(dst TLVs) TLVs {
	if d.err != nil {
		return nil
	}
	rest := d.b[d.off:]
	n := 0
	for i := 0; i < len(rest); n++ {
		if len(rest)-i < 4 {
			d.fail("tlv", StatusInvOptParStream, fmt.Errorf("%w: %d stray bytes at offset %d", ErrBadTLV, len(rest)-i, d.off+i))
			return nil
		}
		l := int(binary.BigEndian.Uint16(rest[i+2:]))
		if len(rest)-i-4 < l {
			tag := binary.BigEndian.Uint16(rest[i:])
			d.fail(TagName(tag), StatusInvParLen, fmt.Errorf("%w: length %d at offset %d runs past the body", ErrBadTLV, l, d.off+i))
			return nil
		}
		i += 4 + l
	}
	d.off = len(d.b)
	if n == 0 {
		return nil
	}
	if cap(dst) < n {
		dst = make(TLVs, 0, n)
	}
	dst = dst[:0]
	for i := 0; i < len(rest); {
		tag := binary.BigEndian.Uint16(rest[i:])
		l := int(binary.BigEndian.Uint16(rest[i+2:]))
		var v []byte
		if l > 0 {
			v = rest[i+4 : i+4+l : i+4+l]
		}
		dst = append(dst, TLV{Tag: tag, Value: v})
		i += 4 + l
	}
	return dst
}

func appendCString(b []byte, s string) []byte {
	b = append(b, s...)
	return append(b, 0)
}

func appendAddr(b []byte, a Addr) []byte {
	b = append(b, a.TON, a.NPI)
	return appendCString(b, a.Addr)
}

func appendSM(b []byte, sm []byte) []byte {
	b = append(b, byte(len(sm)))
	return append(b, sm...)
}

// val collects the first validation error of a PDU about to be encoded.
type val struct {
	id  CommandID
	err error
}

func (v *val) fail(field string, st Status, err error) {
	if v.err == nil {
		v.err = &FieldError{Op: "encode", Command: v.id, Field: field, Status: st, Err: err}
	}
}

func (v *val) cstr(field, s string, size int, st Status) {
	if len(s) >= size {
		v.fail(field, st, fmt.Errorf("%w: %d octets, max %d without the NUL", ErrCString, len(s), size-1))
	} else if strings.IndexByte(s, 0) >= 0 {
		v.fail(field, st, fmt.Errorf("%w: contains NUL", ErrCString))
	}
}

func (v *val) addr(field string, a Addr, size int, st Status) { v.cstr(field, a.Addr, size, st) }

func (v *val) sm(sm []byte) {
	if len(sm) > MaxShortMessage {
		v.fail("short_message", StatusInvMsgLen, fmt.Errorf("%w: %d octets, max %d (use message_payload)", ErrBadValue, len(sm), MaxShortMessage))
	}
}

func (v *val) tlvs(t TLVs) {
	for _, x := range t {
		if len(x.Value) > 0xFFFF {
			v.fail(TagName(x.Tag), StatusInvParLen, fmt.Errorf("%w: value of %d octets", ErrBadTLV, len(x.Value)))
		}
	}
}

// MaxShortMessage is the largest short_message (§2.3); longer content goes
// in the message_payload TLV.
const MaxShortMessage = 254
