package queue

import (
	"sync/atomic"
	"time"
)

// NumSyncBuckets is the number of bounded buckets of Stats.SyncHist.
const NumSyncBuckets = 8

// SyncBuckets returns the upper bounds of Stats.SyncHist: SyncHist[i]
// counts transactions whose commit (write + fsync) took at most
// SyncBuckets()[i]; SyncHist[NumSyncBuckets] counts the slower ones.
func SyncBuckets() [NumSyncBuckets]time.Duration {
	return [NumSyncBuckets]time.Duration{
		250 * time.Microsecond,
		500 * time.Microsecond,
		time.Millisecond,
		2 * time.Millisecond,
		5 * time.Millisecond,
		10 * time.Millisecond,
		50 * time.Millisecond,
		250 * time.Millisecond,
	}
}

// Stats are cumulative counters since Open plus current queue depths.
type Stats struct {
	Commits   uint64 // Commit/CommitAsync calls applied
	Rejected  uint64 // calls refused by validation (duplicate, not found, full, invalid)
	Ops       uint64 // ops applied
	Txs       uint64 // bolt transactions committed; one fsync group each (unless NoSync)
	FailedTxs uint64 // transactions that failed to commit (the store is then failed)
	MaxBatch  uint64 // most ops in one transaction
	// PageWrites counts the file writes of committed transactions (one
	// per dirty page or run of contiguous pages, and the meta page): what
	// each fsync has to flush.
	PageWrites uint64
	SyncTime   time.Duration
	SyncMax    time.Duration
	SyncHist   [NumSyncBuckets + 1]uint64
	Pending    int // requests waiting for the committer
	CacheBytes int // value bytes cached in memory
	Queues     map[string]QueueStats
}

// QueueStats describe one queue.
type QueueStats struct {
	Depth  int // items, leased included
	Leased int
}

type counters struct {
	commits, rejected, ops, txs, failedTxs, maxBatch atomic.Uint64
	syncNanos, syncMax                               atomic.Int64
	hist                                             [NumSyncBuckets + 1]atomic.Uint64
}

// observeSync is called by the committer only, so the max updates need no
// compare-and-swap loop.
func (c *counters) observeSync(d time.Duration, ops int) {
	c.txs.Add(1)
	c.syncNanos.Add(int64(d))
	if int64(d) > c.syncMax.Load() {
		c.syncMax.Store(int64(d))
	}
	if uint64(ops) > c.maxBatch.Load() {
		c.maxBatch.Store(uint64(ops))
	}
	bounds := SyncBuckets()
	i := 0
	for i < len(bounds) && d > bounds[i] {
		i++
	}
	c.hist[i].Add(1)
}

// Stats returns a snapshot of the counters and queue depths.
func (s *Store) Stats() Stats {
	st := Stats{
		Commits:   s.ctr.commits.Load(),
		Rejected:  s.ctr.rejected.Load(),
		Ops:       s.ctr.ops.Load(),
		Txs:       s.ctr.txs.Load(),
		FailedTxs: s.ctr.failedTxs.Load(),
		MaxBatch:  s.ctr.maxBatch.Load(),
		SyncTime:  time.Duration(s.ctr.syncNanos.Load()),
		SyncMax:   time.Duration(s.ctr.syncMax.Load()),
	}
	dbs := s.db.Stats()
	st.PageWrites = uint64(dbs.TxStats.GetWrite())
	for i := range st.SyncHist {
		st.SyncHist[i] = s.ctr.hist[i].Load()
	}
	s.pmu.Lock()
	st.Pending = len(s.pending)
	s.pmu.Unlock()
	s.mu.RLock()
	st.CacheBytes = s.cacheUsed
	st.Queues = make(map[string]QueueStats, len(s.queues))
	for name, q := range s.queues {
		st.Queues[name] = QueueStats{Depth: len(q.items), Leased: q.leased}
	}
	s.mu.RUnlock()
	return st
}
