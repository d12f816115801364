package federation

import (
	"errors"
	"fmt"

	"github.com/tandem-sms/tandem/gns/gnspb"
	"github.com/tandem-sms/tandem/routing"
)

var (
	// errWatchProtocol marks a stream that broke the Watch rules of
	// gns.proto (a delta inside a snapshot, a snapshot part without its
	// reset) or carried a change that does not convert.
	errWatchProtocol = errors.New("federation: watch stream out of protocol")
	// errDiverged marks a delta that does not apply to the cache's table:
	// the cache no longer holds what the GNS held before the delta, so it
	// asks for a whole table.
	errDiverged = errors.New("federation: delta does not apply to the cached table")
)

// eventApplier turns one watch stream's events into tables, using routing's
// own apply code: a snapshot is built with Builder.Apply on an empty table
// and published whole at snapshot_done (the old table keeps answering until
// then), a delta is Table.Apply on the current table. It holds no table of
// its own between events except the snapshot being built, so it is made
// afresh for each stream.
type eventApplier struct {
	from   uint64 // revision the stream was asked to start after
	forced bool   // the stream was asked for a snapshot after a divergence
	seen   bool   // an event of this stream has arrived

	snap      *routing.Builder // non-nil while a snapshot arrives
	snapRev   uint64
	snapFirst bool // the snapshot began with the stream's first event
	snapped   bool // a snapshot of this stream has completed
}

func newEventApplier(from uint64, forced bool) *eventApplier {
	return &eventApplier{from: from, forced: forced}
}

// apply takes the next event and the table in use. It returns the table to
// publish (nil: nothing to publish yet, or a duplicate delta), and for a
// completed snapshot the reason it came (a Resync* constant). Errors wrap
// errWatchProtocol or errDiverged; after an error the stream is abandoned.
func (a *eventApplier) apply(cur *routing.Table, ev *gnspb.WatchEvent) (next *routing.Table, resync string, err error) {
	first := !a.seen
	a.seen = true
	if ev.GetSnapshot() {
		return a.snapshotPart(ev, first)
	}
	if a.snap != nil {
		return nil, "", fmt.Errorf("%w: delta at revision %d inside the snapshot of revision %d", errWatchProtocol, ev.GetRevision(), a.snapRev)
	}
	if ev.GetRevision() <= cur.Revision() {
		return nil, "", nil // already applied (resumed on a node further behind)
	}
	changes, err := gnspb.ChangesToRouting(ev.GetChanges())
	if err != nil {
		return nil, "", fmt.Errorf("%w: delta at revision %d: %w", errWatchProtocol, ev.GetRevision(), err)
	}
	t, err := cur.Apply(ev.GetRevision(), changes)
	if err != nil {
		return nil, "", fmt.Errorf("%w: revision %d on top of %d: %w", errDiverged, ev.GetRevision(), cur.Revision(), err)
	}
	return t, "", nil
}

func (a *eventApplier) snapshotPart(ev *gnspb.WatchEvent, first bool) (*routing.Table, string, error) {
	rev := ev.GetRevision()
	switch {
	case ev.GetReset_():
		// A reset inside a snapshot starts it over.
		a.snap, a.snapRev, a.snapFirst = routing.NewBuilder(), rev, first
	case a.snap == nil:
		return nil, "", fmt.Errorf("%w: snapshot part at revision %d without a reset first", errWatchProtocol, rev)
	case rev != a.snapRev:
		return nil, "", fmt.Errorf("%w: snapshot part at revision %d inside the snapshot of revision %d", errWatchProtocol, rev, a.snapRev)
	}
	if len(ev.GetChanges()) > 0 {
		changes, err := gnspb.ChangesToRouting(ev.GetChanges())
		if err != nil {
			return nil, "", fmt.Errorf("%w: snapshot of revision %d: %w", errWatchProtocol, rev, err)
		}
		for i := range changes {
			if op := changes[i].Op; op != routing.OpPutGateway && op != routing.OpPutSegment && op != routing.OpPutPorted && op != routing.OpPutSP {
				return nil, "", fmt.Errorf("%w: snapshot of revision %d: %v in a snapshot", errWatchProtocol, rev, op)
			}
			if err := a.snap.Apply(changes[i]); err != nil {
				return nil, "", fmt.Errorf("%w: snapshot of revision %d: %v: %w", errWatchProtocol, rev, changes[i].Op, err)
			}
		}
	}
	if !ev.GetSnapshotDone() {
		return nil, "", nil
	}
	t := a.snap.Table(rev)
	a.snap = nil
	reason := a.reason()
	a.snapped = true
	return t, reason, nil
}

// reason says why the snapshot just completed came.
func (a *eventApplier) reason() string {
	switch {
	case a.snapped:
		return ResyncReplaced // a second snapshot on one stream
	case a.forced:
		return ResyncDiverged
	case a.from == 0:
		return ResyncInitial
	case a.snapFirst:
		// Asked to resume after from, the node answered with a whole
		// table: from is older than its history.
		return ResyncTooOld
	}
	return ResyncReplaced
}
