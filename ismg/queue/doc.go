// Package queue is the ISMG's durable store: named queues of items ordered
// by due time, and key-value maps, in one bbolt file, written with group
// commit. It knows nothing about CMPP; the gateway composes its message
// life cycle (enqueue, in flight, SMSC id mapping, status report) from the
// generic ops here.
//
// # Guarantees
//
// Commit(ctx, ops...) applies its ops atomically and returns only after the
// bolt transaction holding them has been fsynced: an acknowledged commit
// survives kill -9 and power loss (unless Config.NoSync, which is for
// benchmarks only). Concurrent Commits are coalesced by one committer
// goroutine into one read-write transaction, so one fsync serves many
// callers. By default the committer does not wait to fill a batch: the
// requests that arrive while an fsync runs form the next transaction
// ("natural batching"). CommitAsync is the same without blocking the caller,
// so one connection can keep a window of messages in flight.
//
// One caller's bad op never fails another caller. Before anything is written,
// the committer checks each request against the in-memory index plus an
// overlay holding the effects of the requests accepted earlier in the same
// batch (so a Remove may follow an Enqueue of the same id in the same batch,
// and depth limits count the batch). A rejected request's overlay entries are
// undone and it gets its error (ErrDuplicate, ErrNotFound, ErrQueueFull,
// ErrInvalid) with the outcome of the transaction: a rejection may rest on an
// earlier request of the same batch, so if that transaction fails, the
// rejected callers get the failure instead (ErrDuplicate always means the
// existing item is durable). Should bolt still refuse a write midway through
// a request, the committer rolls the transaction back, answers that request
// and rebuilds the batch without it.
//
// # Reads and leases
//
// Each queue has an in-memory index rebuilt at Open: a map id → (due, lease,
// cached value) and a min-heap on (due, id) of the unleased items. Values are
// cached next to the index up to Config.CacheBytes; Lease and Get of cached
// items take no bolt transaction, and items beyond the budget (a backlog
// while an SMSC is down) are read from the file, so memory is bounded by the
// item count, not the message sizes. Lease hands out due items in (due, id)
// order and marks them leased in memory only; leases are never written, so
// after a restart every item is available again and delivery resumes where
// it stopped. Dispatchers sleep in Wait (or select on Watch) until the next
// due time or a commit that adds an item; nothing polls.
//
// The index is updated after the fsync and before the committing callers are
// answered, so a caller sees its own writes as soon as Commit returns.
//
// # Failures
//
// A transaction that would grow the file past Config.MaxFileSize fails before
// anything is written: its callers get ErrStoreFull and the store goes on.
// Any other commit failure (write or fsync error, the disk itself full) makes
// the store failed: every later Commit gets ErrFailed, because after a failed
// fsync the kernel may have dropped dirty pages and the durable state of the
// file is unknown. Reopening re-reads what is really on disk.
//
// # On-disk layout
//
// One bbolt file. Top-level buckets:
//
//	meta            "format" → "tandem-queue-1"
//	q:<queue>       one per queue: key = id as 8-byte big-endian,
//	                value = 0x01 (record version) | due (int64 unix nanoseconds,
//	                8-byte big-endian; 0 = the zero time.Time) | item value
//	m:<bucket>      one per key-value map: the caller's keys and values as is
//
// The bolt freelist is not persisted (NoFreelistSync, rebuilt at Open), which
// saves a page write per transaction.
//
// # Goroutines and locks
//
// The Store owns two goroutines, started by Open and ended by Close after
// every request handed over before Close is committed and answered: the
// committer, which builds, commits and applies the transactions, and the
// finisher, which answers each committed batch (wakes Commit callers, runs
// CommitAsync callbacks) while the committer goes on with the next. Two
// mutexes, never held together: pmu guards the hand-off list of pending
// requests; mu guards the in-memory index and leases (the committer holds it
// read-locked while validating and write-locked while applying a committed
// batch). No lock is held during bolt I/O in readers, and no bolt read
// transaction is held across a call to user code, because bolt's mmap growth
// inside a commit waits for open read transactions.
package queue
