package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	berrors "go.etcd.io/bbolt/errors"
)

// request is one Commit or CommitAsync call waiting for the committer.
type request struct {
	ops   []Op
	state atomic.Int32 // reqQueued → reqTaken by the committer, or → reqCancelled by the caller
	done  chan error   // Commit: capacity 1
	cb    func(error)  // CommitAsync
	pool  *sync.Pool   // CommitAsync: where finish returns it
	err   error        // set by the committer while building the batch
}

const (
	reqQueued int32 = iota
	reqTaken
	reqCancelled
)

func (r *request) finish(err error) {
	if cb := r.cb; cb != nil {
		// Answered, an async request is done with: the committer does not
		// touch it after finish, and ops is the caller's to reuse.
		pool := r.pool
		*r = request{}
		pool.Put(r)
		cb(err)
		return
	}
	r.done <- err
}

// Commit applies ops atomically, all or none, and returns after the
// transaction holding them is on disk (fsynced). Concurrent Commits share
// transactions (group commit); one caller's failing op fails only that
// caller. Errors name the failing op and wrap ErrDuplicate, ErrNotFound,
// ErrQueueFull, ErrInvalid, ErrStoreFull, ErrClosed or ErrFailed.
//
// If ctx ends before the committer picked the request up, Commit returns
// ctx.Err() and nothing was applied. Once the committer holds it, Commit
// waits for the outcome, so the error always tells whether ops applied.
func (s *Store) Commit(ctx context.Context, ops ...Op) error {
	if len(ops) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("queue: commit: %w", err)
	}
	r, _ := s.reqs.Get().(*request)
	if r == nil {
		r = &request{done: make(chan error, 1)}
	}
	// Copying keeps the variadic slice on the caller's stack.
	r.ops = append(r.ops[:0], ops...)
	if err := s.submit(r); err != nil {
		s.recycle(r)
		return err
	}
	select {
	case err := <-r.done:
		s.recycle(r)
		return err
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqQueued, reqCancelled) {
			// Not recycled: it stays in pending until the committer
			// drops it.
			return fmt.Errorf("queue: commit: %w", ctx.Err())
		}
		err := <-r.done
		s.recycle(r)
		return err
	}
}

func (s *Store) recycle(r *request) {
	if cap(r.ops) > 1024 {
		return // do not pin the memory of one huge Commit
	}
	clear(r.ops) // drop references to the caller's byte slices
	r.ops = r.ops[:0]
	r.err = nil
	r.state.Store(reqQueued)
	s.reqs.Put(r)
}

// CommitAsync is Commit without blocking: done is called with the outcome
// once the transaction is on disk or the ops were rejected. It lets one
// connection goroutine keep a whole window of messages in flight.
//
// done runs on the store's finisher goroutine, which answers the committed
// batches in order: it must be quick and must not call Commit or Close
// (that would deadlock); CommitAsync is fine. If the
// request is refused at once (store closed or failed), done runs on the
// caller's goroutine before CommitAsync returns. ops and their slices must
// stay untouched until done is called.
func (s *Store) CommitAsync(ops []Op, done func(error)) {
	if done == nil {
		done = func(error) {}
	}
	if len(ops) == 0 {
		done(nil)
		return
	}
	r, _ := s.areqs.Get().(*request)
	if r == nil {
		r = new(request)
	}
	r.ops, r.cb, r.pool = ops, done, &s.areqs
	if err := s.submit(r); err != nil {
		*r = request{}
		s.areqs.Put(r)
		done(err)
	}
}

func (s *Store) submit(r *request) error {
	if p := s.failed.Load(); p != nil {
		return *p
	}
	s.pmu.Lock()
	if s.closed {
		s.pmu.Unlock()
		return fmt.Errorf("queue: commit: %w", ErrClosed)
	}
	s.pending = append(s.pending, r)
	s.pendingOps += len(r.ops)
	s.pmu.Unlock()
	s.signal()
	return nil
}

func (s *Store) signal() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// finBacklog is how many committed batches may wait for the finisher
// before the committer waits for it.
const finBacklog = 4

