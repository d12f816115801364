package ismg

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"
)

func sampleMT() mtRecord {
	return mtRecord{
		InFlight: true, SPID: "901234", ServiceID: "NEWS", SrcID: "10657001", Dest: "13800100001",
		FeeUserType: 2, FeeType: "02", FeeCode: "10", RegisteredDelivery: 1, PkTotal: 2, PkNumber: 1,
		TPUDHI: 1, MsgFmt: 8, LinkID: "L", Submitted: time.Unix(0, 1_700_000_000_123),
		ValidUntil: time.Unix(1_700_172_800, 0), Attempts: 3, Link: "north", SMSCID: "1a 1b",
		Parts: 2, Pending: 1, Stat: "DELIVRD", Content: []byte{5, 0, 3, 1, 2, 1, 0, 'a'},
	}
}

func sampleOut() outRecord {
	return outRecord{
		Report: true, InFlight: true, Attempts: 1, DestID: "10657001", ServiceID: "NEWS", SrcTerminalID: "13800100001",
		Created: time.Unix(5, 6), OrigMsgID: 0xA7B9E14134FD0001, Stat: "DELIVRD", SubmitTime: "2611221530",
		DoneTime: "2611221531", DestTerminalID: "13800100001", SMSCSequence: 77,
	}
}

func TestRecordRoundTrip(t *testing.T) {
	m := sampleMT()
	got, err := decodeMT(m.Append(nil))
	if err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("mt round trip: %v\n%+v\n%+v", err, got, m)
	}
	if !recordInFlight(m.Append(nil)) {
		t.Error("in-flight flag")
	}
	o := sampleOut()
	gotO, err := decodeOut(o.Append(nil))
	if err != nil || !reflect.DeepEqual(gotO, o) {
		t.Fatalf("out round trip: %v\n%+v", err, gotO)
	}
	orp := orphanRecord{Link: "north", SID: "abc", Stat: "UNDELIV", Done: time.Unix(9, 0), Received: time.Unix(10, 0)}
	gotP, err := decodeOrphan(orp.Append(nil))
	if err != nil || !reflect.DeepEqual(gotP, orp) {
		t.Fatalf("orphan round trip: %v %+v", err, gotP)
	}
}

// Records with the federation fields round-trip, and a record written
// before they existed (no flagFed) still decodes, with them zero.
func TestRecordFedFields(t *testing.T) {
	m := sampleMT()
	m.fedFields = fedFields{FromGW: "020001", Peer: "022001", Nodes: 2}
	got, err := decodeMT(m.Append(nil))
	if err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("mt with fed fields: %v\n%+v\n%+v", err, got, m)
	}
	o := sampleOut()
	o.fedFields = fedFields{FromGW: "022001", Nodes: 1, FwdType: 2}
	gotO, err := decodeOut(o.Append(nil))
	if err != nil || !reflect.DeepEqual(gotO, o) {
		t.Fatalf("out with fed fields: %v\n%+v", err, gotO)
	}
	plain := sampleMT()
	b := plain.Append(nil)
	if b[2]&flagFed != 0 {
		t.Fatal("a record without federation fields carries flagFed")
	}
	if got, err := decodeMT(b); err != nil || !got.fedFields.empty() {
		t.Fatalf("old-layout record: %v %+v", err, got.fedFields)
	}
}

func TestRecordErrors(t *testing.T) {
	m := sampleMT()
	b := m.Append(nil)
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"version", append([]byte{9}, b[1:]...)},
		{"kind", append([]byte{recordVersion, kindOut}, b[2:]...)},
		{"truncated", b[:len(b)-3]},
		{"trailing", append(bytes.Clone(b), 0)},
	} {
		if _, err := decodeMT(tc.b); !errors.Is(err, ErrBadRecord) {
			t.Errorf("%s: err %v", tc.name, err)
		}
	}
	if _, err := decodeMT(b[:len(b)-3]); err == nil || !bytes.Contains([]byte(err.Error()), []byte("mt.content")) {
		t.Errorf("error does not name the field: %v", err)
	}
}

func FuzzDecodeRecord(f *testing.F) {
	m, o := sampleMT(), sampleOut()
	orp := orphanRecord{Link: "n", SID: "1"}
	f.Add(m.Append(nil))
	f.Add(o.Append(nil))
	f.Add(orp.Append(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := decodeMT(b); err == nil {
			if r2, err := decodeMT(r.Append(nil)); err != nil || !reflect.DeepEqual(r, r2) {
				t.Fatalf("mt re-decode: %v", err)
			}
		}
		if r, err := decodeOut(b); err == nil {
			if r2, err := decodeOut(r.Append(nil)); err != nil || !reflect.DeepEqual(r, r2) {
				t.Fatalf("out re-decode: %v", err)
			}
		}
		if r, err := decodeOrphan(b); err == nil {
			if r2, err := decodeOrphan(r.Append(nil)); err != nil || !reflect.DeepEqual(r, r2) {
				t.Fatalf("orphan re-decode: %v", err)
			}
		}
	})
}
