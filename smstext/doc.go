// Package smstext handles the text of short messages for both sides of the
// gateway: character codings, splitting long messages into concatenated
// segments, and reassembling received segments.
//
// It is a leaf package (standard library and golang.org/x/text only). The
// CMPP and SMPP codecs do not import it; the gateway maps CMPP Msg_Fmt
// (FromCMPP, Coding.CMPPMsgFmt) and SMPP data_coding (FromSMPP,
// Coding.SMPPDataCoding) to a Coding and calls this package with the
// user data bytes.
//
// # Codings
//
// Encode/AppendEncode turn UTF-8 text into ASCII, GSM 03.38 (unpacked,
// one septet per octet, with the 0x1B extension table), Latin-1, UCS2
// (UTF-16BE with surrogate pairs), GBK or opaque binary; Decode and
// AppendDecode go back. Errors name the coding, the rune or octet and its
// offset (*EncodeError, *DecodeError). GBK text is decoded as GB18030, the
// superset that SGIP and SMGP peers send under the same label
// (protocols.md §5.2 item 13), but encoded as plain GBK so that any peer
// can read it. Choose picks the cheapest coding that can carry a text.
// PackGSM7/UnpackGSM7 convert between unpacked septets and the packed
// air-interface form.
//
// # Segmentation
//
// Split cuts an already-encoded payload into segments of the sizes in
// protocols.md §1.10 and §2.9 (UCS2 70/67/66 characters, 8-bit 140/134/133
// octets, GSM7 160/153/152 septets), never separating a UTF-16 surrogate
// pair, a GSM7 escape pair or a GBK/GB18030 multi-byte character. The
// segments are tied together by a concatenation UDH with an 8- or 16-bit
// reference, or, for SMPP, by the sar_* TLVs (Segment.Ref/Total/Seq). The
// reference comes from the caller's per-link counter; this package keeps
// no global state. ParseUDH reads any user data header, keeping unknown
// information elements.
//
// # Reassembly
//
// Reassembler collects parts under a caller-built key (sender, receiver,
// reference, total). The caller passes the current time to Add and
// Expire, so expiry needs no timers or sleeps. Pending sets, parts per set
// and pending octets are bounded; parts beyond the bounds are refused with
// an error so the caller can answer with a protocol status. A single mutex
// guards a Reassembler; it starts no goroutines.
package smstext
