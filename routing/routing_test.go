package routing

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

const samplePath = "../testdata/routes/sample.yaml"

func sample(t testing.TB) *Table {
	t.Helper()
	tb, err := LoadFile(samplePath)
	if err != nil {
		t.Fatalf("load sample: %v", err)
	}
	return tb
}

func TestResolveMOPartitions(t *testing.T) {
	tb := sample(t)
	tests := []struct {
		code, asking, want, partition string
	}{
		{"10657001", "022001", "001001", "north"},   // Tianjin user → Sina north → Beijing
		{"10657001", "077101", "020001", "south"},   // Guangxi user → Sina south → Guangzhou
		{"10657001", "001001", "001001", "north"},   // Beijing itself
		{"10657001", "020001", "020001", "south"},   // Guangzhou itself
		{"10657001", "021001", "001001", ""},        // Shanghai: no partition → default
		{"1065700155", "022001", "001001", "north"}, // longer number under the code
		{"10657022", "077101", "022001", ""},        // ordinary SP → its default (primary)
		{"10660211", "001001", "021001", ""},        // under Shanghai News' 1066021
	}
	for _, tc := range tests {
		t.Run(tc.code+"@"+tc.asking, func(t *testing.T) {
			r, err := tb.ResolveMO(tc.code, tc.asking)
			if err != nil {
				t.Fatal(err)
			}
			if r.Gateway.Code != tc.want || r.Partition != tc.partition {
				t.Fatalf("got gateway %s partition %q, want %s %q", r.Gateway.Code, r.Partition, tc.want, tc.partition)
			}
		})
	}
	r, err := tb.ResolveMO("1065700101", "022001")
	if err != nil || r.ServiceCode != "1065700101" || r.SP.ID != "901234" {
		t.Fatalf("longest service code: %+v %v", r, err)
	}
	r2, _ := tb.ResolveMO("10657001", "022001")
	if r.RouteID == r2.RouteID {
		t.Fatalf("two codes share MO route id %d", r.RouteID)
	}
	if _, err := tb.ResolveMO("10650000", "001001"); !errors.Is(err, ErrRouteNotFound) {
		t.Fatalf("unknown code: %v", err)
	}
	if _, err := tb.ResolveMO("10657001", "009999"); !errors.Is(err, ErrUnknownGateway) {
		t.Fatalf("unknown asking gateway: %v", err)
	}
	if _, err := tb.ResolveMO("1065x", "001001"); !errors.Is(err, ErrBadDigits) {
		t.Fatalf("bad code: %v", err)
	}
}

func TestResolveMT(t *testing.T) {
	tb := sample(t)
	tests := []struct {
		num, want, prefix string
		ported            bool
	}{
		{"13800101234", "001001", "1380010", false},    // Beijing number
		{"8613800101234", "001001", "1380010", false},  // with 86
		{"+8613800101234", "001001", "1380010", false}, // with +86
		{"13902201234", "020001", "1390220", false},    // Guangzhou beats the 139 catch-all
		{"13999991234", "001001", "139", false},        // only the catch-all
		{"13800100099", "020001", "1380010", true},     // ported beats its segment
		{"13902200077", "022001", "1390220", true},
		{"13807711234", "077101", "1380771", false},
	}
	for _, tc := range tests {
		r, err := tb.ResolveMT(tc.num)
		if err != nil {
			t.Fatalf("%s: %v", tc.num, err)
		}
		if r.Gateway.Code != tc.want || r.Segment.Prefix != tc.prefix || r.Ported != tc.ported {
			t.Fatalf("%s: got %s prefix %s ported %v, want %s %s %v", tc.num, r.Gateway.Code, r.Segment.Prefix, r.Ported, tc.want, tc.prefix, tc.ported)
		}
	}
	r, _ := tb.ResolveMT("13800101234")
	if r.Segment.SMSC != "north" || r.Segment.AreaCode != "010" || r.Gateway.FwdAddr != "127.0.0.1:7931" {
		t.Fatalf("segment attributes: %+v", r)
	}
	for _, bad := range []string{"", "abc", "+4412345678", "1380010123x", "1234567890123456789012"} {
		if _, err := tb.ResolveMT(bad); !errors.Is(err, ErrBadNumber) {
			t.Fatalf("%q: %v, want ErrBadNumber", bad, err)
		}
	}
	if _, err := tb.ResolveMT("17000000000"); !errors.Is(err, ErrRouteNotFound) {
		t.Fatalf("no segment: %v", err)
	}
}

