package record

import (
	"bytes"
	"reflect"
	"testing"
)

// FuzzDecode: no line panics Decode, and what decodes encodes back to a
// line that decodes to the same event.
func FuzzDecode(f *testing.F) {
	for i := range samples {
		f.Add(bytes.TrimSuffix(samples[i].Append(nil), []byte("\n")))
	}
	f.Add([]byte(`{"ev":"ack","t":"2026-11-22T14:30:00Z","key":"k","msg_id":"18446744073709551615"}`))
	f.Add([]byte(`{"ev":"x","t":"2026-11-22T14:30:00+08:00"}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		e, err := Decode(line)
		if err != nil {
			return
		}
		again, err := Decode(bytes.TrimSuffix(e.Append(nil), []byte("\n")))
		if err != nil {
			t.Fatalf("re-encoded %+v does not decode: %v", e, err)
		}
		if !reflect.DeepEqual(e, again) {
			t.Fatalf("round trip:\n%+v\n%+v", e, again)
		}
	})
}

// FuzzRead: any byte stream, read in any split, gives an error or events,
// never a panic.
func FuzzRead(f *testing.F) {
	var all []byte
	for i := range samples {
		all = samples[i].Append(all)
	}
	f.Add(all)
	f.Add(all[:len(all)-7])
	f.Add([]byte("\n\r\n{}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n := 0
		torn, err := Read(bytes.NewReader(b), "fuzz", func(*Event) error { n++; return nil })
		if err == nil && torn.Line == 0 && len(b) > 0 && b[len(b)-1] != '\n' {
			t.Fatalf("a last line without \\n was not reported torn")
		}
	})
}
