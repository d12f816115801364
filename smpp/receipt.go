package smpp

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrNotReceipt: the text has no "id:" key, so it is not an Appendix B
// delivery receipt.
var ErrNotReceipt = errors.New("smpp: not a delivery receipt")

// Receipt is the Appendix B delivery receipt text carried in a deliver_sm
// with esm_class 0x04:
//
//	id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD err:E text:...
//
// Dates carry no zone on the wire; they are parsed as UTC wall-clock values.
// A date that is missing or not 10/12 digits of a valid time is zero.
type Receipt struct {
	ID         string
	Sub        int
	Dlvrd      int
	SubmitDate time.Time
	DoneDate   time.Time
	Stat       string // DELIVRD, EXPIRED, DELETED, UNDELIV, ACCEPTD, UNKNOWN, REJECTD
	Err        string // network/SMSC error, usually 3 digits
	Text       string // first characters of the message; may be empty or hold spaces
}

// Receipt stat values (Appendix B).
const (
	StatDelivered     = "DELIVRD"
	StatExpired       = "EXPIRED"
	StatDeleted       = "DELETED"
	StatUndeliverable = "UNDELIV"
	StatAccepted      = "ACCEPTD"
	StatUnknown       = "UNKNOWN"
	StatRejected      = "REJECTD"
	StatEnroute       = "ENROUTE"
)

// State maps Stat to a MessageState; ok is false for an unknown stat.
func (r *Receipt) State() (MessageState, bool) { return StatState(r.Stat) }

// StatState maps a receipt stat word to a MessageState (case-insensitive).
func StatState(stat string) (MessageState, bool) {
	switch strings.ToUpper(stat) {
	case StatDelivered, "DELIVERED":
		return StateDelivered, true
	case StatExpired:
		return StateExpired, true
	case StatDeleted:
		return StateDeleted, true
	case StatUndeliverable, "UNDELIVERABLE":
		return StateUndeliverable, true
	case StatAccepted, "ACCEPTED":
		return StateAccepted, true
	case StatUnknown:
		return StateUnknown, true
	case StatRejected, "REJECTED":
		return StateRejected, true
	case StatEnroute:
		return StateEnroute, true
	}
	return 0, false
}

// StateStat is the inverse of StatState: the 7-letter stat word for s.
func StateStat(s MessageState) string {
	switch s {
	case StateEnroute:
		return StatEnroute
	case StateDelivered:
		return StatDelivered
	case StateExpired:
		return StatExpired
	case StateDeleted:
		return StatDeleted
	case StateUndeliverable:
		return StatUndeliverable
	case StateAccepted:
		return StatAccepted
	case StateRejected:
		return StatRejected
	}
	return StatUnknown
}

type receiptKey uint8

const (
	keyNone receiptKey = iota
	keyID
	keySub
	keyDlvrd
	keySubmitDate
	keyDoneDate
	keyStat
	keyErr
	keyText
)

// receiptKeys are the keys matchKey knows, by their first letter (lower
// case) so that most positions are ruled out with one comparison.
var receiptKeys = [...]struct {
	name string
	key  receiptKey
}{
	{"id:", keyID}, {"sub:", keySub}, {"dlvrd:", keyDlvrd},
	{"submit date:", keySubmitDate}, {"submit_date:", keySubmitDate},
	{"done date:", keyDoneDate}, {"done_date:", keyDoneDate},
	{"stat:", keyStat}, {"err:", keyErr}, {"text:", keyText},
}

// matchKey reports which key starts s (case-insensitive, colon included)
// and its length. "submit date" and "done date" are accepted with an
// underscore too.
func matchKey(s string) (receiptKey, int) {
	if len(s) < 3 {
		return keyNone, 0
	}
	var keys []struct {
		name string
		key  receiptKey
	}
	switch s[0] | 0x20 {
	case 'i':
		keys = receiptKeys[0:1]
	case 's':
		keys = receiptKeys[1:8]
	case 'd':
		keys = receiptKeys[2:7]
	case 'e':
		keys = receiptKeys[8:9]
	case 't':
		keys = receiptKeys[9:10]
	default:
		return keyNone, 0
	}
	for _, k := range keys {
		if len(s) >= len(k.name) && strings.EqualFold(s[:len(k.name)], k.name) {
			return k.key, len(k.name)
		}
	}
	return keyNone, 0
}

