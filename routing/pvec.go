package routing

import "unsafe"

// pvec is a persistent sparse array indexed by uint32 (route ids, hash
// buckets): a radix tree of fan-out 64, grown at the root as indexes grow.
// The zero T means "absent". An update copies one node per level, about
// 1.5 KB for a million entries, never the whole array.
const (
	vbits  = 6
	vwidth = 1 << vbits
	vmask  = vwidth - 1
)

// The tree's nodes are plain arrays, one load per level: inner levels are
// *vinner, the last level *[vwidth]T; shift says which.
type vinner [vwidth]unsafe.Pointer

type pvec[T comparable] struct {
	root  unsafe.Pointer
	shift uint // bits below the root's digit; 0 when the root is a leaf
}

func (v *pvec[T]) get(i uint32) T {
	var zero T
	n := v.root
	if n == nil || uint64(i)>>(v.shift+vbits) != 0 {
		return zero
	}
	for s := v.shift; s > 0; s -= vbits {
		n = (*vinner)(n)[(i>>s)&vmask]
		if n == nil {
			return zero
		}
	}
	return (*[vwidth]T)(n)[i&vmask]
}

// vwritable returns a node at *p this editor may write, copying or creating it.
func vwritable[T comparable](e *editor, p *unsafe.Pointer, leaf bool) unsafe.Pointer {
	n := *p
	if n != nil && e.mine(n) {
		return n
	}
	var c unsafe.Pointer
	switch {
	case leaf && n == nil:
		c = unsafe.Pointer(new([vwidth]T))
	case leaf:
		a := *(*[vwidth]T)(n)
		c = unsafe.Pointer(&a)
	case n == nil:
		c = unsafe.Pointer(new(vinner))
	default:
		a := *(*vinner)(n)
		c = unsafe.Pointer(&a)
	}
	e.own(c)
	*p = c
	return c
}

// set stores x at i (the zero T deletes).
func (v *pvec[T]) set(e *editor, i uint32, x T) {
	if v.root == nil {
		v.shift = 0
		for uint64(i)>>(v.shift+vbits) != 0 {
			v.shift += vbits
		}
	}
	for uint64(i)>>(v.shift+vbits) != 0 {
		r := new(vinner)
		r[0] = v.root
		e.own(unsafe.Pointer(r))
		v.root = unsafe.Pointer(r)
		v.shift += vbits
	}
	p := &v.root
	for s := v.shift; ; s -= vbits {
		n := vwritable[T](e, p, s == 0)
		if s == 0 {
			(*[vwidth]T)(n)[i&vmask] = x
			return
		}
		p = &(*vinner)(n)[(i>>s)&vmask]
	}
}

// scan calls yield for every non-zero entry with index >= from, in index order.
func (v *pvec[T]) scan(from uint32, yield func(i uint32, x T) bool) {
	if v.root == nil {
		return
	}
	vscan(v.root, v.shift, 0, from, yield)
}

func vscan[T comparable](n unsafe.Pointer, shift uint, base uint32, from uint32, yield func(uint32, T) bool) bool {
	var zero T
	if shift == 0 {
		vals := (*[vwidth]T)(n)
		for j := 0; j < vwidth; j++ {
			i := base | uint32(j)
			if i >= from && vals[j] != zero && !yield(i, vals[j]) {
				return false
			}
		}
		return true
	}
	kids := (*vinner)(n)
	for j := 0; j < vwidth; j++ {
		k := kids[j]
		if k == nil {
			continue
		}
		lo := uint64(base) | uint64(j)<<shift
		hi := lo + (uint64(1) << shift) - 1
		if hi < uint64(from) {
			continue
		}
		if lo > uint64(^uint32(0)) {
			return true
		}
		if !vscan(k, shift-vbits, uint32(lo), from, yield) {
			return false
		}
	}
	return true
}
