package ismg

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync/atomic"

	"github.com/tandem-sms/tandem/ismg/queue"
)

// kvInflightPrefix + queue name is the KV bucket of the leased batches of
// that queue handed to the SMSC (mt:<link>) or the SP (out:<spid>): one
// record per batch, key = batch number, value = per item its id and the
// due time it was leased with (8 + 8 bytes, big endian). It replaces an
// in-flight rewrite of every item's value. A record is deleted once every
// item of the batch has its outcome; at start-up an item it lists that is
// still in the queue with the same due time had no outcome, so it was in
// flight (a temporary failure reschedules it, changing its due time).
const kvInflightPrefix = "inflight:"

// inflightBatch tracks the items of one record still without an outcome.
type inflightBatch struct {
	bucket string
	key    [8]byte
	left   atomic.Int32
}

// newInflight builds the batch record of items and the op that stores it.
func (n *Node) newInflight(q string, items []queue.Item) (*inflightBatch, queue.Op) {
	b := &inflightBatch{bucket: kvInflightPrefix + q}
	binary.BigEndian.PutUint64(b.key[:], n.batchSeq.Add(1))
	v := make([]byte, 0, 16*len(items))
	for _, it := range items {
		v = binary.BigEndian.AppendUint64(v, it.ID)
		v = binary.BigEndian.AppendUint64(v, uint64(it.Due.UnixNano()))
	}
	b.left.Store(int32(len(items)))
	return b, queue.Put(b.bucket, b.key[:], v)
}

// settle notes that one item of b has its outcome (durable, or its commit
// failed and it stays in the queue as in flight) and returns true for the
// last one, whose caller deletes the record (deleteOp): a record outliving
// its items only lists items that no longer qualify as in flight.
func (b *inflightBatch) settle() bool { return b != nil && b.left.Add(-1) == 0 }

func (b *inflightBatch) deleteOp() queue.Op { return queue.Delete(b.bucket, b.key[:]) }

// inflightDone settles one item of b, deleting the record asynchronously
// after the last.
func (n *Node) inflightDone(b *inflightBatch) {
	if !b.settle() {
		return
	}
	n.st.CommitAsync([]queue.Op{b.deleteOp()}, func(err error) {
		if err != nil {
			n.noteStoreErr(err)
		}
	})
}

// recoverInflight counts the items of q a previous process left in flight,
// applies bump to each (attempt counters), and deletes q's batch records,
// in one commit. Start-up only.
func (n *Node) recoverInflight(ctx context.Context, q string, bump func([]byte) []byte) (int, error) {
	bucket := kvInflightPrefix + q
	var (
		ops   []queue.Op
		count int
		seen  = map[uint64]bool{}
	)
	err := n.st.ScanKV(bucket, func(k, v []byte) bool {
		ops = append(ops, queue.Delete(bucket, k))
		for ; len(v) >= 16; v = v[16:] {
			id, due := binary.BigEndian.Uint64(v), int64(binary.BigEndian.Uint64(v[8:]))
			if seen[id] {
				continue
			}
			it, err := n.st.Get(q, id)
			if err != nil || it.Due.UnixNano() != due {
				continue
			}
			seen[id] = true
			count++
			if nv := bump(it.Value); nv != nil {
				ops = append(ops, queue.Update(q, id, it.Due, nv))
			}
		}
		return true
	})
	if err != nil {
		return 0, fmt.Errorf("ismg: recover %s: %w", bucket, err)
	}
	if len(ops) > 0 {
		if err := n.commit(ctx, ops...); err != nil {
			return 0, fmt.Errorf("ismg: recover %s: %w", bucket, err)
		}
	}
	return count, nil
}

// markAsync commits the in-flight batch record of items of q without
// waiting: then handed gets the batch (on the store's finisher, so it must
// not block), or, if the commit failed, every item is released and
// unslot called once per item (its slot given back). marked is called
// last either way.
func (n *Node) markAsync(q queueRef, items []queue.Item, handed func(*inflightBatch), unslot, marked func()) {
	b, op := n.newInflight(q.queue(), items)
	n.st.CommitAsync([]queue.Op{op}, func(err error) {
		defer marked()
		if err != nil {
			n.noteStoreErr(err)
			n.log.Error("mark in flight", LogKeyQueue, q.queue(), LogKeyErr, err)
			for _, it := range items {
				n.st.Release(q.queue(), it.ID)
				unslot()
			}
			return
		}
		handed(b)
	})
}
