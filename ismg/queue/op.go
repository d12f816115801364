package queue

import (
	"errors"
	"math"
	"time"
)

// Errors returned by Commit (wrapped with the op that failed) and the reads.
var (
	// ErrDuplicate: Enqueue or Move found an item with the same id in the
	// target queue.
	ErrDuplicate = errors.New("queue: duplicate id")
	// ErrNotFound: the item or key does not exist.
	ErrNotFound = errors.New("queue: not found")
	// ErrQueueFull: the op would take the queue past its depth limit.
	ErrQueueFull = errors.New("queue: queue full")
	// ErrInvalid: a malformed op (empty name, oversized key, Move onto
	// the same queue).
	ErrInvalid = errors.New("queue: invalid op")
	// ErrStoreFull: the transaction would grow the file past
	// Config.MaxFileSize. Nothing of it was written and the store keeps
	// working; removals make room again.
	ErrStoreFull = errors.New("queue: store file full")
	// ErrLeased: Take found the item leased by someone else.
	ErrLeased = errors.New("queue: item leased")
	// ErrClosed: the Store is closed.
	ErrClosed = errors.New("queue: store closed")
	// ErrFailed: an earlier transaction failed to commit (I/O error, disk
	// full); the store refuses further writes because after a failed fsync
	// the file's durable state is unknown. Reopen the store.
	ErrFailed = errors.New("queue: store failed")
)

// Item is one message of a queue.
type Item struct {
	Queue string
	ID    uint64
	Due   time.Time
	Value []byte
}

type opKind uint8

const (
	opEnqueue opKind = iota + 1
	opUpdate
	opRemove
	opMove
	opPut
	opDelete
)

func (k opKind) String() string {
	switch k {
	case opEnqueue:
		return "enqueue"
	case opUpdate:
		return "update"
	case opRemove:
		return "remove"
	case opMove:
		return "move"
	case opPut:
		return "put"
	case opDelete:
		return "delete"
	}
	return "unknown"
}

// Op is one change of a Commit, built by Enqueue, Update, Remove, Move, Put
// and Delete. The zero Op is invalid.
//
// The store reads an Op's byte slices until the Commit carrying it returns
// (or CommitAsync calls back); the caller must not modify them before.
type Op struct {
	kind  opKind
	queue string // queue, or KV bucket for Put/Delete
	to    string // target queue of Move
	id    uint64
	due   int64
	key   []byte
	value []byte
}

// Enqueue adds a new item. The id must be unique in the queue
// (ErrDuplicate otherwise); the queue is created on first use.
func Enqueue(queue string, id uint64, due time.Time, value []byte) Op {
	if value == nil {
		value = []byte{} // nil means "keep" for Update/Move only
	}
	return Op{kind: opEnqueue, queue: queue, id: id, due: dueNanos(due), value: value}
}

// Update replaces the due time and value of an existing item (ErrNotFound
// otherwise). A nil value keeps the current value; pass []byte{} to clear
// it. A leased item stays leased: Release it after the Commit.
func Update(queue string, id uint64, due time.Time, value []byte) Op {
	return Op{kind: opUpdate, queue: queue, id: id, due: dueNanos(due), value: value}
}

// Remove deletes an existing item (ErrNotFound otherwise), ending any lease.
func Remove(queue string, id uint64) Op {
	return Op{kind: opRemove, queue: queue, id: id}
}

// Move takes an existing item out of from (ErrNotFound otherwise) and adds
// it to to under the same id (ErrDuplicate, ErrQueueFull) with the given due
// time, unleased. A nil value keeps the current value.
func Move(from, to string, id uint64, due time.Time, value []byte) Op {
	return Op{kind: opMove, queue: from, to: to, id: id, due: dueNanos(due), value: value}
}

// Put sets key to value in a key-value bucket, created on first use.
func Put(bucket string, key, value []byte) Op {
	if value == nil {
		value = []byte{}
	}
	return Op{kind: opPut, queue: bucket, key: key, value: value}
}

// Delete removes key from a key-value bucket; a missing key is not an error.
func Delete(bucket string, key []byte) Op {
	return Op{kind: opDelete, queue: bucket, key: key}
}

// Due times are stored as int64 unix nanoseconds, which span the years
// 1678 to 2262; times outside are clamped ("never" stays far future).
var (
	minDue = time.Unix(0, math.MinInt64+1)
	maxDue = time.Unix(0, math.MaxInt64)
)

// dueNanos maps the zero time to 0 so that "due immediately" survives the
// round trip; UnixNano is undefined for the zero time.
func dueNanos(t time.Time) int64 {
	switch {
	case t.IsZero():
		return 0
	case t.Before(minDue):
		return math.MinInt64 + 1
	case t.After(maxDue):
		return math.MaxInt64
	}
	return t.UnixNano()
}

func dueTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}
