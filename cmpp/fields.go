package cmpp

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrShortBody reports a body that ends before a fixed field.
var ErrShortBody = errors.New("short body")

// ErrTrailingBytes reports a body longer than its layout.
var ErrTrailingBytes = errors.New("trailing bytes")

// appendFixed appends s as a fixed-width Octet String: left-aligned, cut to
// n bytes, right-padded with 0x00 (spec §8.1).
func appendFixed(b []byte, s string, n int) []byte {
	if len(s) > n {
		s = s[:n]
	}
	b = append(b, s...)
	// append(b, make(...)...) compiles to a grow-and-clear without
	// allocating; a byte-at-a-time loop cost ~1 ns per padding byte, which
	// dominated encoding (a 3.0 SUBMIT is mostly padding).
	return append(b, make([]byte, n-len(s))...)
}

// appendResult appends a status/result field: 1 byte in 2.x, 4 in 3.0.
func appendResult(b []byte, r uint32, v Version) []byte {
	if v.Is3() {
		return binary.BigEndian.AppendUint32(b, r)
	}
	return append(b, byte(r))
}

// reader walks a body. s is a string copy of the body, so fixed fields are
// substrings of it and cost no allocation. The first error sticks and names
// the PDU and field.
//
// The read methods are written to be inlined (a call per field was a third
// of the cost of decoding a SUBMIT), so a body that ends early is only
// recorded (cut) and the error is built by error() / done(). After a cut the
// rest of the body is dropped, so every later read fails without a
// separate error check and later fields stay zero.
type reader struct {
	pdu  string
	s    string
	off  int
	err  error  // a bad value (see fail); set only while ok()
	last string // field read last, so a trailing-bytes error can say where the layout ended

	short     string // first field the body ended in; it started at off
	shortNeed int    // bytes that field needed; size-off were left
	size      int    // body length
}

func newReader(pdu string, body []byte) reader {
	return reader{pdu: pdu, s: string(body), size: len(body)}
}

// ok reports whether no error has been recorded yet.
func (r *reader) ok() bool { return r.err == nil && r.short == "" }

func (r *reader) cut(field string, n int) {
	if r.short == "" {
		r.short, r.shortNeed = field, n
	}
	r.s = r.s[:r.off]
}

func (r *reader) need(field string, n int) bool {
	if uint(n) <= uint(len(r.s)-r.off) { // uint() also rejects n < 0
		r.last = field
		return true
	}
	r.cut(field, n)
	return false
}

// fixed reads an n-byte Octet String and trims the NUL padding.
func (r *reader) fixed(field string, n int) string {
	if uint(n) <= uint(len(r.s)-r.off) {
		v := r.s[r.off:][:n]
		r.off += n
		r.last = field
		return trimNUL(v)
	}
	r.cut(field, n)
	return ""
}

func trimNUL(v string) string {
	for i := range len(v) {
		if v[i] == 0 {
			return v[:i]
		}
	}
	return v
}

// raw reads n bytes unmodified.
func (r *reader) raw(field string, n int) string {
	if uint(n) <= uint(len(r.s)-r.off) { // uint() also rejects n < 0
		v := r.s[r.off:][:n]
		r.off += n
		r.last = field
		return v
	}
	r.cut(field, n)
	return ""
}

func (r *reader) u8(field string) uint8 {
	if r.off < len(r.s) {
		v := r.s[r.off]
		r.off++
		r.last = field
		return v
	}
	r.cut(field, 1)
	return 0
}

func (r *reader) u32(field string) uint32 {
	if r.off+4 <= len(r.s) {
		s := r.s[r.off:][:4]
		r.off += 4
		r.last = field
		return uint32(s[0])<<24 | uint32(s[1])<<16 | uint32(s[2])<<8 | uint32(s[3])
	}
	r.cut(field, 4)
	return 0
}