// run is the committer goroutine, owned by the Store and ended by Close
// after the last pending request; it owns the finisher goroutine.
func (s *Store) run() {
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		s.finisher()
	}()
	defer func() {
		close(s.fin)
		<-finished
		close(s.stopped)
	}()
	b := newBatch()
	var reqs []*request
	for {
		var ok bool
		reqs, ok = s.next(reqs[:0])
		if !ok {
			return
		}
		if len(reqs) > 0 {
			if s.cfg.OnBatch != nil {
				s.cfg.OnBatch()
			}
			s.commitBatch(b, reqs)
		}
		clear(reqs[:cap(reqs)])
	}
}

// next waits for work and takes up to MaxBatch ops worth of requests (at
// least one request), no sooner than MinInterval after the previous
// transaction started unless MaxBatch ops are pending. It returns false
// once the store is closed and nothing is pending. It runs on the
// committer goroutine, which alone touches s.lastTx.
func (s *Store) next(buf []*request) ([]*request, bool) {
	var paced *time.Timer
	defer func() {
		if paced != nil {
			paced.Stop()
		}
	}()
	for {
		var tick <-chan time.Time
		s.pmu.Lock()
		if len(s.pending) > 0 {
			full := s.pendingOps >= s.cfg.MaxBatch || s.closed
			early := s.cfg.MinInterval - time.Since(s.lastTx)
			if full || early <= 0 {
				s.lastTx = time.Now()
				return s.take(buf), true
			}
			if paced == nil {
				paced = time.NewTimer(early)
			}
			tick = paced.C
		} else if s.closed {
			s.pmu.Unlock()
			return nil, false
		}
		s.pmu.Unlock()
		select {
		case <-s.kick:
		case <-tick:
			paced = nil
		}
	}
}

// take moves requests from pending to buf; pmu is held and released here.
func (s *Store) take(buf []*request) []*request {
	n, ops := 0, 0
	for n < len(s.pending) && (ops == 0 || ops+len(s.pending[n].ops) <= s.cfg.MaxBatch) {
		r := s.pending[n]
		n++
		s.pendingOps -= len(r.ops)
		if !r.state.CompareAndSwap(reqQueued, reqTaken) {
			continue // cancelled by its caller: drop
		}
		ops += len(r.ops)
		buf = append(buf, r)
	}
	rest := copy(s.pending, s.pending[n:])
	clear(s.pending[rest:])
	s.pending = s.pending[:rest]
	more := rest > 0
	s.pmu.Unlock()
	if more {
		s.signal()
	}
	return buf
}

// commitBatch validates each request against the index plus the effects of
// the requests before it, writes the valid ones into one bolt transaction,
// commits (fsync), updates the index and answers everyone.
func (s *Store) commitBatch(b *batch, reqs []*request) {
	if p := s.failed.Load(); p != nil {
		for _, r := range reqs {
			r.finish(*p)
		}
		return
	}
	for {
		b.reset()
		s.mu.RLock()
		for _, r := range reqs {
			r.err = b.validate(s, r.ops)
		}
		s.mu.RUnlock()

		tx, err := s.db.Begin(true)
		if err != nil {
			s.fail(reqs, fmt.Errorf("queue: begin: %w", mapClosed(err)))
			return
		}
		var bad int = -1
		for i, r := range reqs {
			if r.err != nil {
				continue
			}
			if err := b.write(tx, r.ops); err != nil {
				r.err = err
				bad = i
				break
			}
		}
		if bad >= 0 {
			// A write failed after earlier ops of the same request went
			// into the transaction. Bolt has no savepoints, so drop the
			// transaction, answer that request and rebuild without it.
			_ = tx.Rollback()
			s.ctr.rejected.Add(1)
			reqs[bad].finish(reqs[bad].err)
			reqs = append(reqs[:bad], reqs[bad+1:]...)
			continue
		}

		accepted, nops := 0, 0
		for _, r := range reqs {
			if r.err == nil {
				accepted++
				nops += len(r.ops)
			}
		}
		if accepted == 0 {
			_ = tx.Rollback()
		} else {
			start := time.Now()
			err = tx.Commit()
			s.ctr.observeSync(time.Since(start), nops)
		}
		// Rejections wait for the transaction too: "duplicate" may rest on
		// an earlier request of this batch, which only counts once durable.
		if errors.Is(err, berrors.ErrMaxSizeReached) {
			// Refused while allocating pages, before anything was
			// written: a clean rollback, so the store stays usable
			// (removals free pages again).
			s.ctr.failedTxs.Add(1)
			s.log.Warn("queue store file full", "max_file_size", s.cfg.MaxFileSize, "ops", nops)
			full := fmt.Errorf("queue: commit: %w: %w", ErrStoreFull, err)
			for _, r := range reqs {
				r.finish(full)
			}
			return
		}
		if err != nil {
			s.fail(reqs, fmt.Errorf("queue: commit transaction: %w", err))
			return
		}
		s.apply(reqs)
		// Counters first, so that Stats after Commit returns includes it.
		s.ctr.commits.Add(uint64(accepted))
		s.ctr.ops.Add(uint64(nops))
		s.ctr.rejected.Add(uint64(len(reqs) - accepted))
		s.finishLater(reqs)
		return
	}
}

