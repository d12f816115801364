package cmpp

import (
	"errors"
	"fmt"
	"time"
)

// ErrBadTime wraps the errors of ParseTime and ParseReportTime; the error
// text quotes the value and says what is wrong with it.
var ErrBadTime = errors.New("cmpp: bad time")

// ParseTime reads a SUBMIT's or FWD's ValId_Time / At_Time, which reuse the
// SMPP time format (protocols.md §2.4): "YYMMDDhhmmsstnnp", with p '+' or
// '-' and nn quarter hours from UTC for an absolute time (t is tenths of a
// second), or "YYMMDDhhmmss000R" for a time relative to now (YY years, MM
// months, DD days, hh:mm:ss later; the fields are not range-checked, so
// "000000990000000R" is 99 hours). The empty string gives the zero time.
// Some SPs send the absolute form without "tnnp" (12 digits): that is read
// in loc, the gateway's zone. Years are 2000+YY.
func ParseTime(s string, now time.Time, loc *time.Location) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if len(s) != 16 && len(s) != 12 {
		return time.Time{}, fmt.Errorf("%w: %q: want 16 characters", ErrBadTime, s)
	}
	var f [6]int
	for i := range f {
		a, b := s[2*i], s[2*i+1]
		if a < '0' || a > '9' || b < '0' || b > '9' {
			return time.Time{}, fmt.Errorf("%w: %q: non-digit at %d", ErrBadTime, s, 2*i)
		}
		f[i] = int(a-'0')*10 + int(b-'0')
	}
	if len(s) == 12 {
		return absTime(s, f, 0, loc)
	}
	if s[12] < '0' || s[12] > '9' || s[13] < '0' || s[13] > '9' || s[14] < '0' || s[14] > '9' {
		return time.Time{}, fmt.Errorf("%w: %q: bad tenths/offset", ErrBadTime, s)
	}
	nn := int(s[13]-'0')*10 + int(s[14]-'0')
	switch s[15] {
	case 'R':
		d := time.Duration(f[3])*time.Hour + time.Duration(f[4])*time.Minute + time.Duration(f[5])*time.Second
		return now.AddDate(f[0], f[1], f[2]).Add(d), nil
	case '+', '-':
		if nn > 48 {
			return time.Time{}, fmt.Errorf("%w: %q: offset %d quarter hours", ErrBadTime, s, nn)
		}
		off := nn * 15 * 60
		if s[15] == '-' {
			off = -off
		}
		return absTime(s, f, int(s[12]-'0'), time.FixedZone("", off))
	default:
		return time.Time{}, fmt.Errorf("%w: %q: last character %q, want +, - or R", ErrBadTime, s, s[15])
	}
}

// absTime builds the absolute time of the fields f (YY MM DD hh mm ss) of
// s, rejecting values out of range and days the month does not have.
func absTime(s string, f [6]int, tenths int, loc *time.Location) (time.Time, error) {
	if f[1] < 1 || f[1] > 12 || f[2] < 1 || f[2] > 31 || f[3] > 23 || f[4] > 59 || f[5] > 59 {
		return time.Time{}, fmt.Errorf("%w: %q: field out of range", ErrBadTime, s)
	}
	t := time.Date(2000+f[0], time.Month(f[1]), f[2], f[3], f[4], f[5], tenths*int(100*time.Millisecond), loc)
	if t.Day() != f[2] {
		return time.Time{}, fmt.Errorf("%w: %q: no such day", ErrBadTime, s)
	}
	return t, nil
}

// ReportTimeLen is the width of a status report's Submit_time and
// Done_time (and of the MO report's times): YYMMDDHHMM.
const ReportTimeLen = 10

// zeroReportTime stands for "no time" in a report.
const zeroReportTime = "0000000000"

// FormatReportTime formats t for a status report's Submit_time or
// Done_time: YYMMDDHHMM in loc, the gateway's zone (the report carries no
// zone). The zero time gives "0000000000". It is
// t.In(loc).Format("0601021504") without the allocations of Format.
func FormatReportTime(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return zeroReportTime
	}
	var b [ReportTimeLen]byte
	return string(AppendReportTime(b[:0], t, loc))
}

// AppendReportTime appends FormatReportTime(t, loc) to b.
func AppendReportTime(b []byte, t time.Time, loc *time.Location) []byte {
	if t.IsZero() {
		return append(b, zeroReportTime...)
	}
	t = t.In(loc)
	y, mo, d := t.Date()
	h, mi, _ := t.Clock()
	y %= 100
	if y < 0 {
		return t.AppendFormat(b, "0601021504")
	}
	return append(b,
		byte('0'+y/10), byte('0'+y%10), byte('0'+int(mo)/10), byte('0'+int(mo)%10),
		byte('0'+d/10), byte('0'+d%10), byte('0'+h/10), byte('0'+h%10),
		byte('0'+mi/10), byte('0'+mi%10))
}

// ParseReportTime reads a report's YYMMDDHHMM in loc (years 2000+YY), the
// inverse of FormatReportTime: "0000000000" and "" give the zero time.
func ParseReportTime(s string, loc *time.Location) (time.Time, error) {
	if s == "" || s == zeroReportTime {
		return time.Time{}, nil
	}
	if len(s) != ReportTimeLen {
		return time.Time{}, fmt.Errorf("%w: %q: want %d digits YYMMDDHHMM", ErrBadTime, s, ReportTimeLen)
	}
	var f [6]int
	for i := range 5 {
		a, b := s[2*i], s[2*i+1]
		if a < '0' || a > '9' || b < '0' || b > '9' {
			return time.Time{}, fmt.Errorf("%w: %q: non-digit at %d", ErrBadTime, s, 2*i)
		}
		f[i] = int(a-'0')*10 + int(b-'0')
	}
	return absTime(s, f, 0, loc)
}

// FormatTime formats t as an absolute CMPP/SMPP time (ValId_Time, At_Time,
// protocols.md §2.4): "YYMMDDhhmmsstnnp", in loc with its offset from UTC
// in quarter hours. The zero time gives "" (the field is left empty).
// ParseTime reads it back to the tenth of a second.
func FormatTime(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return ""
	}
	t = t.In(loc)
	_, off := t.Zone()
	sign := byte('+')
	if off < 0 {
		sign, off = '-', -off
	}
	q := off / (15 * 60)
	b := t.AppendFormat(make([]byte, 0, 16), "060102150405")
	return string(append(b, byte('0'+t.Nanosecond()/100_000_000), byte('0'+q/10), byte('0'+q%10), sign))
}
