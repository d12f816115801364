package routing

import (
	"math/bits"
	"unsafe"
)

// mtrie is the persistent digit trie of MT segments, shaped for
// ResolveMT. A lookup of a random number over a million segments misses
// the cache at the deep levels whatever we do; what decides its speed is
// how many misses depend on each other and how much code waits on them,
// since that bounds how many lookups the CPU overlaps. So:
//
//   - the first three digits index a root array, the fourth a chunk per
//     3-digit prefix, and digits 5–6 a flat block per 4-digit prefix holding
//     the values of the 5- and 6-digit keys and the nodes below, so the top
//     six levels cost three loads that stay in cache;
//   - the block keeps a copy of each child's header, so the bottom node's
//     value is loaded straight away, without first loading the node header
//     (for a dense plan of 7-digit segments a lookup is one miss);
//   - a slot holds everything the answer needs (route id and attribute
//     index), so no route-id array is read on the hot path;
//   - nodes below the chunk store only the values they have, packed behind
//     a 10-bit mask, so the many half-empty nodes of a sparse plan cost
//     bytes per value, not per digit.
//
// Values are mtVal(rid, attr): nonzero, route id + 1 in the low 32 bits.
type mtrie struct {
	root *mroot // nil when empty
}

type mroot [1000]*mchunk // by the first three digits

// mchunk holds the keys under one 3-digit prefix; msub those under one
// 4-digit prefix. Blocks are small enough that a change copies about 2 KB
// of them, and a national numbering plan has a few hundred.
type mchunk struct {
	n   int // keys in the chunk; an empty chunk is dropped
	v3  uint64
	v4  [10]uint64
	sub [10]*msub
}

type msub struct {
	n    int // keys in the block; an empty block is dropped
	v5   [10]uint64
	ents [100]ment   // by digits 5–6
	khdr [100]uint16 // the low bits of ents[i].kid's header, 0 if none
}

// ment is a 6-digit key's value and the node of its 7-digit keys.
type ment struct {
	v   uint64
	kid unsafe.Pointer
}

func mtVal(rid, attr uint32) uint64 { return uint64(rid) + 1 | uint64(attr)<<32 }
func mtRID(v uint64) uint32         { return uint32(v) - 1 }
func mtAttr(v uint64) uint32        { return uint32(v >> 32) }

// A node is one allocation starting with a header word:
//
//	leaf:  hdr, vals[cap]uint64
//	inner: hdr, kids[10]unsafe.Pointer, vals[cap]uint64
//
// The node of prefix p holds the value of key p+d in vals at the rank of d
// in the mask, and the node of p+d in kids[d]. Leaves hold no pointers and
// are allocated as []uint64; inner nodes as minner so the GC sees the kids.
const (
	mMask     = 1<<10 - 1 // bits 0–9: which digits have a value
	mInner    = 1 << 10   // kids follow the header
	mCapShift = 11        // bits 11–14: capacity of vals
	mKidsOff  = 8
	mInnerOff = 8 + 10*8 // vals of an inner node
)

type minner[V any] struct {
	hdr  uint64
	kids [10]unsafe.Pointer
	vals V
}

func mhdr(n unsafe.Pointer) uint64 { return *(*uint64)(n) }

func mkids(n unsafe.Pointer) *[10]unsafe.Pointer {
	return (*[10]unsafe.Pointer)(unsafe.Add(n, mKidsOff))
}

func mvalsOff(h uint64) uintptr { return mKidsOff + uintptr(h>>10&1)*(mInnerOff-mKidsOff) }

// mslot is the address of value rank i.
func mslot(n unsafe.Pointer, h uint64, i int) *uint64 {
	return (*uint64)(unsafe.Add(n, mvalsOff(h)+uintptr(i)*8))
}

func mrank(h uint64, d byte) int { return bits.OnesCount16(uint16(h) & (1<<d - 1)) }

// mval returns the value of digit d in node n, 0 if none.
func mval(n unsafe.Pointer, d byte) uint64 {
	h := mhdr(n)
	if h>>d&1 == 0 {
		return 0
	}
	return *mslot(n, h, mrank(h, d))
}

