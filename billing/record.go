package billing

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Kind says what a record bills: a mobile-terminated message segment, a
// mobile-originated message, or a status report handed to an SP.
type Kind uint8

// Kinds. The zero Kind is invalid so that a forgotten field is caught by
// Write instead of being billed as something it is not.
const (
	KindMT     Kind = 1 // one CMPP_SUBMIT (one segment) towards a handset
	KindMO     Kind = 2 // one message from a handset to an SP service code
	KindReport Kind = 3 // one status report (CMPP_DELIVER with Registered_Delivery=1)
)

var kindNames = [...]string{KindMT: "MT", KindMO: "MO", KindReport: "REPORT"}

// String returns the CSV spelling: MT, MO or REPORT.
func (k Kind) String() string {
	if k.valid() {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

func (k Kind) valid() bool { return k >= KindMT && k <= KindReport }

// MarshalText implements encoding.TextMarshaler (JSON reports use it).
func (k Kind) MarshalText() ([]byte, error) {
	if !k.valid() {
		return nil, fmt.Errorf("billing: invalid kind %d", k)
	}
	return []byte(kindNames[k]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *Kind) UnmarshalText(b []byte) error {
	v, ok := parseKind(string(b))
	if !ok {
		return fmt.Errorf("billing: unknown kind %q", b)
	}
	*k = v
	return nil
}

func parseKind(s string) (Kind, bool) {
	for i, n := range kindNames {
		if n != "" && n == s {
			return Kind(i), true
		}
	}
	return 0, false
}

// Direction says whether the handling gateway dealt with the message on its
// own or exchanged it with a peer ISMG over CMPP_FWD. Inter-gateway
// settlement is computed from the FWD_OUT and FWD_IN records.
type Direction uint8

// Directions. The zero value is DirLocal.
const (
	DirLocal  Direction = 0 // SP and SMSC/handset side both served here
	DirFwdOut Direction = 1 // sent on to NextGateway with CMPP_FWD
	DirFwdIn  Direction = 2 // received from PrevGateway with CMPP_FWD
)

var directionNames = [...]string{DirLocal: "LOCAL", DirFwdOut: "FWD_OUT", DirFwdIn: "FWD_IN"}

// String returns the CSV spelling: LOCAL, FWD_OUT or FWD_IN.
func (d Direction) String() string {
	if d.valid() {
		return directionNames[d]
	}
	return "Direction(" + strconv.Itoa(int(d)) + ")"
}

func (d Direction) valid() bool { return d <= DirFwdIn }

// MarshalText implements encoding.TextMarshaler.
func (d Direction) MarshalText() ([]byte, error) {
	if !d.valid() {
		return nil, fmt.Errorf("billing: invalid direction %d", d)
	}
	return []byte(directionNames[d]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Direction) UnmarshalText(b []byte) error {
	v, ok := parseDirection(string(b))
	if !ok {
		return fmt.Errorf("billing: unknown direction %q", b)
	}
	*d = v
	return nil
}

func parseDirection(s string) (Direction, bool) {
	for i, n := range directionNames {
		if n == s {
			return Direction(i), true
		}
	}
	return 0, false
}

// Record is one original bill record (CDR). Text fields are written exactly
// as given (the caller trims CMPP NUL padding); see FORMAT.md for the meaning
// of every column and which record kinds fill which fields.
type Record struct {
	Kind      Kind
	Direction Direction
	// MsgID is the CMPP Msg_Id the gateway assigned (§1.7). It is written
	// both in decimal and as 16 upper-case hex digits.
	MsgID         uint64
	SPID          string // Msg_src / SP_Id, 6 digits
	ServiceID     string // Service_Id
	FeeUserType   uint8  // Fee_UserType: 0 dest, 1 source, 2 SP, 3 Fee_terminal_Id
	FeeType       string // FeeType: "01" free, "02" per message, "03" monthly, ...
	FeeCode       string // FeeCode: tariff in fen, ASCII digits as sent by the SP
	FeeTerminalID string // Fee_terminal_Id (only meaningful when FeeUserType is 3)
	Src           string // source address: SP service code (MT) or MSISDN (MO)
	Dest          string // destination: MSISDN (MT) or SP service code (MO)
	Segments      uint8  // Pk_total
	SegmentNo     uint8  // Pk_number
	SubmitTime    time.Time
	DoneTime      time.Time
	// FinalStatus is the Stat of the status report: DELIVRD, UNDELIV,
	// EXPIRED, ... or a gateway code like MA:0001. Empty while unknown.
	FinalStatus     string
	HandlingGateway string // 6-digit ISMG code that wrote this record
	PrevGateway     string // for FWD_IN: the ISMG it came from
	NextGateway     string // for FWD_OUT: the ISMG it went to
	SMSCMsgID       string // the SMSC's message_id (SMPP submit_sm_resp)
	MsgFmt          uint8  // Msg_Fmt
	Length          uint32 // Msg_Length of this segment in octets
}

// AccountingTime is the instant a record is billed at: DoneTime when the
// final state is known, else SubmitTime. Reports group days by it.
func (r *Record) AccountingTime() time.Time {
	if !r.DoneTime.IsZero() {
		return r.DoneTime
	}
	return r.SubmitTime
}

// Column names, in the order the writer emits them. The header line of every
// file is exactly these names joined by commas.
const (
	colKind = iota
	colDirection
	colMsgID
	colMsgIDHex
	colSPID
	colServiceID
	colFeeUserType
	colFeeType
	colFeeCode
	colFeeTerminalID
	colSrc
	colDest
	colPkTotal
	colPkNumber
	colSubmitTime
	colDoneTime
	colFinalStatus
	colHandlingGateway
	colPrevGateway
	colNextGateway
	colSMSCMsgID
	colMsgFmt
	colMsgLength
	numColumns
)

var columnNames = [numColumns]string{
	colKind:            "kind",
	colDirection:       "direction",
	colMsgID:           "msg_id",
	colMsgIDHex:        "msg_id_hex",
	colSPID:            "sp_id",
	colServiceID:       "service_id",
	colFeeUserType:     "fee_user_type",
	colFeeType:         "fee_type",
	colFeeCode:         "fee_code",
	colFeeTerminalID:   "fee_terminal_id",
	colSrc:             "src",
	colDest:            "dest",
	colPkTotal:         "pk_total",
	colPkNumber:        "pk_number",
	colSubmitTime:      "submit_time",
	colDoneTime:        "done_time",
	colFinalStatus:     "final_status",
	colHandlingGateway: "handling_gateway",
	colPrevGateway:     "prev_gateway",
	colNextGateway:     "next_gateway",
	colSMSCMsgID:       "smsc_msg_id",
	colMsgFmt:          "msg_fmt",
	colMsgLength:       "msg_length",
}

// Columns returns the CSV column names in file order.
func Columns() []string {
	c := columnNames
	return c[:]
}

// Header is the first line of every CDR file (columnNames joined by
// commas; a test keeps the two in step).
const Header = "kind,direction,msg_id,msg_id_hex,sp_id,service_id,fee_user_type,fee_type,fee_code," +
	"fee_terminal_id,src,dest,pk_total,pk_number,submit_time,done_time,final_status," +
	"handling_gateway,prev_gateway,next_gateway,smsc_msg_id,msg_fmt,msg_length\n"

// TimeLayout is how times are written: UTC, millisecond precision, "Z".
const TimeLayout = "2006-01-02T15:04:05.000Z"

// ErrInvalidRecord is returned by Write and AppendCSV for a record the file
// format cannot represent (unknown kind or direction, time out of range).
var ErrInvalidRecord = errors.New("billing: invalid record")

// AppendCSV appends r as one CSV line (terminated by "\n") to b. Quoting
// follows encoding/csv's Writer exactly, so encoding/csv reads it back; it
// appends by hand so that Write does not allocate.
func (r *Record) AppendCSV(b []byte) ([]byte, error) {
	if err := r.Validate(); err != nil {
		return b, err
	}
	b = append(b, kindNames[r.Kind]...)
	b = append(b, ',')
	b = append(b, directionNames[r.Direction]...)
	b = append(b, ',')
	b = strconv.AppendUint(b, r.MsgID, 10)
	b = append(b, ',')
	b = appendHex16(b, r.MsgID)
	b = append(b, ',')
	b = appendField(b, r.SPID)
	b = append(b, ',')
	b = appendField(b, r.ServiceID)
	b = append(b, ',')
	b = strconv.AppendUint(b, uint64(r.FeeUserType), 10)
	b = append(b, ',')
	b = appendField(b, r.FeeType)
	b = append(b, ',')
	b = appendField(b, r.FeeCode)
	b = append(b, ',')
	b = appendField(b, r.FeeTerminalID)
	b = append(b, ',')
	b = appendField(b, r.Src)
	b = append(b, ',')
	b = appendField(b, r.Dest)
	b = append(b, ',')
	b = strconv.AppendUint(b, uint64(r.Segments), 10)
	b = append(b, ',')
	b = strconv.AppendUint(b, uint64(r.SegmentNo), 10)
	b = append(b, ',')
	b = appendTime(b, r.SubmitTime)
	b = append(b, ',')
	b = appendTime(b, r.DoneTime)
	b = append(b, ',')
	b = appendField(b, r.FinalStatus)
	b = append(b, ',')
	b = appendField(b, r.HandlingGateway)
	b = append(b, ',')
	b = appendField(b, r.PrevGateway)
	b = append(b, ',')
	b = appendField(b, r.NextGateway)
	b = append(b, ',')
	b = appendField(b, r.SMSCMsgID)
	b = append(b, ',')
	b = strconv.AppendUint(b, uint64(r.MsgFmt), 10)
	b = append(b, ',')
	b = strconv.AppendUint(b, uint64(r.Length), 10)
	return append(b, '\n'), nil
}

// Validate reports whether the file format can represent r: a known Kind
// and Direction, and times within years 1-9999. Other fields are written as
// given; a bill record keeps what the gateway saw.
func (r *Record) Validate() error {
	if !r.Kind.valid() {
		return fmt.Errorf("%w: kind %d", ErrInvalidRecord, r.Kind)
	}
	if !r.Direction.valid() {
		return fmt.Errorf("%w: direction %d", ErrInvalidRecord, r.Direction)
	}
	if !timeOK(r.SubmitTime) {
		return fmt.Errorf("%w: submit_time %v out of range", ErrInvalidRecord, r.SubmitTime)
	}
	if !timeOK(r.DoneTime) {
		return fmt.Errorf("%w: done_time %v out of range", ErrInvalidRecord, r.DoneTime)
	}
	return nil
}

// timeOK reports whether t fits the fixed-width layout (4-digit year).
func timeOK(t time.Time) bool {
	if t.IsZero() {
		return true
	}
	y := t.UTC().Year()
	return y >= 1 && y <= 9999
}

// appendTime appends t in TimeLayout, by hand: AppendFormat interprets
// the layout for every field of every record.
func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return b
	}
	t = t.UTC()
	y, mo, d := t.Date()
	if y < 0 || y > 9999 {
		return t.AppendFormat(b, TimeLayout)
	}
	h, mi, sec := t.Clock()
	ms := t.Nanosecond() / 1e6
	b = append(b, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-')
	b = append(b, byte('0'+int(mo)/10), byte('0'+int(mo)%10), '-', byte('0'+d/10), byte('0'+d%10), 'T')
	b = append(b, byte('0'+h/10), byte('0'+h%10), ':', byte('0'+mi/10), byte('0'+mi%10), ':')
	b = append(b, byte('0'+sec/10), byte('0'+sec%10), '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z')
	return b
}

func appendHex16(b []byte, v uint64) []byte {
	const digits = "0123456789ABCDEF"
	for s := 60; s >= 0; s -= 4 {
		b = append(b, digits[(v>>uint(s))&0xF])
	}
	return b
}

// appendField appends s, quoted exactly when encoding/csv's Writer would
// quote it (comma, quote, CR, LF, a leading space, or the field `\.`).
func appendField(b []byte, s string) []byte {
	if !fieldNeedsQuotes(s) {
		return append(b, s...)
	}
	b = append(b, '"')
	for {
		i := strings.IndexByte(s, '"')
		if i < 0 {
			break
		}
		b = append(b, s[:i+1]...)
		b = append(b, '"')
		s = s[i+1:]
	}
	b = append(b, s...)
	return append(b, '"')
}

// fieldNeedsQuotes mirrors encoding/csv (Writer.fieldNeedsQuotes, Comma ',').
func fieldNeedsQuotes(s string) bool {
	if s == "" {
		return false
	}
	if s == `\.` {
		return true
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\n', '\r', '"', ',':
			return true
		}
	}
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsSpace(r)
}
