package smstext

import (
	"fmt"
	"unicode/utf8"
)

// gsmEscape is the septet that switches to the extension table for one
// character (GSM 03.38 §6.2.1.1).
const gsmEscape = 0x1B

// gsmBasic is the GSM 03.38 default alphabet. Entry 0x1B is the escape and
// never decodes on its own.
var gsmBasic = [128]rune{
	'@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å',
	'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', 0x1B, 'Æ', 'æ', 'ß', 'É',
	' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/',
	'0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?',
	'¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O',
	'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§',
	'¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o',
	'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à',
}

// gsmExt decodes the septet after an escape. ok is false for codes the
// extension table leaves undefined.
func gsmExt(code byte) (r rune, ok bool) {
	switch code {
	case 0x0A:
		return '\f', true
	case 0x14:
		return '^', true
	case 0x28:
		return '{', true
	case 0x29:
		return '}', true
	case 0x2F:
		return '\\', true
	case 0x3C:
		return '[', true
	case 0x3D:
		return '~', true
	case 0x3E:
		return ']', true
	case 0x40:
		return '|', true
	case 0x65:
		return '€', true
	}
	return 0, false
}

// gsmFromASCII maps an ASCII rune to its septet: 0xFF if the default
// alphabet lacks it, bit 7 set for extension-table characters. A string
// constant keeps it immutable and free of init-time work;
// TestGSM7TablesConsistent checks it against gsmBasic and gsmExt.
const gsmFromASCII = "" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x0a\xff\x8a\x0d\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\x20\x21\x22\x23\x02\x25\x26\x27\x28\x29\x2a\x2b\x2c\x2d\x2e\x2f" +
	"\x30\x31\x32\x33\x34\x35\x36\x37\x38\x39\x3a\x3b\x3c\x3d\x3e\x3f" +
	"\x00\x41\x42\x43\x44\x45\x46\x47\x48\x49\x4a\x4b\x4c\x4d\x4e\x4f" +
	"\x50\x51\x52\x53\x54\x55\x56\x57\x58\x59\x5a\xbc\xaf\xbe\x94\x11" +
	"\xff\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f" +
	"\x70\x71\x72\x73\x74\x75\x76\x77\x78\x79\x7a\xa8\xc0\xa9\xbd\xff"

// gsmCode returns the septet for r; ext means it must be preceded by an
// escape.
func gsmCode(r rune) (code byte, ext, ok bool) {
	if uint32(r) < 0x80 {
		v := gsmFromASCII[r]
		return v & 0x7F, v&0x80 != 0 && v != 0xFF, v != 0xFF
	}
	switch r {
	case '£':
		return 0x01, false, true
	case '¥':
		return 0x03, false, true
	case 'è':
		return 0x04, false, true
	case 'é':
		return 0x05, false, true
	case 'ù':
		return 0x06, false, true
	case 'ì':
		return 0x07, false, true
	case 'ò':
		return 0x08, false, true
	case 'Ç':
		return 0x09, false, true
	case 'Ø':
		return 0x0B, false, true
	case 'ø':
		return 0x0C, false, true
	case 'Å':
		return 0x0E, false, true
	case 'å':
		return 0x0F, false, true
	case 'Δ':
		return 0x10, false, true
	case 'Φ':
		return 0x12, false, true
	case 'Γ':
		return 0x13, false, true
	case 'Λ':
		return 0x14, false, true
	case 'Ω':
		return 0x15, false, true
	case 'Π':
		return 0x16, false, true
	case 'Ψ':
		return 0x17, false, true
	case 'Σ':
		return 0x18, false, true
	case 'Θ':
		return 0x19, false, true
	case 'Ξ':
		return 0x1A, false, true
	case 'Æ':
		return 0x1C, false, true
	case 'æ':
		return 0x1D, false, true
	case 'ß':
		return 0x1E, false, true
	case 'É':
		return 0x1F, false, true
	case '¤':
		return 0x24, false, true
	case '¡':
		return 0x40, false, true
	case 'Ä':
		return 0x5B, false, true
	case 'Ö':
		return 0x5C, false, true
	case 'Ñ':
		return 0x5D, false, true
	case 'Ü':
		return 0x5E, false, true
	case '§':
		return 0x5F, false, true
	case '¿':
		return 0x60, false, true
	case 'ä':
		return 0x7B, false, true
	case 'ö':
		return 0x7C, false, true
	case 'ñ':
		return 0x7D, false, true
	case 'ü':
		return 0x7E, false, true
	case 'à':
		return 0x7F, false, true
	case '€': // extension table
		return 0x65, true, true
	}
	return 0, false, false
}

