package cmpp

import (
	"encoding/binary"
	"fmt"
)

// Version is the protocol version byte negotiated at CONNECT: the high
// nibble is the major version, the low nibble the minor.
type Version uint8

// Versions seen in the field (protocols.md §1.4, §5.2 item 5).
const (
	V20 Version = 0x20
	V21 Version = 0x21
	V30 Version = 0x30
)

// Is3 reports whether v uses the CMPP 3.0 layouts (4-byte results, LinkID,
// 32-byte terminal ids). Everything below 3.0 uses the 2.x layouts.
func (v Version) Is3() bool { return v >= V30 }

func (v Version) String() string { return fmt.Sprintf("%d.%d", v>>4, v&0x0f) }

// Result codes shared by SUBMIT_RESP, DELIVER_RESP and FWD_RESP
// (protocols.md §1.6, §1.8, §1.11).
const (
	ResultOK             uint32 = 0
	ResultBadStructure   uint32 = 1
	ResultBadCommand     uint32 = 2
	ResultDuplicateSeq   uint32 = 3
	ResultBadLength      uint32 = 4
	ResultBadFeeCode     uint32 = 5
	ResultTooLong        uint32 = 6
	ResultBadServiceCode uint32 = 7
	ResultFlowControl    uint32 = 8
)

// PDU is a CMPP message body. One Go type encodes either protocol version;
// the version passed in chooses the field widths. String fields of decoded
// PDUs are substrings of one copy of the body, so decoding costs one
// allocation and the caller may reuse its read buffer.
type PDU interface {
	Command() CommandID
	// AppendBody appends the body in the layout of version v.
	AppendBody(b []byte, v Version) []byte
	// DecodeBody replaces the receiver's fields from body, laid out as
	// version v. Errors name the PDU and the field.
	DecodeBody(body []byte, v Version) error
}

// ErrorResponder is implemented by requests whose response carries a result
// code, so a session can answer one it will not process (window full, flow
// control) without knowing the PDU type.
type ErrorResponder interface {
	ErrorResponse(result uint32) PDU
}

// AppendPDU appends header and body of p with Sequence_Id seq, patching
// Total_Length after the body is written. It does not allocate when b has
// room.
func AppendPDU(b []byte, v Version, seq uint32, p PDU) []byte {
	start := len(b)
	b = Header{Command: p.Command(), Seq: seq}.Append(b)
	b = p.AppendBody(b, v)
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start))
	return b
}

// Decode builds the PDU named by h from its body.
func Decode(h Header, body []byte, v Version) (PDU, error) {
	p, err := New(h.Command)
	if err != nil {
		return nil, err
	}
	if err := p.DecodeBody(body, v); err != nil {
		return nil, err
	}
	return p, nil
}

// DecodePDU decodes one whole PDU (header included) from b, which must hold
// exactly Total_Length bytes.
func DecodePDU(b []byte, v Version, maxPDU uint32) (Header, PDU, error) {
	h, err := ParseHeader(b, maxPDU)
	if err != nil {
		return Header{}, nil, err
	}
	if int(h.Length) != len(b) {
		return h, nil, fmt.Errorf("cmpp: %v: Total_Length %d but %d bytes", h.Command, h.Length, len(b))
	}
	p, err := Decode(h, b[HeaderLen:], v)
	return h, p, err
}