func mkid(n unsafe.Pointer, d byte) unsafe.Pointer {
	if mhdr(n)&mInner == 0 {
		return nil
	}
	return mkids(n)[d]
}

func root3(key string) int {
	return int(key[0]-'0')*100 + int(key[1]-'0')*10 + int(key[2]-'0')
}

// subKey splits a key of 5+ digits into its block indexes.
func subKey(key string) (i5, i6 int) {
	i5 = int(key[4] - '0')
	if len(key) > 5 {
		i6 = i5*10 + int(key[5]-'0')
	}
	return i5, i6
}

// longest returns the value of the longest key that is a prefix of s, and
// its length. s must be digits. This is ResolveMT's hot path: keep the code
// that waits on the node load short.
func (m *mtrie) longest(s string) (val uint64, length int) {
	if m.root == nil || len(s) < 6 {
		return m.longestShort(s)
	}
	c := m.root[root3(s)]
	if c == nil {
		return 0, 0
	}
	i4 := int(s[3] - '0')
	if c.v3 != 0 {
		val, length = c.v3, 3
	}
	if v := c.v4[i4]; v != 0 {
		val, length = v, 4
	}
	b := c.sub[i4]
	if b == nil {
		return val, length
	}
	i5 := int(s[4] - '0')
	i6 := i5*10 + int(s[5]-'0')
	e := &b.ents[i6]
	h := uint64(b.khdr[i6])
	n := e.kid
	if v := b.v5[i5]; v != 0 {
		val, length = v, 5
	}
	if e.v != 0 {
		val, length = e.v, 6
	}
	end := min(len(s), MaxPrefixLen)
	for i := 6; i < end; i++ {
		d := s[i] - '0'
		if h>>d&1 != 0 {
			val, length = *mslot(n, h, mrank(h, d)), i+1
		}
		if h&mInner == 0 {
			break
		}
		if n = mkids(n)[d]; n == nil {
			break
		}
		h = mhdr(n)
	}
	return val, length
}

func (m *mtrie) longestShort(s string) (val uint64, length int) {
	for k := min(len(s), MaxPrefixLen); k >= MinPrefixLen; k-- {
		if v := m.get(s[:k]); v != 0 {
			return v, k
		}
	}
	return 0, 0
}

// get returns the value stored for exactly key, 0 if none. key is digits.
func (m *mtrie) get(key string) uint64 {
	if m.root == nil || len(key) < MinPrefixLen || len(key) > MaxPrefixLen {
		return 0
	}
	c := m.root[root3(key)]
	if c == nil {
		return 0
	}
	switch len(key) {
	case 3:
		return c.v3
	case 4:
		return c.v4[key[3]-'0']
	}
	b := c.sub[key[3]-'0']
	if b == nil {
		return 0
	}
	i5, i6 := subKey(key)
	if len(key) == 5 {
		return b.v5[i5]
	}
	if len(key) == 6 {
		return b.ents[i6].v
	}
	n := b.ents[i6].kid
	for i := 6; i < len(key)-1 && n != nil; i++ {
		n = mkid(n, key[i]-'0')
	}
	if n == nil {
		return 0
	}
	return mval(n, key[len(key)-1]-'0')
}

// mCaps are the value capacities that fill Go's size classes exactly.
var (
	mLeafCaps  = [...]int{1, 2, 3, 5, 7, 9, 10} // 16, 24, 32, 48, 64, 80, 96 bytes
	mInnerCaps = [...]int{1, 3, 5, 7, 9, 10}    // 96, 112, 128, 144, 160, 176 bytes
)

func mcapFor(n int, inner bool) int {
	caps := mLeafCaps[:]
	if inner {
		caps = mInnerCaps[:]
	}
	for _, c := range caps {
		if c >= n {
			return c
		}
	}
	return 10
}

func mnew(inner bool, c int) unsafe.Pointer {
	if !inner {
		s := make([]uint64, 1+c)
		return unsafe.Pointer(&s[0])
	}
	switch c {
	case 1:
		return unsafe.Pointer(new(minner[[1]uint64]))
	case 3:
		return unsafe.Pointer(new(minner[[3]uint64]))
	case 5:
		return unsafe.Pointer(new(minner[[5]uint64]))
	case 7:
		return unsafe.Pointer(new(minner[[7]uint64]))
	case 9:
		return unsafe.Pointer(new(minner[[9]uint64]))
	}
	return unsafe.Pointer(new(minner[[10]uint64]))
}

