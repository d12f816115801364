package smstext

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Coding is a character encoding of SMS user data. The zero value is not a
// valid coding, so a forgotten field fails loudly instead of silently
// picking an alphabet.
type Coding uint8

const (
	// ASCII is 7-bit ASCII, one character per octet (CMPP Msg_Fmt 0, SMPP
	// data_coding 1).
	ASCII Coding = iota + 1
	// GSM7 is the GSM 03.38 default alphabet with its 0x1B extension table,
	// one septet per octet (unpacked), as SMPP carries it with data_coding 0.
	GSM7
	// Latin1 is ISO-8859-1 (SMPP data_coding 3).
	Latin1
	// UCS2 is UTF-16BE without BOM; characters outside the BMP take a
	// surrogate pair (CMPP Msg_Fmt 8, SMPP data_coding 8).
	UCS2
	// GBK is CMPP Msg_Fmt 15. Encode emits GBK (code page 936); Decode
	// accepts GB18030, a superset, because SGIP and SMGP peers label
	// GB18030 text the same way.
	GBK
	// Binary is opaque 8-bit data; Encode and Decode copy bytes verbatim.
	Binary
)

// Errors returned (wrapped) by this package. Use errors.Is to test for them.
var (
	ErrUnknownCoding    = errors.New("smstext: unknown coding")
	ErrNotRepresentable = errors.New("smstext: rune not representable")
	ErrInvalidUTF8      = errors.New("smstext: invalid UTF-8")
	ErrMalformed        = errors.New("smstext: malformed encoded text")
	ErrBadUDH           = errors.New("smstext: bad user data header")
	ErrBadPayload       = errors.New("smstext: bad payload")
	ErrTooManySegments  = errors.New("smstext: too many segments")
	ErrBadPart          = errors.New("smstext: bad part")
	ErrConflict         = errors.New("smstext: conflicting part")
	ErrFull             = errors.New("smstext: reassembler full")
)

// String returns the lower-case name used in error messages and logs.
func (c Coding) String() string {
	switch c {
	case ASCII:
		return "ascii"
	case GSM7:
		return "gsm7"
	case Latin1:
		return "latin1"
	case UCS2:
		return "ucs2"
	case GBK:
		return "gbk"
	case Binary:
		return "binary"
	}
	return fmt.Sprintf("coding(%d)", uint8(c))
}

// Valid reports whether c is one of the defined codings.
func (c Coding) Valid() bool { return c >= ASCII && c <= Binary }

// CMPP Msg_Fmt values (protocols.md §1.10).
const (
	cmppASCII  = 0
	cmppBinary = 4
	cmppUCS2   = 8
	cmppGB     = 15
)

// FromCMPP maps a CMPP Msg_Fmt to a Coding. Values other than 0, 8 and 15
// (3 "SIM card write", 4 binary, and anything unknown) map to Binary: the
// gateway must still carry the bytes unchanged even if it cannot read them.
func FromCMPP(msgFmt uint8) Coding {
	switch msgFmt {
	case cmppASCII:
		return ASCII
	case cmppUCS2:
		return UCS2
	case cmppGB:
		return GBK
	}
	return Binary
}

// CMPPMsgFmt returns the CMPP Msg_Fmt for c: 0 ASCII, 8 UCS2, 15 GBK, 4
// otherwise. CMPP has no label for GSM7 or Latin1, so those report 4
// (binary); transcode them (Transcode to ASCII or UCS2, or Choose) before
// handing text to a CMPP peer.
func (c Coding) CMPPMsgFmt() uint8 {
	switch c {
	case ASCII:
		return cmppASCII
	case UCS2:
		return cmppUCS2
	case GBK:
		return cmppGB
	}
	return cmppBinary
}

// FromSMPP maps an SMPP data_coding to a Coding. dc0 says how the link
// treats data_coding 0 (SMSC default alphabet): GSM7 on most SMSCs, Latin1
// or ASCII on some (protocols.md §5.2 item 10); any other dc0 means GSM7.
// The GSM DCS coding groups (0x10–0x7F, 0xC0–0xFF) are honoured; values
// this package cannot decode (JIS, Cyrillic, KS C 5601, reserved ...) map
// to Binary so the bytes pass through unchanged.
func FromSMPP(dataCoding uint8, dc0 Coding) Coding {
	switch dataCoding {
	case 0:
		switch dc0 {
		case Latin1, ASCII:
			return dc0
		}
		return GSM7
	case 1:
		return ASCII
	case 3:
		return Latin1
	case 8:
		return UCS2
	}
	switch {
	case dataCoding < 0x10:
		return Binary // 2, 4 binary; 5–7, 9–15 alphabets we do not speak
	case dataCoding < 0x80:
		// GSM DCS general data coding (0x00–0x3F) and automatic deletion
		// (0x40–0x7F) groups: bit 5 means compressed, bits 3–2 the alphabet.
		if dataCoding&0x20 != 0 {
			return Binary
		}
		return dcsAlphabet(dataCoding)
	case dataCoding < 0xC0:
		return Binary // reserved coding groups
	case dataCoding < 0xE0:
		return GSM7 // message waiting indication, discard/store, GSM7
	case dataCoding < 0xF0:
		return UCS2 // message waiting indication, store, UCS2
	default:
		// Data coding/message class group: bit 2 selects 8-bit data.
		if dataCoding&0x04 != 0 {
			return Binary
		}
		return GSM7
	}
}

func dcsAlphabet(dcs uint8) Coding {
	switch (dcs >> 2) & 0x03 {
	case 0:
		return GSM7
	case 2:
		return UCS2
	}
	return Binary
}

// SMPPDataCoding returns the SMPP data_coding for c: GSM7 0, ASCII 1,
// Latin1 3, Binary 4, UCS2 8. SMPP has no GBK value; 15 is returned because
// Chinese SMSCs that accept GBK use the CMPP number.
func (c Coding) SMPPDataCoding() uint8 {
	switch c {
	case GSM7:
		return 0
	case ASCII:
		return 1
	case Latin1:
		return 3
	case UCS2:
		return 8
	case GBK:
		return 15
	}
	return 4
}

// EncodeError reports a rune that cannot be encoded. Err is
// ErrNotRepresentable or ErrInvalidUTF8.
type EncodeError struct {
	Coding Coding
	Offset int  // byte offset of the rune in the input string
	Rune   rune // utf8.RuneError for invalid UTF-8
	Err    error
}

func (e *EncodeError) Error() string {
	if errors.Is(e.Err, ErrInvalidUTF8) {
		return fmt.Sprintf("smstext: %v: invalid UTF-8 at offset %d", e.Coding, e.Offset)
	}
	return fmt.Sprintf("smstext: %v: rune %q (U+%04X) at offset %d not representable", e.Coding, e.Rune, e.Rune, e.Offset)
}

func (e *EncodeError) Unwrap() error { return e.Err }

func encodeErr(c Coding, s string, off int) error {
	r, size := utf8.DecodeRuneInString(s[off:])
	if r == utf8.RuneError && size <= 1 {
		return &EncodeError{Coding: c, Offset: off, Rune: r, Err: ErrInvalidUTF8}
	}
	return &EncodeError{Coding: c, Offset: off, Rune: r, Err: ErrNotRepresentable}
}

// DecodeError reports encoded bytes that are not valid in their coding.
// It wraps ErrMalformed.
type DecodeError struct {
	Coding Coding
	Offset int // byte offset in the encoded input
	Reason string
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("smstext: %v: %s at offset %d", e.Coding, e.Reason, e.Offset)
}

func (e *DecodeError) Unwrap() error { return ErrMalformed }
