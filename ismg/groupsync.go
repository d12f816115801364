package ismg

import (
	"context"
	"errors"
	"sync"
)

// groupSync coalesces concurrent requests for one expensive sync (the CDR
// fsync): every callback registered when a round starts gets that round's
// result. The queue's committer runs a round each time it takes a batch
// (Config.OnBatch = runRound), so that there is one CDR fsync per queue
// transaction; the syncer goroutine runs one when poked (a commit refused
// before reaching the committer) and a last one when it stops.
type groupSync struct {
	fn     func() error
	mu     sync.Mutex
	wait   []func(error)
	closed bool // the syncer has stopped: join answers at once
	kick   chan struct{}
}

// errSyncStopped answers joins after the syncer stopped.
var errSyncStopped = errors.New("ismg: CDR syncer stopped")

func newGroupSync(fn func() error) *groupSync {
	return &groupSync{fn: fn, kick: make(chan struct{}, 1)}
}

// poke starts a round unless one is already due to start.
func (g *groupSync) poke() {
	select {
	case g.kick <- struct{}{}:
	default:
	}
}

// join registers done for the next round to start, without starting it:
// the caller sees to a poke after the join (a SUBMIT's commit does, through
// OnBatch). done runs on the syncer goroutine and must be quick; after the
// syncer stopped it runs at once with errSyncStopped.
func (g *groupSync) join(done func(error)) {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		done(errSyncStopped)
		return
	}
	g.wait = append(g.wait, done)
	g.mu.Unlock()
}

// run is the syncer goroutine; on exit it syncs once more for the callbacks
// left.
func (g *groupSync) run(ctx context.Context) {
	for {
		select {
		case <-g.kick:
			g.round(false)
		case <-ctx.Done():
			g.round(true)
			return
		}
	}
}

// runRound runs a round on the caller's goroutine.
func (g *groupSync) runRound() { g.round(false) }

func (g *groupSync) round(last bool) {
	g.mu.Lock()
	ws := g.wait
	g.wait = nil
	if last {
		g.closed = true
	}
	g.mu.Unlock()
	// Synced even with nobody waiting: REPORT and MO CDRs are written
	// before their commits and must be durable with them (reportCDR).
	err := g.fn()
	for _, w := range ws {
		w(err)
	}
}
