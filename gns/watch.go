package gns

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/tandem-sms/tandem/gns/gnspb"
	"github.com/tandem-sms/tandem/routing"
)

var (
	// ErrWatchSlow ends the stream of a watcher whose buffer filled up: it
	// resumes from the last revision it received.
	ErrWatchSlow = errors.New("gns: watcher too slow, resume from your last revision")
	// ErrShuttingDown ends watch streams when the node stops.
	ErrShuttingDown = errors.New("gns: node shutting down")
)

// snapshotChunk is how many table entries one snapshot WatchEvent carries.
const snapshotChunk = 10000

// event is one committed batch as watchers see it.
type event struct {
	rev     uint64
	changes []*gnspb.Change // a delta; shared by every watcher, never modified
	table   *routing.Table  // set: the table was replaced, send it as a snapshot
}

// hub fans committed batches out to watchers and keeps the recent ones for
// resumption. publish and reset are called by the FSM and never block: a
// watcher whose buffer is full is dropped with ErrWatchSlow.
//
// Under mu, the current table, the history and the subscriber set change
// together, so a subscriber registered under mu gets from the history and
// its channel every event after its starting point exactly once.
type hub struct {
	histMax int
	bufSize int
	onSubs  func(int) // metrics: subscriber count; may be nil

	mu     sync.Mutex
	cur    *routing.Table
	hist   []event // oldest first, every published delta with rev > floor
	floor  uint64
	subs   map[*watcher]struct{}
	closed bool
}

type watcher struct {
	ch   chan event
	gone chan struct{} // closed when the hub dropped it; why says why
	why  error
}

func newHub(histMax, bufSize int, onSubs func(int)) *hub {
	return &hub{histMax: histMax, bufSize: bufSize, onSubs: onSubs, subs: map[*watcher]struct{}{}}
}

func (h *hub) publish(ev event, t *routing.Table) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cur = t
	if h.histMax > 0 {
		h.hist = append(h.hist, ev)
		if len(h.hist) > h.histMax {
			h.floor = h.hist[0].rev
			h.hist[0] = event{}
			h.hist = h.hist[1:]
		}
	} else {
		h.floor = ev.rev
	}
	h.fanoutLocked(ev)
}

// reset publishes a whole new table (an import, a restore): the history no
// longer leads anywhere, so watchers resuming from before it get a snapshot.
func (h *hub) reset(t *routing.Table) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cur = t
	clear(h.hist)
	h.hist = h.hist[:0]
	h.floor = t.Revision()
	h.fanoutLocked(event{rev: t.Revision(), table: t})
}

func (h *hub) fanoutLocked(ev event) {
	for w := range h.subs {
		select {
		case w.ch <- ev:
		default:
			h.dropLocked(w, ErrWatchSlow)
		}
	}
}

func (h *hub) dropLocked(w *watcher, why error) {
	w.why = why
	close(w.gone)
	delete(h.subs, w)
	if h.onSubs != nil {
		h.onSubs(len(h.subs))
	}
}

// subscribe registers a watcher starting after revision from. It returns
// either a snapshot to send first (from is 0 or older than the history) or
// the retained events after from; later events arrive on w.ch. A from ahead
// of this node (a watcher that moved from a node further along) needs
// neither: the events up to from will arrive on w.ch and be skipped.
func (h *hub) subscribe(from uint64) (w *watcher, snap *routing.Table, backlog []event, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, nil, nil, ErrShuttingDown
	}
	w = &watcher{ch: make(chan event, h.bufSize), gone: make(chan struct{})}
	h.subs[w] = struct{}{}
	if h.onSubs != nil {
		h.onSubs(len(h.subs))
	}
	switch {
	case from == 0 || from < h.floor:
		snap = h.cur
	default:
		for _, ev := range h.hist {
			if ev.rev > from {
				backlog = append(backlog, ev)
			}
		}
	}
	return w, snap, backlog, nil
}

func (h *hub) unsubscribe(w *watcher) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[w]; ok {
		delete(h.subs, w)
		if h.onSubs != nil {
			h.onSubs(len(h.subs))
		}
	}
}

// close ends every watch stream and refuses new ones, so a graceful gRPC
// stop is not held up by streams that never end on their own.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for w := range h.subs {
		h.dropLocked(w, ErrShuttingDown)
	}
}

// watch streams events after from to send until ctx ends or the watcher is
// dropped. Every event is sent once, in revision order: events at or below
// the last revision sent are skipped, which also absorbs the overlap
// between a snapshot or backlog and the live channel.
func (h *hub) watch(ctx context.Context, from uint64, send func(*gnspb.WatchEvent) error) error {
	w, snap, backlog, err := h.subscribe(from)
	if err != nil {
		return err
	}
	defer h.unsubscribe(w)
	last := from
	deliver := func(ev event) error {
		if ev.rev <= last && !(ev.table != nil && last == 0) {
			return nil
		}
		last = ev.rev
		if ev.table != nil {
			return sendSnapshot(ev.table, send)
		}
		return send(&gnspb.WatchEvent{Revision: ev.rev, Changes: ev.changes})
	}
	if snap != nil {
		if err := deliver(event{rev: snap.Revision(), table: snap}); err != nil {
			return err
		}
	}
	for _, ev := range backlog {
		if err := deliver(ev); err != nil {
			return err
		}
	}
	for {
		select {
		case ev := <-w.ch:
			if err := deliver(ev); err != nil {
				return err
			}
		case <-w.gone:
			// Events queued before the drop are still in order: send them
			// so the watcher resumes from as far as possible.
			for {
				select {
				case ev := <-w.ch:
					if err := deliver(ev); err != nil {
						return err
					}
					continue
				default:
				}
				return fmt.Errorf("after revision %d: %w", last, w.why)
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// sendSnapshot sends t as a run of snapshot events: the first has reset,
// the last snapshot_done; all carry t's revision.
func sendSnapshot(t *routing.Table, send func(*gnspb.WatchEvent) error) error {
	rev := t.Revision()
	var pending *gnspb.WatchEvent
	first := true
	emit := func(ch *gnspb.TableChunk) error {
		ev := &gnspb.WatchEvent{Revision: rev, Snapshot: true, Reset_: first}
		first = false
		for _, g := range ch.Gateways {
			ev.Changes = append(ev.Changes, &gnspb.Change{Op: &gnspb.Change_PutGateway{PutGateway: g}})
		}
		for _, s := range ch.Sps {
			ev.Changes = append(ev.Changes, &gnspb.Change{Op: &gnspb.Change_PutSp{PutSp: s}})
		}
		for _, s := range ch.Segments {
			ev.Changes = append(ev.Changes, &gnspb.Change{Op: &gnspb.Change_PutSegment{PutSegment: s}})
		}
		for _, p := range ch.Ported {
			ev.Changes = append(ev.Changes, &gnspb.Change{Op: &gnspb.Change_PutPorted{PutPorted: p}})
		}
		if pending != nil {
			if err := send(pending); err != nil {
				return err
			}
		}
		pending = ev
		return nil
	}
	if err := gnspb.TableChunks(t, snapshotChunk, emit); err != nil {
		return err
	}
	if pending == nil {
		pending = &gnspb.WatchEvent{Revision: rev, Snapshot: true, Reset_: true}
	}
	pending.SnapshotDone = true
	return send(pending)
}
