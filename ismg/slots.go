package ismg

import (
	"context"
	"sync"
)

// slots counts a forwarder's durable slots (MTs leased and not durably
// settled: the crash-resend bound). The dispatcher takes every free slot
// at once, leases up to that many items, and gives the rest back in one
// call: a channel of tokens made that a send or receive per slot, and at
// 4 binds × window 256 (4,096 slots) the dispatcher spent 7% of the
// node's CPU moving tokens. Any goroutine may put slots back; one
// goroutine (the dispatcher) takes them, so a wake channel of capacity 1
// is enough.
type slots struct {
	size int
	wake chan struct{} // capacity 1: slots were put back

	mu   sync.Mutex
	free int
}

func newSlots(size int) *slots {
	return &slots{size: size, free: size, wake: make(chan struct{}, 1)}
}

// takeAll waits until a slot is free and takes every free one. It returns
// how many, or false when ctx ends.
func (s *slots) takeAll(ctx context.Context) (int, bool) {
	for {
		s.mu.Lock()
		n := s.free
		s.free = 0
		s.mu.Unlock()
		if n > 0 {
			return n, true
		}
		select {
		case <-s.wake:
		case <-ctx.Done():
			return 0, false
		}
	}
}

// put gives back n slots.
func (s *slots) put(n int) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	s.free += n
	if s.free > s.size {
		s.mu.Unlock()
		panic("ismg: more durable slots put back than taken") // a bookkeeping bug, never input
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// waitAll waits until every slot is free (everything leased settled), or
// ctx ends; it takes none.
func (s *slots) waitAll(ctx context.Context) bool {
	for {
		if s.inUse() == 0 {
			return true
		}
		select {
		case <-s.wake:
		case <-ctx.Done():
			return false
		}
	}
}

// inUse is how many slots are taken.
func (s *slots) inUse() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size - s.free
}
