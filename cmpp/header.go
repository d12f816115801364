package cmpp

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
)

// HeaderLen is the size of the CMPP message header.
const HeaderLen = 12

// DefaultMaxPDU bounds Total_Length unless a session configures otherwise.
// The largest legal PDU is a 3.0 SUBMIT to 99 destinations (151+32*99+255
// body bytes), about 3.6 KB.
const DefaultMaxPDU = 4096

// ErrBadLength reports a Total_Length below the header size or above the
// configured maximum. It is checked before any body is allocated.
var ErrBadLength = errors.New("cmpp: bad Total_Length")

// Header is the 12-byte header that starts every CMPP PDU.
type Header struct {
	Length  uint32 // Total_Length, header included
	Command CommandID
	Seq     uint32 // Sequence_Id
}

// Append appends the header in network order.
func (h Header) Append(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, h.Length)
	b = binary.BigEndian.AppendUint32(b, uint32(h.Command))
	return binary.BigEndian.AppendUint32(b, h.Seq)
}

// ParseHeader decodes a header from the first HeaderLen bytes of b and
// validates Total_Length against maxPDU.
func ParseHeader(b []byte, maxPDU uint32) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, fmt.Errorf("cmpp: header: %d bytes, need %d", len(b), HeaderLen)
	}
	h := Header{
		Length:  binary.BigEndian.Uint32(b[0:4]),
		Command: CommandID(binary.BigEndian.Uint32(b[4:8])),
		Seq:     binary.BigEndian.Uint32(b[8:12]),
	}
	if h.Length < HeaderLen || h.Length > maxPDU {
		return Header{}, fmt.Errorf("%w: %d for %v (max %d)", ErrBadLength, h.Length, h.Command, maxPDU)
	}
	return h, nil
}

// ReadHeader peeks the next header from br without consuming it, so the
// caller can size the body buffer from a validated length and then read the
// whole PDU. It does not allocate.
func ReadHeader(br *bufio.Reader, maxPDU uint32) (Header, error) {
	b, err := br.Peek(HeaderLen)
	if err != nil {
		return Header{}, err
	}
	return ParseHeader(b, maxPDU)
}

// ErrUnknownCommand reports a Command_Id this package does not know.
var ErrUnknownCommand = errors.New("unknown Command_Id")
