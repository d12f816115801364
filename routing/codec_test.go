package routing

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

func sampleChanges() []Change {
	return []Change{
		{Op: OpPutGateway, Gateway: Gateway{Code: "031101", Name: "Shijiazhuang", Region: "hebei", FwdAddr: "127.0.0.1:7936", Province: "311"}},
		{Op: OpPutSegment, Segment: Segment{Prefix: "1380311", Gateway: "031101", SMSC: "north", AreaCode: "311", UserType: 2}},
		{Op: OpPutPorted, Ported: Ported{MSISDN: "13803110001", Gateway: "001001"}},
		{Op: OpPutSP, SP: SP{ID: "904001", Name: "Hebei Bank", Gateway: "031101", Mirrors: []string{"001001"}, DefaultGateway: "031101",
			ServiceCodes: []ServiceCode{{Code: "10690311"}},
			Partitions:   []Partition{{Name: "north", Regions: []string{"beijing", "tianjin"}, Gateway: "001001"}}}},
		{Op: OpDeleteSegment, Key: "1390010"},
		{Op: OpDeletePorted, Key: "13800100099"},
		{Op: OpDeleteSP, Key: "903001"},
		{Op: OpDeleteGateway, Key: "099999"},
	}
}

func TestChangesRoundTrip(t *testing.T) {
	tb := sample(t)
	batches := [][]Change{
		nil,
		sampleChanges(),
		{{Op: OpReplace, Replace: tb.Contents()}},
	}
	for i, batch := range batches {
		enc := EncodeChanges(nil, batch)
		if enc[0] != ChangesVersion {
			t.Fatalf("version byte %d", enc[0])
		}
		dec, err := DecodeChanges(enc)
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		if !reflect.DeepEqual(dec, batch) && !(len(dec) == 0 && len(batch) == 0) {
			// The replace carries no route ids; compare without them.
			if i != 2 || !reflect.DeepEqual(stripIDs(dec[0].Replace), stripIDs(batch[0].Replace)) {
				t.Fatalf("batch %d round trip:\n got %+v\nwant %+v", i, dec, batch)
			}
		}
		if again := EncodeChanges(nil, dec); !bytes.Equal(again, enc) {
			t.Fatalf("batch %d: encoding not deterministic", i)
		}
	}
	// The encoded batch applies like the original.
	dec, _ := DecodeChanges(EncodeChanges(nil, sampleChanges()[:7]))
	a, err1 := tb.Apply(1, sampleChanges()[:7])
	b, err2 := tb.Apply(1, dec)
	if err1 != nil || err2 != nil || !reflect.DeepEqual(a.Contents(), b.Contents()) {
		t.Fatalf("apply after decode: %v %v", err1, err2)
	}
}

func stripIDs(c *Contents) *Contents {
	c2 := *c
	c2.Segments = append([]Segment(nil), c.Segments...)
	for i := range c2.Segments {
		c2.Segments[i].RouteID = 0
	}
	c2.SPs = append([]SP(nil), c.SPs...)
	for i := range c2.SPs {
		c2.SPs[i] = cloneSP(c2.SPs[i])
		for j := range c2.SPs[i].ServiceCodes {
			c2.SPs[i].ServiceCodes[j].RouteID = 0
		}
	}
	return &c2
}

func TestDecodeChangesErrors(t *testing.T) {
	good := EncodeChanges(nil, sampleChanges())
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"version", append([]byte{2}, good[1:]...)},
		{"truncated", good[:len(good)-3]},
		{"trailing", append(append([]byte{}, good...), 0)},
		{"huge count", []byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f}},
		{"unknown op", []byte{1, 1, 77}},
		{"huge string", []byte{1, 1, byte(OpDeleteSegment), 0xff, 0xff, 0x03}},
	} {
		if _, err := DecodeChanges(tc.b); !errors.Is(err, ErrBadEncoding) {
			t.Errorf("%s: %v, want ErrBadEncoding", tc.name, err)
		}
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	tb := sample(t)
	tb, err := tb.Apply(42, sampleChanges()[:7])
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := tb.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	got, err := ReadSnapshot(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	assertSameTable(t, got, tb)
	var buf2 bytes.Buffer
	if err := got.WriteSnapshot(&buf2); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), buf2.Bytes()) {
		t.Fatal("snapshot of the restored table differs")
	}
	// Route ids keep counting after a restore: no reuse of deleted ids.
	a, _ := tb.Apply(43, []Change{{Op: OpPutSegment, Segment: Segment{Prefix: "1770000", Gateway: "001001"}}})
	b, _ := got.Apply(43, []Change{{Op: OpPutSegment, Segment: Segment{Prefix: "1770000", Gateway: "001001"}}})
	sa, _ := a.Segment("1770000")
	sb, _ := b.Segment("1770000")
	if sa.RouteID != sb.RouteID {
		t.Fatalf("next route id %d vs %d", sa.RouteID, sb.RouteID)
	}
}

func assertSameTable(t *testing.T, got, want *Table) {
	t.Helper()
	if got.Revision() != want.Revision() {
		t.Fatalf("revision %d, want %d", got.Revision(), want.Revision())
	}
	if !reflect.DeepEqual(got.Contents(), want.Contents()) {
		t.Fatalf("contents differ:\n got %+v\nwant %+v", got.Contents(), want.Contents())
	}
	if got.nextMT != want.nextMT || got.nextMO != want.nextMO {
		t.Fatalf("next ids %d/%d, want %d/%d", got.nextMT, got.nextMO, want.nextMT, want.nextMO)
	}
	var gs, ws []Segment
	for s := range got.SegmentsByRouteID(-1) {
		gs = append(gs, s)
	}
	for s := range want.SegmentsByRouteID(-1) {
		ws = append(ws, s)
	}
	if !reflect.DeepEqual(gs, ws) {
		t.Fatal("segments by route id differ")
	}
}

