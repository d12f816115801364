package ismg

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/smstext"
)

// Reasons a SUBMIT is refused (metric label "reason").
const (
	reasonRate     = "rate"
	reasonQueue    = "queue"
	reasonWindow   = "window"
	reasonMsgSrc   = "msg_src"
	reasonSrcID    = "src_id"
	reasonLength   = "length"
	reasonStruct   = "structure"
	reasonMsgFmt   = "msg_fmt"
	reasonContent  = "content"
	reasonFee      = "fee"
	reasonTime     = "time"
	reasonDest     = "dest"
	reasonStore    = "store"
	reasonBilling  = "billing"
	reasonShutdown = "shutdown"
	reasonMsgID    = "msgid"      // Msg_Id reservation behind (msgid.go)
	reasonLinkHigh = "link_queue" // the destination link's queue is over its high_water
)

// refusal is a SUBMIT_RESP Result with the reason it is counted under.
type refusal struct {
	result uint32
	reason string
}

// accepted is the zero refusal.
var accepted refusal

// submitTimes are a SUBMIT's At_Time and ValId_Time resolved: at is zero
// for "now", valid is never zero.
type submitTimes struct {
	at, valid time.Time
}

// checkSubmit is the acceptance test of a SUBMIT on its own fields: the
// checks that need no node state (window, rate, queue depth, routes and
// ids come after it). spID and serviceCodes are the SP account's;
// defaultValidity applies when the SP gives no ValId_Time. A message that
// fails here is refused at SUBMIT, with no Msg_Id and no CDR, rather than
// acknowledged, billed and failed later with a report.
func checkSubmit(p *cmpp.Submit, spID string, serviceCodes []string, now time.Time, loc *time.Location,
	defaultValidity time.Duration) (submitTimes, refusal) {
	var t submitTimes
	switch {
	case p.MsgSrc != spID:
		return t, refusal{cmpp.ResultBadMsgSrc, reasonMsgSrc}
	case !hasServiceCode(p.SrcID, serviceCodes):
		return t, refusal{cmpp.ResultBadSrcID, reasonSrcID}
	case len(p.DestTerminalIDs) == 0:
		return t, refusal{cmpp.ResultBadStructure, reasonStruct}
	case len(p.MsgContent) == 0:
		return t, refusal{cmpp.ResultBadLength, reasonLength}
	case p.MsgFmt == 0 && len(p.MsgContent) > 160, p.MsgFmt != 0 && len(p.MsgContent) > 140:
		return t, refusal{cmpp.ResultTooLong, reasonLength}
	case p.PkTotal == 0 || p.PkNumber == 0 || p.PkNumber > p.PkTotal:
		return t, refusal{cmpp.ResultBadStructure, reasonStruct}
	case p.TPUDHI > 1:
		return t, refusal{cmpp.ResultBadStructure, reasonStruct}
	case !carriedMsgFmt(p.MsgFmt):
		return t, refusal{cmpp.ResultBadStructure, reasonMsgFmt}
	}
	if err := checkContent(p.MsgFmt, p.TPUDHI == 1, []byte(p.MsgContent)); err != nil {
		return t, refusal{cmpp.ResultBadStructure, reasonContent}
	}
	if !validFeeType(p.FeeType) || !validFeeCode(p.FeeCode) {
		return t, refusal{cmpp.ResultBadFeeCode, reasonFee}
	}
	at, err1 := cmpp.ParseTime(p.AtTime, now, loc)
	valid, err2 := cmpp.ParseTime(p.ValidTime, now, loc)
	switch {
	case err1 != nil || err2 != nil:
		return t, refusal{cmpp.ResultBadStructure, reasonTime}
	case !valid.IsZero() && at.After(valid):
		// Scheduled after it expires: it could only ever be reported
		// EXPIRED.
		return t, refusal{cmpp.ResultBadStructure, reasonTime}
	}
	if valid.IsZero() {
		valid = now.Add(defaultValidity)
	}
	return submitTimes{at: at, valid: valid}, accepted
}

// carriedMsgFmt reports whether the gateway carries a Msg_Fmt: 0 ASCII, 4
// binary, 8 UCS2, 15 GB (protocols.md §1.10). 3 (SIM card write) and the
// values outside the spec would reach the handset as binary it does not
// expect.
func carriedMsgFmt(f uint8) bool {
	switch f {
	case 0, 4, 8, 15:
		return true
	}
	return false
}

var errContent = errors.New("content does not match Msg_Fmt")

// checkContent checks that a SUBMIT's Msg_Content is what its Msg_Fmt and
// TP_udhi say: a well-formed user data header when udhi is set, then
// 7-bit ASCII, an even number of UCS2 octets with paired surrogates, or
// valid GB18030. Binary (4) is not checked.
func checkContent(msgFmt uint8, udhi bool, b []byte) error {
	if udhi {
		_, rest, err := smstext.ParseUDH(b)
		if err != nil {
			return fmt.Errorf("%w: TP_udhi=1: %w", errContent, err)
		}
		b = rest
	}
	switch msgFmt {
	case 0:
		for i, c := range b {
			if c >= 0x80 {
				return fmt.Errorf("%w: octet 0x%02X at %d is not ASCII", errContent, c, i)
			}
		}
	case 8:
		if len(b)%2 != 0 {
			return fmt.Errorf("%w: UCS2 of odd length %d", errContent, len(b))
		}
		for i := 0; i < len(b); i += 2 {
			u := rune(b[i])<<8 | rune(b[i+1])
			switch {
			case utf16.IsSurrogate(u) && u < 0xDC00: // high: a low must follow
				if i+3 >= len(b) {
					return fmt.Errorf("%w: UCS2 unpaired surrogate at %d", errContent, i)
				}
				if lo := rune(b[i+2])<<8 | rune(b[i+3]); lo < 0xDC00 || lo > 0xDFFF {
					return fmt.Errorf("%w: UCS2 unpaired surrogate at %d", errContent, i)
				}
				i += 2
			case utf16.IsSurrogate(u):
				return fmt.Errorf("%w: UCS2 unpaired surrogate at %d", errContent, i)
			}
		}
	case 15:
		var buf [4 * 160]byte
		if _, err := smstext.AppendDecode(buf[:0], smstext.GBK, b); err != nil {
			return fmt.Errorf("%w: %w", errContent, err)
		}
	}
	return nil
}

// validFeeType accepts the FeeTypes of protocols.md §1.6: "01" free, "02"
// per message, "03" monthly, and the 2.0-era "04" capped and "05" charged
// by the SP. An SP that sends none (NULs) means free.
func validFeeType(s string) bool {
	switch s {
	case "", "01", "02", "03", "04", "05":
		return true
	}
	return false
}

// validFeeCode accepts a tariff in fen: up to 6 ASCII digits, or none.
func validFeeCode(s string) bool {
	if len(s) > 6 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func hasServiceCode(src string, codes []string) bool {
	for _, c := range codes {
		if strings.HasPrefix(src, c) {
			return true
		}
	}
	return false
}
