package ismg

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Queue values are compact versioned binary records, never JSON: they are
// written and read on every message's hot path. Layout of every record:
//
//	version (1) | kind (1) | flags (1) | fields of the kind, in order:
//	  integers as uvarints (times as unix nanoseconds, 0 = zero time),
//	  strings and byte slices as uvarint length + bytes.
//
// A decoder refuses another version or kind, a field running past the end
// and trailing bytes, naming the record and field.
const recordVersion = 1

// Record kinds.
const (
	kindMT     = 'M' // mt:<link>, await, fwd:<gw>
	kindOut    = 'D' // out:<spid>: a CMPP_DELIVER (MO or status report)
	kindOrphan = 'O' // orphan: a receipt that arrived before its mapping
)

// Record flags.
const (
	// flagInFlight is no longer written: in-flight batches are KV records
	// (inflight.go), not a rewrite of every value.
	flagInFlight = 1 << 0
	flagReport   = 1 << 1 // out: the DELIVER is a status report
	// flagFed says the federation fields follow the kind's fields (a
	// record without it predates them: all zero).
	flagFed = 1 << 2
)

// ErrBadRecord wraps every decode error of a queue value.
var ErrBadRecord = errors.New("ismg: bad queue record")

// mtRecord is one destination of one SUBMIT (one Msg_Id), from its
// acceptance until its status report is built.
type mtRecord struct {
	InFlight bool // legacy flag, no longer set: see inflight.go

	SPID               string
	ServiceID          string
	SrcID              string
	Dest               string // destination MSISDN as the SP sent it (NULs trimmed)
	FeeUserType        uint8
	FeeType            string
	FeeCode            string
	FeeTerminalID      string
	RegisteredDelivery uint8
	MsgLevel           uint8
	PkTotal            uint8
	PkNumber           uint8
	TPPID              uint8
	TPUDHI             uint8
	MsgFmt             uint8
	LinkID             string
	Submitted          time.Time // accepted (SUBMIT_RESP)
	ValidUntil         time.Time // Valid_Time, or Submitted + default validity
	Attempts           uint32    // submit_sm attempts so far
	Link               string    // SMSC link it was (or is to be) sent on
	SMSCID             string    // first SMSC message id (normalised)
	Parts              uint8     // submit_sm segments for this Msg_Id (>1 when transcoding overflowed)
	Pending            uint8     // parts still waiting for a receipt
	Stat               string    // worst final state so far (multi-part)
	Content            []byte
	// Done lists (space-separated) the parts of SMSCID whose final receipt
	// was applied, so the receipt index rebuilt at start-up skips them.
	Done string

	fedFields
}

// fedFields are what the federation adds to a record: where a message came
// from and went to across CMPP_FWD hops.
type fedFields struct {
	// FromGW is the gateway that forwarded the message to us (empty when
	// it entered here): an MT's status report, and an MO's MO report, go
	// back there as CMPP_FWD.
	FromGW string
	// Peer is the gateway we forwarded an MT to (await records of MTs
	// whose report comes back as CMPP_FWD type 2).
	Peer string
	// Nodes is the NodesCount of the message: the gateways it passed so
	// far (the hop limit stops a routing loop).
	Nodes uint8
	// FwdType is the Msg_Fwd_Type an out record goes as when it waits in
	// a fwd:<gw> queue: an MO (1), an MT status report (2) or an MO status
	// report (3).
	FwdType uint8
}

func (f *fedFields) empty() bool { return *f == fedFields{} }

func (f *fedFields) append(w *recWriter) {
	w.s(f.FromGW)
	w.s(f.Peer)
	w.u8(f.Nodes)
	w.u8(f.FwdType)
}

func (f *fedFields) decode(r *recReader) {
	f.FromGW = r.s("from_gw")
	f.Peer = r.s("peer")
	f.Nodes = r.u8("nodes")
	f.FwdType = r.u8("fwd_type")
}

// outRecord is one CMPP_DELIVER waiting for its SP: an MO message or a
// status report, laid out at send time in the session's version.
type outRecord struct {
	InFlight bool
	Report   bool

	Attempts      uint32
	DestID        string
	ServiceID     string
	TPPID         uint8
	TPUDHI        uint8
	MsgFmt        uint8
	SrcTerminalID string
	LinkID        string
	Content       []byte // MO content
	Created       time.Time
	// Status report fields (Report): OrigMsgID is the Msg_Id the SP got in
	// SUBMIT_RESP.
	OrigMsgID      uint64
	Stat           string
	SubmitTime     string // YYMMDDHHMM
	DoneTime       string // YYMMDDHHMM
	DestTerminalID string
	SMSCSequence   uint32

	fedFields
}

// orphanRecord is a receipt whose SMSC message id had no mapping yet.
type orphanRecord struct {
	Link     string
	SID      string // normalised SMSC message id
	Stat     string
	Done     time.Time
	Received time.Time
}

