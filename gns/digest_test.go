package gns

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/tandem-sms/tandem/routing"
)

// randomBatch makes a batch of 1-4 changes over a small key space, so keys
// are put, updated, deleted and put back, gateways and SPs included;
// batches the table refuses are part of the test too.
func randomBatch(r *rand.Rand) []routing.Change {
	gws := []string{"001001", "022001", "020001", "077101", "021001", "031001"}
	gw := func() string { return gws[r.IntN(len(gws))] }
	var out []routing.Change
	for range 1 + r.IntN(4) {
		var c routing.Change
		switch r.IntN(8) {
		case 0:
			code := gws[3+r.IntN(3)]
			c = routing.Change{Op: routing.OpPutGateway, Gateway: routing.Gateway{Code: code, Name: "G" + code, Region: fmt.Sprint("r", r.IntN(3)), FwdAddr: "127.0.0.1:1"}}
		case 1:
			c = routing.Change{Op: routing.OpDeleteGateway, Key: gws[3+r.IntN(3)]}
		case 2, 3:
			c = routing.Change{Op: routing.OpPutSegment, Segment: routing.Segment{Prefix: fmt.Sprint(1590000 + r.IntN(20)), Gateway: gw(), SMSC: fmt.Sprint("l", r.IntN(2)), UserType: uint8(r.IntN(3))}}
		case 4:
			c = routing.Change{Op: routing.OpDeleteSegment, Key: fmt.Sprint(1590000 + r.IntN(20))}
		case 5:
			c = routing.Change{Op: routing.OpPutPorted, Ported: routing.Ported{MSISDN: fmt.Sprint(15800000000 + r.IntN(10)), Gateway: gw()}}
		case 6:
			c = routing.Change{Op: routing.OpDeletePorted, Key: fmt.Sprint(15800000000 + r.IntN(10))}
		case 7:
			id := fmt.Sprint(905000 + r.IntN(4))
			if r.IntN(3) == 0 {
				c = routing.Change{Op: routing.OpDeleteSP, Key: id}
				break
			}
			sp := routing.SP{ID: id, Name: "sp" + id, Gateway: gw()}
			for k := range 1 + r.IntN(3) {
				sp.ServiceCodes = append(sp.ServiceCodes, routing.ServiceCode{Code: fmt.Sprint("1069", id, k+r.IntN(2))})
			}
			if r.IntN(2) == 0 {
				sp.Partitions = []routing.Partition{{Name: "p", Regions: []string{"r1"}, Gateway: gw()}}
			}
			c = routing.Change{Op: routing.OpPutSP, SP: sp}
		}
		out = append(out, c)
	}
	return out
}

// The incremental digest always equals the digest computed from scratch,
// through thousands of random batches, an import and a snapshot restore:
// a node that restored a snapshot and one that applied the log must agree.
func TestDigestIncrementalMatchesFull(t *testing.T) {
	f := newFSM(testLogger(t), newHub(16, 16, nil))
	idx := uint64(0)
	apply := func(cmd []byte) any {
		idx++
		return f.Apply(&raftLog{Index: idx, Data: cmd})
	}
	check := func(when string) {
		t.Helper()
		tb, d := f.table.Load(), f.digest.Load()
		if d.rev != tb.Revision() {
			t.Fatalf("%s: digest of revision %d, table at %d", when, d.rev, tb.Revision())
		}
		if got, want := d.sum(), fullSum(tb); got != want {
			t.Fatalf("%s: incremental digest %s, full %s", when, got.hex(), want.hex())
		}
	}
	check("empty")
	apply(encodeImportBegin())
	apply(encodeImportChunk(1, loadSample(t).Contents()))
	apply(encodeImportEnd(cmdImportCommit, 1))
	check("after import")

	r := rand.New(rand.NewPCG(1, 2))
	applied := 0
	for i := range 3000 {
		if _, rejected := apply(encodeChanges(randomBatch(r))).(error); !rejected {
			applied++
		}
		check(fmt.Sprintf("batch %d", i))
	}
	if applied < 500 {
		t.Fatalf("only %d of 3000 random batches applied; the test exercises too little", applied)
	}

	f2 := snapshotRoundTrip(t, f)
	if a, b := f.digest.Load(), f2.digest.Load(); a.sum() != b.sum() || a.rev != b.rev {
		t.Fatalf("restored digest %s@%d, original %s@%d", b.sum().hex(), b.rev, a.sum().hex(), a.rev)
	}
}

// Tables that differ in any item differ in digest; the same content
// reached by different histories has the same digest.
func TestDigestDistinguishesContent(t *testing.T) {
	base := loadSample(t)
	d0 := fullSum(base)
	for _, ch := range [][]routing.Change{
		{{Op: routing.OpPutSegment, Segment: routing.Segment{Prefix: "1899999", Gateway: "020001"}}},
		{{Op: routing.OpPutPorted, Ported: routing.Ported{MSISDN: "13800100099", Gateway: "001001"}}},
		{{Op: routing.OpPutGateway, Gateway: routing.Gateway{Code: "021001", Name: "Shanghai", Region: "shanghai", FwdAddr: "127.0.0.1:9"}}},
		{{Op: routing.OpDeleteSP, Key: "903001"}},
	} {
		t2, err := base.Apply(base.Revision()+1, ch)
		if err != nil {
			t.Fatal(err)
		}
		if fullSum(t2) == d0 {
			t.Errorf("%v: same digest as the sample", ch[0].Op)
		}
	}
	// Put and delete back: the content, route ids included, is the
	// sample's again, at another revision.
	seg := routing.Segment{Prefix: "1899999", Gateway: "020001"}
	t2, err := base.Apply(50, []routing.Change{{Op: routing.OpPutSegment, Segment: seg}, {Op: routing.OpDeleteSegment, Key: seg.Prefix}})
	if err != nil {
		t.Fatal(err)
	}
	if fullSum(t2) != d0 {
		t.Error("put and delete of one segment changed the digest")
	}
}

func BenchmarkDigestChangeBatch(b *testing.B) {
	f := newFSM(testLogger(b), newHub(16, 16, nil))
	f.Apply(&raftLog{Index: 1, Data: encodeImportBegin()})
	f.Apply(&raftLog{Index: 2, Data: encodeImportChunk(1, loadSample(b).Contents())})
	f.Apply(&raftLog{Index: 3, Data: encodeImportEnd(cmdImportCommit, 1)})
	old := f.table.Load()
	ch := []routing.Change{{Op: routing.OpPutSegment, Segment: routing.Segment{Prefix: "1590001", Gateway: "020001"}}}
	nt, err := old.Apply(4, ch)
	if err != nil {
		b.Fatal(err)
	}
	d := f.digest.Load()
	b.ReportAllocs()
	for b.Loop() {
		d.next(old, nt, ch)
	}
}

// BenchmarkDigestFull1M is the one-off cost of the digest of a table that
// appeared whole (an import or a snapshot restore), paid by its first reader.
func BenchmarkDigestFull1M(b *testing.B) {
	t := bigTable(b, 1_000_000)
	b.ResetTimer()
	for b.Loop() {
		fullSum(t)
	}
}
