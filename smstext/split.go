package smstext

import (
	"fmt"
)

// ConcatMethod says how the segments of a long message are tied together.
type ConcatMethod uint8

const (
	// ConcatUDH8 prefixes each segment with 05 00 03 RR TT NN (TP_udhi=1,
	// SMPP esm_class 0x40). The zero value, and what CMPP peers expect.
	ConcatUDH8 ConcatMethod = iota
	// ConcatUDH16 prefixes each segment with 06 08 04 RRRR TT NN.
	ConcatUDH16
	// ConcatSAR adds no header; the caller sends Segment.Ref, Total and Seq
	// as the SMPP sar_msg_ref_num, sar_total_segments and
	// sar_segment_seqnum TLVs. Segments are sized as for ConcatUDH8 because
	// the SMSC turns the TLVs into that header on the air interface.
	ConcatSAR
)

func (m ConcatMethod) String() string {
	switch m {
	case ConcatUDH8:
		return "udh8"
	case ConcatUDH16:
		return "udh16"
	case ConcatSAR:
		return "sar"
	}
	return fmt.Sprintf("concat(%d)", uint8(m))
}

// MaxSegments is the largest number of segments a message can have: the
// total is one octet in the UDH, the SAR TLV and CMPP Pk_total.
const MaxSegments = 255

// SplitOptions controls Split. The zero value splits with an 8-bit
// reference of 0 into at most 255 standard-size segments.
type SplitOptions struct {
	Method ConcatMethod
	// Ref is the concatenation reference. It comes from a per-link counter
	// so that concurrent long messages on the same link differ. With
	// ConcatUDH8 only the low 8 bits are sent (Segment.Ref reports them).
	Ref uint16
	// MaxSegments caps the number of segments (0 means 255); longer
	// messages fail with ErrTooManySegments instead of being truncated.
	MaxSegments int
	// Limit, if > 0, caps the payload octets per segment (single and
	// concatenated) below the standard capacity, for carriers that reserve
	// room (a signature, a national-language shift). GSM7 counts septets,
	// which are octets in the unpacked form.
	Limit int
}

// Segment is one short message of a possibly concatenated message.
//
// Data excludes the header. For ConcatUDH8/16 UDH holds the header; send
// Bytes() with TP_udhi=1 (CMPP) or esm_class|0x40 (SMPP). For ConcatSAR
// and for single-segment messages UDH is nil. A single segment has Total 1,
// Seq 1 and Ref 0.
type Segment struct {
	Data  []byte
	UDH   []byte
	Ref   uint16
	Total uint8
	Seq   uint8
}

// Bytes returns UDH followed by Data in a new slice.
func (s Segment) Bytes() []byte {
	return s.AppendBytes(make([]byte, 0, len(s.UDH)+len(s.Data)))
}

// AppendBytes appends UDH and Data to dst.
func (s Segment) AppendBytes(dst []byte) []byte {
	return append(append(dst, s.UDH...), s.Data...)
}

// SegmentFromUD builds a Segment from user data that starts with a UDH
// (TP_udhi=1 or esm_class 0x40), for Reassembler.Add. Without a
// concatenation element the segment is a whole message (Total 1, Seq 1).
// Data and UDH alias ud.
func SegmentFromUD(ud []byte) (Segment, error) {
	h, rest, err := ParseUDH(ud)
	if err != nil {
		return Segment{}, err
	}
	s := Segment{Data: rest, UDH: ud[:len(ud)-len(rest)], Total: 1, Seq: 1}
	if h.Concat.Total != 0 {
		s.Ref, s.Total, s.Seq = h.Concat.Ref, h.Concat.Total, h.Concat.Seq
	}
	return s, nil
}

// Capacity returns the payload octets (septets for GSM7) of a single
// message and of each concatenated segment for c and m, as in
// protocols.md §1.10 and §2.9.
func Capacity(c Coding, m ConcatMethod) (single, segment int) {
	switch c {
	case GSM7:
		if m == ConcatUDH16 {
			return 160, 152
		}
		return 160, 153
	case UCS2:
		if m == ConcatUDH16 {
			return 140, 132 // 66 characters; 133 octets cannot hold whole units
		}
		return 140, 134
	}
	if m == ConcatUDH16 {
		return 140, 133
	}
	return 140, 134
}

// maxUnit is the longest character that must stay within one segment.
func maxUnit(c Coding) int {
	switch c {
	case UCS2, GBK:
		return 4
	case GSM7:
		return 2
	}
	return 1
}