// finishLater hands a committed batch to the finisher, which answers its
// requests (wakes the Commit callers, runs the CommitAsync callbacks)
// while the committer goes on with the next transaction: the callbacks do
// not lengthen the commit cycle every caller waits for. Batches are
// answered in commit order.
func (s *Store) finishLater(reqs []*request) {
	var buf []*request
	select {
	case buf = <-s.finFree:
	default:
	}
	s.fin <- append(buf[:0], reqs...)
}

// finisher answers the batches of finishLater until fin is closed.
func (s *Store) finisher() {
	for buf := range s.fin {
		for i, r := range buf {
			buf[i] = nil
			r.finish(r.err)
		}
		select {
		case s.finFree <- buf[:0]:
		default:
		}
	}
}

// fail makes a transaction failure sticky: after a failed write or fsync
// the kernel may have dropped dirty pages, so the file's content is
// unknown and nothing more may be acknowledged. Every request of the batch
// gets the failure, rejected ones included.
func (s *Store) fail(reqs []*request, err error) {
	s.ctr.failedTxs.Add(1)
	sticky := fmt.Errorf("%w: %w", ErrFailed, err)
	if s.failed.CompareAndSwap(nil, &sticky) {
		s.log.Error("queue store failed; refusing further commits", "err", err)
	}
	for _, r := range reqs {
		r.finish(sticky)
	}
}

// apply brings the index up to date with a committed batch and wakes the
// watchers of queues that got new items.
func (s *Store) apply(reqs []*request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range reqs {
		if r.err != nil {
			continue
		}
		for i := range r.ops {
			op := &r.ops[i]
			switch op.kind {
			case opEnqueue:
				q := s.queueLocked(op.queue)
				s.cache(q.insert(op.id, op.due), op.value)
				q.notify()
			case opUpdate:
				q := s.queueLocked(op.queue)
				if e := q.update(op.id, op.due); e != nil && op.value != nil {
					s.uncache(e)
					s.cache(e, op.value)
				}
				q.notify()
			case opRemove:
				s.uncache(s.queueLocked(op.queue).remove(op.id))
			case opMove:
				old := s.queueLocked(op.queue).remove(op.id)
				q := s.queueLocked(op.to)
				e := q.insert(op.id, op.due)
				if op.value != nil {
					s.uncache(old)
					s.cache(e, op.value)
				} else if old != nil {
					e.val, old.val = old.val, nil
				}
				q.notify()
			}
		}
	}
}

// cache keeps a copy of v in e if the budget allows; s.mu is held. The op's
// value belongs to the caller, hence the copy.
func (s *Store) cache(e *entry, v []byte) {
	if s.cacheUsed+len(v) > s.cfg.CacheBytes || v == nil {
		return
	}
	e.val = bytes.Clone(v)
	s.cacheUsed += len(v)
}

func (s *Store) uncache(e *entry) {
	if e != nil && e.val != nil {
		s.cacheUsed -= len(e.val)
		e.val = nil
	}
}

func (s *Store) queueLocked(name string) *qindex {
	q := s.queues[name]
	if q == nil {
		q = newQIndex(name)
		s.queues[name] = q
	}
	return q
}
