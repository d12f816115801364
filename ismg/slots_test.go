package ismg

import (
	"context"
	"testing"
	"testing/synctest"
)

// takeAll hands out every free slot at once and waits, without spinning,
// until one is put back; waitAll returns once all are back.
func TestSlots(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSlots(8)
		ctx := context.Background()
		if n, ok := s.takeAll(ctx); !ok || n != 8 || s.inUse() != 8 {
			t.Fatalf("takeAll = %d, %v; in use %d", n, ok, s.inUse())
		}
		got := make(chan int, 1)
		go func() {
			n, _ := s.takeAll(ctx)
			got <- n
		}()
		synctest.Wait()
		if len(got) != 0 {
			t.Fatal("takeAll returned with no slot free")
		}
		s.put(3)
		if n := <-got; n != 3 {
			t.Fatalf("takeAll after put(3) = %d", n)
		}
		done := make(chan bool, 1)
		go func() { done <- s.waitAll(ctx) }()
		s.put(5)
		synctest.Wait()
		if len(done) != 0 {
			t.Fatalf("waitAll returned with %d in use", s.inUse())
		}
		s.put(3)
		if !<-done || s.inUse() != 0 {
			t.Fatalf("waitAll: in use %d", s.inUse())
		}
		cctx, cancel := context.WithCancel(ctx)
		s.takeAll(ctx)
		cancel()
		if _, ok := s.takeAll(cctx); ok {
			t.Fatal("takeAll with an ended context and no slot free succeeded")
		}
		if s.waitAll(cctx) {
			t.Fatal("waitAll with an ended context and slots in use succeeded")
		}
	})
}
