package queue

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// qkey names one item for the validation overlay.
type qkey struct {
	q  string
	id uint64
}

// undo restores one overlay entry when a request is rejected.
type undo struct {
	k        qkey
	had      bool // overlay had an entry for k
	prev     bool // its value
	depthQ   string
	depthDel int
}

// batch is the committer's scratch state, reused across transactions.
type batch struct {
	exists map[qkey]bool  // item existence after the accepted ops so far
	depth  map[string]int // depth change per queue so far
	log    []undo

	qb    map[string]*bolt.Bucket       // queue buckets of the open transaction
	mb    map[string]*bolt.Bucket       // key-value buckets of the open transaction
	cur   map[*bolt.Bucket]*bolt.Cursor // deleting cursors of the open transaction; see del
	name  []byte
	arena []byte // records written in the transaction; see write
}

func newBatch() *batch {
	return &batch{
		exists: make(map[qkey]bool),
		depth:  make(map[string]int),
		qb:     make(map[string]*bolt.Bucket),
		mb:     make(map[string]*bolt.Bucket),
		cur:    make(map[*bolt.Bucket]*bolt.Cursor),
	}
}

// arenaKeep bounds the scratch memory kept between transactions.
const arenaKeep = 16 << 20

func (b *batch) reset() {
	clear(b.exists)
	clear(b.depth)
	clear(b.qb)
	clear(b.mb)
	clear(b.cur)
	b.log = b.log[:0]
	if cap(b.arena) > arenaKeep {
		b.arena = nil
	}
	b.arena = b.arena[:0]
}

func (b *batch) has(s *Store, k qkey) bool {
	if v, ok := b.exists[k]; ok {
		return v
	}
	q := s.queues[k.q]
	return q != nil && q.items[k.id] != nil
}

func (b *batch) set(k qkey, v bool) {
	prev, had := b.exists[k]
	b.log = append(b.log, undo{k: k, had: had, prev: prev})
	b.exists[k] = v
}

func (b *batch) full(s *Store, queue string) bool {
	limit := s.cfg.depthLimit(queue)
	if limit == 0 {
		return false
	}
	n := b.depth[queue]
	if q := s.queues[queue]; q != nil {
		n += len(q.items)
	}
	return n >= limit
}

func (b *batch) addDepth(queue string, d int) {
	b.log = append(b.log, undo{depthQ: queue, depthDel: d})
	b.depth[queue] += d
}

func (b *batch) rollback(mark int) {
	for i := len(b.log) - 1; i >= mark; i-- {
		u := b.log[i]
		switch {
		case u.depthQ != "":
			b.depth[u.depthQ] -= u.depthDel
		case u.had:
			b.exists[u.k] = u.prev
		default:
			delete(b.exists, u.k)
		}
	}
	b.log = b.log[:mark]
}

// validate checks ops against the committed index plus the overlay and, if
// all pass, leaves their effects in the overlay. s.mu is read-locked.
func (b *batch) validate(s *Store, ops []Op) error {
	mark := len(b.log)
	for i := range ops {
		if err := b.check(s, &ops[i]); err != nil {
			b.rollback(mark)
			return fmt.Errorf("queue: op %d (%s): %w", i, describe(&ops[i]), err)
		}
	}
	return nil
}

func (b *batch) check(s *Store, op *Op) error {
	if op.queue == "" || len(op.queue) > maxNameLen {
		return fmt.Errorf("%w: name length %d, want 1..%d", ErrInvalid, len(op.queue), maxNameLen)
	}
	k := qkey{op.queue, op.id}
	switch op.kind {
	case opEnqueue:
		if b.has(s, k) {
			return ErrDuplicate
		}
		if b.full(s, op.queue) {
			return ErrQueueFull
		}
		b.set(k, true)
		b.addDepth(op.queue, 1)
	case opUpdate:
		if !b.has(s, k) {
			return ErrNotFound
		}
	case opRemove:
		if !b.has(s, k) {
			return ErrNotFound
		}
		b.set(k, false)
		b.addDepth(op.queue, -1)
	case opMove:
		if op.to == "" || len(op.to) > maxNameLen {
			return fmt.Errorf("%w: target name length %d, want 1..%d", ErrInvalid, len(op.to), maxNameLen)
		}
		if op.to == op.queue {
			return fmt.Errorf("%w: move onto the same queue (use Update)", ErrInvalid)
		}
		to := qkey{op.to, op.id}
		if !b.has(s, k) {
			return ErrNotFound
		}
		if b.has(s, to) {
			return ErrDuplicate
		}
		if b.full(s, op.to) {
			return ErrQueueFull
		}
		b.set(k, false)
		b.addDepth(op.queue, -1)
		b.set(to, true)
		b.addDepth(op.to, 1)
	case opPut, opDelete:
		if len(op.key) == 0 || len(op.key) > maxKeyLen {
			return fmt.Errorf("%w: key length %d, want 1..%d", ErrInvalid, len(op.key), maxKeyLen)
		}
		if int64(len(op.value)) > bolt.MaxValueSize {
			return fmt.Errorf("%w: value length %d", ErrInvalid, len(op.value))
		}
	default:
		return fmt.Errorf("%w: zero Op", ErrInvalid)
	}
	if int64(len(op.value)) > bolt.MaxValueSize-recordHeader {
		return fmt.Errorf("%w: value length %d", ErrInvalid, len(op.value))
	}
	return nil
}