type recWriter struct{ b []byte }

func (w *recWriter) u(v uint64)     { w.b = binary.AppendUvarint(w.b, v) }
func (w *recWriter) u8(v uint8)     { w.b = append(w.b, v) }
func (w *recWriter) s(v string)     { w.u(uint64(len(v))); w.b = append(w.b, v...) }
func (w *recWriter) bytes(v []byte) { w.u(uint64(len(v))); w.b = append(w.b, v...) }
func (w *recWriter) t(v time.Time)  { w.u(uint64(unixNano(v))) }
func newRecWriter(b []byte, kind, flags byte) recWriter {
	return recWriter{b: append(b, recordVersion, kind, flags)}
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

type recReader struct {
	b []byte
	// str is a copy of the whole record: the string fields are slices of
	// it, one allocation per record instead of one per field.
	str  string
	name string // record kind, for errors
	err  error
}

func (r *recReader) fail(field, what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s.%s: %s", ErrBadRecord, r.name, field, what)
	}
}

func (r *recReader) u(field string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(field, "truncated or overlong varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *recReader) u8(field string) uint8 {
	if r.err != nil {
		return 0
	}
	if len(r.b) < 1 {
		r.fail(field, "truncated")
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *recReader) u32(field string) uint32 {
	v := r.u(field)
	if v > 1<<32-1 {
		r.fail(field, "out of range")
		return 0
	}
	return uint32(v)
}

func (r *recReader) raw(field string) []byte {
	n := r.u(field)
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.fail(field, fmt.Sprintf("length %d past the end (%d left)", n, len(r.b)))
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *recReader) s(field string) string {
	v := r.raw(field)
	if len(v) == 0 {
		return ""
	}
	end := len(r.str) - len(r.b) // r.b is a suffix of the record str copies
	if end < len(v) {
		return string(v)
	}
	return r.str[end-len(v) : end]
}

func (r *recReader) bytes(field string) []byte {
	v := r.raw(field)
	if len(v) == 0 {
		return nil
	}
	return append([]byte(nil), v...)
}

func (r *recReader) t(field string) time.Time {
	v := r.u(field)
	if v == 0 || r.err != nil {
		return time.Time{}
	}
	if v > 1<<63-1 {
		r.fail(field, "out of range")
		return time.Time{}
	}
	return time.Unix(0, int64(v))
}

func (r *recReader) end() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail("end", fmt.Sprintf("%d trailing bytes", len(r.b)))
	}
	return r.err
}

// header checks version and kind and returns the flags.
func openRecord(b []byte, kind byte, name string) (recReader, byte, error) {
	r := recReader{name: name}
	if len(b) < 3 {
		return r, 0, fmt.Errorf("%w: %s: %d bytes, want at least 3", ErrBadRecord, name, len(b))
	}
	if b[0] != recordVersion {
		return r, 0, fmt.Errorf("%w: %s: version %d, want %d", ErrBadRecord, name, b[0], recordVersion)
	}
	if b[1] != kind {
		return r, 0, fmt.Errorf("%w: %s: kind %q, want %q", ErrBadRecord, name, b[1], kind)
	}
	r.b = b[3:]
	r.str = string(r.b)
	return r, b[2], nil
}

// Append appends the encoded record to b.
func (m *mtRecord) Append(b []byte) []byte {
	var flags byte
	if m.InFlight {
		flags |= flagInFlight
	}
	if !m.fedFields.empty() {
		flags |= flagFed
	}
	if b == nil {
		// One allocation of about the right size instead of growing
		// through six.
		b = make([]byte, 0, 128+len(m.Content)+len(m.SMSCID)+len(m.Stat)+len(m.Done))
	}
	w := newRecWriter(b, kindMT, flags)
	w.s(m.SPID)
	w.s(m.ServiceID)
	w.s(m.SrcID)
	w.s(m.Dest)
	w.u8(m.FeeUserType)
	w.s(m.FeeType)
	w.s(m.FeeCode)
	w.s(m.FeeTerminalID)
	w.u8(m.RegisteredDelivery)
	w.u8(m.MsgLevel)
	w.u8(m.PkTotal)
	w.u8(m.PkNumber)
	w.u8(m.TPPID)
	w.u8(m.TPUDHI)
	w.u8(m.MsgFmt)
	w.s(m.LinkID)
	w.t(m.Submitted)
	w.t(m.ValidUntil)
	w.u(uint64(m.Attempts))
	w.s(m.Link)
	w.s(m.SMSCID)
	w.u8(m.Parts)
	w.u8(m.Pending)
	w.s(m.Stat)
	w.bytes(m.Content)
	w.s(m.Done)
	if flags&flagFed != 0 {
		m.fedFields.append(&w)
	}
	return w.b
}

