package smpp

import (
	"bufio"
	"encoding/binary"
	"fmt"
)

// HeaderLen is the size of the SMPP header that starts every PDU.
const HeaderLen = 16

// DefaultMaxPDU bounds command_length unless a session configures otherwise.
// The largest ordinary PDU is a submit_multi to 254 destinations (about 6 KB);
// message_payload can legally carry up to 64 KB, so we allow that plus the
// fixed part of a data_sm.
const DefaultMaxPDU = 64*1024 + 512

// MaxSeq is the largest sequence number; they run 1..MaxSeq (§2.1).
const MaxSeq = 0x7FFFFFFF

// Header is the 16-byte header of every SMPP PDU.
type Header struct {
	Length uint32 // command_length, header included
	ID     CommandID
	Status Status
	Seq    uint32
}

// Append appends the header in network order.
func (h Header) Append(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, h.Length)
	b = binary.BigEndian.AppendUint32(b, uint32(h.ID))
	b = binary.BigEndian.AppendUint32(b, uint32(h.Status))
	return binary.BigEndian.AppendUint32(b, h.Seq)
}

// ParseHeader decodes the header in the first HeaderLen bytes of b and
// checks command_length against [HeaderLen, maxPDU].
func ParseHeader(b []byte, maxPDU uint32) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, fmt.Errorf("smpp: header: %w: %d bytes, need %d", ErrTruncated, len(b), HeaderLen)
	}
	h := Header{
		Length: binary.BigEndian.Uint32(b[0:4]),
		ID:     CommandID(binary.BigEndian.Uint32(b[4:8])),
		Status: Status(binary.BigEndian.Uint32(b[8:12])),
		Seq:    binary.BigEndian.Uint32(b[12:16]),
	}
	if h.Length < HeaderLen || h.Length > maxPDU {
		return h, fmt.Errorf("smpp: %v: %w: command_length %d outside [%d, %d]",
			h.ID, ErrBadLength, h.Length, HeaderLen, maxPDU)
	}
	return h, nil
}

// ReadHeader reads and consumes the next header from br, validating
// command_length before the caller allocates a body for it. It does not
// allocate. On ErrBadLength the header bytes are left unread (the stream
// cannot be resynchronised anyway) and the partly decoded header is returned
// so the caller can answer with a generic_nack carrying its sequence number.
func ReadHeader(br *bufio.Reader, maxPDU uint32) (Header, error) {
	b, err := br.Peek(HeaderLen)
	if err != nil {
		return Header{}, err
	}
	h, err := ParseHeader(b, maxPDU)
	if err != nil {
		return h, err
	}
	_, _ = br.Discard(HeaderLen) // cannot fail: Peek returned HeaderLen bytes
	return h, nil
}
