package routing

import "unsafe"

// The persistent structures below share nodes between table versions. A
// builder may write a node only if it allocated (or copied) that node itself,
// which the editor tracks; every other node is shared with published tables
// and is copied before the first write (path copying). Published tables are
// therefore never written to, and readers need no lock.
type editor struct {
	owned map[unsafe.Pointer]struct{}
}

func newEditor() *editor { return &editor{owned: make(map[unsafe.Pointer]struct{})} }

func (e *editor) mine(p unsafe.Pointer) bool {
	_, ok := e.owned[p]
	return ok
}

func (e *editor) own(p unsafe.Pointer) { e.owned[p] = struct{}{} }

// release forgets every owned node, so nodes now reachable from a published
// table are copied again before the next write.
func (e *editor) release() { clear(e.owned) }

// tnode is one node of a persistent 10-ary digit trie mapping digit strings
// to nonzero uint32 values. The node for prefix p holds in v[d] the value of
// key p+d. A node with children is really a tinner, which starts with a tnode
// and adds the child pointers inline; inner says which. Values live in the
// parent and children inline so a lookup does one dependent load per digit,
// and the deepest level of a dense table is a 48-byte node per ten keys.
type tnode struct {
	v     [10]uint32
	inner bool
}

type tinner struct {
	tnode
	kid [10]*tnode // each points at a tnode or the tnode inside a tinner
}

func (n *tnode) in() *tinner { return (*tinner)(unsafe.Pointer(n)) }

func (n *tnode) child(d byte) *tnode {
	if !n.inner {
		return nil
	}
	return n.in().kid[d]
}

// trieGet returns the value stored for exactly key, 0 if none. key is digits.
func trieGet(n *tnode, key string) uint32 {
	if len(key) == 0 {
		return 0
	}
	for i := 0; i < len(key)-1 && n != nil; i++ {
		n = n.child(key[i] - '0')
	}
	if n == nil {
		return 0
	}
	return n.v[key[len(key)-1]-'0']
}

// trieLongest returns the value of the longest key that is a prefix of s and
// its length. s must be digits.
func trieLongest(n *tnode, s string) (val uint32, length int) {
	for i := 0; i < len(s) && n != nil; i++ {
		d := s[i] - '0'
		if d > 9 {
			break
		}
		if x := n.v[d]; x != 0 {
			val, length = x, i+1
		}
		if !n.inner {
			break
		}
		n = n.in().kid[d]
	}
	return val, length
}

// writableT returns a node at *p that this editor may write, copying the
// shared one (or creating one) and storing it back into *p; withKids makes
// it an inner node. *p must itself be writable.
func (e *editor) writableT(p **tnode, withKids bool) *tnode {
	n := *p
	if n != nil && e.mine(unsafe.Pointer(n)) && (n.inner || !withKids) {
		return n
	}
	var c *tnode
	if withKids || (n != nil && n.inner) {
		in := &tinner{}
		if n != nil && n.inner {
			*in = *n.in()
		} else if n != nil {
			in.v = n.v
		}
		in.inner = true
		c = &in.tnode
	} else {
		c = &tnode{}
		if n != nil {
			c.v = n.v
		}
	}
	e.own(unsafe.Pointer(c))
	*p = c
	return c
}

// triePut stores val (nonzero) for key (1+ digits) and returns the old value.
func (e *editor) triePut(root **tnode, key string, val uint32) uint32 {
	p := root
	for i := 0; ; i++ {
		last := i == len(key)-1
		n := e.writableT(p, !last)
		d := key[i] - '0'
		if last {
			old := n.v[d]
			n.v[d] = val
			return old
		}
		p = &n.in().kid[d]
	}
}

// trieDelete removes key and returns its old value (0 if absent), pruning
// nodes that become empty so iteration and memory stay proportional to keys.
func (e *editor) trieDelete(root **tnode, key string) uint32 {
	if len(key) == 0 || trieGet(*root, key) == 0 {
		return 0
	}
	var path [MaxServiceCode + 1]**tnode
	p := root
	var old uint32
	for i := 0; ; i++ {
		path[i] = p
		last := i == len(key)-1
		n := e.writableT(p, false)
		d := key[i] - '0'
		if last {
			old = n.v[d]
			n.v[d] = 0
			break
		}
		p = &n.in().kid[d]
	}
	for i := len(key) - 1; i >= 0; i-- {
		n := *path[i]
		if n.v != [10]uint32{} || n.inner && n.in().kid != [10]*tnode{} {
			return old
		}
		*path[i] = nil
	}
	return old
}

// trieWalk calls yield for every key in lexical order ("138" before "1380"
// before "1381"); key is only valid during the call.
func trieWalk(n *tnode, yield func(key []byte, v uint32) bool) bool {
	var buf [MaxServiceCode + 1]byte
	return trieWalkRec(n, buf[:0], yield)
}

func trieWalkRec(n *tnode, key []byte, yield func([]byte, uint32) bool) bool {
	if n == nil {
		return true
	}
	for d := byte(0); d < 10; d++ {
		k := append(key, '0'+d)
		if n.v[d] != 0 && !yield(k, n.v[d]) {
			return false
		}
		if c := n.child(d); c != nil && !trieWalkRec(c, k, yield) {
			return false
		}
	}
	return true
}
