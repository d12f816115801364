// Package zone names the time zone a Tandem node keeps its calendar in
// (its timezone setting) and embeds the IANA time zone database in every
// binary that imports it, so that a FROM-scratch image, which has no
// /usr/share/zoneinfo, resolves "Asia/Shanghai" as a full host does instead
// of failing (or, where a caller ignores the error, silently running in UTC).
//
// CMPP's times carry no zone: Msg_Id's MMDDHHMMSS, ValId_Time and At_Time
// without an offset, a status report's Submit_time and Done_time, and
// CMPP_QUERY's day are all read in the gateway's local time, which in China
// is China Standard Time (UTC+8, no daylight saving). Default is therefore
// Asia/Shanghai rather than the host's zone: the host's zone is UTC in a
// container and whatever TZ says elsewhere, so it would make the same node
// answer differently on different machines.
package zone

import (
	"errors"
	"fmt"
	"time"
	_ "time/tzdata" // the zone database, for hosts and images without one
)

// Default is the zone of a node whose configuration names none.
const Default = "Asia/Shanghai"

// ErrUnknown reports a zone name that is not in the time zone database.
var ErrUnknown = errors.New("unknown time zone")

// Load returns the location named name: an IANA name such as
// "Asia/Shanghai" or "UTC", or "Local" for the host's zone (the TZ
// environment variable, else /etc/localtime). An empty name means Default.
// The error names the bad value; the caller adds the setting's key.
func Load(name string) (*time.Location, error) {
	if name == "" {
		name = Default
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("%w %q (want an IANA name such as %s or UTC)", ErrUnknown, name, Default)
	}
	return loc, nil
}

// MustLoad is Load for names known to be good (constants, tests); it
// panics on a bad one.
func MustLoad(name string) *time.Location {
	loc, err := Load(name)
	if err != nil {
		panic(err)
	}
	return loc
}
