package smstext

import (
	"bytes"
	"errors"
	"testing"
)

func TestGSM7TablesConsistent(t *testing.T) {
	for code, r := range gsmBasic {
		if code == gsmEscape {
			continue
		}
		got, ext, ok := gsmCode(r)
		if !ok || ext || int(got) != code {
			t.Errorf("basic 0x%02X %q: gsmCode = 0x%02X ext=%v ok=%v", code, r, got, ext, ok)
		}
	}
	n := 0
	for code := range 128 {
		r, ok := gsmExt(byte(code))
		if !ok {
			continue
		}
		n++
		got, ext, ok := gsmCode(r)
		if !ok || !ext || int(got) != code {
			t.Errorf("extension 0x%02X %q: gsmCode = 0x%02X ext=%v ok=%v", code, r, got, ext, ok)
		}
	}
	if n != 10 {
		t.Errorf("extension table has %d entries, want 10", n)
	}
	// Nothing else is representable: every rune gsmCode accepts must be in
	// one of the tables.
	known := map[rune]bool{}
	for code, r := range gsmBasic {
		if code != gsmEscape {
			known[r] = true
		}
	}
	for code := range 128 {
		if r, ok := gsmExt(byte(code)); ok {
			known[r] = true
		}
	}
	for r := rune(-1); r < 0x3000; r++ {
		if _, _, ok := gsmCode(r); ok != known[r] {
			t.Errorf("gsmCode(%q) ok=%v, table says %v", r, ok, known[r])
		}
	}
}

func TestPackGSM7(t *testing.T) {
	tests := []struct {
		name   string
		text   string
		packed string
	}{
		// The classic 03.38 example.
		{"hellohello", "hellohello", "e8329bfd4697d9ec37"},
		{"one", "A", "41"},
		{"seven gets CR padding", "1234567", "31d98c56b3dd1a"},
		{"eight fill exactly", "12345678", "31d98c56b3dd70"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			septets, err := Encode(GSM7, tt.text)
			if err != nil {
				t.Fatal(err)
			}
			got, err := PackGSM7(septets)
			if err != nil || !bytes.Equal(got, unhex(t, tt.packed)) {
				t.Fatalf("PackGSM7 = %x, %v; want %s", got, err, tt.packed)
			}
			back, err := UnpackGSM7(got, len(septets))
			if err != nil || !bytes.Equal(back, septets) {
				t.Fatalf("UnpackGSM7 = %x, %v; want %x", back, err, septets)
			}
		})
	}
	// With 7 septets the padding decodes as CR when a receiver guesses 8.
	p, _ := PackGSM7([]byte("1234567"))
	eight, err := UnpackGSM7(p, 8)
	if err != nil || eight[7] != 0x0D {
		t.Fatalf("padding septet = %x, %v; want CR", eight, err)
	}
}

func TestPackGSM7Errors(t *testing.T) {
	if _, err := PackGSM7([]byte{0x41, 0x80}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("high bit: err = %v", err)
	}
	if _, err := UnpackGSM7([]byte{1, 2}, 3); !errors.Is(err, ErrMalformed) {
		t.Fatalf("too many septets: err = %v", err)
	}
	if _, err := UnpackGSM7(nil, -1); !errors.Is(err, ErrMalformed) {
		t.Fatalf("negative: err = %v", err)
	}
}