// unitLen returns the length of the character at p[i] that must not be
// split: a UTF-16 surrogate pair, a GSM7 escape pair, a GBK/GB18030
// multi-byte character.
func unitLen(c Coding, p []byte, i int) int {
	switch c {
	case UCS2:
		if p[i] >= 0xD8 && p[i] < 0xDC && i+3 < len(p) && p[i+2] >= 0xDC && p[i+2] < 0xE0 {
			return 4
		}
		return 2
	case GSM7:
		if p[i] == gsmEscape && i+1 < len(p) {
			return 2
		}
		return 1
	case GBK:
		return gbUnitLen(p, i)
	}
	return 1
}

// Split cuts an encoded payload into segments. A payload that fits in one
// message comes back as one segment without a header. Segment Data slices
// alias payload (with capacity clipped, so appending to one cannot
// overwrite the next).
func Split(payload []byte, c Coding, opts SplitOptions) ([]Segment, error) {
	if !c.Valid() {
		return nil, fmt.Errorf("smstext: split: %w %d", ErrUnknownCoding, uint8(c))
	}
	if opts.Method > ConcatSAR {
		return nil, fmt.Errorf("smstext: split: unknown concatenation method %d", uint8(opts.Method))
	}
	if c == UCS2 && len(payload)%2 != 0 {
		return nil, fmt.Errorf("%w: ucs2 payload has odd length %d", ErrBadPayload, len(payload))
	}
	maxSegs := opts.MaxSegments
	if maxSegs == 0 {
		maxSegs = MaxSegments
	}
	if maxSegs < 0 || maxSegs > MaxSegments {
		return nil, fmt.Errorf("smstext: split: MaxSegments %d outside 0..%d", opts.MaxSegments, MaxSegments)
	}
	single, segCap := Capacity(c, opts.Method)
	if opts.Limit < 0 {
		return nil, fmt.Errorf("smstext: split: negative Limit %d", opts.Limit)
	}
	if opts.Limit > 0 {
		single, segCap = min(single, opts.Limit), min(segCap, opts.Limit)
		if c == UCS2 {
			single, segCap = single&^1, segCap&^1
		}
		if segCap < maxUnit(c) {
			return nil, fmt.Errorf("smstext: split: Limit %d cannot hold a %v character of %d octets", opts.Limit, c, maxUnit(c))
		}
	}
	if len(payload) <= single {
		return []Segment{{Data: payload[:len(payload):len(payload)], Total: 1, Seq: 1}}, nil
	}

	segs := make([]Segment, 0, (len(payload)+segCap-1)/segCap)
	for start := 0; start < len(payload); {
		if len(segs) == maxSegs {
			return nil, fmt.Errorf("%w: %d-octet %v payload needs more than %d segments of %d", ErrTooManySegments, len(payload), c, maxSegs, segCap)
		}
		end := start
		for end < len(payload) {
			u := unitLen(c, payload, end)
			if end+u-start > segCap {
				break
			}
			end += u
		}
		if end == start { // unreachable given the Limit check; never spin
			return nil, fmt.Errorf("%w: %v character at offset %d larger than segment capacity %d", ErrBadPayload, c, start, segCap)
		}
		segs = append(segs, Segment{Data: payload[start:end:end]})
		start = end
	}

	ref := opts.Ref
	udhLen := 0
	switch opts.Method {
	case ConcatUDH8:
		ref &= 0xFF
		udhLen = 6
	case ConcatUDH16:
		udhLen = 7
	}
	// One backing array for every header: two allocations per Split in all.
	var udhs []byte
	if udhLen > 0 {
		udhs = make([]byte, 0, udhLen*len(segs))
	}
	total := uint8(len(segs))
	for i := range segs {
		s := &segs[i]
		s.Ref, s.Total, s.Seq = ref, total, uint8(i+1)
		if udhLen > 0 {
			n := len(udhs)
			udhs = ConcatInfo{Ref: ref, Total: total, Seq: s.Seq, Ref16: opts.Method == ConcatUDH16}.AppendUDH(udhs)
			s.UDH = udhs[n:len(udhs):len(udhs)]
		}
	}
	return segs, nil
}

// SplitText encodes s in c and splits it; see Encode and Split.
func SplitText(s string, c Coding, opts SplitOptions) ([]Segment, error) {
	p, err := Encode(c, s)
	if err != nil {
		return nil, err
	}
	return Split(p, c, opts)
}
