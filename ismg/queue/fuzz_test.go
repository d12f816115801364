package queue

import (
	"bytes"
	"testing"
)

// FuzzDecodeRecord checks that any stored bytes decode to an error or to a
// record that encodes back to the same bytes.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(appendRecord(nil, 0, nil))
	f.Add(appendRecord(nil, t0.UnixNano(), []byte("hello")))
	f.Add([]byte{})
	f.Add([]byte{2, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		due, v, err := decodeRecord(b)
		if err != nil {
			return
		}
		if got := appendRecord(nil, due, v); !bytes.Equal(got, b) {
			t.Fatalf("round trip: %x → %x", b, got)
		}
		if id, err := decodeKey(b); err == nil && !bytes.Equal(appendKey(nil, id), b) {
			t.Fatalf("key round trip %x", b)
		}
	})
}