// ParseReceipt parses receipt text tolerantly: keys in any case and order,
// fields missing, dates of 10 or 12 digits, and a text that runs to the end
// of the input (spaces and all). A key counts only at the start or after a
// space. The first occurrence of a key wins. It fails only when there is no
// id key.
func ParseReceipt(b []byte) (Receipt, error) {
	s := string(b)
	var r Receipt
	var seen [keyText + 1]bool
	cur, start := keyNone, 0
	set := func(k receiptKey, v string) {
		if seen[k] {
			return
		}
		seen[k] = true
		switch k {
		case keyID:
			r.ID = strings.TrimSpace(v)
		case keySub:
			r.Sub = parseCount(v)
		case keyDlvrd:
			r.Dlvrd = parseCount(v)
		case keySubmitDate:
			r.SubmitDate = parseReceiptDate(v)
		case keyDoneDate:
			r.DoneDate = parseReceiptDate(v)
		case keyStat:
			r.Stat = strings.TrimSpace(v)
		case keyErr:
			r.Err = strings.TrimSpace(v)
		case keyText:
			r.Text = v
		}
	}
	for i := 0; i < len(s); i++ {
		if i > 0 && s[i-1] != ' ' {
			continue
		}
		k, n := matchKey(s[i:])
		if k == keyNone {
			continue
		}
		if cur != keyNone {
			end := i
			if end > start && s[end-1] == ' ' {
				end--
			}
			set(cur, s[start:end])
		}
		cur, start = k, i+n
		if k == keyText {
			break // the text runs to the end, whatever it contains
		}
		i += n - 1
	}
	if cur != keyNone {
		set(cur, s[start:])
	}
	if !seen[keyID] {
		return r, ErrNotReceipt
	}
	return r, nil
}

func parseCount(v string) int {
	v = strings.TrimSpace(v)
	if len(v) > 9 {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// parseReceiptDate reads YYMMDDhhmm[ss] by hand: time.Parse costs more than
// the rest of the receipt. It accepts exactly what time.Parse with
// "0601021504" / "060102150405" accepts (two-digit years pivot at 69, the
// day checked against the month) and returns the same UTC time.
func parseReceiptDate(v string) time.Time {
	v = strings.TrimSpace(v)
	if len(v) != 10 && len(v) != 12 {
		return time.Time{}
	}
	var d [6]int
	for i := 0; i < len(v); i += 2 {
		c0, c1 := v[i]-'0', v[i+1]-'0'
		if c0 > 9 || c1 > 9 {
			return time.Time{}
		}
		d[i/2] = int(c0)*10 + int(c1)
	}
	year, month, day, hour, minute, sec := d[0], d[1], d[2], d[3], d[4], d[5]
	if year >= 69 {
		year += 1900
	} else {
		year += 2000
	}
	if month < 1 || month > 12 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}
	}
	if day < 1 || day > daysIn(time.Month(month), year) {
		return time.Time{}
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, 0, time.UTC)
}

func daysIn(m time.Month, year int) int {
	switch m {
	case time.February:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}

// Append appends the Appendix B text. Dates get 12 digits only when they
// have seconds; a zero date is written as ten zeros.
func (r *Receipt) Append(b []byte) []byte {
	b = append(b, "id:"...)
	b = append(b, r.ID...)
	b = append(b, " sub:"...)
	b = appendCount(b, r.Sub)
	b = append(b, " dlvrd:"...)
	b = appendCount(b, r.Dlvrd)
	b = append(b, " submit date:"...)
	b = appendReceiptDate(b, r.SubmitDate)
	b = append(b, " done date:"...)
	b = appendReceiptDate(b, r.DoneDate)
	b = append(b, " stat:"...)
	b = append(b, r.Stat...)
	b = append(b, " err:"...)
	b = append(b, r.Err...)
	b = append(b, " text:"...)
	return append(b, r.Text...)
}

// Format returns the Appendix B text.
func (r *Receipt) Format() string {
	return string(r.Append(make([]byte, 0, 128+len(r.ID)+len(r.Text))))
}

func (r *Receipt) String() string { return r.Format() }

func appendCount(b []byte, n int) []byte {
	switch {
	case n < 0:
		n = 0
	case n < 10:
		b = append(b, '0', '0')
	case n < 100:
		b = append(b, '0')
	}
	return strconv.AppendInt(b, int64(n), 10)
}

func appendReceiptDate(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, "0000000000"...)
	}
	if t.Second() != 0 {
		return t.AppendFormat(b, "060102150405")
	}
	return t.AppendFormat(b, "0601021504")
}

