package ismg

import "time"

// msgIDClock is the wall clock Msg_Ids take their MMDDHHMMSS from: the
// node's zone (timezone:) at its standard offset, fixed. A zone with
// daylight saving repeats an hour of calendar fields each autumn; ids
// issued in both copies of that hour would repeat too. At the standard
// offset the fields never step back (China has no DST: Asia/Shanghai is
// +08:00 all year, unchanged).
func msgIDClock(loc *time.Location) func() time.Time {
	fixed := standardZone(loc, time.Now().Year())
	return func() time.Time { return time.Now().In(fixed) }
}

// standardZone is loc at the smaller of its January and July offsets of
// year: its standard time (daylight saving moves clocks forward).
func standardZone(loc *time.Location, year int) *time.Location {
	jname, joff := time.Date(year, time.January, 1, 0, 0, 0, 0, loc).Zone()
	uname, uoff := time.Date(year, time.July, 1, 0, 0, 0, 0, loc).Zone()
	if uoff < joff {
		jname, joff = uname, uoff
	}
	return time.FixedZone(jname, joff)
}

// inZone reads the calendar fields of t, as smpp.ParseReceipt returns a
// receipt's dates (zoneless YYMMDDhhmm text, put in UTC), as a time in loc:
// SMSCs write their receipt dates in local time, taken as the node's zone.
func inZone(t time.Time, loc *time.Location) time.Time {
	if t.IsZero() {
		return t
	}
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	return time.Date(y, mo, d, h, mi, s, t.Nanosecond(), loc)
}
