package record

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// Event names (the "ev" field).
const (
	EvRun = "run" // a run starts: Tool, Run, and SP/Addr/RD (spsim) or SystemID/Addr (smscsim)

	// spsim
	EvSubmit  = "sub"    // a SUBMIT was sent: Key, Dest, Conn, Resend
	EvAck     = "ack"    // SUBMIT_RESP Result 0: Key, MsgID, Dest, SubmitT
	EvReject  = "rej"    // SUBMIT_RESP with an error Result: Key, Result
	EvNoResp  = "noresp" // no SUBMIT_RESP: Key, Err, Resend (it will be sent again)
	EvReport  = "rpt"    // a status report: MsgID, Stat, Dest
	EvConn    = "conn"   // a connection changed: Conn, State, Err
	EvEnd     = "end"    // the run ended without a crash
	StateLost = "lost"   // EvConn states
	StateUp   = "up"
	StateGone = "gave_up"

	// smscsim
	EvAccept        = "acc"       // submit_sm accepted: SMSCID, ESME, Src, Dest, Key, RD
	EvReceipt       = "rcpt"      // receipt answered with deliver_sm_resp OK: SMSCID, Key, Stat, Dest
	EvReceiptFailed = "rcpt_fail" // receipt given up: SMSCID, Key, Err
)

// Tools that write records (Event.Tool of a run line).
const (
	ToolSPSim   = "spsim"
	ToolSMSCSim = "smscsim"
)

// Event is one line of a record file. Which fields an event carries is
// listed with its Ev constant and in the package doc; the rest are zero.
type Event struct {
	Ev string    // one of the Ev constants
	T  time.Time // when it happened

	Tool     string // run: ToolSPSim or ToolSMSCSim
	Run      string // run: the run id (spsim: the <run> of its keys)
	SP       string // run (spsim): SP_Id
	SystemID string // run (smscsim): the system_id it answers binds with
	Addr     string // run: the address dialled (spsim) or listened on (smscsim)
	RD       uint8  // run (spsim), acc: registered delivery asked

	Key     string    // the client key
	Dest    string    // destination number
	Src     string    // acc: source address
	ESME    string    // acc: system_id of the bind the submit_sm came on
	MsgID   uint64    // ack, rpt: CMPP Msg_Id
	SMSCID  string    // acc, rcpt, rcpt_fail: the SMSC's message_id
	SubmitT time.Time // ack: when its SUBMIT was sent
	Stat    string    // rpt, rcpt: final state
	Result  uint32    // rej: SUBMIT_RESP Result
	Conn    int       // sub, conn: 1-based connection number
	Resend  bool      // sub: a resend; noresp: will be resent
	State   string    // conn: StateLost, StateUp or StateGone
	Err     string    // noresp, conn, rcpt_fail: what went wrong
}

// timeLayout is RFC 3339 with nanoseconds, always written in UTC.
const timeLayout = time.RFC3339Nano

// Append appends e as one JSON line, "\n" included. It uses no reflection
// and allocates only to grow b.
func (e *Event) Append(b []byte) []byte {
	b = append(b, `{"ev":`...)
	b = appendString(b, e.Ev)
	b = append(b, `,"t":"`...)
	b = e.T.UTC().AppendFormat(b, timeLayout)
	b = append(b, '"')
	b = appendField(b, "tool", e.Tool)
	b = appendField(b, "run", e.Run)
	b = appendField(b, "sp", e.SP)
	b = appendField(b, "sys", e.SystemID)
	b = appendField(b, "addr", e.Addr)
	b = appendField(b, "key", e.Key)
	b = appendField(b, "id", e.SMSCID)
	b = appendField(b, "esme", e.ESME)
	b = appendField(b, "src", e.Src)
	b = appendField(b, "dest", e.Dest)
	if e.MsgID != 0 {
		b = append(b, `,"msg_id":"`...)
		b = strconv.AppendUint(b, e.MsgID, 10)
		b = append(b, '"')
	}
	if !e.SubmitT.IsZero() {
		b = append(b, `,"sub_t":"`...)
		b = e.SubmitT.UTC().AppendFormat(b, timeLayout)
		b = append(b, '"')
	}
	b = appendField(b, "stat", e.Stat)
	if e.Result != 0 {
		b = append(b, `,"result":`...)
		b = strconv.AppendUint(b, uint64(e.Result), 10)
	}
	if e.RD != 0 {
		b = append(b, `,"rd":`...)
		b = strconv.AppendUint(b, uint64(e.RD), 10)
	}
	if e.Conn != 0 {
		b = append(b, `,"conn":`...)
		b = strconv.AppendInt(b, int64(e.Conn), 10)
	}
	if e.Resend {
		b = append(b, `,"resend":true`...)
	}
	b = appendField(b, "state", e.State)
	b = appendField(b, "err", e.Err)
	return append(b, "}\n"...)
}