// appendGSM7 appends the unpacked septets of s. ASCII is looked up inline
// because gsmCode is too large to inline and most traffic is ASCII.
func appendGSM7(dst []byte, s string) ([]byte, error) {
	n0 := len(dst)
	for i := 0; i < len(s); {
		var code byte
		var ext bool
		if c := s[i]; c < utf8.RuneSelf {
			v := gsmFromASCII[c]
			if v == 0xFF {
				return dst[:n0], encodeErr(GSM7, s, i)
			}
			code, ext = v&0x7F, v&0x80 != 0
			i++
		} else {
			r, size := utf8.DecodeRuneInString(s[i:])
			var ok bool
			if code, ext, ok = gsmCode(r); !ok || (r == utf8.RuneError && size == 1) {
				return dst[:n0], encodeErr(GSM7, s, i)
			}
			i += size
		}
		if ext {
			dst = append(dst, gsmEscape, code)
		} else {
			dst = append(dst, code)
		}
	}
	return dst, nil
}

// gsm7Septets counts the septets s needs, or returns ok=false.
func gsm7Septets(s string) (n int, ok bool) {
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			v := gsmFromASCII[c]
			if v == 0xFF {
				return 0, false
			}
			n += 1 + int(v>>7)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		_, ext, ok := gsmCode(r)
		if !ok {
			return 0, false
		}
		n++
		if ext {
			n++
		}
		i += size
	}
	return n, true
}

// appendDecodeGSM7 decodes unpacked septets. An escape followed by a code
// the extension table does not define decodes as the basic-table character
// for that code, as 03.38 §6.2.1.1 tells receivers to do.
func appendDecodeGSM7(dst, b []byte) ([]byte, error) {
	n0 := len(dst)
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c >= 0x80 {
			return dst[:n0], &DecodeError{Coding: GSM7, Offset: i, Reason: fmt.Sprintf("octet 0x%02X is not a septet", c)}
		}
		if c != gsmEscape {
			dst = utf8.AppendRune(dst, gsmBasic[c])
			continue
		}
		if i+1 >= len(b) {
			return dst[:n0], &DecodeError{Coding: GSM7, Offset: i, Reason: "escape 0x1B without a following septet"}
		}
		i++
		c = b[i]
		if c >= 0x80 || c == gsmEscape {
			return dst[:n0], &DecodeError{Coding: GSM7, Offset: i, Reason: fmt.Sprintf("octet 0x%02X after escape", c)}
		}
		if r, ok := gsmExt(c); ok {
			dst = utf8.AppendRune(dst, r)
		} else {
			dst = utf8.AppendRune(dst, gsmBasic[c])
		}
	}
	return dst, nil
}

// PackGSM7 packs septets (one per octet, values < 0x80) into the 7-bit
// air-interface form, least significant bit first (03.38 §6.1.2.1). When
// the last octet has 7 spare bits they hold CR rather than zeros, so a
// receiver does not read a stray '@' (03.38 §6.1.2.1.1).
func PackGSM7(septets []byte) ([]byte, error) {
	out := make([]byte, 0, (len(septets)*7+7)/8)
	var acc uint16
	var bits uint
	for i, s := range septets {
		if s >= 0x80 {
			return nil, fmt.Errorf("smstext: pack gsm7: octet 0x%02X at offset %d is not a septet: %w", s, i, ErrMalformed)
		}
		acc |= uint16(s) << bits
		bits += 7
		if bits >= 8 {
			out = append(out, byte(acc))
			acc >>= 8
			bits -= 8
		}
	}
	if bits > 0 {
		if bits == 1 {
			acc |= 0x0D << 1
		}
		out = append(out, byte(acc))
	}
	return out, nil
}

// UnpackGSM7 unpacks n septets from packed 7-bit data. n comes from the
// user data length, because the packed length alone cannot tell 7 septets
// plus padding from 8 septets.
func UnpackGSM7(packed []byte, n int) ([]byte, error) {
	if n < 0 || n > len(packed)*8/7 {
		return nil, fmt.Errorf("smstext: unpack gsm7: %d septets do not fit in %d octets: %w", n, len(packed), ErrMalformed)
	}
	out := make([]byte, n)
	for i := range n {
		bit := i * 7
		j, shift := bit/8, uint(bit%8)
		v := uint16(packed[j]) >> shift
		if shift > 1 && j+1 < len(packed) {
			v |= uint16(packed[j+1]) << (8 - shift)
		}
		out[i] = byte(v) & 0x7F
	}
	return out, nil
}