func (r *reader) u64(field string) uint64 {
	if !r.need(field, 8) {
		return 0
	}
	s := r.s[r.off : r.off+8]
	r.off += 8
	return uint64(s[0])<<56 | uint64(s[1])<<48 | uint64(s[2])<<40 | uint64(s[3])<<32 |
		uint64(s[4])<<24 | uint64(s[5])<<16 | uint64(s[6])<<8 | uint64(s[7])
}

// result reads a status/result field of the version's width.
func (r *reader) result(field string, v Version) uint32 {
	if v.Is3() {
		return r.u32(field)
	}
	return uint32(r.u8(field))
}

// error returns the first error recorded, or nil.
func (r *reader) error() error {
	if r.err != nil {
		return r.err
	}
	if r.short != "" {
		r.err = fmt.Errorf("cmpp: decode %s: field %s: %w (need %d bytes at offset %d, have %d)",
			r.pdu, r.short, ErrShortBody, r.shortNeed, r.off, r.size-r.off)
	}
	return r.err
}

// done fails if bytes remain: a longer body than the layout means the peer
// speaks another version or the PDU is corrupt.
func (r *reader) done() error {
	if r.ok() && r.off != len(r.s) {
		r.err = fmt.Errorf("cmpp: decode %s: %w: %d after field %s (offset %d)",
			r.pdu, ErrTrailingBytes, len(r.s)-r.off, r.last, r.off)
	}
	return r.error()
}

// The large decoders (SUBMIT, DELIVER, FWD) have a fast path, decodeFast,
// for bodies whose counts and lengths (DestUsr_tl, Msg_Length, ...) have
// been checked up front to match the body exactly; any other body takes
// the reader path (decodeChecked), which names the failing field. Once the
// layout is known every offset is too, so the fast path slices fields
// straight out of one string copy of the body, with no per-field bounds
// bookkeeping; the reader's cursor and error state in memory cost about as
// much as the copy itself.
//
// The copy leaves out what no field needs (leading integers, trailing
// LinkID/Reserve padding), so decoded PDUs still never alias the caller's
// buffer (the session reuses its read buffer). Copying only the trimmed
// fields into a smaller allocation was measured too and lost: on the
// reference VM a small memmove costs ~7 ns, so the ~10 extra copies ate
// the ~65 ns saved by halving the allocation.

// trimLen returns the length of the Octet String v up to its first NUL.
// A loop beats bytes.IndexByte and word-at-a-time (SWAR) scans here: the
// fields are short and mostly padding, so the NUL comes within a few bytes.
func trimLen(v []byte) int {
	for i, c := range v {
		if c == 0 {
			return i
		}
	}
	return len(v)
}

// bodyCopy is the one string copy of body[base:base+len(s)] that a fast
// path takes its string fields from, addressed by their offsets in body.
type bodyCopy struct {
	s    string
	base int
}

// copyBody copies body[from:to]: every byte that a decoded field keeps.
func copyBody(body []byte, from, to int) bodyCopy {
	return bodyCopy{s: string(body[from:to]), base: from}
}

// fixed returns the n-byte Octet String at body offset off, trimmed at its
// first NUL.
func (c bodyCopy) fixed(off, n int) string { return trimNUL(c.s[off-c.base:][:n]) }

// raw returns the n bytes at body offset off.
func (c bodyCopy) raw(off, n int) string { return c.s[off-c.base:][:n] }

// tail returns everything from body offset off to the end of the copy.
func (c bodyCopy) tail(off int) string { return c.s[off-c.base:] }

// appendTail appends what SUBMIT, DELIVER and FWD end with: Msg_Length,
// Msg_Content, then Reserve (2.x) or LinkID (3.0). content is already cut
// to 255 bytes by the caller.
func appendTail(b []byte, content, linkID string, v Version) []byte {
	b = append(b, byte(len(content)))
	b = append(b, content...)
	return appendFixed(b, linkID, trailerLen(v))
}
