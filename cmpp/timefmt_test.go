package cmpp_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
)

var cst = time.FixedZone("CST", 8*3600)

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
		err  string // part of the error; "" for success
	}{
		{"", time.Time{}, ""},
		// Absolute, with tenths and an offset in quarter hours.
		{"261122153000032+", time.Date(2026, 11, 22, 15, 30, 0, 0, cst), ""},
		{"261122153005100-", time.Date(2026, 11, 22, 15, 30, 5, 100e6, time.UTC), ""},
		{"261122153005904-", time.Date(2026, 11, 22, 15, 30, 5, 900e6, time.FixedZone("", -3600)), ""},
		{"991231235959948+", time.Date(2099, 12, 31, 23, 59, 59, 900e6, time.FixedZone("", 12*3600)), ""},
		{"000101000000000+", time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), ""},
		{"240229120000032+", time.Date(2024, 2, 29, 12, 0, 0, 0, cst), ""},
		// Relative: years, months, days, then a duration; fields unchecked.
		{"000001020304000R", now.AddDate(0, 0, 1).Add(2*time.Hour + 3*time.Minute + 4*time.Second), ""},
		{"010200000000000R", now.AddDate(1, 2, 0), ""},
		{"000000990000000R", now.Add(99 * time.Hour), ""},
		{"000000000000000R", now, ""},
		// 12 digits: absolute in the gateway's zone (loc).
		{"261122153000", time.Date(2026, 11, 22, 15, 30, 0, 0, cst), ""},
		// Errors.
		{"261131153000032+", time.Time{}, "no such day"},
		{"250229120000032+", time.Time{}, "no such day"},
		{"261322153000032+", time.Time{}, "out of range"},
		{"261100153000032+", time.Time{}, "out of range"},
		{"261122243000032+", time.Time{}, "out of range"},
		{"261122156000032+", time.Time{}, "out of range"},
		{"261122153060032+", time.Time{}, "out of range"},
		{"261122153000049+", time.Time{}, "offset 49"},
		{"26112215300003X+", time.Time{}, "tenths/offset"},
		{"2611221530000 2+", time.Time{}, "tenths/offset"},
		{"261122153000032*", time.Time{}, "last character"},
		{"2611221530x0032+", time.Time{}, "non-digit at 10"},
		{"-61122153000032+", time.Time{}, "non-digit at 0"},
		{"26112215300", time.Time{}, "16 characters"},
		{"261122153000032+0", time.Time{}, "16 characters"},
		{"261331153000", time.Time{}, "out of range"},
		{"short", time.Time{}, "16 characters"},
	} {
		got, err := cmpp.ParseTime(tc.in, now, cst)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%q: %v", tc.in, err)
		case tc.err == "" && !got.Equal(tc.want):
			t.Errorf("%q: got %v, want %v", tc.in, got, tc.want)
		case tc.err != "" && (err == nil || !errors.Is(err, cmpp.ErrBadTime) || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), tc.in)):
			t.Errorf("%q: error %v, want ErrBadTime quoting the value and saying %q", tc.in, err, tc.err)
		}
	}
}

// ParseTime keeps the offset it read: an absolute time prints back in its
// own zone with the digits it came from.
func TestParseTimeKeepsOffset(t *testing.T) {
	got, err := cmpp.ParseTime("261122153005932-", time.Time{}, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	if _, off := got.Zone(); off != -8*3600 || got.Format("060102150405") != "261122153005" || got.Nanosecond() != 900e6 {
		t.Fatalf("got %v (offset %d)", got, off)
	}
}

func TestFormatReportTime(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(2026, 11, 22, 15, 30, 59, 999, time.UTC), time.Date(1999, 1, 2, 3, 4, 5, 0, time.UTC),
		time.Date(2000, 12, 31, 23, 59, 0, 0, time.UTC), time.Unix(0, 0), time.Date(-5, 3, 4, 5, 6, 0, 0, time.UTC),
	} {
		want := tm.In(cst).Format("0601021504")
		if got := cmpp.FormatReportTime(tm, cst); got != want {
			t.Errorf("FormatReportTime(%v) = %q, want %q", tm, got, want)
		}
		if got := string(cmpp.AppendReportTime([]byte("x"), tm, cst)); got != "x"+want {
			t.Errorf("AppendReportTime(%v) = %q, want %q", tm, got, "x"+want)
		}
	}
	if got := cmpp.FormatReportTime(time.Time{}, cst); got != "0000000000" {
		t.Errorf("zero time: %q", got)
	}
	tm := time.Date(2026, 11, 22, 15, 30, 0, 0, time.UTC)
	if n := testing.AllocsPerRun(100, func() { _ = cmpp.AppendReportTime(make([]byte, 0, 16), tm, time.UTC) }); n > 1 {
		t.Errorf("AppendReportTime: %v allocs", n)
	}
}

