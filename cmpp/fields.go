package cmpp

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrShortBody reports a body that ends before a fixed field.
var ErrShortBody = errors.New("short body")

// appendFixed appends s as a fixed-width Octet String: left-aligned, cut to
// n bytes, right-padded with 0x00 (spec §8.1).
func appendFixed(b []byte, s string, n int) []byte {
	if len(s) > n {
		s = s[:n]
	}
	b = append(b, s...)
	for i := len(s); i < n; i++ {
		b = append(b, 0)
	}
	return b
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
type reader struct {
	pdu string
	s   string
	off int
	err error
}

func newReader(pdu string, body []byte) reader {
	return reader{pdu: pdu, s: string(body)}
}

func (r *reader) need(field string, n int) bool {
	if r.err != nil {
		return false
	}
	if n < 0 || len(r.s)-r.off < n {
		r.err = fmt.Errorf("cmpp: decode %s: field %s: %w (need %d bytes at offset %d, have %d)",
			r.pdu, field, ErrShortBody, n, r.off, len(r.s)-r.off)
		return false
	}
	return true
}

// fixed reads an n-byte Octet String and trims the NUL padding.
func (r *reader) fixed(field string, n int) string {
	if !r.need(field, n) {
		return ""
	}
	v := r.s[r.off : r.off+n]
	r.off += n
	for i := 0; i < len(v); i++ {
		if v[i] == 0 {
			return v[:i]
		}
	}
	return v
}

// raw reads n bytes unmodified.
func (r *reader) raw(field string, n int) string {
	if !r.need(field, n) {
		return ""
	}
	v := r.s[r.off : r.off+n]
	r.off += n
	return v
}

func (r *reader) u8(field string) uint8 {
	if !r.need(field, 1) {
		return 0
	}
	v := r.s[r.off]
	r.off++
	return v
}

func (r *reader) u32(field string) uint32 {
	if !r.need(field, 4) {
		return 0
	}
	s := r.s[r.off:]
	r.off += 4
	return uint32(s[0])<<24 | uint32(s[1])<<16 | uint32(s[2])<<8 | uint32(s[3])
}

func (r *reader) u64(field string) uint64 {
	if !r.need(field, 8) {
		return 0
	}
	hi := uint64(r.u32(field))
	return hi<<32 | uint64(r.u32(field))
}

// result reads a status/result field of the version's width.
func (r *reader) result(field string, v Version) uint32 {
	if v.Is3() {
		return r.u32(field)
	}
	return uint32(r.u8(field))
}

// done fails if bytes remain: a longer body than the layout means the peer
// speaks another version or the PDU is corrupt.
func (r *reader) done() error {
	if r.err == nil && r.off != len(r.s) {
		r.err = fmt.Errorf("cmpp: decode %s: %d trailing bytes after offset %d", r.pdu, len(r.s)-r.off, r.off)
	}
	return r.err
}