func appendField(b []byte, name, v string) []byte {
	if v == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendString(b, v)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD,
// as encoding/json does.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}

// wire is the decoding shape of a line: pointers tell absent from zero
// where a required field could legitimately be zero.
type wire struct {
	Ev     string  `json:"ev"`
	T      *string `json:"t"`
	Tool   string  `json:"tool"`
	Run    string  `json:"run"`
	SP     string  `json:"sp"`
	Sys    string  `json:"sys"`
	Addr   string  `json:"addr"`
	RD     uint8   `json:"rd"`
	Key    string  `json:"key"`
	Dest   string  `json:"dest"`
	Src    string  `json:"src"`
	ESME   string  `json:"esme"`
	MsgID  string  `json:"msg_id"`
	ID     string  `json:"id"`
	SubT   string  `json:"sub_t"`
	Stat   string  `json:"stat"`
	Result uint32  `json:"result"`
	Conn   int     `json:"conn"`
	Resend bool    `json:"resend"`
	State  string  `json:"state"`
	Err    string  `json:"err"`
}

// FieldError is a bad field in one line; ReadFile adds the file and line.
type FieldError struct {
	Field string // JSON name; empty when the line is not a JSON object
	Err   error
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Err.Error()
	}
	return "field " + e.Field + ": " + e.Err.Error()
}

func (e *FieldError) Unwrap() error { return e.Err }

var errMissing = errors.New("missing")

// Decode parses one line (without its "\n"). Events of a kind this
// version does not know decode with their Ev and T only, so a newer
// writer's extra events are skipped rather than refused; known events must
// carry their required fields. Errors are *FieldError.
func Decode(line []byte) (Event, error) {
	var w wire
	if err := json.Unmarshal(line, &w); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return Event{}, &FieldError{Field: ute.Field, Err: fmt.Errorf("want a JSON %v", ute.Type)}
		}
		return Event{}, &FieldError{Err: fmt.Errorf("not a JSON object: %w", err)}
	}
	e := Event{
		Ev: w.Ev, Tool: w.Tool, Run: w.Run, SP: w.SP, SystemID: w.Sys, Addr: w.Addr, RD: w.RD,
		Key: w.Key, Dest: w.Dest, Src: w.Src, ESME: w.ESME, SMSCID: w.ID, Stat: w.Stat,
		Result: w.Result, Conn: w.Conn, Resend: w.Resend, State: w.State, Err: w.Err,
	}
	if w.Ev == "" {
		return Event{}, &FieldError{Field: "ev", Err: errMissing}
	}
	if w.T == nil {
		return Event{}, &FieldError{Field: "t", Err: errMissing}
	}
	var err error
	if e.T, err = parseTime(*w.T); err != nil {
		return Event{}, &FieldError{Field: "t", Err: err}
	}
	if w.SubT != "" {
		if e.SubmitT, err = parseTime(w.SubT); err != nil {
			return Event{}, &FieldError{Field: "sub_t", Err: err}
		}
	}
	if w.MsgID != "" {
		if e.MsgID, err = strconv.ParseUint(w.MsgID, 10, 64); err != nil || w.MsgID[0] == '+' {
			return Event{}, &FieldError{Field: "msg_id", Err: fmt.Errorf("%q is not an unsigned decimal Msg_Id", w.MsgID)}
		}
	}
	if f := missingField(&e); f != "" {
		return Event{}, &FieldError{Field: f, Err: errMissing}
	}
	return e, nil
}

// missingField names the first required field e lacks for its kind.
func missingField(e *Event) string {
	switch {
	case e.Ev == EvRun && e.Tool == "":
		return "tool"
	case e.Ev == EvRun && e.Run == "":
		return "run"
	case (e.Ev == EvSubmit || e.Ev == EvAck || e.Ev == EvReject || e.Ev == EvNoResp) && e.Key == "":
		return "key"
	case e.Ev == EvSubmit && e.Dest == "":
		return "dest"
	case (e.Ev == EvAck || e.Ev == EvReport) && e.MsgID == 0:
		return "msg_id"
	case e.Ev == EvReject && e.Result == 0:
		return "result"
	case (e.Ev == EvReport || e.Ev == EvReceipt) && e.Stat == "":
		return "stat"
	case e.Ev == EvConn && e.Conn == 0:
		return "conn"
	case e.Ev == EvConn && e.State == "":
		return "state"
	case (e.Ev == EvAccept || e.Ev == EvReceipt || e.Ev == EvReceiptFailed) && e.SMSCID == "":
		return "id"
	}
	return ""
}

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time", s)
	}
	return t.UTC(), nil
}