// ReceiptInfo is what a gateway needs from a delivery receipt.
type ReceiptInfo struct {
	MessageID string       // the SMSC message id the receipt is about
	State     MessageState // final (or intermediate) state
	Receipt   Receipt      // the parsed text, zero if the text did not parse
	FromTLV   bool         // MessageID and State came from TLVs
}

// ErrNoReceiptID: a deliver_sm carries neither receipted_message_id nor a
// parsable receipt text.
var ErrNoReceiptID = errors.New("smpp: receipt without message id")

// ParseDeliverReceipt derives the message id and state of a delivery
// receipt, preferring the receipted_message_id and message_state TLVs over
// the text (protocols.md §2.6). The text is read from message_payload when
// present, else short_message.
func ParseDeliverReceipt(p *DeliverSM) (ReceiptInfo, error) {
	var info ReceiptInfo
	rec, recErr := ParseReceipt(p.Payload())
	if recErr == nil {
		info.Receipt = rec
	}
	id, idOK := p.TLVs.ReceiptedMessageID()
	st, stOK := p.TLVs.MessageState()
	switch {
	case idOK && id != "":
		info.MessageID, info.FromTLV = id, true
	case recErr == nil && rec.ID != "":
		info.MessageID = rec.ID
	default:
		return info, fmt.Errorf("smpp: deliver_sm: %w", ErrNoReceiptID)
	}
	switch {
	case stOK && st != 0:
		info.State = st
	case recErr == nil:
		if s, ok := rec.State(); ok {
			info.State = s
		} else {
			info.State = StateUnknown
		}
		info.FromTLV = false
	default:
		info.State = StateUnknown
		info.FromTLV = false
	}
	return info, nil
}

// IDMode selects how NormalizeMessageID rewrites a message id, for SMSCs
// that answer submit_sm_resp in hex but quote a decimal id in the receipt
// text or vice versa (protocols.md §5.2 item 8).
type IDMode uint8

const (
	IDAsIs      IDMode = iota // unchanged
	IDHexToDec                // hex id → decimal
	IDDecToHex                // decimal id → lower-case hex
	IDCanonical               // leading zeros trimmed, lower-case: for comparisons
)

// ErrBadMessageID: an id that cannot be converted in the requested mode.
var ErrBadMessageID = errors.New("smpp: bad message id")

// NormalizeMessageID rewrites id according to mode. Conversions handle ids
// up to 64 bits; surrounding spaces are ignored.
func NormalizeMessageID(id string, mode IDMode) (string, error) {
	switch mode {
	case IDAsIs:
		return id, nil
	case IDHexToDec:
		n, err := strconv.ParseUint(strings.TrimSpace(id), 16, 64)
		if err != nil {
			return "", fmt.Errorf("%w: %q is not hex: %w", ErrBadMessageID, id, err)
		}
		return strconv.FormatUint(n, 10), nil
	case IDDecToHex:
		n, err := strconv.ParseUint(strings.TrimSpace(id), 10, 64)
		if err != nil {
			return "", fmt.Errorf("%w: %q is not decimal: %w", ErrBadMessageID, id, err)
		}
		return strconv.FormatUint(n, 16), nil
	case IDCanonical:
		s := strings.ToLower(strings.TrimSpace(id))
		t := strings.TrimLeft(s, "0")
		if t == "" && s != "" {
			t = "0"
		}
		return t, nil
	}
	return "", fmt.Errorf("%w: unknown mode %d", ErrBadMessageID, mode)
}
