package smpp

import (
	"context"
	"errors"
	"sync"
)

// ErrWindowFull: Send found the window of outstanding requests full. Back
// off or use SendWait.
var ErrWindowFull = errors.New("smpp: window full")

// result is what a waiter receives: the response or why there is none.
type result struct {
	h   Header
	p   PDU
	err error
}

// waiter is one outstanding request: Send waits on ch, SendAsync gets a
// callback instead. The session's sweeper fails it with ErrTimeout once
// deadline (UnixNano) has passed.
type waiter struct {
	cmd      CommandID
	seq      uint32
	ch       chan result // buffered 1: the reader never blocks on it
	fn       func(PDU, error)
	deadline int64
}

// finish hands the outcome to whoever waits. Whoever removed the waiter
// from the window calls it, exactly once.
func (wt *waiter) finish(r result) {
	if wt.fn == nil {
		wt.ch <- r
		return
	}
	wt.fn(r.p, r.err)
}

// window is the bounded seq→waiter table of our outstanding requests, plus
// the count of peer requests we still owe a response (for draining).
// slots is a semaphore holding one token per pending request, so a caller
// can either fail fast or block until a slot frees. mu is a leaf lock.
type window struct {
	slots chan struct{}

	mu      sync.Mutex
	pending map[uint32]*waiter
	owed    int
	idle    []chan struct{} // closed when pending and owed both reach zero
	closed  error
}

func newWindow(size int) *window {
	return &window{slots: make(chan struct{}, size), pending: make(map[uint32]*waiter, size)}
}

// acquire takes a slot: immediately or ErrWindowFull, or (wait) until ctx
// or stop is done.
func (w *window) acquire(ctx context.Context, wait bool, stop <-chan struct{}) error {
	select {
	case w.slots <- struct{}{}:
		return nil
	default:
	}
	if !wait {
		return ErrWindowFull
	}
	select {
	case w.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-stop:
		return ErrClosed
	}
}

// add registers wt under a fresh sequence number from next, skipping any
// still pending after a wrap. The caller holds a slot.
func (w *window) add(next func() uint32, wt *waiter) (uint32, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed != nil {
		<-w.slots
		return 0, w.closed
	}
	seq := next()
	for w.pending[seq] != nil {
		seq = next()
	}
	wt.seq = seq
	w.pending[seq] = wt
	return seq, nil
}

// expire removes the waiters whose deadline is at or before now (UnixNano),
// freeing their slots, and appends them to buf for the caller to finish:
// one sweep per tick replaces a timer per request.
func (w *window) expire(now int64, buf []*waiter) []*waiter {
	w.mu.Lock()
	defer w.mu.Unlock()
	for seq, wt := range w.pending {
		if wt.deadline != 0 && wt.deadline <= now {
			delete(w.pending, seq)
			<-w.slots
			buf = append(buf, wt)
		}
	}
	if len(buf) > 0 {
		w.notifyLocked()
	}
	return buf
}

// take removes and returns the waiter for seq, or nil, and frees its slot.
func (w *window) take(seq uint32) *waiter {
	w.mu.Lock()
	defer w.mu.Unlock()
	wt := w.pending[seq]
	if wt == nil {
		return nil
	}
	delete(w.pending, seq)
	<-w.slots
	w.notifyLocked()
	return wt
}

// takeIf removes the waiter for seq only if it is wt (a timer's view: the
// sequence number may have been reused since), and frees its slot.
func (w *window) takeIf(seq uint32, wt *waiter) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pending[seq] != wt {
		return false
	}
	delete(w.pending, seq)
	<-w.slots
	w.notifyLocked()
	return true
}

// len is the number of outstanding requests.
func (w *window) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.pending)
}

func (w *window) owe(delta int) {
	w.mu.Lock()
	w.owed += delta
	w.notifyLocked()
	w.mu.Unlock()
}

func (w *window) notifyLocked() {
	if len(w.pending) == 0 && w.owed <= 0 {
		for _, c := range w.idle {
			close(c)
		}
		w.idle = nil
	}
}

// waitIdle blocks until no request is outstanding in either direction.
func (w *window) waitIdle(ctx context.Context) error {
	w.mu.Lock()
	if len(w.pending) == 0 && w.owed <= 0 {
		w.mu.Unlock()
		return nil
	}
	c := make(chan struct{})
	w.idle = append(w.idle, c)
	w.mu.Unlock()
	select {
	case <-c:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close fails every outstanding request with err and refuses new ones.
// Callbacks run after mu is released: they may call into the session.
func (w *window) close(err error) {
	w.mu.Lock()
	if w.closed == nil {
		w.closed = err
	}
	var async []*waiter
	for seq, wt := range w.pending {
		if wt.fn != nil {
			async = append(async, wt)
		} else {
			wt.ch <- result{err: err}
		}
		delete(w.pending, seq)
		<-w.slots
	}
	w.owed = 0
	w.notifyLocked()
	w.mu.Unlock()
	for _, wt := range async {
		wt.finish(result{err: err})
	}
}
