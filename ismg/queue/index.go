package queue

// entry is the in-memory index record of one queued item. The value lives
// in bolt; val caches it while Config.CacheBytes allows, so that Lease and
// Get of a flowing queue need no read transaction, while a large backlog
// costs only a few dozen bytes per item.
type entry struct {
	id  uint64
	due int64 // unix nanoseconds; 0 means "due since forever" (zero time.Time)
	// pos is the entry's position in qindex.ready, or -1 while leased.
	pos int
	val []byte // cached value, never modified; nil if not cached
}

func (e *entry) leased() bool { return e.pos < 0 }

// qindex is the in-memory state of one queue. items holds every item of the
// queue (the committed depth); ready is a min-heap on (due, id) of the items
// that are not leased. Lease pops from ready, Release pushes back, so finding
// the next due item never looks at leased ones.
//
// All fields are guarded by Store.mu.
type qindex struct {
	name   string
	items  map[uint64]*entry
	ready  []*entry
	leased int
	// wake is closed (and set to nil) when an item becomes available; nil
	// when nobody watches.
	wake chan struct{}
}

func newQIndex(name string) *qindex {
	return &qindex{name: name, items: make(map[uint64]*entry)}
}

func less(a, b *entry) bool {
	if a.due != b.due {
		return a.due < b.due
	}
	return a.id < b.id
}

// insert adds a new unleased entry.
func (q *qindex) insert(id uint64, due int64) *entry {
	e := &entry{id: id, due: due}
	q.items[id] = e
	q.push(e)
	return e
}

// remove deletes an entry, leased or not, and returns it (nil if absent).
func (q *qindex) remove(id uint64) *entry {
	e, ok := q.items[id]
	if !ok {
		return nil
	}
	delete(q.items, id)
	if e.leased() {
		q.leased--
		return e
	}
	q.heapRemove(e.pos)
	return e
}

// update changes the due time, keeping the lease state.
func (q *qindex) update(id uint64, due int64) *entry {
	e, ok := q.items[id]
	if !ok {
		return nil
	}
	e.due = due
	if !e.leased() {
		q.fix(e.pos)
	}
	return e
}

// popDue removes and returns the first ready entry due at or before now.
func (q *qindex) popDue(now int64) *entry {
	if len(q.ready) == 0 || q.ready[0].due > now {
		return nil
	}
	e := q.ready[0]
	q.heapRemove(0)
	e.pos = -1
	q.leased++
	return e
}

// release puts a leased entry back into the ready heap.
func (q *qindex) release(id uint64) bool {
	e, ok := q.items[id]
	if !ok || !e.leased() {
		return false
	}
	q.leased--
	q.push(e)
	return true
}

// rebuild restores the heap invariant after bulk loading at Open.
func (q *qindex) rebuild() {
	q.ready = q.ready[:0]
	for _, e := range q.items {
		e.pos = len(q.ready)
		q.ready = append(q.ready, e)
	}
	for i := len(q.ready)/2 - 1; i >= 0; i-- {
		q.down(i)
	}
}

// The heap is written out rather than using container/heap so that it works
// on *entry without interface boxing and keeps pos up to date in one place.

func (q *qindex) push(e *entry) {
	e.pos = len(q.ready)
	q.ready = append(q.ready, e)
	q.up(e.pos)
}

func (q *qindex) heapRemove(i int) {
	last := len(q.ready) - 1
	if i != last {
		q.swap(i, last)
	}
	q.ready[last].pos = -1
	q.ready[last] = nil
	q.ready = q.ready[:last]
	if i != last {
		q.fix(i)
	}
}

func (q *qindex) fix(i int) {
	if !q.down(i) {
		q.up(i)
	}
}

func (q *qindex) swap(i, j int) {
	q.ready[i], q.ready[j] = q.ready[j], q.ready[i]
	q.ready[i].pos = i
	q.ready[j].pos = j
}

func (q *qindex) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !less(q.ready[j], q.ready[i]) {
			break
		}
		q.swap(i, j)
		j = i
	}
}

func (q *qindex) down(i0 int) bool {
	i, n := i0, len(q.ready)
	for {
		j := 2*i + 1
		if j >= n || j < 0 {
			break
		}
		if r := j + 1; r < n && less(q.ready[r], q.ready[j]) {
			j = r
		}
		if !less(q.ready[j], q.ready[i]) {
			break
		}
		q.swap(i, j)
		i = j
	}
	return i > i0
}

// notify wakes every Wait/Watch on this queue.
func (q *qindex) notify() {
	if q.wake != nil {
		close(q.wake)
		q.wake = nil
	}
}

func (q *qindex) watch() <-chan struct{} {
	if q.wake == nil {
		q.wake = make(chan struct{})
	}
	return q.wake
}
