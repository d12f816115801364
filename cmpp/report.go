package cmpp

import (
	"encoding/binary"
	"fmt"
)

// Status report body lengths (protocols.md §1.8): the 2.x layout has a
// 21-byte Dest_terminal_Id, the 3.0 layout a 32-byte one.
const (
	ReportLen20 = 60
	ReportLen30 = 71
)

// MOReportLen is the length of the MO status report body carried by a FWD
// with Msg_Fwd_Type 3 (protocols.md §1.11).
const MOReportLen = 60

// Final states of a status report (Stat). Gateways also generate "XX:xxxx"
// codes, e.g. "MA:0001".
const (
	StatDelivered = "DELIVRD"
	StatExpired   = "EXPIRED"
	StatDeleted   = "DELETED"
	StatUndeliv   = "UNDELIV"
	StatAccepted  = "ACCEPTD"
	StatUnknown   = "UNKNOWN"
	StatRejected  = "REJECTD"
)

// ReportLen returns the status report body length used when encoding for v.
func ReportLen(v Version) int {
	if v.Is3() {
		return ReportLen30
	}
	return ReportLen20
}

// Report is the status report carried in Msg_Content of a DELIVER with
// Registered_Delivery=1, or of a FWD with Msg_Fwd_Type=2.
type Report struct {
	MsgID          uint64 // the Msg_Id the SP got in SUBMIT_RESP: the matching key
	Stat           string // 7, e.g. DELIVRD
	SubmitTime     string // 10, YYMMDDHHMM
	DoneTime       string // 10, YYMMDDHHMM
	DestTerminalID string // 21 (60-byte layout) / 32 (71-byte layout)
	SMSCSequence   uint32
}

// Append appends the report in the layout of v: 60 bytes in 2.x, 71 in 3.0.
func (p *Report) Append(b []byte, v Version) []byte {
	b = binary.BigEndian.AppendUint64(b, p.MsgID)
	b = appendFixed(b, p.Stat, 7)
	b = appendFixed(b, p.SubmitTime, 10)
	b = appendFixed(b, p.DoneTime, 10)
	b = appendFixed(b, p.DestTerminalID, termLen(v))
	return binary.BigEndian.AppendUint32(b, p.SMSCSequence)
}

// Decode parses a report body, choosing the layout by its length.
func (p *Report) Decode(content []byte) error { return p.DecodeString(string(content)) }

// DecodeString is Decode for content already held in a string (such as
// Deliver.MsgContent); the fields are substrings of s.
func (p *Report) DecodeString(s string) error {
	var tl int
	switch len(s) {
	case ReportLen20:
		tl = 21
	case ReportLen30:
		tl = 32
	default:
		*p = Report{}
		return fmt.Errorf("cmpp: decode status report: field Msg_Length: %w: %d, want %d or %d",
			ErrBadField, len(s), ReportLen20, ReportLen30)
	}
	r := newStringReader("status report", s)
	p.MsgID = r.u64("Msg_Id")
	p.Stat = r.fixed("Stat", 7)
	p.SubmitTime = r.fixed("Submit_time", 10)
	p.DoneTime = r.fixed("Done_time", 10)
	p.DestTerminalID = r.fixed("Dest_terminal_Id", tl)
	p.SMSCSequence = r.u32("SMSC_sequence")
	return r.done()
}

// MOReport is the MO status report body of a FWD with Msg_Fwd_Type 3: the
// destination ISMG tells the source ISMG how the SP answered the DELIVER.
// The same 60-byte layout is used in 2.x and 3.0.
type MOReport struct {
	MsgID           uint64 // Msg_Id of the DELIVER sent to the SP
	Stat            string // 7: DELIVRD, or SA:xxxx / SB:xxxx
	DeliverTime     string // 10, YYMMDDHHMM: CMPP_DELIVER_time
	DeliverRespTime string // 10, YYMMDDHHMM: CMPP_DELIVER_RESP_time
	DestID          string // 21, SP service code
	Reserved        uint32
}

// Append appends the 60-byte MO report body.
func (p *MOReport) Append(b []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, p.MsgID)
	b = appendFixed(b, p.Stat, 7)
	b = appendFixed(b, p.DeliverTime, 10)
	b = appendFixed(b, p.DeliverRespTime, 10)
	b = appendFixed(b, p.DestID, 21)
	return binary.BigEndian.AppendUint32(b, p.Reserved)
}

// Decode parses a 60-byte MO report body.
func (p *MOReport) Decode(content []byte) error { return p.DecodeString(string(content)) }

// DecodeString is Decode for content already held in a string.
func (p *MOReport) DecodeString(s string) error {
	if len(s) != MOReportLen {
		*p = MOReport{}
		return fmt.Errorf("cmpp: decode MO status report: field Msg_Length: %w: %d, want %d",
			ErrBadField, len(s), MOReportLen)
	}
	r := newStringReader("MO status report", s)
	p.MsgID = r.u64("Msg_Id")
	p.Stat = r.fixed("Stat", 7)
	p.DeliverTime = r.fixed("CMPP_DELIVER_time", 10)
	p.DeliverRespTime = r.fixed("CMPP_DELIVER_RESP_time", 10)
	p.DestID = r.fixed("Dest_Id", 21)
	p.Reserved = r.u32("Reserved")
	return r.done()
}
