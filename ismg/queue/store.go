package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Store is a durable set of named queues and key-value maps in one bbolt
// file. All methods are safe for concurrent use.
type Store struct {
	cfg  Config
	log  *slog.Logger
	db   *bolt.DB
	path string

	// mu guards queues and every qindex in it: the committed in-memory
	// index and the leases. Lock order: pmu and mu are never held together.
	mu        sync.RWMutex
	queues    map[string]*qindex
	cacheUsed int // bytes of values cached in entries

	// pmu guards the hand-off to the committer goroutine.
	pmu        sync.Mutex
	pending    []*request
	pendingOps int
	closed     bool

	isClosed atomic.Bool // reads fail with ErrClosed, even from the cache

	kick    chan struct{} // capacity 1: "pending is not empty"
	lastTx  time.Time     // when the committer took its last batch (Config.MinInterval); its own
	stopped chan struct{} // closed when the committer and the finisher exited
	// fin carries committed batches from the committer to the finisher,
	// which answers their requests (see finishLater); finFree recycles
	// the slices.
	fin, finFree chan []*request
	closing      chan struct{} // closed by Close: wakes Wait
	once         sync.Once

	failed atomic.Pointer[error] // sticky commit failure
	ctr    counters
	reqs   sync.Pool // *request of Commit, reused once answered
	areqs  sync.Pool // *request of CommitAsync, reused once answered
}

// Open opens or creates the store at path and rebuilds the in-memory index
// from it. Every item starts unleased: leases of a previous process are
// gone, so delivery resumes.
func Open(path string, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.FileMode == 0 {
		cfg.FileMode = 0o600
	}
	cfg.QueueDepth = maps.Clone(cfg.QueueDepth) // the caller may reuse its map
	start := time.Now()
	db, err := bolt.Open(path, cfg.FileMode, &bolt.Options{
		Timeout: cfg.OpenTimeout,
		// The freelist is rebuilt by scanning at open instead of being
		// written by every commit: one page less per fsync.
		NoFreelistSync:  true,
		FreelistType:    bolt.FreelistMapType,
		InitialMmapSize: cfg.MmapSize,
		NoSync:          cfg.NoSync,
		MaxSize:         cfg.MaxFileSize,
	})
	if err != nil {
		return nil, fmt.Errorf("queue: open %s: %w", path, err)
	}
	s := &Store{
		cfg:     cfg,
		log:     cfg.Logger.With("store", path),
		db:      db,
		path:    path,
		queues:  make(map[string]*qindex),
		kick:    make(chan struct{}, 1),
		stopped: make(chan struct{}),
		fin:     make(chan []*request, finBacklog),
		finFree: make(chan []*request, finBacklog+1),
		closing: make(chan struct{}),
		lastTx:  time.Now(),
	}
	items, err := s.load()
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("queue: open %s: %w", path, err)
	}
	if cfg.NoSync {
		s.log.Warn("queue store opened with NoSync: acknowledged commits can be lost on a crash")
	}
	s.log.Info("queue store opened", "queues", len(s.queues), "items", items, "took", time.Since(start))
	go s.run()
	return s, nil
}

// load checks the format marker and rebuilds the index of every queue.
func (s *Store) load() (int, error) {
	total := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists([]byte(metaBucket))
		if err != nil {
			return err
		}
		switch f := meta.Get([]byte(formatKey)); {
		case f == nil:
			if err := meta.Put([]byte(formatKey), []byte(formatValue)); err != nil {
				return err
			}
		case string(f) != formatValue:
			return fmt.Errorf("unsupported format %q, want %q", f, formatValue)
		}
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			if !bytes.HasPrefix(name, []byte(queuePrefix)) {
				return nil
			}
			q := newQIndex(string(name[len(queuePrefix):]))
			err := b.ForEach(func(k, v []byte) error {
				id, err := decodeKey(k)
				if err != nil {
					return err
				}
				due, val, err := decodeRecord(v)
				if err != nil {
					return fmt.Errorf("id %d: %w", id, err)
				}
				e := &entry{id: id, due: due}
				s.cache(e, val) // val points into the mmap: cache copies
				q.items[id] = e
				return nil
			})
			if err != nil {
				return fmt.Errorf("queue %q: %w", q.name, err)
			}
			q.rebuild()
			total += len(q.items)
			s.queues[q.name] = q
			return nil
		})
	})
	return total, err
}

// Close commits every request already handed to the store, stops the
// committer and closes the file. Later Commits fail with ErrClosed.
func (s *Store) Close() error {
	var err error
	s.once.Do(func() {
		s.pmu.Lock()
		s.closed = true
		s.pmu.Unlock()
		s.signal()
		<-s.stopped
		s.isClosed.Store(true)
		close(s.closing)
		err = s.db.Close()
		s.log.Info("queue store closed")
	})
	return err
}

// Path returns the file the store lives in.
func (s *Store) Path() string { return s.path }

