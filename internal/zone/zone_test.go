package zone

import (
	"errors"
	"testing"
	"time"
)

func TestLoad(t *testing.T) {
	for _, tc := range []struct {
		name   string
		offset int // at 2026-11-22 12:00 UTC
	}{
		{"", 8 * 3600},
		{"Asia/Shanghai", 8 * 3600},
		{"UTC", 0},
		{"America/New_York", -5 * 3600},
	} {
		loc, err := Load(tc.name)
		if err != nil {
			t.Fatalf("Load(%q): %v", tc.name, err)
		}
		if _, off := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC).In(loc).Zone(); off != tc.offset {
			t.Errorf("Load(%q): offset %d, want %d", tc.name, off, tc.offset)
		}
	}
	if loc, err := Load("Local"); err != nil || loc != time.Local {
		t.Errorf("Load(Local) = %v, %v; want time.Local", loc, err)
	}
	for _, bad := range []string{"Asia/Shanghia", "CST+8", "../etc/passwd"} {
		if _, err := Load(bad); !errors.Is(err, ErrUnknown) {
			t.Errorf("Load(%q) = %v, want ErrUnknown", bad, err)
		}
	}
}
