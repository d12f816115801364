package billing

import (
	"testing"
	"time"
)

func TestAppendTimeMatchesFormat(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(2026, 11, 22, 15, 30, 59, 999_999_999, time.UTC), time.Date(1, 1, 1, 0, 0, 0, 1e6, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 123_000_000, time.FixedZone("X", -5*3600)), time.Unix(0, 0),
	} {
		if got, want := string(appendTime(nil, tm)), tm.UTC().Format(TimeLayout); got != want {
			t.Errorf("appendTime(%v) = %q, want %q", tm, got, want)
		}
	}
}
