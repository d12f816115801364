package ismg

import (
	"errors"
	"fmt"
	"time"
)

// ErrBadTime wraps errors of ValId_Time / At_Time values.
var ErrBadTime = errors.New("ismg: bad SMPP time")

// parseSMPPTime reads a CMPP ValId_Time / At_Time, which reuse the SMPP
// format (protocols.md §2.4): "YYMMDDhhmmsstnnp", p '+'/'-' with nn quarter
// hours from UTC for an absolute time, or "YYMMDDhhmmss000R" relative to
// now. An empty string gives the zero time. Some SPs send the absolute
// form without "tnnp" (12 digits): that is read in loc, the gateway's zone.
func parseSMPPTime(s string, now time.Time, loc *time.Location) (time.Time, error) {
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
		t, err := absTime(s, f, int(s[12]-'0'), time.FixedZone("", off))
		return t, err
	default:
		return time.Time{}, fmt.Errorf("%w: %q: last character %q, want +, - or R", ErrBadTime, s, s[15])
	}
}

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

// reportTime formats t as a status report's YYMMDDHHMM.
func reportTime(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return "0000000000"
	}
	t = t.In(loc)
	y, mo, d := t.Date()
	h, mi, _ := t.Clock()
	y %= 100
	if y < 0 {
		return t.Format("0601021504")
	}
	b := [10]byte{
		byte('0' + y/10), byte('0' + y%10), byte('0' + int(mo)/10), byte('0' + int(mo)%10),
		byte('0' + d/10), byte('0' + d%10), byte('0' + h/10), byte('0' + h%10),
		byte('0' + mi/10), byte('0' + mi%10),
	}
	return string(b[:])
}