// decodeMT parses an mtRecord; the result does not alias b.
func decodeMT(b []byte) (mtRecord, error) {
	r, flags, err := openRecord(b, kindMT, "mt")
	if err != nil {
		return mtRecord{}, err
	}
	m := mtRecord{InFlight: flags&flagInFlight != 0}
	m.SPID = r.s("sp_id")
	m.ServiceID = r.s("service_id")
	m.SrcID = r.s("src_id")
	m.Dest = r.s("dest")
	m.FeeUserType = r.u8("fee_user_type")
	m.FeeType = r.s("fee_type")
	m.FeeCode = r.s("fee_code")
	m.FeeTerminalID = r.s("fee_terminal_id")
	m.RegisteredDelivery = r.u8("registered_delivery")
	m.MsgLevel = r.u8("msg_level")
	m.PkTotal = r.u8("pk_total")
	m.PkNumber = r.u8("pk_number")
	m.TPPID = r.u8("tp_pid")
	m.TPUDHI = r.u8("tp_udhi")
	m.MsgFmt = r.u8("msg_fmt")
	m.LinkID = r.s("link_id")
	m.Submitted = r.t("submitted")
	m.ValidUntil = r.t("valid_until")
	m.Attempts = r.u32("attempts")
	m.Link = r.s("link")
	m.SMSCID = r.s("smsc_id")
	m.Parts = r.u8("parts")
	m.Pending = r.u8("pending")
	m.Stat = r.s("stat")
	m.Content = r.bytes("content")
	m.Done = r.s("done")
	if flags&flagFed != 0 {
		m.fedFields.decode(&r)
	}
	return m, r.end()
}

// Append appends the encoded record to b.
func (o *outRecord) Append(b []byte) []byte {
	var flags byte
	if o.InFlight {
		flags |= flagInFlight
	}
	if o.Report {
		flags |= flagReport
	}
	if !o.fedFields.empty() {
		flags |= flagFed
	}
	if b == nil {
		b = make([]byte, 0, 160+len(o.Content))
	}
	w := newRecWriter(b, kindOut, flags)
	w.u(uint64(o.Attempts))
	w.s(o.DestID)
	w.s(o.ServiceID)
	w.u8(o.TPPID)
	w.u8(o.TPUDHI)
	w.u8(o.MsgFmt)
	w.s(o.SrcTerminalID)
	w.s(o.LinkID)
	w.bytes(o.Content)
	w.t(o.Created)
	w.u(o.OrigMsgID)
	w.s(o.Stat)
	w.s(o.SubmitTime)
	w.s(o.DoneTime)
	w.s(o.DestTerminalID)
	w.u(uint64(o.SMSCSequence))
	if flags&flagFed != 0 {
		o.fedFields.append(&w)
	}
	return w.b
}

func decodeOut(b []byte) (outRecord, error) {
	r, flags, err := openRecord(b, kindOut, "out")
	if err != nil {
		return outRecord{}, err
	}
	o := outRecord{InFlight: flags&flagInFlight != 0, Report: flags&flagReport != 0}
	o.Attempts = r.u32("attempts")
	o.DestID = r.s("dest_id")
	o.ServiceID = r.s("service_id")
	o.TPPID = r.u8("tp_pid")
	o.TPUDHI = r.u8("tp_udhi")
	o.MsgFmt = r.u8("msg_fmt")
	o.SrcTerminalID = r.s("src_terminal_id")
	o.LinkID = r.s("link_id")
	o.Content = r.bytes("content")
	o.Created = r.t("created")
	o.OrigMsgID = r.u("orig_msg_id")
	o.Stat = r.s("stat")
	o.SubmitTime = r.s("submit_time")
	o.DoneTime = r.s("done_time")
	o.DestTerminalID = r.s("dest_terminal_id")
	o.SMSCSequence = r.u32("smsc_sequence")
	if flags&flagFed != 0 {
		o.fedFields.decode(&r)
	}
	return o, r.end()
}

// Append appends the encoded record to b.
func (o *orphanRecord) Append(b []byte) []byte {
	w := newRecWriter(b, kindOrphan, 0)
	w.s(o.Link)
	w.s(o.SID)
	w.s(o.Stat)
	w.t(o.Done)
	w.t(o.Received)
	return w.b
}

func decodeOrphan(b []byte) (orphanRecord, error) {
	r, _, err := openRecord(b, kindOrphan, "orphan")
	if err != nil {
		return orphanRecord{}, err
	}
	var o orphanRecord
	o.Link = r.s("link")
	o.SID = r.s("sid")
	o.Stat = r.s("stat")
	o.Done = r.t("done")
	o.Received = r.t("received")
	return o, r.end()
}

// recordInFlight reports (cheaply, without a full decode) whether a queue
// value carries the in-flight flag.
func recordInFlight(b []byte) bool {
	return len(b) >= 3 && b[0] == recordVersion && b[2]&flagInFlight != 0
}
