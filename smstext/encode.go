package smstext

import (
	"errors"
	"fmt"
	"slices"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/transform"
)

// The x/text transformers below are stateless values (NopResetter, no
// fields that change), so sharing them is safe; holding them avoids one
// allocation per call that NewEncoder/NewDecoder would cost.
var (
	gbkEncoder     = simplifiedchinese.GBK.NewEncoder().Transformer
	gb18030Decoder = simplifiedchinese.GB18030.NewDecoder().Transformer
)

// Encode encodes s in coding c. See AppendEncode.
func Encode(c Coding, s string) ([]byte, error) {
	return AppendEncode(make([]byte, 0, encodedLenHint(c, s)), c, s)
}

// AppendEncode appends s encoded in c to dst. It allocates only when dst
// lacks capacity. On error dst is returned with its original length and
// the error is an *EncodeError naming the rune and its byte offset (or
// ErrUnknownCoding).
//
// Binary copies the bytes of s verbatim, even if they are not UTF-8.
func AppendEncode(dst []byte, c Coding, s string) ([]byte, error) {
	n0 := len(dst)
	switch c {
	case ASCII:
		for i := 0; i < len(s); i++ {
			if s[i] >= utf8.RuneSelf {
				return dst[:n0], encodeErr(c, s, i)
			}
		}
		return append(dst, s...), nil
	case GSM7:
		return appendGSM7(dst, s)
	case Latin1:
		for i, r := range s {
			if r > 0xFF || (r == utf8.RuneError && !validRuneAt(s, i)) {
				return dst[:n0], encodeErr(c, s, i)
			}
			dst = append(dst, byte(r))
		}
		return dst, nil
	case UCS2:
		for i, r := range s {
			switch {
			case r == utf8.RuneError && !validRuneAt(s, i):
				return dst[:n0], encodeErr(c, s, i)
			case r >= 0x10000:
				r1, r2 := utf16.EncodeRune(r)
				dst = append(dst, byte(r1>>8), byte(r1), byte(r2>>8), byte(r2))
			default:
				dst = append(dst, byte(r>>8), byte(r))
			}
		}
		return dst, nil
	case GBK:
		return appendGBK(dst, s)
	case Binary:
		return append(dst, s...), nil
	}
	return dst, fmt.Errorf("smstext: encode: %w %d", ErrUnknownCoding, uint8(c))
}

// validRuneAt tells a real U+FFFD from invalid UTF-8 decoded as RuneError.
func validRuneAt(s string, i int) bool {
	_, size := utf8.DecodeRuneInString(s[i:])
	return size > 1
}

func encodedLenHint(c Coding, s string) int {
	switch c {
	case UCS2:
		n := 0
		for _, r := range s {
			if r >= 0x10000 {
				n += 4
			} else {
				n += 2
			}
		}
		return n
	case GSM7:
		if n, ok := gsm7Septets(s); ok {
			return n
		}
	}
	return len(s)
}

// appendGBK encodes with x/text's GBK encoder. GBK output is never longer
// than the UTF-8 input (every non-ASCII BMP rune is at least 2 UTF-8 bytes
// and at most 2 GBK bytes), so one grow suffices.
func appendGBK(dst []byte, s string) ([]byte, error) {
	if !utf8.ValidString(s) {
		for i := range s {
			if !validRuneAt(s, i) && s[i] >= utf8.RuneSelf {
				return dst, encodeErr(GBK, s, i)
			}
		}
	}
	n0 := len(dst)
	dst = slices.Grow(dst, len(s))
	// The transformer only reads src, so viewing the string's bytes
	// without a copy is safe and keeps this allocation-free.
	src := unsafe.Slice(unsafe.StringData(s), len(s))
	nDst, nSrc, err := gbkEncoder.Transform(dst[n0:n0+len(s)], src, true)
	if err != nil {
		return dst[:n0], encodeErr(GBK, s, nSrc)
	}
	return dst[:n0+nDst], nil
}

// Decode decodes b from coding c. See AppendDecode.
func Decode(c Coding, b []byte) (string, error) {
	if len(b) == 0 && c.Valid() {
		return "", nil
	}
	buf, err := AppendDecode(make([]byte, 0, decodedLenHint(c, b)), c, b)
	if err != nil {
		return "", err
	}
	// buf is private to this call and never written again, so the string
	// can share it instead of copying.
	return unsafe.String(unsafe.SliceData(buf), len(buf)), nil
}