// Lease returns up to max items of queue that are due at or before now and
// not leased, in (due, id) order, and leases them: no other Lease returns
// them until Release, Remove or Move, or a restart (leases are in memory
// only). The values are copies owned by the caller.
func (s *Store) Lease(queue string, now time.Time, max int) ([]Item, error) {
	if s.isClosed.Load() {
		return nil, fmt.Errorf("queue: lease %s: %w", queue, ErrClosed)
	}
	if max <= 0 {
		return nil, nil
	}
	limit := dueNanos(now)
	var (
		items   []Item
		missing int // items whose value is not cached
	)
	s.mu.Lock()
	if q := s.queues[queue]; q != nil {
		for len(items) < max {
			e := q.popDue(limit)
			if e == nil {
				break
			}
			it := Item{Queue: queue, ID: e.id, Due: dueTime(e.due)}
			if e.val != nil {
				it.Value = bytes.Clone(e.val)
			} else {
				missing++
			}
			items = append(items, it)
		}
	}
	s.mu.Unlock()
	if missing == 0 {
		return items, nil
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketName(queuePrefix, queue))
		var kb [8]byte
		for i := range items {
			it := &items[i]
			if it.Value != nil {
				continue
			}
			var rec []byte
			if b != nil {
				rec = b.Get(appendKey(kb[:0], it.ID))
			}
			if rec == nil {
				// Removed by a commit whose index update is still
				// running; the index drops it (and the lease) next.
				it.Queue = ""
				continue
			}
			due, v, err := decodeRecord(rec)
			if err != nil {
				return fmt.Errorf("id %d: %w", it.ID, err)
			}
			it.Due, it.Value = dueTime(due), bytes.Clone(v)
		}
		return nil
	})
	if err != nil {
		for _, it := range items {
			s.Release(queue, it.ID)
		}
		return nil, fmt.Errorf("queue: lease %s: %w", queue, mapClosed(err))
	}
	return slices.DeleteFunc(items, func(it Item) bool { return it.Queue == "" }), nil
}

// Release ends the lease of an item without changing it; it is available
// to Lease again once due. It reports whether the item was leased.
func (s *Store) Release(queue string, id uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queues[queue]
	if q == nil || !q.release(id) {
		return false
	}
	q.notify()
	return true
}

// Take leases one given item whatever its due time, so that nothing else
// leases it while the caller decides (a CMPP_CANCEL): ErrNotFound if the
// queue does not hold it, ErrLeased if it is leased already. Remove or
// Release it afterwards, as after Lease.
func (s *Store) Take(queue string, id uint64) (Item, error) {
	if s.isClosed.Load() {
		return Item{}, fmt.Errorf("queue: take %s/%d: %w", queue, id, ErrClosed)
	}
	s.mu.Lock()
	var e *entry
	q := s.queues[queue]
	if q != nil {
		e = q.items[id]
	}
	switch {
	case e == nil:
		s.mu.Unlock()
		return Item{}, fmt.Errorf("queue: take %s/%d: %w", queue, id, ErrNotFound)
	case e.leased():
		s.mu.Unlock()
		return Item{}, fmt.Errorf("queue: take %s/%d: %w", queue, id, ErrLeased)
	}
	q.heapRemove(e.pos) // leaves e.pos at -1: leased
	q.leased++
	s.mu.Unlock()
	it, err := s.Get(queue, id)
	if err != nil {
		s.Release(queue, id)
		return Item{}, err
	}
	return it, nil
}

// Get reads one item, leased or not.
func (s *Store) Get(queue string, id uint64) (Item, error) {
	if s.isClosed.Load() {
		return Item{}, fmt.Errorf("queue: get %s/%d: %w", queue, id, ErrClosed)
	}
	s.mu.RLock()
	if q := s.queues[queue]; q != nil {
		if e := q.items[id]; e != nil && e.val != nil {
			it := Item{Queue: queue, ID: id, Due: dueTime(e.due), Value: bytes.Clone(e.val)}
			s.mu.RUnlock()
			return it, nil
		}
	}
	s.mu.RUnlock()
	var it Item
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketName(queuePrefix, queue))
		if b == nil {
			return ErrNotFound
		}
		var kb [8]byte
		rec := b.Get(appendKey(kb[:0], id))
		if rec == nil {
			return ErrNotFound
		}
		due, v, err := decodeRecord(rec)
		if err != nil {
			return err
		}
		it = Item{Queue: queue, ID: id, Due: dueTime(due), Value: bytes.Clone(v)}
		return nil
	})
	if err != nil {
		return Item{}, fmt.Errorf("queue: get %s/%d: %w", queue, id, mapClosed(err))
	}
	return it, nil
}

// GetKV reads a key of a key-value bucket; the value is a copy.
func (s *Store) GetKV(bucket string, key []byte) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketName(mapPrefix, bucket))
		if b == nil {
			return ErrNotFound
		}
		v := b.Get(key)
		if v == nil {
			return ErrNotFound
		}
		out = bytes.Clone(v)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("queue: get %s key %x: %w", bucket, key, mapClosed(err))
	}
	return out, nil
}