func TestParseReportTime(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Time
		err  string
	}{
		{"", time.Time{}, ""},
		{"0000000000", time.Time{}, ""},
		{"2611221530", time.Date(2026, 11, 22, 15, 30, 0, 0, cst), ""},
		{"2402291200", time.Date(2024, 2, 29, 12, 0, 0, 0, cst), ""},
		{"2502291200", time.Time{}, "no such day"},
		{"2613221530", time.Time{}, "out of range"},
		{"2611222430", time.Time{}, "out of range"},
		{"26112215", time.Time{}, "10 digits"},
		{"26112215300", time.Time{}, "10 digits"},
		{"26112215x0", time.Time{}, "non-digit at 8"},
	} {
		got, err := cmpp.ParseReportTime(tc.in, cst)
		switch {
		case tc.err == "" && (err != nil || !got.Equal(tc.want)):
			t.Errorf("%q: got %v, %v; want %v", tc.in, got, err, tc.want)
		case tc.err != "" && (err == nil || !errors.Is(err, cmpp.ErrBadTime) || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: error %v, want ErrBadTime saying %q", tc.in, err, tc.err)
		}
	}
}

// FuzzParseTime: no input panics; every error wraps ErrBadTime; an
// absolute time reads back the digits it was parsed from, in its own zone.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"", "261122153000032+", "261122153005100-", "000001020304000R", "261122153000",
		"991231235959948-", "250229120000032+", "261122153000049+", "999999999999999R"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := cmpp.ParseTime(s, now, cst)
		if err != nil {
			if !errors.Is(err, cmpp.ErrBadTime) {
				t.Fatalf("%q: error %v does not wrap ErrBadTime", s, err)
			}
			return
		}
		switch {
		case s == "":
			if !got.IsZero() {
				t.Fatalf("empty: %v", got)
			}
		case len(s) == 12:
			if got.Format("060102150405") != s || got.Location() != cst {
				t.Fatalf("%q: got %v", s, got)
			}
		case s[15] != 'R':
			if got.Format("060102150405") != s[:12] || got.Nanosecond() != int(s[12]-'0')*100e6 {
				t.Fatalf("%q: got %v", s, got)
			}
			if _, off := got.Zone(); off != (int(s[13]-'0')*10+int(s[14]-'0'))*900*map[byte]int{'+': 1, '-': -1}[s[15]] {
				t.Fatalf("%q: offset %d", s, off)
			}
		}
		// What parses also survives a report's YYMMDDHHMM, to the minute,
		// within the century the report's two-digit year can say.
		if y := got.In(cst).Year(); !got.IsZero() && y >= 2000 && y < 2100 {
			r, err := cmpp.ParseReportTime(cmpp.FormatReportTime(got, cst), cst)
			if err != nil || !r.Equal(got.Truncate(time.Minute)) {
				t.Fatalf("%q: report time round trip %v -> %v, %v", s, got, r, err)
			}
		}
	})
}

// FuzzParseReportTime: no input panics, errors wrap ErrBadTime, and what
// parses formats back to the same digits.
func FuzzParseReportTime(f *testing.F) {
	for _, s := range []string{"", "0000000000", "2611221530", "2502291200", "26112215x0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := cmpp.ParseReportTime(s, cst)
		if err != nil {
			if !errors.Is(err, cmpp.ErrBadTime) {
				t.Fatalf("%q: error %v does not wrap ErrBadTime", s, err)
			}
			return
		}
		if back := cmpp.FormatReportTime(got, cst); back != s && !(s == "" && back == "0000000000") {
			t.Fatalf("%q -> %v -> %q", s, got, back)
		}
	})
}

// FormatTime's output reads back with ParseTime to the same instant (to
// the tenth of a second), in zones east and west of UTC.
func TestFormatTimeRoundTrip(t *testing.T) {
	for _, loc := range []*time.Location{time.UTC, time.FixedZone("CST", 8*3600), time.FixedZone("", -(3*3600 + 30*60))} {
		in := time.Date(2026, 12, 7, 13, 45, 9, 700_000_000, time.UTC)
		s := cmpp.FormatTime(in, loc)
		if len(s) != 16 {
			t.Fatalf("%v: %q is not 16 characters", loc, s)
		}
		got, err := cmpp.ParseTime(s, time.Time{}, time.UTC)
		if err != nil || !got.Equal(in) {
			t.Errorf("%v: %q reads back as %v, %v; want %v", loc, s, got, err, in)
		}
	}
	if cmpp.FormatTime(time.Time{}, time.UTC) != "" {
		t.Error("the zero time must give an empty field")
	}
}
