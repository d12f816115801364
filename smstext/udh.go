package smstext

import (
	"fmt"
)

// Information element identifiers for concatenated messages (3GPP 23.040
// §9.2.3.24.1 and .8).
const (
	IEIConcat8  = 0x00 // 8-bit reference: IEDL 3, ref, total, seq
	IEIConcat16 = 0x08 // 16-bit reference: IEDL 4, ref (2), total, seq
)

// IE is one information element of a user data header. Data aliases the
// buffer given to ParseUDH.
type IE struct {
	ID   uint8
	Data []byte
}

// ConcatInfo is the concatenation information of a segment. Total 0 means
// the header carries none.
type ConcatInfo struct {
	Ref   uint16
	Total uint8
	Seq   uint8
	Ref16 bool // 16-bit reference (IEI 0x08) rather than 8-bit (IEI 0x00)
}

// UDH is a parsed user data header. IEs keeps every element in wire order,
// unknown ones included, so Append reproduces the header exactly.
type UDH struct {
	IEs    []IE
	Concat ConcatInfo
}

// Len is the encoded size of the header including the UDHL octet.
func (h UDH) Len() int {
	n := 1
	for _, ie := range h.IEs {
		n += 2 + len(ie.Data)
	}
	return n
}

// Append appends the header (UDHL and IEs) to b.
func (h UDH) Append(b []byte) []byte {
	b = append(b, byte(h.Len()-1))
	for _, ie := range h.IEs {
		b = append(b, ie.ID, byte(len(ie.Data)))
		b = append(b, ie.Data...)
	}
	return b
}

// AppendUDH appends a user data header holding only this concatenation
// element: 05 00 03 RR TT NN, or 06 08 04 RRRR TT NN when Ref16 is set.
func (ci ConcatInfo) AppendUDH(b []byte) []byte {
	if ci.Ref16 {
		return append(b, 6, IEIConcat16, 4, byte(ci.Ref>>8), byte(ci.Ref), ci.Total, ci.Seq)
	}
	return append(b, 5, IEIConcat8, 3, byte(ci.Ref), ci.Total, ci.Seq)
}

// ParseUDH parses the user data header at the start of b (b[0] is UDHL) and
// returns it with the user data that follows. Repeated concatenation
// elements follow 23.040: the last one wins. IE data aliases b.
func ParseUDH(b []byte) (UDH, []byte, error) {
	var h UDH
	if len(b) == 0 {
		return h, nil, fmt.Errorf("%w: empty user data, no UDHL", ErrBadUDH)
	}
	udhl := int(b[0])
	if 1+udhl > len(b) {
		return h, nil, fmt.Errorf("%w: UDHL %d exceeds user data length %d", ErrBadUDH, udhl, len(b)-1)
	}
	hdr, rest := b[1:1+udhl], b[1+udhl:]
	for off := 0; off < len(hdr); {
		if len(hdr)-off < 2 {
			return UDH{}, nil, fmt.Errorf("%w: truncated IE at header offset %d", ErrBadUDH, off)
		}
		id, iedl := hdr[off], int(hdr[off+1])
		if iedl > len(hdr)-off-2 {
			return UDH{}, nil, fmt.Errorf("%w: IEI 0x%02X IEDL %d exceeds header (%d octets left)", ErrBadUDH, id, iedl, len(hdr)-off-2)
		}
		data := hdr[off+2 : off+2+iedl : off+2+iedl]
		switch id {
		case IEIConcat8, IEIConcat16:
			ci, err := parseConcat(id, data)
			if err != nil {
				return UDH{}, nil, err
			}
			h.Concat = ci
		}
		h.IEs = append(h.IEs, IE{ID: id, Data: data})
		off += 2 + iedl
	}
	return h, rest, nil
}

func parseConcat(id uint8, d []byte) (ConcatInfo, error) {
	var ci ConcatInfo
	want := 3
	if id == IEIConcat16 {
		want = 4
	}
	if len(d) != want {
		return ci, fmt.Errorf("%w: IEI 0x%02X IEDL %d, want %d", ErrBadUDH, id, len(d), want)
	}
	if id == IEIConcat16 {
		ci.Ref, ci.Ref16 = uint16(d[0])<<8|uint16(d[1]), true
		d = d[1:]
	} else {
		ci.Ref = uint16(d[0])
	}
	ci.Total, ci.Seq = d[1], d[2]
	if ci.Total == 0 {
		return ConcatInfo{}, fmt.Errorf("%w: IEI 0x%02X total segments 0", ErrBadUDH, id)
	}
	if ci.Seq == 0 || ci.Seq > ci.Total {
		return ConcatInfo{}, fmt.Errorf("%w: IEI 0x%02X sequence %d outside 1..%d", ErrBadUDH, id, ci.Seq, ci.Total)
	}
	return ci, nil
}
