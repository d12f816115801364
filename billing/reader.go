package billing

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// MaxRecordSize bounds the bytes of one CSV record the Reader accepts, so a
// corrupt file (say, an unterminated quote) cannot make it buffer the whole
// file. Real records are a few hundred bytes.
const MaxRecordSize = 64 << 10

// bufSlack is how far encoding/csv's internal bufio.Reader may read ahead of
// the record it returns (its default size).
const bufSlack = 4096

var (
	// ErrMalformed is matched (errors.Is) by every *ParseError.
	ErrMalformed = errors.New("billing: malformed CDR file")
	// ErrRecordTooLong is the ParseError cause for a record over MaxRecordSize.
	ErrRecordTooLong = errors.New("record longer than MaxRecordSize")
)

// ParseError locates bad content in a CDR file.
type ParseError struct {
	File   string // name given to NewReader (the path for ReadFile)
	Line   int    // 1-based line number
	Column int    // 1-based byte column; 0 when the whole line is at fault
	Field  string // CSV column name; empty for CSV-level errors
	Err    error
}

func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString("billing: ")
	b.WriteString(e.File)
	b.WriteByte(':')
	b.WriteString(strconv.Itoa(e.Line))
	if e.Column > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Column))
	}
	if e.Field != "" {
		b.WriteString(": column ")
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap lets errors.Is match both ErrMalformed and the specific cause
// (csv.ErrQuote, csv.ErrFieldCount, ErrRecordTooLong, strconv errors...).
func (e *ParseError) Unwrap() []error { return []error{ErrMalformed, e.Err} }

// Reader reads Records from one CDR file. It checks the header line, maps
// columns by name (so columns a later format version adds are ignored and
// reordering is harmless), and validates every field. The first error is
// sticky: a report must not silently skip a bad bill record.
type Reader struct {
	name     string
	lr       limitReader
	cr       *csv.Reader
	idx      [numColumns]int // file position of each known column
	header   bool
	nextLine int // first line after the last good record, for errors without a position
	err      error
	// recordErr says err is confined to one record, which Resume may
	// skip; resumeLine is the line after it.
	recordErr  bool
	resumeLine int
}

// NewReader returns a Reader for r; name identifies it in errors.
func NewReader(r io.Reader, name string) *Reader {
	rd := &Reader{name: name, nextLine: 1}
	rd.lr.r = r
	rd.cr = csv.NewReader(&rd.lr)
	rd.cr.ReuseRecord = true
	return rd
}

// Read returns the next record, or io.EOF after the last one.
func (r *Reader) Read() (Record, error) {
	if r.err != nil {
		return Record{}, r.err
	}
	if !r.header {
		if err := r.readHeader(); err != nil {
			r.err = err
			return Record{}, err
		}
	}
	fields, err := r.readCSV()
	if err != nil {
		r.err = err
		if errors.Is(err, csv.ErrFieldCount) {
			// encoding/csv read the whole record: the next one starts
			// after it.
			r.recordErr, r.resumeLine = true, r.lineAfter(fields)
		}
		return Record{}, err
	}
	rec, col, err := parseFields(fields, &r.idx)
	if err != nil {
		line, c := r.cr.FieldPos(r.idx[col])
		r.err = &ParseError{File: r.name, Line: line, Column: c, Field: columnNames[col], Err: err}
		r.recordErr, r.resumeLine = true, r.lineAfter(fields)
		return Record{}, r.err
	}
	r.advance(fields)
	return rec, nil
}

// Resume clears the error of the last Read if it was confined to one
// record — a field that does not parse, or a wrong number of fields — so
// that the next Read returns the record after it; it reports whether it
// did. Other errors stay: past a broken quote, a bad header or an I/O
// error no record can be trusted.
func (r *Reader) Resume() bool {
	if r.err == nil || !r.recordErr {
		return false
	}
	r.err, r.recordErr, r.nextLine = nil, false, r.resumeLine
	return true
}

// readCSV reads one CSV record. For a wrong number of fields it returns
// the fields with the error.
func (r *Reader) readCSV() ([]string, error) {
	r.lr.limit = r.cr.InputOffset() + MaxRecordSize + bufSlack
	fields, err := r.cr.Read()
	if err == nil {
		return fields, nil
	}
	if err == io.EOF {
		return nil, io.EOF
	}
	var pe *csv.ParseError
	switch {
	case errors.As(err, &pe):
		perr := &ParseError{File: r.name, Line: pe.Line, Column: pe.Column, Err: pe.Err}
		if errors.Is(pe.Err, csv.ErrFieldCount) && len(fields) > 0 {
			return fields, perr
		}
		return nil, perr
	case errors.Is(err, ErrRecordTooLong):
		return nil, &ParseError{File: r.name, Line: r.nextLine, Err: ErrRecordTooLong}
	default:
		return nil, fmt.Errorf("billing: read %s: %w", r.name, err)
	}
}

// advance records where the next record starts, for errors csv cannot place.
func (r *Reader) advance(fields []string) { r.nextLine = r.lineAfter(fields) }

// lineAfter is the line after the record just read.
func (r *Reader) lineAfter(fields []string) int {
	last := len(fields) - 1
	line, _ := r.cr.FieldPos(last)
	return line + strings.Count(fields[last], "\n") + 1
}

func (r *Reader) readHeader() error {
	fields, err := r.readCSV()
	if err == io.EOF {
		return &ParseError{File: r.name, Line: 1, Err: errors.New("empty file: missing header line")}
	}
	if err != nil {
		return err
	}
	for i := range r.idx {
		r.idx[i] = -1
	}
	for pos, name := range fields {
		for col, want := range columnNames {
			if name != want {
				continue
			}
			if r.idx[col] >= 0 {
				_, c := r.cr.FieldPos(pos)
				return &ParseError{File: r.name, Line: 1, Column: c, Err: fmt.Errorf("header repeats column %q", name)}
			}
			r.idx[col] = pos
		}
	}
	for col, pos := range r.idx {
		if pos < 0 {
			return &ParseError{File: r.name, Line: 1, Err: fmt.Errorf("header lacks column %q", columnNames[col])}
		}
	}
	r.header = true
	r.advance(fields)
	return nil
}

// parseFields decodes one data row; on error it returns the offending column.
func parseFields(f []string, idx *[numColumns]int) (Record, int, error) {
	var r Record
	get := func(col int) string { return f[idx[col]] }
	var err error
	var ok bool
	if r.Kind, ok = parseKind(get(colKind)); !ok {
		return r, colKind, errors.New(`unknown kind ` + strconv.Quote(get(colKind)) + ` (want MT, MO or REPORT)`)
	}
	if r.Direction, ok = parseDirection(get(colDirection)); !ok {
		return r, colDirection, errors.New(`unknown direction ` + strconv.Quote(get(colDirection)) + ` (want LOCAL, FWD_OUT or FWD_IN)`)
	}
	if r.MsgID, err = parseUint(get(colMsgID), 64); err != nil {
		return r, colMsgID, err
	}
	if hex := get(colMsgIDHex); len(hex) != 16 {
		return r, colMsgIDHex, fmt.Errorf("%q is not 16 hex digits", hex)
	} else if v, err := strconv.ParseUint(hex, 16, 64); err != nil {
		return r, colMsgIDHex, fmt.Errorf("%q is not 16 hex digits", hex)
	} else if v != r.MsgID {
		return r, colMsgIDHex, fmt.Errorf("%s does not match msg_id %d", hex, r.MsgID)
	}
	var u uint64
	if u, err = parseUint(get(colFeeUserType), 8); err != nil {
		return r, colFeeUserType, err
	}
	r.FeeUserType = uint8(u)
	if u, err = parseUint(get(colPkTotal), 8); err != nil {
		return r, colPkTotal, err
	}
	r.Segments = uint8(u)
	if u, err = parseUint(get(colPkNumber), 8); err != nil {
		return r, colPkNumber, err
	}
	r.SegmentNo = uint8(u)
	if u, err = parseUint(get(colMsgFmt), 8); err != nil {
		return r, colMsgFmt, err
	}
	r.MsgFmt = uint8(u)
	if u, err = parseUint(get(colMsgLength), 32); err != nil {
		return r, colMsgLength, err
	}
	r.Length = uint32(u)
	if r.SubmitTime, err = parseTime(get(colSubmitTime)); err != nil {
		return r, colSubmitTime, err
	}
	if r.DoneTime, err = parseTime(get(colDoneTime)); err != nil {
		return r, colDoneTime, err
	}
	r.SPID = get(colSPID)
	r.ServiceID = get(colServiceID)
	r.FeeType = get(colFeeType)
	r.FeeCode = get(colFeeCode)
	r.FeeTerminalID = get(colFeeTerminalID)
	r.Src = get(colSrc)
	r.Dest = get(colDest)
	r.FinalStatus = get(colFinalStatus)
	r.HandlingGateway = get(colHandlingGateway)
	r.PrevGateway = get(colPrevGateway)
	r.NextGateway = get(colNextGateway)
	r.SMSCMsgID = get(colSMSCMsgID)
	return r, 0, nil
}

// parseUint accepts plain decimal digits only (no sign, no spaces).
func parseUint(s string, bits int) (uint64, error) {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, fmt.Errorf("%q is not a decimal number", s)
	}
	v, err := strconv.ParseUint(s, 10, bits)
	if err != nil {
		return 0, fmt.Errorf("%q is not a decimal number below 2^%d", s, bits)
	}
	return v, nil
}

// parseTime accepts exactly what appendTime writes: empty (zero time) or
// TimeLayout. Being strict keeps bill records unambiguous.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if len(s) != len(TimeLayout) || s[len(s)-1] != 'Z' {
		return time.Time{}, fmt.Errorf("%q is not a UTC time like %s", s, TimeLayout)
	}
	t, err := time.Parse(TimeLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a UTC time like %s", s, TimeLayout)
	}
	return t, nil
}

// ReadFile reads every record of one CDR file.
func ReadFile(path string) ([]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("billing: %w", err)
	}
	defer f.Close()
	var recs []Record
	rd := NewReader(f, path)
	for {
		rec, err := rd.Read()
		if err == io.EOF {
			return recs, nil
		}
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
}

// limitReader fails once more than limit bytes have been read in total; the
// Reader raises limit before each record, which bounds one record's size.
type limitReader struct {
	r     io.Reader
	n     int64
	limit int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n >= l.limit {
		return 0, ErrRecordTooLong
	}
	if rem := l.limit - l.n; int64(len(p)) > rem {
		p = p[:rem]
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	return n, err
}
