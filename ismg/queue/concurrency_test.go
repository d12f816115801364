package queue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestWait(t *testing.T) {
	s := openTest(t, "", testConfig(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	woke := make(chan error, 1)
	go func() { woke <- s.Wait(ctx, "mt") }()
	// Make sure the waiter is parked on the channel before committing.
	// Watch hands out the same channel Wait took, if Wait got there first.
	// If not, Wait will find the item already due. Either way it returns.
	mustCommit(t, s, Enqueue("mt", 1, time.Time{}, nil))
	if err := <-woke; err != nil {
		t.Fatalf("Wait: %v", err)
	}

	// Everything leased: Wait blocks until a Release.
	lease(t, s, "mt", time.Now(), 10)
	go func() { woke <- s.Wait(ctx, "mt") }()
	select {
	case err := <-woke:
		t.Fatalf("Wait returned %v with nothing available", err)
	default:
	}
	s.Release("mt", 1)
	if err := <-woke; err != nil {
		t.Fatalf("Wait after release: %v", err)
	}

	// A future item wakes Wait by its timer, not by a commit.
	lease(t, s, "mt", time.Now(), 10)
	due := time.Now().Add(20 * time.Millisecond)
	mustCommit(t, s, Enqueue("mt", 2, due, nil))
	if err := s.Wait(ctx, "mt"); err != nil {
		t.Fatalf("Wait for timer: %v", err)
	}
	if time.Now().Before(due) {
		t.Fatal("Wait returned before the item was due")
	}

	// Watch channel closes on a commit into the queue.
	w := s.Watch("mo")
	mustCommit(t, s, Enqueue("mo", 1, t0, nil))
	<-w

	// Cancellation and Close end Wait.
	cctx, ccancel := context.WithCancel(ctx)
	go func() { woke <- s.Wait(cctx, "empty") }()
	ccancel()
	if err := <-woke; !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait after cancel: %v", err)
	}
	go func() { woke <- s.Wait(ctx, "empty") }()
	_ = s.Close()
	if err := <-woke; !errors.Is(err, ErrClosed) {
		t.Fatalf("Wait after Close: %v", err)
	}
}

func TestGroupCommit(t *testing.T) {
	s := openTest(t, "", testConfig(t))
	const workers, each = 64, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				id := uint64(w*each + i)
				if err := s.Commit(context.Background(), Enqueue("mt", id, t0, []byte("payload"))); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := s.Stats()
	t.Logf("commits=%d txs=%d max batch=%d sync total=%v max=%v hist=%v", st.Commits, st.Txs, st.MaxBatch, st.SyncTime, st.SyncMax, st.SyncHist)
	if st.Commits != workers*each || st.Ops != workers*each {
		t.Fatalf("commits=%d ops=%d, want %d", st.Commits, st.Ops, workers*each)
	}
	if st.Txs >= st.Commits {
		t.Fatalf("no group commit: %d transactions for %d commits", st.Txs, st.Commits)
	}
	if s.Len("mt") != workers*each {
		t.Fatalf("Len = %d", s.Len("mt"))
	}
	var hist uint64
	for _, n := range st.SyncHist {
		hist += n
	}
	if hist != st.Txs {
		t.Fatalf("histogram holds %d, want %d", hist, st.Txs)
	}
}

// TestConcurrentConsumers runs producers and consumers against one queue:
// every item must be removed exactly once, never leased by two consumers at
// the same time, with retries (Update + Release) in between.
func TestConcurrentConsumers(t *testing.T) { withCaches(t, concurrentConsumers) }

func concurrentConsumers(t *testing.T, cfg Config) {
	s := openTest(t, "", cfg)
	const producers, perProducer, consumers = 4, 150, 4
	const total = producers * perProducer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var (
		mu      sync.Mutex
		holding = map[uint64]bool{} // leased by some consumer right now
		done    = map[uint64]bool{}
		retried = map[uint64]bool{}
		all     = make(chan struct{})
	)
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := range perProducer {
				id := uint64(p*perProducer + i)
				if err := s.Commit(ctx, Enqueue("mt", id, time.Time{}, fmt.Appendf(nil, "%d", id))); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for range consumers {
		wg.Go(func() {
			for {
				if err := s.Wait(ctx, "mt"); err != nil {
					return // all done (cancelled) or timed out
				}
				items, err := s.Lease("mt", time.Now(), 8)
				if err != nil {
					t.Error(err)
					return
				}
				for _, it := range items {
					mu.Lock()
					if holding[it.ID] || done[it.ID] {
						t.Errorf("item %d leased twice", it.ID)
					}
					holding[it.ID] = true
					retry := !retried[it.ID] && it.ID%3 == 0
					retried[it.ID] = true
					mu.Unlock()
					if string(it.Value) != fmt.Sprint(it.ID) {
						t.Errorf("item %d value %q", it.ID, it.Value)
					}
					if retry {
						// Try again later: new due, same item.
						mu.Lock()
						delete(holding, it.ID)
						mu.Unlock()
						if err := s.Commit(ctx, Update("mt", it.ID, time.Time{}, nil)); err != nil {
							t.Error(err)
						}
						s.Release("mt", it.ID)
						continue
					}
					if err := s.Commit(ctx, Remove("mt", it.ID)); err != nil {
						t.Errorf("remove %d: %v", it.ID, err)
					}
					mu.Lock()
					delete(holding, it.ID)
					done[it.ID] = true
					if len(done) == total {
						close(all)
					}
					mu.Unlock()
				}
			}
		})
	}
	select {
	case <-all:
	case <-ctx.Done():
		mu.Lock()
		t.Errorf("timed out: %d of %d done", len(done), total)
		mu.Unlock()
	}
	cancel()
	wg.Wait()
	if s.Len("mt") != 0 {
		t.Fatalf("%d items left", s.Len("mt"))
	}
}

// CommitAsync callbacks run in commit order on the finisher, and Close
// returns only after the last one ran.
func TestAsyncCallbacksInOrderBeforeClose(t *testing.T) {
	s := openTest(t, "", testConfig(t))
	const n = 2000
	var mu sync.Mutex
	var got []uint64
	for i := range uint64(n) {
		s.CommitAsync([]Op{Enqueue("mt", i+1, t0, nil)}, func(err error) {
			if err != nil {
				t.Errorf("commit %d: %v", i+1, err)
			}
			mu.Lock()
			got = append(got, i+1)
			mu.Unlock()
		})
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != n {
		t.Fatalf("%d callbacks before Close returned, want %d", len(got), n)
	}
	for i, id := range got {
		if id != uint64(i+1) {
			t.Fatalf("callback %d was for commit %d: out of order", i, id)
		}
	}
}
