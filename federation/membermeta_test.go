package federation_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/tandem-sms/tandem/federation"
)

// TestNodeMetaBytes pins the encoding byte by byte.
func TestNodeMetaBytes(t *testing.T) {
	m := federation.NodeMeta{Gateway: "020001", Region: "south", FwdAddr: "10.0.0.5:7930", Health: federation.HealthDraining,
		NodeBits: 1, NodeIndex: 1}
	b, err := federation.AppendNodeMeta(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte("\x02\x01020001\x05south\x0d10.0.0.5:7930\x01\x01")
	if !bytes.Equal(b, want) {
		t.Fatalf("% x\nwant % x", b, want)
	}
	got, err := federation.DecodeNodeMeta(b)
	if err != nil || got != m {
		t.Fatalf("%+v %v", got, err)
	}
	// A later version that appends a field still reads.
	later := append([]byte{3}, append(b[1:], 0x01, 0x07)...)
	if got, err := federation.DecodeNodeMeta(later); err != nil || got != m {
		t.Fatalf("version 3: %+v %v", got, err)
	}
	// Version 1 (no node split) still reads, as node 0 of 1.
	v1 := []byte("\x01\x01020001\x05south\x0d10.0.0.5:7930")
	m.NodeBits, m.NodeIndex = 0, 0
	if got, err := federation.DecodeNodeMeta(v1); err != nil || got != m {
		t.Fatalf("version 1: %+v %v", got, err)
	}
}

// TestNodeMetaErrors: bad input is an error naming the field, never a
// panic; limits are enforced on encode.
func TestNodeMetaErrors(t *testing.T) {
	for _, tc := range []struct {
		in    string
		field string
	}{
		{"", "header"},
		{"\x00\x00020001\x00\x00", "version 0"},
		{"\x01\x00020", "Gateway"},
		{"\x01\x00GZ0001\x00\x00", "Gateway"},
		{"\x01\x00020001", "Region"},
		{"\x01\x00020001\x05sou", "Region"},
		{"\x01\x00020001\x05south", "FwdAddr"},
		{"\x01\x00020001\x05south\x04abc", "FwdAddr"},
		{"\x02\x00020001\x05south\x00\x01", "NodeBits"},
	} {
		_, err := federation.DecodeNodeMeta([]byte(tc.in))
		if !errors.Is(err, federation.ErrBadMeta) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%q: %v", tc.in, err)
		}
	}
	for _, m := range []federation.NodeMeta{
		{Gateway: "20001"},
		{Gateway: "020001", Region: strings.Repeat("r", federation.MaxRegionLen+1)},
		{Gateway: "020001", FwdAddr: strings.Repeat("a", federation.MaxFwdAddrLen+1)},
	} {
		if _, err := federation.AppendNodeMeta(nil, m); !errors.Is(err, federation.ErrBadMeta) {
			t.Errorf("%+v: %v", m, err)
		}
	}
	max := federation.NodeMeta{Gateway: "020001", Region: strings.Repeat("r", federation.MaxRegionLen), FwdAddr: strings.Repeat("a", federation.MaxFwdAddrLen)}
	if b, err := federation.AppendNodeMeta(nil, max); err != nil || len(b) != federation.MaxMetaLen || len(b) > 512 {
		t.Fatalf("largest meta: %d bytes, %v", len(b), err)
	}
}

// FuzzDecodeNodeMeta: no input panics, and whatever decodes encodes back
// to a meta that decodes the same.
func FuzzDecodeNodeMeta(f *testing.F) {
	seed, _ := federation.AppendNodeMeta(nil, federation.NodeMeta{Gateway: "001001", Region: "north", FwdAddr: "[::1]:7930"})
	f.Add(seed)
	f.Add([]byte("\x01\x00020001\x00\x00"))
	f.Add([]byte("\x09\x02020001\x01x\x01y\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := federation.DecodeNodeMeta(b)
		if err != nil {
			return
		}
		again, err := federation.AppendNodeMeta(nil, m)
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", m, err)
		}
		if m2, err := federation.DecodeNodeMeta(again); err != nil || m2 != m {
			t.Fatalf("round trip: %+v → %+v, %v", m, m2, err)
		}
	})
}
