package routing

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"
)

// TestMTrieModel edits an mtrie in batches and checks every published
// version against a map, so path copying, packed-node growth, pruning and
// the header copies in the blocks are all exercised, and old versions are
// seen not to change.
func TestMTrieModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	// A small alphabet makes keys share prefixes and nodes fill up.
	key := func(n int) string {
		b := []byte("13")
		for len(b) < n {
			b = append(b, byte('0'+rng.IntN(3)))
		}
		return string(b)
	}
	var m mtrie
	model := map[string]uint64{}
	e := newEditor()
	type version struct {
		m     mtrie
		model map[string]uint64
	}
	var versions []version
	for round := 0; round < 150; round++ {
		for k := 0; k < 1+rng.IntN(60); k++ {
			if rng.IntN(3) > 0 || len(model) == 0 {
				s := key(3 + rng.IntN(9))
				v := mtVal(uint32(rng.IntN(1000)), uint32(rng.IntN(50)))
				if old := e.mtPut(&m, s, v); old != model[s] {
					t.Fatalf("put %s: old %x, want %x", s, old, model[s])
				}
				model[s] = v
			} else {
				keys := slices.Sorted(maps.Keys(model))
				s := keys[rng.IntN(len(keys))]
				if old := e.mtDelete(&m, s); old != model[s] {
					t.Fatalf("delete %s: old %x, want %x", s, old, model[s])
				}
				delete(model, s)
				if e.mtDelete(&m, s) != 0 {
					t.Fatalf("second delete of %s found it", s)
				}
			}
		}
		e.release()
		versions = append(versions, version{m, maps.Clone(model)})
	}
	for i, v := range versions {
		checkMTrie(t, fmt.Sprintf("version %d", i), &v.m, v.model, rng)
	}
	// Deleting everything leaves nothing behind.
	for s := range model {
		e.mtDelete(&m, s)
	}
	for i, c := range m.root {
		if c != nil {
			t.Fatalf("chunk %d left after deleting every key", i)
		}
	}
}

func checkMTrie(t *testing.T, name string, m *mtrie, model map[string]uint64, rng *rand.Rand) {
	t.Helper()
	var walked []string
	m.walk(func(k []byte, v uint64) bool {
		if model[string(k)] != v {
			t.Fatalf("%s: walk %s = %x, want %x", name, k, v, model[string(k)])
		}
		walked = append(walked, string(k))
		return true
	})
	if want := slices.Sorted(maps.Keys(model)); !slices.Equal(walked, want) {
		t.Fatalf("%s: walk gave %d keys in order %v…, want %d", name, len(walked), walked[:min(5, len(walked))], len(want))
	}
	for k, v := range model {
		if got := m.get(k); got != v {
			t.Fatalf("%s: get %s = %x, want %x", name, k, got, v)
		}
	}
	if m.root != nil {
		for _, c := range m.root {
			if c == nil {
				continue
			}
			for _, b := range c.sub {
				if b == nil {
					continue
				}
				for i, en := range b.ents {
					var h uint16
					if en.kid != nil {
						h = uint16(mhdr(en.kid))
					}
					if b.khdr[i] != h {
						t.Fatalf("%s: block header copy %x, node header %x", name, b.khdr[i], h)
					}
				}
			}
		}
	}
	for range 300 {
		num := "13"
		for len(num) < 3+rng.IntN(10) {
			num += string(rune('0' + rng.IntN(4)))
		}
		var want uint64
		wantLen := 0
		for n := MinPrefixLen; n <= min(len(num), MaxPrefixLen); n++ {
			if v := model[num[:n]]; v != 0 {
				want, wantLen = v, n
			}
		}
		if got, n := m.longest(num); got != want || n != wantLen {
			t.Fatalf("%s: longest %s = %x/%d, want %x/%d", name, num, got, n, want, wantLen)
		}
	}
}

