package queue

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"
)

// Config tunes a Store. Start from DefaultConfig.
type Config struct {
	// MaxBatch is the most ops the committer puts into one transaction
	// (one fsync). A single Commit larger than MaxBatch still gets its own
	// transaction: atomicity wins over the limit.
	MaxBatch int
	// MinInterval is the least time between the starts of two
	// transactions: requests arriving meanwhile wait and join the next
	// one, up to MaxBatch ops. 0 (the default) commits as soon as the
	// previous fsync finished — requests that arrive during an fsync form
	// the next batch ("natural batching"), which batches well under load
	// but gives thin traffic a transaction (and an fsync) per few
	// requests. A few milliseconds keep thin traffic to one fsync per
	// several messages, at that cost in latency; under load transactions
	// take longer than the interval and it costs nothing.
	MinInterval time.Duration
	// MaxDepth is the default per-queue item limit; Enqueue or Move beyond
	// it fails with ErrQueueFull. 0 means unlimited. The in-memory index
	// costs roughly 100 bytes per item.
	MaxDepth int
	// QueueDepth overrides MaxDepth for named queues (0 = unlimited).
	QueueDepth map[string]int
	// CacheBytes bounds the item values kept in memory next to the index.
	// Lease and Get of cached items need no bolt read transaction; items
	// beyond the budget (a backlog) are read from the file. 0 disables.
	CacheBytes int
	// NoSync skips fsync. UNSAFE: acknowledged commits can be lost on a
	// crash. Only for benchmark comparisons.
	NoSync bool
	// OpenTimeout bounds the wait for the file lock held by another
	// process; 0 waits forever.
	OpenTimeout time.Duration
	// MmapSize is the initial mmap size in bytes. A mapping larger than the
	// file avoids remapping while it grows, which would stall readers.
	MmapSize int
	// MaxFileSize caps the file in bytes; a transaction that would grow
	// it further fails with ErrStoreFull. 0 means unlimited (until the
	// disk is full, which fails the store: see ErrFailed).
	MaxFileSize int
	// FileMode is the permission of a newly created file.
	FileMode os.FileMode
	// Logger receives commit failures and open/close events. nil discards.
	Logger *slog.Logger
	// OnBatch, if set, is called by the committer each time it has taken
	// a batch of requests, before writing it: every request it holds was
	// submitted before the call. It lets the caller make something durable
	// that the batch's callers also wait for (the ISMG's CDR fsync). Its
	// time adds to every commit cycle, and it must not Commit (that would
	// deadlock).
	OnBatch func()
}

// DefaultConfig returns the settings the ISMG runs with.
func DefaultConfig() Config {
	return Config{
		MaxBatch:    16384,
		MinInterval: 0,
		MaxDepth:    1_000_000,
		CacheBytes:  64 << 20,
		OpenTimeout: 5 * time.Second,
		MmapSize:    1 << 30,
		FileMode:    0o600,
	}
}

// Validate reports the first invalid setting.
func (c Config) Validate() error {
	switch {
	case c.MaxBatch <= 0:
		return errors.New("queue: config: MaxBatch must be > 0")
	case c.MinInterval < 0:
		return errors.New("queue: config: MinInterval must be >= 0")
	case c.MinInterval > time.Second:
		return fmt.Errorf("queue: config: MinInterval %v is above 1s: commits would wait that long", c.MinInterval)
	case c.MaxDepth < 0:
		return errors.New("queue: config: MaxDepth must be >= 0")
	case c.OpenTimeout < 0:
		return errors.New("queue: config: OpenTimeout must be >= 0")
	case c.MmapSize < 0:
		return errors.New("queue: config: MmapSize must be >= 0")
	case c.CacheBytes < 0:
		return errors.New("queue: config: CacheBytes must be >= 0")
	case c.MaxFileSize < 0:
		return errors.New("queue: config: MaxFileSize must be >= 0")
	}
	for q, n := range c.QueueDepth {
		if n < 0 {
			return fmt.Errorf("queue: config: QueueDepth[%q] must be >= 0", q)
		}
	}
	return nil
}

func (c Config) depthLimit(queue string) int {
	if n, ok := c.QueueDepth[queue]; ok {
		return n
	}
	return c.MaxDepth
}
