package ismg

import (
	"sync"
	"testing"
)

// TestKeyLocks checks that one Msg_Id's holders exclude each other, that
// other ids do not wait, and that the table empties behind them.
func TestKeyLocks(t *testing.T) {
	k := keyLocks{m: map[uint64]*keyLock{}}
	held := k.lock(1)
	other := k.lock(2) // a different id: must not block behind 1
	k.unlock(2, other)

	var (
		wg      sync.WaitGroup
		counter int // guarded by the lock of id 1
	)
	for range 8 {
		wg.Go(func() {
			for range 100 {
				l := k.lock(1)
				counter++
				k.unlock(1, l)
			}
		})
	}
	counter = -1 // still ours: the goroutines wait for held
	k.unlock(1, held)
	wg.Wait()
	if counter != 799 {
		t.Fatalf("counter = %d, want 799", counter)
	}
	if len(k.m) != 0 {
		t.Fatalf("%d locks left in the table", len(k.m))
	}
}

// TestKeyLocksTry checks that tryLock never waits: it fails while the id is
// held, succeeds for other ids and once the holder is gone.
func TestKeyLocksTry(t *testing.T) {
	k := keyLocks{m: map[uint64]*keyLock{}}
	held := k.lock(1)
	if k.tryLock(1) != nil {
		t.Fatal("tryLock took a held id")
	}
	other := k.tryLock(2)
	if other == nil {
		t.Fatal("tryLock refused a free id")
	}
	k.unlock(2, other)
	k.unlock(1, held)
	again := k.tryLock(1)
	if again == nil {
		t.Fatal("tryLock refused a released id")
	}
	k.unlock(1, again)
	if len(k.m) != 0 {
		t.Fatalf("%d locks left in the table", len(k.m))
	}
}