func TestNormalizeMSISDN(t *testing.T) {
	for in, want := range map[string]string{
		"13800101234": "13800101234", "8613800101234": "13800101234", "+8613800101234": "13800101234",
		"008613800101234": "13800101234", "86123": "86123", "10086": "10086",
	} {
		got, err := NormalizeMSISDN(in)
		if err != nil || got != want {
			t.Errorf("NormalizeMSISDN(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestResolveMTZeroAlloc(t *testing.T) {
	tb := sample(t)
	for _, num := range []string{"13800101234", "+8613800101234", "13800100099"} {
		if n := testing.AllocsPerRun(1000, func() { _, _ = tb.ResolveMT(num) }); n != 0 {
			t.Fatalf("ResolveMT(%s) allocs = %v, want 0", num, n)
		}
	}
	if n := testing.AllocsPerRun(1000, func() { _, _ = tb.ResolveMO("10657001", "022001") }); n != 0 {
		t.Fatalf("ResolveMO allocs = %v, want 0", n)
	}
}

func TestLongestPrefixWins(t *testing.T) {
	b := NewBuilder()
	must(t, b.PutGateway(Gateway{Code: "001001", Region: "beijing", FwdAddr: "127.0.0.1:1"}))
	must(t, b.PutGateway(Gateway{Code: "020001", Region: "guangdong", FwdAddr: "127.0.0.1:2"}))
	must(t, b.PutGateway(Gateway{Code: "022001", Region: "tianjin", FwdAddr: "127.0.0.1:3"}))
	must(t, b.PutSegment(Segment{Prefix: "138", Gateway: "001001"}))
	must(t, b.PutSegment(Segment{Prefix: "13802", Gateway: "020001"}))
	must(t, b.PutSegment(Segment{Prefix: "1380220", Gateway: "022001"}))
	must(t, b.PutSegment(Segment{Prefix: "13802201234", Gateway: "001001"}))
	tb := b.Table(1)
	for num, want := range map[string]string{
		"13812345678": "001001", "13802000000": "020001", "13802209999": "022001", "13802201234": "001001",
		"13802201235": "022001", "13802": "020001", "138": "001001",
	} {
		r, err := tb.ResolveMT(num)
		if err != nil || r.Gateway.Code != want {
			t.Errorf("%s → %s, %v; want %s", num, r.Gateway.Code, err, want)
		}
	}
	if _, err := tb.ResolveMT("13"); !errors.Is(err, ErrRouteNotFound) {
		t.Errorf("13: %v", err)
	}
}

func must(t testing.TB, err error) {
	if err == nil {
		return
	}
	if t == nil { // building a shared benchmark table outside any test
		panic(err)
	}
	t.Helper()
	t.Fatal(err)
}

func TestApplyLeavesOldTable(t *testing.T) {
	old := sample(t)
	before := old.Contents()
	next, err := old.Apply(7, []Change{
		{Op: OpPutSegment, Segment: Segment{Prefix: "1380010", Gateway: "022001"}},
		{Op: OpDeleteSegment, Key: "1390010"},
		{Op: OpPutSegment, Segment: Segment{Prefix: "1330000", Gateway: "077101"}},
		{Op: OpDeletePorted, Key: "13800100099"},
		{Op: OpPutPorted, Ported: Ported{MSISDN: "13800101111", Gateway: "021001"}},
		{Op: OpPutGateway, Gateway: Gateway{Code: "001001", Name: "Beijing 2", Region: "beijing", FwdAddr: "10.0.0.1:7890"}},
		{Op: OpDeleteSP, Key: "903001"},
		{Op: OpPutGateway, Gateway: Gateway{Code: "031101", Region: "hebei", FwdAddr: "10.0.0.2:7890"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(old.Contents(), before) {
		t.Fatal("Apply modified the old table")
	}
	if old.Revision() != 0 || next.Revision() != 7 {
		t.Fatalf("revisions %d %d", old.Revision(), next.Revision())
	}
	r, _ := old.ResolveMT("13800101234")
	if r.Gateway.Code != "001001" || r.Gateway.Name != "Beijing" {
		t.Fatalf("old table answers %+v", r.Gateway)
	}
	r, _ = next.ResolveMT("13800101234")
	if r.Gateway.Code != "022001" {
		t.Fatalf("new table answers %s", r.Gateway.Code)
	}
	oldSeg, _ := old.Segment("1380010")
	newSeg, _ := next.Segment("1380010")
	if oldSeg.RouteID != newSeg.RouteID {
		t.Fatalf("route id changed on update: %d → %d", oldSeg.RouteID, newSeg.RouteID)
	}
	if s, _ := next.Segment("1330000"); s.RouteID != uint32(old.NumSegments()) {
		t.Fatalf("new segment route id %d, want %d", s.RouteID, old.NumSegments())
	}
	if _, ok := next.Segment("1390010"); ok {
		t.Fatal("deleted segment still there")
	}
	if r, _ := next.ResolveMT("13900101234"); r.Segment.Prefix != "139" {
		t.Fatalf("after delete, 1390010… resolves via %s", r.Segment.Prefix)
	}
	if r, _ := next.ResolveMT("13800100099"); r.Ported {
		t.Fatal("deleted ported number still ported")
	}
	if r, _ := next.ResolveMT("13800101111"); !r.Ported || r.Gateway.Code != "021001" {
		t.Fatalf("new ported number: %+v", r)
	}
	if _, ok := next.SP("903001"); ok {
		t.Fatal("deleted SP still there")
	}
	if _, err := next.ResolveMO("1066021", "001001"); !errors.Is(err, ErrRouteNotFound) {
		t.Fatalf("deleted SP's code: %v", err)
	}
	if g, _ := next.Gateway("001001"); g.Name != "Beijing 2" {
		t.Fatalf("gateway update: %+v", g)
	}
	// Same base, a different batch: the two versions must not share writes.
	other, err := old.Apply(8, []Change{{Op: OpPutSegment, Segment: Segment{Prefix: "1330000", Gateway: "020001"}}})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := next.ResolveMT("13300001234"); r.Gateway.Code != "077101" {
		t.Fatalf("sibling apply leaked: %s", r.Gateway.Code)
	}
	if r, _ := other.ResolveMT("13300001234"); r.Gateway.Code != "020001" {
		t.Fatalf("sibling: %s", r.Gateway.Code)
	}
}

func TestApplyErrors(t *testing.T) {
	tb := sample(t)
	tests := []struct {
		name    string
		changes []Change
		index   int
		field   string
		want    error
	}{
		{"unknown gateway", []Change{{Op: OpPutSegment, Segment: Segment{Prefix: "1330000", Gateway: "009999"}}}, 0, "segment.gateway", ErrUnknownGateway},
		{"bad digits", []Change{{Op: OpPutPorted, Ported: Ported{MSISDN: "1330000", Gateway: "001001"}}, {Op: OpPutSegment, Segment: Segment{Prefix: "13a", Gateway: "001001"}}}, 0, "ported.msisdn", ErrBadDigits},
		{"short prefix", []Change{{Op: OpPutSegment, Segment: Segment{Prefix: "13", Gateway: "001001"}}}, 0, "segment.prefix", ErrBadDigits},
		{"long prefix", []Change{{Op: OpPutSegment, Segment: Segment{Prefix: "138001012345", Gateway: "001001"}}}, 0, "segment.prefix", ErrBadDigits},
		{"delete absent segment", []Change{{Op: OpPutSegment, Segment: Segment{Prefix: "1330000", Gateway: "001001"}}, {Op: OpDeleteSegment, Key: "1330001"}}, 1, "key", ErrNotFound},
		{"delete absent ported", []Change{{Op: OpDeletePorted, Key: "13800101234"}}, 0, "key", ErrNotFound},
		{"delete absent sp", []Change{{Op: OpDeleteSP, Key: "909090"}}, 0, "key", ErrNotFound},
		{"delete absent gateway", []Change{{Op: OpDeleteGateway, Key: "009999"}}, 0, "key", ErrNotFound},
		{"delete used gateway", []Change{{Op: OpDeleteGateway, Key: "077101"}}, 0, "key", ErrInUse},
		{"code claimed", []Change{{Op: OpPutSP, SP: SP{ID: "909090", Gateway: "001001", ServiceCodes: []ServiceCode{{Code: "10657001"}}}}}, 0, "sp.service_codes[0]", ErrConflict},
		{"region twice", []Change{{Op: OpPutSP, SP: SP{ID: "909090", Gateway: "001001", Partitions: []Partition{
			{Name: "a", Regions: []string{"beijing"}, Gateway: "001001"}, {Name: "b", Regions: []string{"beijing"}, Gateway: "020001"}}}}}, 0, "sp.partitions[1].regions[0]", ErrConflict},
		{"bad op", []Change{{Op: 99}}, 0, "op", ErrBadChange},
		{"ported vs 11-digit segment", []Change{{Op: OpPutSegment, Segment: Segment{Prefix: "13800100099", Gateway: "001001"}}}, 0, "segment.prefix", ErrConflict},
		{"bad gateway addr", []Change{{Op: OpPutGateway, Gateway: Gateway{Code: "031101", Region: "hebei", FwdAddr: "nohost"}}}, 0, "gateway.fwd_addr", ErrBadValue},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nt, err := tb.Apply(1, tc.changes)
			if nt != nil || !errors.Is(err, tc.want) {
				t.Fatalf("got %v, %v; want %v", nt, err, tc.want)
			}
			var ce *ChangeError
			if !errors.As(err, &ce) || ce.Index != tc.index || ce.Field != tc.field {
				t.Fatalf("error %q: want change %d field %s", err, tc.index, tc.field)
			}
		})
	}
	_, err := tb.Apply(1, []Change{{Op: OpDeleteGateway, Key: "077101"}})
	if want := `routing: change 0 (delete gateway): key: routing: still referenced: gateway 077101 is used by segment 1380771`; err.Error() != want {
		t.Fatalf("error text\n got %s\nwant %s", err, want)
	}
}

func TestDeleteGatewayOnceUnused(t *testing.T) {
	tb := sample(t)
	var changes []Change
	for s := range tb.Segments() {
		if s.Gateway == "021001" {
			changes = append(changes, Change{Op: OpDeleteSegment, Key: s.Prefix})
		}
	}
	_, err := tb.Apply(2, append(changes, Change{Op: OpDeleteGateway, Key: "021001"}))
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "sp 903001") {
		t.Fatalf("want in use by sp 903001, got %v", err)
	}
	changes = append(changes, Change{Op: OpDeleteSP, Key: "903001"}, Change{Op: OpDeleteGateway, Key: "021001"})
	nt, err := tb.Apply(2, changes)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := nt.Gateway("021001"); ok || nt.NumGateways() != tb.NumGateways()-1 {
		t.Fatal("gateway not deleted")
	}
	// The freed slot is reused by the next gateway without confusion.
	nt2, err := nt.Apply(3, []Change{
		{Op: OpPutGateway, Gateway: Gateway{Code: "031101", Region: "hebei", FwdAddr: "127.0.0.1:9"}},
		{Op: OpPutSegment, Segment: Segment{Prefix: "1380311", Gateway: "031101"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := nt2.ResolveMT("13803111234"); r.Gateway.Code != "031101" {
		t.Fatalf("got %s", r.Gateway.Code)
	}
	if r, _ := nt2.ResolveMO("10657001", "031101"); r.Gateway.Code != "001001" || r.Partition != "north" {
		t.Fatalf("hebei asks Sina: %+v", r)
	}
}

func TestReplaceKeepsRouteIDs(t *testing.T) {
	tb := sample(t)
	c := tb.Contents()
	// Drop one segment, add one, drop a code, add a code.
	var segs []Segment
	for _, s := range c.Segments {
		if s.Prefix != "1380011" {
			segs = append(segs, s)
		}
	}
	c.Segments = append(segs, Segment{Prefix: "1300000", Gateway: "001001"})
	for i := range c.SPs {
		if c.SPs[i].ID == "901234" {
			c.SPs[i].ServiceCodes = []ServiceCode{{Code: "10657001"}, {Code: "10657009"}}
		}
	}
	nt, err := tb.Apply(5, []Change{{Op: OpReplace, Replace: c}})
	if err != nil {
		t.Fatal(err)
	}
	for s := range nt.Segments() {
		if old, ok := tb.Segment(s.Prefix); ok && old.RouteID != s.RouteID {
			t.Fatalf("%s: route id %d → %d", s.Prefix, old.RouteID, s.RouteID)
		}
	}
	if s, _ := nt.Segment("1300000"); s.RouteID < uint32(tb.NumSegments()) {
		t.Fatalf("new segment reused route id %d", s.RouteID)
	}
	a, _ := tb.ResolveMO("10657001", "001001")
	b, _ := nt.ResolveMO("10657001", "001001")
	if a.RouteID != b.RouteID {
		t.Fatalf("MO route id %d → %d", a.RouteID, b.RouteID)
	}
	if _, err := nt.ResolveMO("1065700101", "001001"); err != nil {
		// 1065700101 was removed but 10657001 still covers it.
		t.Fatal(err)
	}
	if r, _ := nt.ResolveMO("1065700101", "001001"); r.ServiceCode != "10657001" {
		t.Fatalf("removed code still matches: %+v", r)
	}
	// A bad push is refused whole, naming the item.
	c.Segments = append(c.Segments, Segment{Prefix: "1300001", Gateway: "123456"})
	_, err = tb.Apply(6, []Change{{Op: OpReplace, Replace: c}})
	var ce *ChangeError
	if !errors.As(err, &ce) || !errors.Is(err, ErrUnknownGateway) || ce.Field != fmt.Sprintf("segments[%d].gateway", len(c.Segments)-1) {
		t.Fatalf("bad replace: %v", err)
	}
}

func TestPaging(t *testing.T) {
	tb := sample(t)
	var ids []uint32
	last := int64(-1)
	for {
		var got *Segment
		for s := range tb.SegmentsByRouteID(last) {
			got = &s
			break
		}
		if got == nil {
			break
		}
		ids = append(ids, got.RouteID)
		last = int64(got.RouteID)
	}
	if len(ids) != tb.NumSegments() {
		t.Fatalf("paged %d segments, table has %d", len(ids), tb.NumSegments())
	}
	for i, id := range ids {
		if id != uint32(i) {
			t.Fatalf("route ids %v not 0..n-1", ids)
		}
	}
	n := 0
	for e := range tb.MORoutesByRouteID(-1) {
		if e.RouteID != uint32(n) || e.SP == nil || e.ServiceCode == "" {
			t.Fatalf("mo route %d: %+v", n, e)
		}
		n++
	}
	if n != tb.NumMORoutes() || n != 5 {
		t.Fatalf("mo routes %d, NumMORoutes %d", n, tb.NumMORoutes())
	}
	prev := ""
	for s := range tb.Segments() {
		if s.Prefix <= prev {
			t.Fatalf("segments out of order: %s after %s", s.Prefix, prev)
		}
		prev = s.Prefix
	}
}

// TestConcurrentLookups runs readers on published tables while a writer
// applies changes and publishes new versions, the ISMG cache pattern; run
// with -race.
func TestConcurrentLookups(t *testing.T) {
	var p atomic.Pointer[Table]
	p.Store(sample(t))
	done := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				tb := p.Load()
				r, err := tb.ResolveMT("13800101234")
				if err != nil || (r.Gateway.Code != "001001" && r.Gateway.Code != "022001") {
					t.Errorf("MT: %+v %v", r, err)
					return
				}
				if _, err := tb.ResolveMO("10657001", "077101"); err != nil {
					t.Errorf("MO: %v", err)
					return
				}
				for range tb.Segments() {
				}
			}
		})
	}
	for i := 0; i < 300; i++ {
		gw := "001001"
		if i%2 == 1 {
			gw = "022001"
		}
		nt, err := p.Load().Apply(uint64(i+1), []Change{
			{Op: OpPutSegment, Segment: Segment{Prefix: "1380010", Gateway: gw}},
			{Op: OpPutSegment, Segment: Segment{Prefix: fmt.Sprintf("133%04d", i), Gateway: gw}},
			{Op: OpPutPorted, Ported: Ported{MSISDN: fmt.Sprintf("1330000%04d", i), Gateway: gw}},
		})
		if err != nil {
			t.Fatal(err)
		}
		p.Store(nt)
	}
	close(done)
	wg.Wait()
	if got := p.Load().Revision(); got != 300 {
		t.Fatalf("revision %d", got)
	}
}
