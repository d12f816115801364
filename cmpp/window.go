package cmpp

import (
	"context"
	"errors"
	"sync"
	"time"
)

// errSeqInUse means a Sequence_Id is still pending after the counter
// wrapped; the caller takes the next one.
var errSeqInUse = errors.New("cmpp: sequence id in use")

// call is one request we sent that awaits its response. Exactly one of ch
// and fn is set, except for session-internal calls (keepalive probes) that
// need neither. Whoever removes the call from the window owns completing it,
// which is what makes completion happen exactly once.
type call struct {
	seq  uint32
	want CommandID // the response Command_Id we expect
	slot bool      // holds a window slot; ACTIVE_TEST and TERMINATE do not
	// deadline (since the session's epoch) is when the sweeper fails the
	// call with ErrTimeout; zero for session-internal calls, which keep
	// their own time.
	deadline time.Duration

	ch chan callResult  // Send: buffered 1
	fn func(PDU, error) // SendAsync
}

type callResult struct {
	p   PDU
	err error
}

func (c *call) complete(p PDU, err error) {
	switch {
	case c.ch != nil:
		c.ch <- callResult{p, err}
	case c.fn != nil:
		c.fn(p, err)
	}
}

// window is the bounded Sequence_Id → waiter table for requests we sent
// (STYLE rule 9). slots is a counting semaphore so SendWait can block on a
// free slot with a context while Send fails fast; pending maps a Sequence_Id
// to its waiter.
type window struct {
	slots chan struct{}

	mu      sync.Mutex
	pending map[uint32]*call
	closed  error // set by fail; later adds return it

	onRemove func() // called after a call leaves the table (drain check)
}

func newWindow(n int) *window {
	return &window{
		slots:   make(chan struct{}, n),
		pending: make(map[uint32]*call, n+2),
	}
}

func (w *window) tryAcquire() bool {
	select {
	case w.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

// acquire blocks until a slot is free, ctx ends or the session ends (dead).
func (w *window) acquire(ctx context.Context, dead <-chan struct{}) error {
	if w.tryAcquire() {
		return nil
	}
	select {
	case w.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-dead:
		return ErrClosed
	}
}

func (w *window) release() { <-w.slots }

// add registers c under c.seq.
func (w *window) add(c *call) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed != nil {
		return w.closed
	}
	if _, ok := w.pending[c.seq]; ok {
		return errSeqInUse
	}
	w.pending[c.seq] = c
	return nil
}

// take removes and returns the call waiting on seq, freeing its slot, or
// nil if none is (a late response after a timeout, or a peer's mistake).
func (w *window) take(seq uint32) *call {
	w.mu.Lock()
	c, ok := w.pending[seq]
	if ok {
		delete(w.pending, seq)
	}
	w.mu.Unlock()
	if ok {
		w.removed(c)
	}
	return c
}

func (w *window) removed(c *call) {
	if c.slot {
		w.release()
	}
	if w.onRemove != nil {
		w.onRemove()
	}
}

// takeIf is take for a specific call, so a timer that fires late cannot
// remove a newer call that reuses the Sequence_Id after a wrap.
func (w *window) takeIf(seq uint32, c *call) bool {
	w.mu.Lock()
	got, ok := w.pending[seq]
	ok = ok && got == c
	if ok {
		delete(w.pending, seq)
	}
	w.mu.Unlock()
	if ok {
		w.removed(c)
	}
	return ok
}

// expire removes the calls whose deadline is at or before now, freeing
// their slots, and appends them to buf for the caller to complete: one
// sweep per tick replaces a timer per request.
func (w *window) expire(now time.Duration, buf []*call) []*call {
	w.mu.Lock()
	for seq, c := range w.pending {
		if c.deadline != 0 && c.deadline <= now {
			delete(w.pending, seq)
			buf = append(buf, c)
		}
	}
	w.mu.Unlock()
	for _, c := range buf {
		w.removed(c)
	}
	return buf
}

func (w *window) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.pending)
}

// fail closes the window: every pending call completes with err and later
// adds fail with it.
func (w *window) fail(err error) {
	w.mu.Lock()
	w.closed = err
	calls := make([]*call, 0, len(w.pending))
	for seq, c := range w.pending {
		calls = append(calls, c)
		delete(w.pending, seq)
	}
	w.mu.Unlock()
	for _, c := range calls {
		w.removed(c)
		c.complete(nil, err)
	}
}

// inbound bounds the requests from the peer that are being handled: a slot
// is taken when a request is dispatched and freed when the handler replies
// to its Sequence_Id. Only the read loop adds, so the duplicate check and
// the insert need not be atomic with each other.
type inbound struct {
	slots chan struct{}

	mu   sync.Mutex
	seqs map[uint32]struct{}
}

func newInbound(n int) *inbound {
	return &inbound{slots: make(chan struct{}, n), seqs: make(map[uint32]struct{}, n)}
}

func (in *inbound) has(seq uint32) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	_, ok := in.seqs[seq]
	return ok
}

// tryAdd takes a slot for seq without blocking.
func (in *inbound) tryAdd(seq uint32) bool {
	select {
	case in.slots <- struct{}{}:
	default:
		return false
	}
	in.insert(seq)
	return true
}

// addWait takes a slot for seq, waiting up to d.
func (in *inbound) addWait(seq uint32, d time.Duration, dead <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case in.slots <- struct{}{}:
	case <-t.C:
		return false
	case <-dead:
		return false
	}
	in.insert(seq)
	return true
}

func (in *inbound) insert(seq uint32) {
	in.mu.Lock()
	in.seqs[seq] = struct{}{}
	in.mu.Unlock()
}

// done frees the slot of seq; it reports false if seq held none (a second
// reply, or a reply to a request the session answered itself).
func (in *inbound) done(seq uint32) bool {
	in.mu.Lock()
	_, ok := in.seqs[seq]
	if ok {
		delete(in.seqs, seq)
	}
	in.mu.Unlock()
	if ok {
		<-in.slots
	}
	return ok
}

func (in *inbound) len() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.seqs)
}
