package ismg

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// TestGroupSync: one sync serves every callback joined before its round;
// a round syncs even without callbacks (CDRs written before a commit must
// be durable with it); a poke makes the syncer run a round; once the
// syncer stopped (after a last round) joins are answered at once, and a
// later round does not reopen it.
func TestGroupSync(t *testing.T) {
	var syncs atomic.Int32
	boom := errors.New("boom")
	g := newGroupSync(func() error {
		if syncs.Add(1) == 3 {
			return boom
		}
		return nil
	})
	got := make(chan error, 8)
	g.join(func(err error) { got <- err })
	g.join(func(err error) { got <- err })
	g.runRound()
	for range 2 {
		if err := <-got; err != nil {
			t.Fatalf("round 1: %v", err)
		}
	}
	g.runRound() // nobody waiting: still a sync
	if n := syncs.Load(); n != 2 {
		t.Fatalf("%d syncs, want 2", n)
	}

	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		g.run(ctx)
		close(stopped)
	}()
	g.join(func(err error) { got <- err })
	g.poke()
	select {
	case err := <-got:
		if !errors.Is(err, boom) {
			t.Fatalf("round 2: %v, want the sync's error", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("poke ran no round")
	}

	g.join(func(err error) { got <- err })
	cancel()
	<-stopped
	if err := <-got; err != nil {
		t.Fatalf("last round: %v", err)
	}
	g.runRound()
	g.join(func(err error) { got <- err })
	if err := <-got; !errors.Is(err, errSyncStopped) {
		t.Fatalf("join after stop: %v, want errSyncStopped", err)
	}
}