// Len returns the number of items in queue, leased ones included.
func (s *Store) Len(queue string) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if q := s.queues[queue]; q != nil {
		return len(q.items)
	}
	return 0
}

// NextDue returns the due time of the first unleased item of queue, and
// false if every item is leased or the queue is empty.
func (s *Store) NextDue(queue string) (time.Time, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if q := s.queues[queue]; q != nil && len(q.ready) > 0 {
		return dueTime(q.ready[0].due), true
	}
	return time.Time{}, false
}

// Queues returns the names of all queues, sorted.
func (s *Store) Queues() []string {
	s.mu.RLock()
	names := make([]string, 0, len(s.queues))
	for n, q := range s.queues {
		if len(q.items) > 0 {
			names = append(names, n)
		}
	}
	s.mu.RUnlock()
	sort.Strings(names)
	return names
}

// Watch returns a channel that is closed the next time queue gets an item
// that may be leasable: an Enqueue or Move into it, an Update in it, or a
// Release. Take the channel before calling Lease so that nothing committed
// in between is missed.
func (s *Store) Watch(queue string) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queues[queue]
	if q == nil {
		q = newQIndex(queue)
		s.queues[queue] = q
	}
	return q.watch()
}

// Wait blocks until queue has an unleased item due by the wall clock, ctx
// ends (ctx.Err()) or the store closes (ErrClosed). It sleeps until the
// next due time or a Watch wake-up, never polls. Several dispatchers
// waiting on one queue all wake; Lease decides who gets what.
func (s *Store) Wait(ctx context.Context, queue string) error {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		s.mu.Lock()
		q := s.queues[queue]
		if q == nil {
			q = newQIndex(queue)
			s.queues[queue] = q
		}
		var (
			next    int64
			hasNext = len(q.ready) > 0
		)
		if hasNext {
			next = q.ready[0].due
		}
		wake := q.watch()
		s.mu.Unlock()

		var fire <-chan time.Time
		if hasNext {
			d := time.Until(dueTime(next))
			if next == 0 || d <= 0 {
				return nil
			}
			if timer == nil {
				timer = time.NewTimer(d)
			} else {
				timer.Reset(d)
			}
			fire = timer.C
		}
		select {
		case <-wake:
		case <-fire:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.closing:
			return ErrClosed
		}
	}
}

// scanChunk bounds how long Scan keeps a read transaction open: a long read
// transaction would block the committer when bolt has to grow its mmap.
const scanChunk = 256

// Scan calls fn for every item of queue in id order until fn returns false.
// Items are read in chunks of short read transactions, so fn may call any
// Store method, and the scan is not one consistent snapshot: meant for
// start-up recovery, before traffic flows.
func (s *Store) Scan(queue string, fn func(Item) bool) error {
	name := bucketName(queuePrefix, queue)
	var from []byte
	for {
		var chunk []Item
		err := s.db.View(func(tx *bolt.Tx) error {
			b := tx.Bucket(name)
			if b == nil {
				return nil
			}
			c := b.Cursor()
			k, v := c.First()
			if from != nil {
				k, v = c.Seek(from)
			}
			for ; k != nil && len(chunk) < scanChunk; k, v = c.Next() {
				id, err := decodeKey(k)
				if err != nil {
					return err
				}
				due, val, err := decodeRecord(v)
				if err != nil {
					return fmt.Errorf("id %d: %w", id, err)
				}
				chunk = append(chunk, Item{Queue: queue, ID: id, Due: dueTime(due), Value: bytes.Clone(val)})
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("queue: scan %s: %w", queue, mapClosed(err))
		}
		for _, it := range chunk {
			if !fn(it) {
				return nil
			}
		}
		if len(chunk) < scanChunk {
			return nil
		}
		last := chunk[len(chunk)-1].ID
		if last == ^uint64(0) {
			return nil
		}
		from = appendKey(nil, last+1)
	}
}

// ScanKV calls fn for every key of bucket in key order until fn returns
// false, in chunks like Scan. fn may keep key and value.
func (s *Store) ScanKV(bucket string, fn func(key, value []byte) bool) error {
	name := bucketName(mapPrefix, bucket)
	var after []byte
	for {
		var keys, vals [][]byte
		err := s.db.View(func(tx *bolt.Tx) error {
			b := tx.Bucket(name)
			if b == nil {
				return nil
			}
			c := b.Cursor()
			k, v := c.First()
			if after != nil {
				k, v = c.Seek(after)
				if k != nil && bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			for ; k != nil && len(keys) < scanChunk; k, v = c.Next() {
				keys = append(keys, bytes.Clone(k))
				vals = append(vals, bytes.Clone(v))
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("queue: scan %s: %w", bucket, mapClosed(err))
		}
		for i := range keys {
			if !fn(keys[i], vals[i]) {
				return nil
			}
		}
		if len(keys) < scanChunk {
			return nil
		}
		after = keys[len(keys)-1]
	}
}

func bucketName(prefix, name string) []byte {
	b := make([]byte, 0, len(prefix)+len(name))
	return append(append(b, prefix...), name...)
}

func mapClosed(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}
