package gns

import (
	"bufio"
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/routing"
)

func commandSeeds(tb testing.TB) [][]byte {
	t := loadSample(tb)
	c := t.Contents()
	return [][]byte{
		encodeChanges([]routing.Change{{Op: routing.OpPutSegment, Segment: routing.Segment{Prefix: "1380010", Gateway: "001001"}}, {Op: routing.OpDeleteSP, Key: "901234"}}),
		encodeImportBegin(),
		encodeImportChunk(7, c),
		encodeImportEnd(cmdImportCommit, 7),
		encodeImportEnd(cmdImportAbort, 1<<40),
		encodeMember("gns1", "127.0.0.1:9190"),
		{byte(cmdMember), cmdVersion, 0xff, 0xff, 0xff, 0xff, 0x0f},
		{99, 1},
	}
}

// FuzzDecodeCommand: any bytes decode to a command or an error, never a
// panic; a decoded command re-encodes to bytes that decode to the same.
func FuzzDecodeCommand(f *testing.F) {
	for _, s := range commandSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeCommand(b)
		if err != nil {
			if !errors.Is(err, errBadCommand) && !errors.Is(err, errUnknownType) {
				t.Fatalf("error %v wraps neither sentinel", err)
			}
			return
		}
		var again []byte
		switch c.typ {
		case cmdChanges:
			again = encodeChanges(c.changes)
		case cmdImportBegin:
			again = encodeImportBegin()
		case cmdImportChunk:
			again = encodeImportChunkRaw(c.importID, c.chunk)
			var cont routing.Contents
			_ = decodeChunk(c.chunk, &cont) // must not panic
		case cmdImportCommit, cmdImportAbort:
			again = encodeImportEnd(c.typ, c.importID)
		case cmdMember:
			again = encodeMember(c.memberID, c.grpcAddr)
		}
		c2, err := decodeCommand(again)
		if err != nil {
			t.Fatalf("re-encoded %s does not decode: %v", c.typ, err)
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("round trip of %s changed it:\n%+v\n%+v", c.typ, c, c2)
		}
	})
}

// FuzzRestore: a corrupt snapshot is refused with an error, never a panic
// or an unbounded allocation.
func FuzzRestore(f *testing.F) {
	var buf bytes.Buffer
	chunk, _ := decodeCommand(encodeImportChunk(40, loadSample(f).Contents()))
	s := &fsmSnap{applied: 42, table: loadSample(f), members: map[string]string{"gns1": "127.0.0.1:1"},
		stagedID: 40, staged: [][]byte{chunk.chunk}}
	if err := s.write(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	empty := &fsmSnap{table: routing.Empty(), members: map[string]string{}}
	buf.Reset()
	if err := empty.write(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := readFSMSnap(bufio.NewReader(bytes.NewReader(b)))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := s.write(&out); err != nil {
			t.Fatalf("re-persist: %v", err)
		}
		if _, err := readFSMSnap(bufio.NewReader(&out)); err != nil {
			t.Fatalf("re-persisted snapshot does not read: %v", err)
		}
	})
}

// snapshotRoundTrip persists f's snapshot and restores it into a new FSM.
func snapshotRoundTrip(t *testing.T, f *fsm) *fsm {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := snap.(*fsmSnap).write(&buf); err != nil {
		t.Fatal(err)
	}
	f2 := newFSM(testLogger(t), newHub(16, 16, nil))
	if err := f2.Restore(nopCloser{&buf}); err != nil {
		t.Fatal(err)
	}
	return f2
}

// TestSnapshotRoundTrip: Persist then Restore gives the same state,
// including a staged import, which a node restoring mid-import must be able
// to commit.
func TestSnapshotRoundTrip(t *testing.T) {
	h := newHub(16, 16, nil)
	f := newFSM(testLogger(t), h)
	apply := func(idx uint64, cmd []byte) any {
		return f.Apply(&raftLog{Index: idx, Data: cmd})
	}
	c := loadSample(t).Contents()
	if r := apply(1, encodeImportBegin()); r != nil {
		t.Fatal(r)
	}
	if r := apply(2, encodeImportChunk(1, c)); r != nil {
		t.Fatal(r)
	}
	apply(3, encodeMember("gns1", "127.0.0.1:1"))
	f2 := snapshotRoundTrip(t, f)
	if f2.appliedIndex() != 3 || f2.member("gns1") != "127.0.0.1:1" {
		t.Fatalf("restored applied %d member %q", f2.appliedIndex(), f2.member("gns1"))
	}
	r := f2.Apply(&raftLog{Index: 4, Data: encodeImportEnd(cmdImportCommit, 1)})
	tbl, ok := r.(*routing.Table)
	if !ok {
		t.Fatalf("commit after restore: %v", r)
	}
	if tbl.Revision() != 4 || tbl.NumSPs() != 4 || tbl.NumGateways() != 5 {
		t.Fatalf("committed table rev %d sps %d gws %d", tbl.Revision(), tbl.NumSPs(), tbl.NumGateways())
	}
	// A newer begin aborts the older import.
	apply(5, encodeImportBegin())
	apply(6, encodeImportBegin())
	if r := apply(7, encodeImportEnd(cmdImportCommit, 5)); !errors.Is(r.(error), ErrImportAborted) {
		t.Fatalf("commit of superseded import: %v", r)
	}
	// An unknown command type stops the node rather than diverging.
	defer func() {
		if recover() == nil {
			t.Fatal("unknown command did not panic")
		}
	}()
	apply(8, []byte{200, 1})
}

// FuzzDecodeLease: any bytes decode to a lease command or an error naming
// errBadCommand, never a panic; a decoded command re-encodes to bytes that
// decode to the same.
func FuzzDecodeLease(f *testing.F) {
	for _, c := range []leaseCmd{
		{op: leaseAcquire, store: "001001-a", holder: "a", gateway: "001001", ttl: 10 * time.Second, minExpired: time.Second, now: 1e18},
		{op: leaseRenew, store: "s", holder: "h", token: 7, ttl: time.Second, now: 1},
		{op: leaseRelease, store: "s", holder: "h", token: 9},
	} {
		f.Add(encodeLease(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeLease(b)
		if err != nil {
			if !errors.Is(err, errBadCommand) {
				t.Fatalf("error %v does not wrap errBadCommand", err)
			}
			return
		}
		c2, err := decodeLease(encodeLease(c))
		if err != nil {
			t.Fatalf("re-encoded lease command does not decode: %v", err)
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("round trip changed it:\n%+v\n%+v", c, c2)
		}
	})
}