func describe(op *Op) string {
	switch op.kind {
	case opMove:
		return fmt.Sprintf("move %s/%d to %s", op.queue, op.id, op.to)
	case opPut, opDelete:
		return fmt.Sprintf("%s %s", op.kind, op.queue)
	}
	return fmt.Sprintf("%s %s/%d", op.kind, op.queue, op.id)
}

func (b *batch) bucket(tx *bolt.Tx, cache map[string]*bolt.Bucket, prefix, name string) (*bolt.Bucket, error) {
	if bk := cache[name]; bk != nil {
		return bk, nil
	}
	b.name = append(append(b.name[:0], prefix...), name...)
	bk, err := tx.CreateBucketIfNotExists(b.name)
	if err != nil {
		return nil, fmt.Errorf("queue: bucket %s: %w", b.name, err)
	}
	bk.FillPercent = fillPercent
	cache[name] = bk
	return bk, nil
}

// fillPercent is how full bolt fills a page it splits (its default is
// half). Keys here are mostly appended in order — Msg_Ids, batch and
// CDR sequence numbers — and removed from the front, so a half-filled
// left page never gets the rest: every split would leave pages half
// empty, and each transaction would write twice the pages.
const fillPercent = 0.9

// record builds a stored record in the arena. Bolt keeps a reference to a
// value until the transaction ends; the arena is reset only after Commit,
// and growing it leaves earlier records intact in the old array.
func (b *batch) record(due int64, value []byte) []byte {
	start := len(b.arena)
	b.arena = appendRecord(b.arena, due, value)
	return b.arena[start:len(b.arena):len(b.arena)]
}

// write puts validated ops into the transaction.
func (b *batch) write(tx *bolt.Tx, ops []Op) error {
	var kb [8]byte
	for i := range ops {
		op := &ops[i]
		if err := b.write1(tx, op, kb[:0]); err != nil {
			return fmt.Errorf("queue: op %d (%s): %w", i, describe(op), err)
		}
	}
	return nil
}

func (b *batch) write1(tx *bolt.Tx, op *Op, kb []byte) error {
	switch op.kind {
	case opPut, opDelete:
		bk, err := b.bucket(tx, b.mb, mapPrefix, op.queue)
		if err != nil {
			return err
		}
		if op.kind == opPut {
			return bk.Put(op.key, op.value)
		}
		return b.del(bk, op.key)
	}
	bk, err := b.bucket(tx, b.qb, queuePrefix, op.queue)
	if err != nil {
		return err
	}
	key := appendKey(kb, op.id)
	switch op.kind {
	case opEnqueue:
		return bk.Put(key, b.record(op.due, op.value))
	case opRemove:
		return b.del(bk, key)
	case opUpdate, opMove:
		value := op.value
		if value == nil {
			old := bk.Get(key)
			if old == nil {
				return fmt.Errorf("%w: in index but not on disk", ErrNotFound)
			}
			_, v, err := decodeRecord(old)
			if err != nil {
				return err
			}
			value = v
		}
		rec := b.record(op.due, value)
		if op.kind == opUpdate {
			return bk.Put(key, rec)
		}
		if err := b.del(bk, key); err != nil {
			return err
		}
		to, err := b.bucket(tx, b.qb, queuePrefix, op.to)
		if err != nil {
			return err
		}
		return to.Put(key, rec)
	}
	return fmt.Errorf("%w: op kind %d", ErrInvalid, op.kind)
}

// del is bk.Delete(key) through one cursor per bucket and transaction:
// Bucket.Delete makes a cursor whose search stack is allocated afresh on
// every call, and a group commit deletes hundreds of keys. Seek
// repositions the cursor, so the mutations in between do not matter.
func (b *batch) del(bk *bolt.Bucket, key []byte) error {
	c := b.cur[bk]
	if c == nil {
		c = bk.Cursor()
		b.cur[bk] = c
	}
	if k, _ := c.Seek(key); !bytes.Equal(k, key) {
		return nil // like Bucket.Delete: a missing key is no error
	}
	return c.Delete()
}