// mwritable returns a node at *p this editor may write, that is inner if
// inner is set (or already was) and has room for extra more values; it
// copies, grows or creates the node and stores it back into *p, which must
// itself be writable.
func (e *editor) mwritable(p *unsafe.Pointer, inner bool, extra int) unsafe.Pointer {
	n := *p
	var h uint64
	if n != nil {
		h = mhdr(n)
	}
	isInner := h&mInner != 0
	cnt := bits.OnesCount16(uint16(h & mMask))
	if n != nil && e.mine(n) && (isInner || !inner) && cnt+extra <= int(h>>mCapShift&15) {
		return n
	}
	inner = inner || isInner
	c := mcapFor(cnt+extra, inner)
	nn := mnew(inner, c)
	nh := h&mMask | uint64(c)<<mCapShift
	if inner {
		nh |= mInner
	}
	*(*uint64)(nn) = nh
	if isInner {
		*mkids(nn) = *mkids(n)
	}
	for i := 0; i < cnt; i++ {
		*mslot(nn, nh, i) = *mslot(n, h, i)
	}
	e.own(nn)
	*p = nn
	return nn
}

// mchunk returns the chunk of key's first three digits, writable by
// this editor, creating it (and the root) if needed.
func (e *editor) mchunk(m *mtrie, key string) *mchunk {
	if m.root == nil {
		m.root = new(mroot)
		e.own(unsafe.Pointer(m.root))
	} else if !e.mine(unsafe.Pointer(m.root)) {
		r := *m.root
		m.root = &r
		e.own(unsafe.Pointer(m.root))
	}
	return mwritable(e, &m.root[root3(key)])
}

// mwritable returns *p writable by this editor, copying or creating it.
func mwritable[T any](e *editor, p **T) *T {
	if *p == nil {
		*p = new(T)
		e.own(unsafe.Pointer(*p))
	} else if !e.mine(unsafe.Pointer(*p)) {
		c := **p
		*p = &c
		e.own(unsafe.Pointer(*p))
	}
	return *p
}

// put stores val (nonzero) for key (3–11 digits) and returns the old value.
func (e *editor) mtPut(m *mtrie, key string, val uint64) uint64 {
	c := e.mchunk(m, key)
	var old uint64
	switch len(key) {
	case 3:
		old, c.v3 = c.v3, val
	case 4:
		p := &c.v4[key[3]-'0']
		old, *p = *p, val
	default:
		b := mwritable(e, &c.sub[key[3]-'0'])
		i5, i6 := subKey(key)
		switch len(key) {
		case 5:
			old, b.v5[i5] = b.v5[i5], val
		case 6:
			old, b.ents[i6].v = b.ents[i6].v, val
		default:
			old = e.mnodePut(&b.ents[i6].kid, key, val)
			b.khdr[i6] = uint16(mhdr(b.ents[i6].kid))
		}
		if old == 0 {
			b.n++
		}
	}
	if old == 0 {
		c.n++
	}
	return old
}

// mnodePut stores val for key (7+ digits) in the subtree at *p, the node of
// key[:6], and returns the old value.
func (e *editor) mnodePut(p *unsafe.Pointer, key string, val uint64) uint64 {
	for i := 6; ; i++ {
		d := key[i] - '0'
		if i < len(key)-1 {
			p = &mkids(e.mwritable(p, true, 0))[d]
			continue
		}
		extra := 1
		if *p != nil && mhdr(*p)>>d&1 != 0 {
			extra = 0
		}
		n := e.mwritable(p, false, extra)
		h := mhdr(n)
		k := mrank(h, d)
		if extra == 0 {
			s := mslot(n, h, k)
			old := *s
			*s = val
			return old
		}
		for j := bits.OnesCount16(uint16(h & mMask)); j > k; j-- {
			*mslot(n, h, j) = *mslot(n, h, j-1)
		}
		*mslot(n, h, k) = val
		*(*uint64)(n) = h | 1<<d
		return 0
	}
}

