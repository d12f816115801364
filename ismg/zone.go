package ismg

import "time"

// now is the wall clock in the node's zone (timezone:), for what takes
// calendar fields from the time it is given: Msg_Id's MMDDHHMMSS.
func (n *Node) now() time.Time { return time.Now().In(n.loc) }

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
