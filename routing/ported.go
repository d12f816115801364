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
	filt    pfilter
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

func (s *portedSet) bucketOf(num uint64) uint32 { return s.bucketOfHash(portedHash(num)) }

func (s *portedSet) bucketOfHash(h uint32) uint32 {
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
	if !s.filt.may(portedHash(num)) {
		return 0, false
	}
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
	if s.filt.words() < pfMaxWords && s.n > pfEntriesPerWord*s.filt.words() {
		s.rebuildFilter(e)
	} else {
		s.filt.add(e, portedHash(num))
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
			s.refilter(e, portedHash(num))
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

// pfilter is a blocked Bloom filter over the hashes of the ported numbers,
// two bits in one 64-bit word per number, at 16 to 32 bits per number. Most
// numbers looked up are not ported, and the filter (at most 256 KB) stays
// in cache where the hash table does not: a negative answer costs one cached
// load instead of two or three dependent cache misses and a bucket scan
// whose length the CPU cannot predict.
//
// It is exact under deletion: the numbers that share a word also share the
// word's hash bits, so they live in a few known buckets, and deleting a
// number recomputes its word from them. It lives in 4 KB chunks copied on
// write, so a change copies one chunk. It grows by rebuilding from the hash
// table when the set outgrows it, at most seven times in a table's life.
type pfilter struct {
	chunks []*pfchunk // nil while the set has never held a number
	bits   uint       // log2 of the number of words
}

type pfchunk [pfChunkWords]uint64

const (
	pfChunkBits      = 9
	pfChunkWords     = 1 << pfChunkBits
	pfMaxBits        = 15 // 256 KB
	pfMaxWords       = 1 << pfMaxBits
	pfEntriesPerWord = 4
)

func (f *pfilter) words() int {
	if f.chunks == nil {
		return 0
	}
	return 1 << f.bits
}

// pfBits are the two bits of hash h in its word. The word index uses the
// low pfMaxBits bits of h; these use the top twelve.
func pfBits(h uint32) uint64 { return 1<<(h>>20&63) | 1<<(h>>26) }

func (f *pfilter) may(h uint32) bool {
	w := h & (1<<f.bits - 1)
	if int(w>>pfChunkBits) >= len(f.chunks) {
		return false
	}
	m := pfBits(h)
	return f.chunks[w>>pfChunkBits][w&(pfChunkWords-1)]&m == m
}

// word returns a pointer to the word of h in a chunk this editor may write.
func (e *editor) pfword(f *pfilter, h uint32) *uint64 {
	w := h & (1<<f.bits - 1)
	if !e.mine(unsafe.Pointer(&f.chunks[0])) {
		f.chunks = slices.Clone(f.chunks)
		e.own(unsafe.Pointer(&f.chunks[0]))
	}
	c := &f.chunks[w>>pfChunkBits]
	if !e.mine(unsafe.Pointer(*c)) {
		cp := **c
		*c = &cp
		e.own(unsafe.Pointer(*c))
	}
	return &(*c)[w&(pfChunkWords-1)]
}

func (f *pfilter) add(e *editor, h uint32) {
	if f.may(h) {
		return
	}
	*e.pfword(f, h) |= pfBits(h)
}

// rebuildFilter sizes the filter for the set, never smaller than it was,
// and fills it from scratch.
func (s *portedSet) rebuildFilter(e *editor) {
	b := max(s.filt.bits, pfChunkBits)
	for b < pfMaxBits && s.n > pfEntriesPerWord<<b {
		b++
	}
	f := pfilter{chunks: make([]*pfchunk, 1<<(b-pfChunkBits)), bits: b}
	for i := range f.chunks {
		f.chunks[i] = new(pfchunk)
		e.own(unsafe.Pointer(f.chunks[i]))
	}
	e.own(unsafe.Pointer(&f.chunks[0]))
	s.each(func(num uint64, _ uint32) bool {
		h := portedHash(num)
		w := h & (1<<f.bits - 1)
		f.chunks[w>>pfChunkBits][w&(pfChunkWords-1)] |= pfBits(h)
		return true
	})
	s.filt = f
}

// refilter recomputes the word of hash h after a number with that hash left
// the set. The numbers sharing the word agree on the word's bits of their
// hash; bucketOf reads the low level+1 bits of a hash, so they sit in the
// one bucket those bits select, or, once the table has more buckets than
// the filter has words, in the buckets congruent to the word.
func (s *portedSet) refilter(e *editor, h uint32) {
	f := &s.filt
	if f.chunks == nil {
		return
	}
	wmask := uint32(1)<<f.bits - 1
	w := h & wmask
	var m uint64
	scan := func(i uint32) {
		for _, x := range s.buckets.get(i).ents() {
			if hx := portedHash(x.num); hx&wmask == w {
				m |= pfBits(hx)
			}
		}
	}
	if s.level+1 <= f.bits {
		scan(s.bucketOfHash(w))
	} else {
		nb := uint32(1)<<s.level + s.split
		for i := w; i < nb; i += wmask + 1 {
			scan(i)
		}
	}
	if p := &f.chunks[w>>pfChunkBits][w&(pfChunkWords-1)]; *p != m {
		*e.pfword(f, h) = m
	}
}
