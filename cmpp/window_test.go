package cmpp

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/internal/stucknet"
)

func TestWindow(t *testing.T) {
	w := newWindow(2)
	removed := 0
	w.onRemove = func() { removed++ }
	a := &call{seq: 1, slot: true, ch: make(chan callResult, 1)}
	b := &call{seq: 2, slot: true, ch: make(chan callResult, 1)}
	for _, c := range []*call{a, b} {
		if !w.tryAcquire() {
			t.Fatal("no slot")
		}
		if err := w.add(c); err != nil {
			t.Fatal(err)
		}
	}
	if w.tryAcquire() {
		t.Fatal("third slot in a window of 2")
	}
	if err := w.add(&call{seq: 1}); !errors.Is(err, errSeqInUse) {
		t.Fatalf("duplicate add: %v", err)
	}
	if w.takeIf(1, b) {
		t.Fatal("takeIf removed another call")
	}
	if got := w.take(1); got != a || w.len() != 1 || removed != 1 {
		t.Fatalf("take = %v, len %d, removed %d", got, w.len(), removed)
	}
	if !w.tryAcquire() {
		t.Fatal("take did not free the slot")
	}
	w.release()
	if w.take(1) != nil {
		t.Fatal("second take of the same seq")
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	w.tryAcquire() // fill again
	if err := w.acquire(ctx, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("acquire on a full window: %v", err)
	}
	w.release()

	sentinel := errors.New("gone")
	w.fail(sentinel)
	if r := <-b.ch; !errors.Is(r.err, sentinel) {
		t.Fatalf("fail delivered %v", r.err)
	}
	if err := w.add(&call{seq: 9}); !errors.Is(err, sentinel) {
		t.Fatalf("add after fail: %v", err)
	}
	if len(w.slots) != 0 {
		t.Fatalf("%d slots still held", len(w.slots))
	}
}

func TestInbound(t *testing.T) {
	in := newInbound(1)
	if !in.tryAdd(5) || !in.has(5) {
		t.Fatal("tryAdd")
	}
	if in.tryAdd(6) {
		t.Fatal("second request in a window of 1")
	}
	dead := make(chan struct{})
	close(dead)
	if in.addWait(6, time.Hour, dead) {
		t.Fatal("addWait on a dead session")
	}
	if in.addWait(6, time.Millisecond, nil) {
		t.Fatal("addWait on a full window")
	}
	if in.done(6) || !in.done(5) || in.done(5) {
		t.Fatal("done frees only held slots, once")
	}
	if !in.addWait(6, time.Hour, nil) || in.len() != 1 {
		t.Fatal("slot not freed")
	}
}

func TestNextSeqSkipsZero(t *testing.T) {
	var s Session
	s.seq.Store(math.MaxUint32 - 1)
	if a, b := s.nextSeq(), s.nextSeq(); a != math.MaxUint32 || b != 1 {
		t.Fatalf("seqs %d, %d; want %d, 1", a, b, uint32(math.MaxUint32))
	}
}

// register skips a Sequence_Id still pending after a wrap.
func TestRegisterSkipsPending(t *testing.T) {
	s := Session{win: newWindow(4)}
	s.win.add(&call{seq: 1})
	c := &call{}
	s.seq.Store(math.MaxUint32)
	if err := s.register(c); err != nil || c.seq != 2 {
		t.Fatalf("register: seq %d, %v", c.seq, err)
	}
}

// ReplyNoWait never blocks: with the writer stuck on a peer that does not
// read, it reports ErrWriteQueueFull once the queue is full, and Reply
// would have blocked there.
func TestReplyNoWaitQueueFull(t *testing.T) {
	conn := stucknet.Dial(t)
	s := newSession(conn, Config{WriteQueue: 4, WriteTimeout: time.Minute, ActiveTestInterval: -1}.withDefaults(), nil)
	go s.serve()
	defer func() {
		s.Close()
		<-s.Done()
	}()
	h := Header{Command: CmdSubmit}
	var err error
	for i := range 1 << 20 {
		h.Seq = uint32(i + 1)
		err = s.ReplyNoWait(h, &SubmitResp{MsgID: uint64(i)})
		if err != nil {
			break
		}
	}
	if !errors.Is(err, ErrWriteQueueFull) {
		t.Fatalf("ReplyNoWait = %v, want ErrWriteQueueFull", err)
	}
	if err := s.ReplyNoWait(h, &DeliverResp{}); err == nil || errors.Is(err, ErrWriteQueueFull) {
		t.Fatalf("wrong response type: %v, want the type error", err)
	}
}
