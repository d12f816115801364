package ismg

import (
	"strconv"
	"testing"
	"time"
)

func TestParseUintMatchesStrconv(t *testing.T) {
	for _, s := range []string{"", "0", "123", "00ff", "FFfe", "xyz", "12a", "18446744073709551615",
		"18446744073709551616", "ffffffffffffffff", "10000000000000000", "-1", "+1"} {
		for _, base := range []int{10, 16} {
			want, err := strconv.ParseUint(s, base, 64)
			got, ok := parseUint(s, uint64(base))
			if ok != (err == nil) || (ok && got != want) {
				t.Errorf("parseUint(%q, %d) = %d, %v; strconv: %d, %v", s, base, got, ok, want, err)
			}
		}
	}
}

func TestReportTimeMatchesFormat(t *testing.T) {
	loc := time.FixedZone("CST", 8*3600)
	for _, tm := range []time.Time{
		time.Date(2026, 11, 22, 15, 30, 59, 999, time.UTC), time.Date(1999, 1, 2, 3, 4, 5, 0, time.UTC),
		time.Date(2000, 12, 31, 23, 59, 0, 0, time.UTC), time.Unix(0, 0),
	} {
		if got, want := reportTime(tm, loc), tm.In(loc).Format("0601021504"); got != want {
			t.Errorf("reportTime(%v) = %q, want %q", tm, got, want)
		}
	}
}
