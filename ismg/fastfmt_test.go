package ismg

import (
	"strconv"
	"testing"
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