func TestReadSnapshotErrors(t *testing.T) {
	var buf bytes.Buffer
	if err := sample(t).WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	for i := 0; i < len(good); i++ {
		// Every truncation fails cleanly.
		if _, err := ReadSnapshot(bytes.NewReader(good[:i])); err == nil {
			t.Fatalf("truncated at %d: no error", i)
		}
	}
	for i := 0; i < len(good); i++ {
		bad := bytes.Clone(good)
		bad[i] ^= 0x20
		if _, err := ReadSnapshot(bytes.NewReader(bad)); err == nil {
			t.Fatalf("flipped byte %d: no error", i)
		}
	}
	if _, err := ReadSnapshot(strings.NewReader("TDRT\x02")); !errors.Is(err, ErrBadEncoding) {
		t.Fatalf("bad version: %v", err)
	}
}

// TestModel applies random changes to a table and to plain maps and checks
// they agree, across many publications, so path copying, trie pruning and
// hash bucket splits are all exercised.
func TestModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	gws := []string{"001001", "020001", "022001", "077101"}
	base := NewBuilder()
	for i, g := range gws {
		must(t, base.PutGateway(Gateway{Code: g, Region: fmt.Sprintf("r%d", i), FwdAddr: "127.0.0.1:1"}))
	}
	tb := base.Table(0)
	segs := map[string]string{}
	ported := map[string]string{}
	var history []*Table
	var models []map[string]string
	for round := 0; round < 200; round++ {
		var batch []Change
		for k := 0; k < 1+rng.IntN(40); k++ {
			g := gws[rng.IntN(len(gws))]
			switch rng.IntN(4) {
			case 0, 1:
				p := fmt.Sprintf("13%0*d", 1+rng.IntN(4), rng.IntN(10000))
				p = p[:min(len(p), 3+rng.IntN(4))]
				if len(p) < 3 {
					continue
				}
				batch = append(batch, Change{Op: OpPutSegment, Segment: Segment{Prefix: p, Gateway: g}})
				segs[p] = g
			case 2:
				num := fmt.Sprintf("138%08d", rng.IntN(3000))
				batch = append(batch, Change{Op: OpPutPorted, Ported: Ported{MSISDN: num, Gateway: g}})
				ported[num] = g
			case 3:
				if rng.IntN(2) == 0 {
					for p := range segs {
						batch = append(batch, Change{Op: OpDeleteSegment, Key: p})
						delete(segs, p)
						break
					}
				} else {
					for n := range ported {
						batch = append(batch, Change{Op: OpDeletePorted, Key: n})
						delete(ported, n)
						break
					}
				}
			}
		}
		nt, err := tb.Apply(uint64(round+1), batch)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		tb = nt
		history = append(history, tb)
		snap := map[string]string{}
		for p, g := range segs {
			snap["s"+p] = g
		}
		for n, g := range ported {
			snap["p"+n] = g
		}
		models = append(models, snap)
	}
	for i, h := range history {
		checkModel(t, h, models[i])
	}
	var buf bytes.Buffer
	must(t, tb.WriteSnapshot(&buf))
	rt, err := ReadSnapshot(&buf)
	if err != nil {
		t.Fatal(err)
	}
	assertSameTable(t, rt, tb)
	checkModel(t, rt, models[len(models)-1])
}

func checkModel(t *testing.T, tb *Table, m map[string]string) {
	t.Helper()
	nSeg, nPorted := 0, 0
	for k, g := range m {
		switch k[0] {
		case 's':
			nSeg++
			s, ok := tb.Segment(k[1:])
			if !ok || s.Gateway != g {
				t.Fatalf("rev %d: segment %s = %+v %v, want %s", tb.Revision(), k[1:], s, ok, g)
			}
		case 'p':
			nPorted++
			if got, ok := tb.PortedGateway(k[1:]); !ok || got != g {
				t.Fatalf("rev %d: ported %s = %s %v, want %s", tb.Revision(), k[1:], got, ok, g)
			}
			r, err := tb.ResolveMT(k[1:])
			if err != nil || !r.Ported || r.Gateway.Code != g {
				t.Fatalf("rev %d: resolve ported %s: %+v %v", tb.Revision(), k[1:], r, err)
			}
		}
	}
	if tb.NumSegments() != nSeg || tb.NumPorted() != nPorted {
		t.Fatalf("rev %d: counts %d/%d, want %d/%d", tb.Revision(), tb.NumSegments(), tb.NumPorted(), nSeg, nPorted)
	}
	n := 0
	for s := range tb.Segments() {
		if m["s"+s.Prefix] != s.Gateway {
			t.Fatalf("rev %d: iterated extra segment %+v", tb.Revision(), s)
		}
		n++
	}
	if n != nSeg || len(tb.PortedNumbers()) != nPorted {
		t.Fatalf("rev %d: iterated %d segments %d ported", tb.Revision(), n, len(tb.PortedNumbers()))
	}
	// Gateway reference counts stay exact: every gateway's count matches.
	counts := map[uint32][2]int{}
	for k, g := range m {
		i := tb.gwByCode[g]
		c := counts[i]
		if k[0] == 's' {
			c[0]++
		} else {
			c[1]++
		}
		counts[i] = c
	}
	for i, r := range tb.gws {
		if c := counts[uint32(i)]; r.nSeg != c[0] || r.nPorted != c[1] {
			t.Fatalf("rev %d: gateway %s refs %d/%d, want %v", tb.Revision(), r.Code, r.nSeg, r.nPorted, c)
		}
	}
}
