package smpp

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// parseReceiptDateStd is the time.Parse reference parseReceiptDate must match.
func parseReceiptDateStd(v string) time.Time {
	layout := "0601021504"
	if len(v) == 12 {
		layout = "060102150405"
	} else if len(v) != 10 {
		return time.Time{}
	}
	for _, c := range []byte(v) {
		if c < '0' || c > '9' {
			return time.Time{}
		}
	}
	t, err := time.Parse(layout, v)
	if err != nil {
		return time.Time{}
	}
	return t
}

func TestParseReceiptDateMatchesTimeParse(t *testing.T) {
	check := func(v string) {
		t.Helper()
		got, want := parseReceiptDate(v), parseReceiptDateStd(v)
		if !got.Equal(want) || got.Location() != want.Location() {
			t.Fatalf("parseReceiptDate(%q) = %v, time.Parse gives %v", v, got, want)
		}
	}
	for _, v := range []string{
		"0000000000", "2402291200", "2302291200", "0002291200", "0002290000",
		"6902281200", "6802281200", "9912312359", "991231235959", "991231235960",
		"2413011200", "2412321200", "2404311200", "2404301200", "2412312400",
		"2412312360", "24123123", "24a2312300", "241231230", "2412312300000",
		"240431120059",
	} {
		check(v)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		n := 10
		if r.IntN(2) == 0 {
			n = 12
		}
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('0' + r.IntN(10))
		}
		// Bias the fields toward their valid ranges so that most inputs
		// are dates, and the edges get exercised.
		if r.IntN(4) != 0 {
			copy(b[2:], fmt.Sprintf("%02d%02d%02d", r.IntN(14), r.IntN(33), r.IntN(25)))
		}
		check(string(b))
	}
}