// mtDelete removes key and returns its old value (0 if absent), pruning
// nodes and chunks left empty so iteration and memory stay proportional
// to keys.
func (e *editor) mtDelete(m *mtrie, key string) uint64 {
	if m.get(key) == 0 {
		return 0
	}
	c := e.mchunk(m, key)
	var old uint64
	switch len(key) {
	case 3:
		old, c.v3 = c.v3, 0
	case 4:
		p := &c.v4[key[3]-'0']
		old, *p = *p, 0
	default:
		bp := &c.sub[key[3]-'0']
		b := mwritable(e, bp)
		i5, i6 := subKey(key)
		switch len(key) {
		case 5:
			old, b.v5[i5] = b.v5[i5], 0
		case 6:
			old, b.ents[i6].v = b.ents[i6].v, 0
		default:
			old = e.mnodeDelete(&b.ents[i6].kid, key)
			if k := b.ents[i6].kid; k != nil {
				b.khdr[i6] = uint16(mhdr(k))
			} else {
				b.khdr[i6] = 0
			}
		}
		if b.n--; b.n == 0 {
			*bp = nil
		}
	}
	if c.n--; c.n == 0 {
		m.root[root3(key)] = nil
	}
	return old
}

// mnodeDelete removes key (7+ digits, present) from the subtree at *p.
func (e *editor) mnodeDelete(p *unsafe.Pointer, key string) uint64 {
	var path [MaxPrefixLen]*unsafe.Pointer
	var old uint64
	for i := 6; ; i++ {
		path[i] = p
		n := e.mwritable(p, false, 0)
		d := key[i] - '0'
		if i < len(key)-1 {
			p = &mkids(n)[d]
			continue
		}
		h := mhdr(n)
		k := mrank(h, d)
		old = *mslot(n, h, k)
		cnt := bits.OnesCount16(uint16(h & mMask))
		for j := k; j < cnt-1; j++ {
			*mslot(n, h, j) = *mslot(n, h, j+1)
		}
		*mslot(n, h, cnt-1) = 0
		*(*uint64)(n) = h &^ (1 << d)
		break
	}
	for i := len(key) - 1; i >= 6; i-- {
		n := *path[i]
		h := mhdr(n)
		if h&mMask != 0 || h&mInner != 0 && *mkids(n) != [10]unsafe.Pointer{} {
			break
		}
		*path[i] = nil
	}
	return old
}

// walk calls yield for every key in lexical order ("138" before "1380"
// before "1381"); key is only valid during the call.
func (m *mtrie) walk(yield func(key []byte, v uint64) bool) bool {
	if m.root == nil {
		return true
	}
	var buf [MaxPrefixLen]byte
	for i, c := range m.root {
		if c == nil {
			continue
		}
		buf[0], buf[1], buf[2] = byte('0'+i/100), byte('0'+i/10%10), byte('0'+i%10)
		if c.v3 != 0 && !yield(buf[:3], c.v3) {
			return false
		}
		for i4, b := range c.sub {
			buf[3] = byte('0' + i4)
			if v := c.v4[i4]; v != 0 && !yield(buf[:4], v) {
				return false
			}
			if b != nil && !b.walk(buf[:], yield) {
				return false
			}
		}
	}
	return true
}

func (b *msub) walk(buf []byte, yield func([]byte, uint64) bool) bool {
	for i5, v := range b.v5 {
		buf[4] = byte('0' + i5)
		if v != 0 && !yield(buf[:5], v) {
			return false
		}
		for d6 := range 10 {
			en := &b.ents[i5*10+d6]
			buf[5] = byte('0' + d6)
			if en.v != 0 && !yield(buf[:6], en.v) {
				return false
			}
			if !mwalk(en.kid, buf[:6], yield) {
				return false
			}
		}
	}
	return true
}

func mwalk(n unsafe.Pointer, key []byte, yield func([]byte, uint64) bool) bool {
	if n == nil {
		return true
	}
	for d := byte(0); d < 10; d++ {
		k := append(key, '0'+d)
		if v := mval(n, d); v != 0 && !yield(k, v) {
			return false
		}
		if c := mkid(n, d); c != nil && !mwalk(c, k, yield) {
			return false
		}
	}
	return true
}