// AppendDecode appends the UTF-8 text of b (in coding c) to dst. Errors are
// *DecodeError values naming the offset (they wrap ErrMalformed), or
// ErrUnknownCoding; on error dst keeps its original length.
//
// ASCII rejects octets ≥ 0x80; UCS2 rejects odd lengths and unpaired
// surrogates; GBK decodes GB18030 and rejects invalid sequences; Binary
// copies the bytes verbatim (the result need not be UTF-8).
func AppendDecode(dst []byte, c Coding, b []byte) ([]byte, error) {
	n0 := len(dst)
	switch c {
	case ASCII:
		for i, x := range b {
			if x >= utf8.RuneSelf {
				return dst, &DecodeError{Coding: c, Offset: i, Reason: fmt.Sprintf("octet 0x%02X is not ASCII", x)}
			}
		}
		return append(dst, b...), nil
	case GSM7:
		return appendDecodeGSM7(dst, b)
	case Latin1:
		for _, x := range b {
			dst = utf8.AppendRune(dst, rune(x))
		}
		return dst, nil
	case UCS2:
		if len(b)%2 != 0 {
			return dst, &DecodeError{Coding: c, Offset: len(b) - 1, Reason: fmt.Sprintf("odd length %d", len(b))}
		}
		for i := 0; i < len(b); i += 2 {
			u := rune(b[i])<<8 | rune(b[i+1])
			switch {
			case u >= 0xD800 && u < 0xDC00:
				if i+3 < len(b) {
					u2 := rune(b[i+2])<<8 | rune(b[i+3])
					if u2 >= 0xDC00 && u2 < 0xE000 {
						dst = utf8.AppendRune(dst, utf16.DecodeRune(u, u2))
						i += 2
						continue
					}
				}
				return dst[:n0], &DecodeError{Coding: c, Offset: i, Reason: fmt.Sprintf("unpaired high surrogate 0x%04X", u)}
			case u >= 0xDC00 && u < 0xE000:
				return dst[:n0], &DecodeError{Coding: c, Offset: i, Reason: fmt.Sprintf("unpaired low surrogate 0x%04X", u)}
			}
			dst = utf8.AppendRune(dst, u)
		}
		return dst, nil
	case GBK:
		return appendDecodeGBK(dst, b)
	case Binary:
		return append(dst, b...), nil
	}
	return dst, fmt.Errorf("smstext: decode: %w %d", ErrUnknownCoding, uint8(c))
}

func decodedLenHint(c Coding, b []byte) int {
	switch c {
	case GSM7, Latin1:
		return 2 * len(b)
	case UCS2:
		return len(b) * 3 / 2
	case GBK:
		return 3 * len(b) // 0x80 (euro) and invalid octets become 3 bytes
	}
	return len(b)
}

// gbFFFD is U+FFFD in GB18030; it is the only input that legitimately
// decodes to the replacement character.
var gbFFFD = [4]byte{0x84, 0x31, 0xA4, 0x37}

// appendDecodeGBK decodes GB18030. x/text replaces invalid input with
// U+FFFD silently; when that character shows up we re-scan to report the
// first invalid sequence instead.
func appendDecodeGBK(dst, b []byte) ([]byte, error) {
	n0 := len(dst)
	dst = slices.Grow(dst, 3*len(b))
	nDst, _, err := gb18030Decoder.Transform(dst[n0:n0+3*len(b)], b, true)
	if err != nil {
		return dst[:n0], fmt.Errorf("smstext: gbk: %w", err)
	}
	out := dst[n0 : n0+nDst]
	if !containsFFFD(out) {
		return dst[:n0+nDst], nil
	}
	if off, ok := firstBadGB(b); !ok {
		return dst[:n0], &DecodeError{Coding: GBK, Offset: off, Reason: fmt.Sprintf("invalid GB18030 sequence starting 0x%02X", b[off])}
	}
	return dst[:n0+nDst], nil
}

func containsFFFD(b []byte) bool {
	for i := 0; i+2 < len(b); i++ {
		if b[i] == 0xEF && b[i+1] == 0xBF && b[i+2] == 0xBD {
			return true
		}
	}
	return false
}