// TestPortedFilter checks the ported-number filter never misses a member,
// stays exactly what a rebuild from scratch gives across deletes, growth
// and bucket splits, and leaves published versions alone.
func TestPortedFilter(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	var s portedSet
	e := newEditor()
	member := map[uint64]uint32{}
	var nums []uint64
	type version struct {
		s   portedSet
		has []uint64
	}
	var versions []version
	// Past pfEntriesPerWord<<pfMaxBits the table has more buckets than the
	// filter has words, the other branch of refilter.
	const total = 200_000
	for len(member) < total {
		for range 5_000 {
			if rng.IntN(4) > 0 || len(nums) == 0 {
				n := 13_000_000_000 + rng.Uint64N(1_000_000_000)
				gw := uint32(rng.IntN(8))
				if _, ok := member[n]; !ok {
					nums = append(nums, n)
				}
				s.put(e, n, gw)
				member[n] = gw
			} else {
				i := rng.IntN(len(nums))
				n := nums[i]
				nums[i] = nums[len(nums)-1]
				nums = nums[:len(nums)-1]
				if _, ok := s.remove(e, n); !ok {
					t.Fatalf("remove %d: not found", n)
				}
				delete(member, n)
			}
		}
		e.release()
		versions = append(versions, version{s, slices.Clone(nums)})
		checkFilter(t, &s)
	}
	if s.level+1 <= s.filt.bits {
		t.Fatalf("level %d, filter bits %d: the many-buckets case was not reached", s.level, s.filt.bits)
	}
	for i, v := range versions {
		for _, n := range v.has {
			if _, ok := v.s.get(n); !ok {
				t.Fatalf("version %d lost %d", i, n)
			}
		}
		if v.s.n != len(v.has) {
			t.Fatalf("version %d: n %d, want %d", i, v.s.n, len(v.has))
		}
	}
	fp := 0
	for range 100_000 {
		if n := 14_000_000_000 + rng.Uint64N(1_000_000_000); s.filt.may(portedHash(n)) {
			fp++
		}
	}
	t.Logf("%d numbers, %d KB filter, %.2f%% false positives", s.n, s.filt.words()*8>>10, float64(fp)/1000)
}

func checkFilter(t *testing.T, s *portedSet) {
	t.Helper()
	fresh := *s
	fresh.rebuildFilter(newEditor())
	if fresh.filt.bits != s.filt.bits {
		t.Fatalf("filter of %d numbers has %d bits, a rebuild %d", s.n, s.filt.bits, fresh.filt.bits)
	}
	for i := range s.filt.chunks {
		if *s.filt.chunks[i] != *fresh.filt.chunks[i] {
			t.Fatalf("filter chunk %d differs from a rebuild", i)
		}
	}
	s.each(func(num uint64, _ uint32) bool {
		if !s.filt.may(portedHash(num)) {
			t.Fatalf("filter misses %d", num)
		}
		return true
	})
}

// TestMNodeLayout pins the sizes the memory budget relies on.
func TestMNodeLayout(t *testing.T) {
	if n := unsafe.Sizeof(minner[[1]uint64]{}); n != 96 {
		t.Fatalf("inner node with one value: %d bytes", n)
	}
	if off := unsafe.Offsetof(minner[[1]uint64]{}.vals); off != mInnerOff {
		t.Fatalf("inner values at %d, want %d", off, mInnerOff)
	}
	if n := unsafe.Sizeof(msub{}); n > 2048 {
		t.Fatalf("block is %d bytes", n)
	}
}

func TestParseMSISDN11(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	for range 100_000 {
		s := fmt.Sprintf("%011d", rng.Uint64N(100_000_000_000))
		if v, ok := parseMSISDN11(s); !ok || v != parseNumber(s) {
			t.Fatalf("%s: %d %v", s, v, ok)
		}
		b := []byte(s)
		b[rng.IntN(len(b))] = byte(rng.IntN(256))
		if _, ok := parseMSISDN11(string(b)); ok != isDigits(string(b)) {
			t.Fatalf("%q: ok %v", b, ok)
		}
	}
	for _, s := range []string{"", "1380010123", "138001012345", "+8613800101234", "1380010123/", "1380010123:"} {
		if _, ok := parseMSISDN11(s); ok {
			t.Fatalf("%q accepted", s)
		}
	}
}
