package routing

import (
	"slices"
	"unsafe"
)

// portedSet maps 11-digit numbers (as integers) to gateway indexes. It is a
// linear hash table (Litwin) whose buckets live in a pvec: growing splits one
// bucket at a time, so no single change ever rehashes the whole set, and an
// update copies one bucket plus one pvec path.
type portedSet struct {
	buckets pvec[pbucket]
	level   uint   // 1<<level buckets before the split pointer wraps
	split   uint32 // next bucket to split
	n       int
}

type portEnt struct {
	num uint64
	gw  uint32
}

// pbucket is a slice without the extra hop through a slice header: the pvec
// leaf holds it by value, so a lookup loads the leaf and then the entries.
type pbucket struct {
	p    *portEnt
	n, c uint32
}

func (b pbucket) ents() []portEnt {
	if b.p == nil {
		return nil
	}
	return unsafe.Slice(b.p, b.c)[:b.n]
}

func makeBucket(s []portEnt) pbucket {
	if len(s) == 0 {
		return pbucket{}
	}
	return pbucket{p: &s[:1][0], n: uint32(len(s)), c: uint32(cap(s))}
}

const (
	portedMinLevel = 4
	portedMaxLoad  = 4 // average entries per bucket before a split
)

func portedHash(num uint64) uint32 {
	return uint32((num * 0x9E3779B97F4A7C15) >> 32)
}

func (s *portedSet) bucketOf(num uint64) uint32 {
	h := portedHash(num)
	lvl := s.level
	if lvl == 0 {
		lvl = portedMinLevel
	}
	i := h & (1<<lvl - 1)
	if i < s.split {
		i = h & (1<<(lvl+1) - 1)
	}
	return i
}

func (s *portedSet) get(num uint64) (uint32, bool) {
	b := s.buckets.get(s.bucketOf(num))
	for _, e := range b.ents() {
		if e.num == num {
			return e.gw, true
		}
	}
	return 0, false
}

// writableEnts returns bucket i's entries in an array this editor may write.
func (e *editor) writableEnts(s *portedSet, i uint32) []portEnt {
	b := s.buckets.get(i)
	if b.p != nil && e.mine(unsafe.Pointer(b.p)) {
		return b.ents()
	}
	c := make([]portEnt, b.n, b.n+1)
	copy(c, b.ents())
	return c
}

// storeEnts publishes a bucket's entries after writing them.
func (e *editor) storeEnts(s *portedSet, i uint32, ents []portEnt) {
	if len(ents) > 0 {
		e.own(unsafe.Pointer(&ents[0]))
	}
	s.buckets.set(e, i, makeBucket(ents))
}

// put stores num→gw and returns the previous gateway, if any.
func (s *portedSet) put(e *editor, num uint64, gw uint32) (old uint32, existed bool) {
	if s.level == 0 {
		s.level = portedMinLevel
	}
	i := s.bucketOf(num)
	for j, x := range s.buckets.get(i).ents() {
		if x.num == num {
			if x.gw == gw {
				return gw, true
			}
			w := e.writableEnts(s, i)
			w[j].gw = gw
			e.storeEnts(s, i, w)
			return x.gw, true
		}
	}
	w := e.writableEnts(s, i)
	e.storeEnts(s, i, append(w, portEnt{num: num, gw: gw}))
	s.n++
	if s.n > portedMaxLoad*int(uint32(1)<<s.level+s.split) {
		s.splitOne(e)
	}
	return 0, false
}

func (s *portedSet) splitOne(e *editor) {
	from := s.split
	to := from + 1<<s.level
	var keep, move []portEnt
	for _, x := range s.buckets.get(from).ents() {
		if portedHash(x.num)&(1<<(s.level+1)-1) == from {
			keep = append(keep, x)
		} else {
			move = append(move, x)
		}
	}
	e.storeEnts(s, from, keep)
	e.storeEnts(s, to, move)
	s.split++
	if s.split == 1<<s.level {
		s.level++
		s.split = 0
	}
}

// remove deletes num and returns its gateway.
func (s *portedSet) remove(e *editor, num uint64) (uint32, bool) {
	i := s.bucketOf(num)
	for j, x := range s.buckets.get(i).ents() {
		if x.num == num {
			w := e.writableEnts(s, i)
			e.storeEnts(s, i, slices.Delete(w, j, j+1))
			s.n--
			return x.gw, true
		}
	}
	return 0, false
}

// each calls yield for every entry in bucket order (not sorted).
func (s *portedSet) each(yield func(num uint64, gw uint32) bool) {
	s.buckets.scan(0, func(_ uint32, b pbucket) bool {
		for _, x := range b.ents() {
			if !yield(x.num, x.gw) {
				return false
			}
		}
		return true
	})
}