// firstBadGB walks b character by character and returns the offset of the
// first one that does not decode to a real character.
func firstBadGB(b []byte) (int, bool) {
	var buf [16]byte
	for i := 0; i < len(b); {
		n := gbUnitLen(b, i)
		unit := b[i : i+n]
		if n == 4 && [4]byte(unit) == gbFFFD {
			i += n
			continue
		}
		nd, _, err := gb18030Decoder.Transform(buf[:], unit, true)
		if err != nil || nd == 0 || containsFFFD(buf[:nd]) {
			return i, false
		}
		i += n
	}
	return 0, true
}

// gbUnitLen returns the length of the GB18030 character starting at b[i]:
// 1, 2 or 4. Structurally invalid lead bytes count as 1 so scanning always
// advances. Split uses it to keep multi-byte characters whole.
func gbUnitLen(b []byte, i int) int {
	c0 := b[i]
	if c0 < 0x81 || c0 == 0xFF || i+1 >= len(b) {
		return 1
	}
	c1 := b[i+1]
	switch {
	case c1 >= 0x40 && c1 <= 0xFE && c1 != 0x7F:
		return 2
	case c1 >= 0x30 && c1 <= 0x39:
		if i+3 < len(b) && b[i+2] >= 0x81 && b[i+2] <= 0xFE && b[i+3] >= 0x30 && b[i+3] <= 0x39 {
			return 4
		}
	}
	return 1
}

// Transcode decodes b from one coding and encodes it in another, for
// example GSM7 from an SMSC to UCS2 for a CMPP SP.
func Transcode(b []byte, from, to Coding) ([]byte, error) {
	if to == from {
		return slices.Clone(b), nil
	}
	s, err := Decode(from, b)
	if err != nil {
		return nil, err
	}
	return Encode(to, s)
}

// Choose returns the cheapest coding that can represent s. prefer lists
// the codings the caller may use (for example ASCII and GBK on a CMPP
// link); with none, GSM7 is tried. UCS2 is always the fallback because it
// represents any valid text. Cost is the size on the air interface (7 bits
// per GSM7 septet, 8 per octet otherwise); ties go to the earlier coding
// in prefer. Binary is not a text coding and is never chosen.
func Choose(s string, prefer ...Coding) Coding {
	best := UCS2
	bestBits, ok := costBits(UCS2, s)
	if !ok {
		return UCS2 // invalid UTF-8: nothing can encode it; Encode will say where
	}
	if len(prefer) == 0 {
		if bits, ok := costBits(GSM7, s); ok && bits <= bestBits {
			return GSM7
		}
		return UCS2
	}
	for i := len(prefer) - 1; i >= 0; i-- {
		c := prefer[i]
		if c == Binary || !c.Valid() {
			continue
		}
		if bits, ok := costBits(c, s); ok && bits <= bestBits {
			best, bestBits = c, bits
		}
	}
	return best
}

// costBits returns the encoded size of s in bits, or ok=false when c cannot
// represent s.
func costBits(c Coding, s string) (int, bool) {
	switch c {
	case ASCII:
		for i := 0; i < len(s); i++ {
			if s[i] >= utf8.RuneSelf {
				return 0, false
			}
		}
		return 8 * len(s), true
	case GSM7:
		n, ok := gsm7Septets(s)
		return 7 * n, ok
	case Latin1:
		n := 0
		for i, r := range s {
			if r > 0xFF || (r == utf8.RuneError && !validRuneAt(s, i)) {
				return 0, false
			}
			n++
		}
		return 8 * n, true
	case UCS2:
		if !utf8.ValidString(s) {
			return 0, false
		}
		return 8 * encodedLenHint(UCS2, s), true
	case GBK:
		n, ok := gbkLen(s)
		return 8 * n, ok
	}
	return 0, false
}

// gbkLen measures the GBK encoding of s through a small scratch buffer.
func gbkLen(s string) (int, bool) {
	if !utf8.ValidString(s) {
		return 0, false
	}
	var scratch [128]byte
	src := unsafe.Slice(unsafe.StringData(s), len(s))
	total := 0
	for len(src) > 0 {
		nDst, nSrc, err := gbkEncoder.Transform(scratch[:], src, true)
		total += nDst
		src = src[nSrc:]
		switch {
		case err == nil:
		case errors.Is(err, transform.ErrShortDst):
		default:
			return 0, false
		}
	}
	return total, true
}
