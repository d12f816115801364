package federation

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/tandem-sms/tandem/gns/gnspb"
	"github.com/tandem-sms/tandem/routing"
)

const sampleTable = "../testdata/routes/sample.yaml"

// snapshotEvents cuts t into the snapshot events a GNS node sends (first
// with reset, last with snapshot_done), n puts per event at most, gateways
// and SPs first.
func snapshotEvents(tb testing.TB, t *routing.Table, n int) []*gnspb.WatchEvent {
	tb.Helper()
	c := t.Contents()
	var puts []routing.Change
	for _, g := range c.Gateways {
		puts = append(puts, routing.Change{Op: routing.OpPutGateway, Gateway: g})
	}
	for _, sp := range c.SPs {
		puts = append(puts, routing.Change{Op: routing.OpPutSP, SP: sp})
	}
	for _, seg := range c.Segments {
		puts = append(puts, routing.Change{Op: routing.OpPutSegment, Segment: seg})
	}
	for _, p := range c.Ported {
		puts = append(puts, routing.Change{Op: routing.OpPutPorted, Ported: p})
	}
	all := gnspb.NewChanges(puts, t)
	var out []*gnspb.WatchEvent
	for len(all) > 0 {
		k := min(n, len(all))
		out = append(out, &gnspb.WatchEvent{Revision: t.Revision(), Snapshot: true, Reset_: len(out) == 0, Changes: all[:k]})
		all = all[k:]
	}
	out[len(out)-1].SnapshotDone = true
	return out
}

func sample(tb testing.TB, rev uint64) *routing.Table {
	tb.Helper()
	t, err := routing.LoadFile(sampleTable)
	if err != nil {
		tb.Fatal(err)
	}
	return t.Builder().Table(rev)
}

func segDelta(rev uint64, prefix, gw string) *gnspb.WatchEvent {
	return &gnspb.WatchEvent{Revision: rev, Changes: []*gnspb.Change{
		{Op: &gnspb.Change_PutSegment{PutSegment: &gnspb.Segment{Prefix: prefix, Gateway: gw}}},
	}}
}

// feed applies evs in order, publishing like the follow loop, and returns
// the final table and the resync reasons seen.
func feed(tb testing.TB, a *eventApplier, cur *routing.Table, evs []*gnspb.WatchEvent) (*routing.Table, []string) {
	tb.Helper()
	var reasons []string
	for i, ev := range evs {
		t, r, err := a.apply(cur, ev)
		if err != nil {
			tb.Fatalf("event %d: %v", i, err)
		}
		if r != "" {
			reasons = append(reasons, r)
		}
		if t != nil {
			cur = t
		}
	}
	return cur, reasons
}

func TestEventApplierSnapshotThenDeltas(t *testing.T) {
	src := sample(t, 10)
	evs := snapshotEvents(t, src, 3)
	if len(evs) < 3 {
		t.Fatalf("want a snapshot of several parts, got %d", len(evs))
	}
	evs = append(evs, segDelta(11, "1591234", "020001"), segDelta(11, "1591234", "001001"), segDelta(12, "1591235", "021001"))

	a := newEventApplier(0, false)
	old := routing.Empty()
	// The old table answers until snapshot_done.
	for _, ev := range evs[:len(evs)-4] {
		if tb, _, err := a.apply(old, ev); err != nil || tb != nil {
			t.Fatalf("snapshot part published %v, %v", tb, err)
		}
	}
	got, reasons := feed(t, a, old, evs[len(evs)-4:])
	if len(reasons) != 1 || reasons[0] != ResyncInitial {
		t.Fatalf("reasons %v, want [initial]", reasons)
	}
	if got.Revision() != 12 {
		t.Fatalf("revision %d, want 12", got.Revision())
	}
	// The duplicate of revision 11 was skipped, not applied on top.
	for num, gw := range map[string]string{"15912340000": "020001", "15912350000": "021001", "13800101234": "001001", "13800100099": "020001"} {
		if r, err := got.ResolveMT(num); err != nil || r.Gateway.Code != gw {
			t.Errorf("%s → %+v, %v; want %s", num, r.Gateway, err, gw)
		}
	}
	if got.NumSegments() != src.NumSegments()+2 || got.NumSPs() != src.NumSPs() || got.NumPorted() != src.NumPorted() {
		t.Fatalf("sizes %d/%d/%d, want %d/%d/%d", got.NumSegments(), got.NumSPs(), got.NumPorted(), src.NumSegments()+2, src.NumSPs(), src.NumPorted())
	}
}

func TestEventApplierReasons(t *testing.T) {
	snap := snapshotEvents(t, sample(t, 20), 1000)
	for _, tc := range []struct {
		name   string
		from   uint64
		forced bool
		evs    []*gnspb.WatchEvent
		want   []string
	}{
		{"initial", 0, false, snap, []string{ResyncInitial}},
		{"diverged", 0, true, snap, []string{ResyncDiverged}},
		{"too old", 5, false, snap, []string{ResyncTooOld}},
		{"replaced mid-stream", 5, false, append([]*gnspb.WatchEvent{segDelta(6, "1591234", "001001")}, snap...), []string{ResyncReplaced}},
		{"second snapshot", 0, false, append(append([]*gnspb.WatchEvent{}, snap...), snapshotEvents(t, sample(t, 30), 1000)...), []string{ResyncInitial, ResyncReplaced}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cur := sample(t, tc.from)
			_, got := feed(t, newEventApplier(tc.from, tc.forced), cur, tc.evs)
			if len(got) != len(tc.want) {
				t.Fatalf("reasons %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("reasons %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestEventApplierErrors(t *testing.T) {
	snap := snapshotEvents(t, sample(t, 20), 3)
	del := &gnspb.WatchEvent{Revision: 21, Changes: []*gnspb.Change{{Op: &gnspb.Change_DeleteSegment{DeleteSegment: "1599999"}}}}
	for _, tc := range []struct {
		name string
		evs  []*gnspb.WatchEvent
		want error
	}{
		{"delta inside a snapshot", []*gnspb.WatchEvent{snap[0], segDelta(21, "1591234", "001001")}, errWatchProtocol},
		{"part without a reset", snap[1:], errWatchProtocol},
		{"part of another revision", []*gnspb.WatchEvent{snap[0], {Revision: 19, Snapshot: true}}, errWatchProtocol},
		{"delete in a snapshot", []*gnspb.WatchEvent{{Revision: 20, Snapshot: true, Reset_: true, Changes: del.Changes}}, errWatchProtocol},
		{"empty delta", []*gnspb.WatchEvent{{Revision: 21}}, errWatchProtocol},
		{"change with no op", []*gnspb.WatchEvent{{Revision: 21, Changes: []*gnspb.Change{{}}}}, errWatchProtocol},
		{"delete of a missing segment", []*gnspb.WatchEvent{del}, errDiverged},
		{"segment of an unknown gateway", []*gnspb.WatchEvent{segDelta(21, "1591234", "999999")}, errDiverged},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newEventApplier(20, false)
			cur := sample(t, 20)
			var err error
			for _, ev := range tc.evs {
				var next *routing.Table
				if next, _, err = a.apply(cur, ev); err != nil {
					break
				}
				if next != nil {
					cur = next
				}
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if cur.Revision() != 20 {
				t.Fatalf("table moved to revision %d despite the error", cur.Revision())
			}
		})
	}
}

// FuzzEventApplier feeds arbitrary event sequences: each is applied or
// refused with an error, never a panic, and a published table carries the
// event's revision.
func FuzzEventApplier(f *testing.F) {
	seed := func(evs []*gnspb.WatchEvent) []byte {
		var b []byte
		for _, ev := range evs {
			m, err := proto.Marshal(ev)
			if err != nil {
				f.Fatal(err)
			}
			b = protowire.AppendBytes(b, m)
		}
		return b
	}
	snap := snapshotEvents(f, sample(f, 9), 4)
	f.Add(uint64(0), seed(append(snap, segDelta(10, "1591234", "001001"))))
	f.Add(uint64(3), seed(snap[:2]))
	f.Add(uint64(9), seed([]*gnspb.WatchEvent{segDelta(10, "1591234", "020001"), segDelta(10, "1591234", "001001")}))
	f.Fuzz(func(t *testing.T, from uint64, b []byte) {
		a := newEventApplier(from, false)
		cur := routing.Empty()
		for len(b) > 0 {
			// Records are varint-length-prefixed; a length past the end
			// takes the rest, a record that does not unmarshal is skipped,
			// so mutations keep reaching the applier.
			n, k := protowire.ConsumeVarint(b)
			if k < 0 {
				return
			}
			b = b[k:]
			rec := b[:min(n, uint64(len(b)))]
			b = b[len(rec):]
			ev := &gnspb.WatchEvent{}
			if proto.Unmarshal(rec, ev) != nil {
				continue
			}
			next, _, err := a.apply(cur, ev)
			if err != nil {
				if !errors.Is(err, errWatchProtocol) && !errors.Is(err, errDiverged) {
					t.Fatalf("error outside the sentinels: %v", err)
				}
				return
			}
			if next != nil {
				if next.Revision() != ev.GetRevision() {
					t.Fatalf("published revision %d for an event of %d", next.Revision(), ev.GetRevision())
				}
				cur = next
			}
		}
	})
}
