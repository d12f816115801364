package ismg

import (
	"slices"
	"strings"
	"sync"
)

// sidIndex coordinates the two orders in which a submit_sm_resp and its
// receipt can arrive. The dispatcher registers a pending mapping before
// committing it; a receipt that finds one waits for the commit. A receipt
// finding neither a mapping nor a pending one is stored as an orphan, and
// the dispatcher, after its commit, takes the orphans of its ids and
// applies them. Both sides decide under mu, so exactly one sees the other.
type sidIndex struct {
	mu      sync.Mutex
	pending map[string]*pendingMap
	orphans map[string]*orphanEntry
	recent  map[string]struct{} // ids whose final receipt was applied: duplicates
	ring    []string
	ringPos int
	// mapped is the only SMSC id → Msg_Id map: every part of every await
	// record not yet receipted (its SMSCID minus Done). An entry is added
	// once the Move to await is durable and removed once the receipt's
	// commit is; recover rebuilds it from await at start-up. Its size is
	// bounded by the await queue.
	mapped map[string]uint64
}

type pendingMap struct{ done chan struct{} }

type orphanEntry struct {
	sid  string
	id   uint64 // item id in the orphan queue; 0 if its commit failed
	rec  orphanRecord
	done chan struct{} // closed once the orphan is durable (or failed)
}

const recentIDs = 1 << 16

func (x *sidIndex) init() {
	x.pending = map[string]*pendingMap{}
	x.orphans = map[string]*orphanEntry{}
	x.recent = make(map[string]struct{}, recentIDs)
	x.ring = make([]string, recentIDs)
	x.mapped = map[string]uint64{}
}

func (x *sidIndex) addPending(sids []string) *pendingMap {
	p := &pendingMap{done: make(chan struct{})}
	x.mu.Lock()
	for _, s := range sids {
		x.pending[s] = p
	}
	x.mu.Unlock()
	return p
}

// resolvePending ends the pending state of sids (their commit returned;
// durable tells whether it succeeded, mapping them to id) and hands back
// the orphans that arrived for them meanwhile.
func (x *sidIndex) resolvePending(sids []string, p *pendingMap, id uint64, durable bool) []*orphanEntry {
	var out []*orphanEntry
	x.mu.Lock()
	for _, s := range sids {
		if x.pending[s] == p {
			delete(x.pending, s)
		}
		if durable {
			x.mapped[s] = id
		}
		if o, ok := x.orphans[s]; ok {
			delete(x.orphans, s)
			out = append(out, o)
		}
	}
	x.mu.Unlock()
	close(p.done)
	return out
}

// lookupOrPark is the receipt side: it returns a pending mapping to wait
// for, or the Msg_Id of a durable mapping (mapped), or registers a new
// orphan (nil, o, false) for the caller to make durable, or reports a
// known duplicate/orphan (nil, nil, true).
func (x *sidIndex) lookupOrPark(sid string, rec orphanRecord) (p *pendingMap, mapped uint64, o *orphanEntry, dup bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if p, ok := x.pending[sid]; ok {
		return p, 0, nil, false
	}
	if id, ok := x.mapped[sid]; ok {
		return nil, id, nil, false
	}
	if _, ok := x.recent[sid]; ok {
		return nil, 0, nil, true
	}
	if _, ok := x.orphans[sid]; ok {
		return nil, 0, nil, true
	}
	o = &orphanEntry{sid: sid, rec: rec, done: make(chan struct{})}
	x.orphans[sid] = o
	return nil, 0, o, false
}

// remap restores the mappings of await record id at start-up: the parts
// of sids not listed in done.
func (x *sidIndex) remap(id uint64, sids, done string) {
	x.mu.Lock()
	for s := range strings.FieldsSeq(sids) {
		if !slices.Contains(strings.Fields(done), s) {
			x.mapped[s] = id
		}
	}
	x.mu.Unlock()
}

// mappedID returns the Msg_Id of a durable mapping this process knows.
func (x *sidIndex) mappedID(sid string) (uint64, bool) {
	x.mu.Lock()
	id, ok := x.mapped[sid]
	x.mu.Unlock()
	return id, ok
}

// unmap forgets mappings whose deletion is durable.
func (x *sidIndex) unmap(sids ...string) {
	x.mu.Lock()
	for _, s := range sids {
		delete(x.mapped, s)
	}
	x.mu.Unlock()
}

func (x *sidIndex) addDurableOrphan(sid string, id uint64, rec orphanRecord) {
	o := &orphanEntry{sid: sid, id: id, rec: rec, done: make(chan struct{})}
	close(o.done)
	x.mu.Lock()
	x.orphans[sid] = o
	x.mu.Unlock()
}

// dropOrphan forgets an expired orphan if it is still the one registered.
func (x *sidIndex) dropOrphan(sid string, id uint64) {
	x.mu.Lock()
	if o, ok := x.orphans[sid]; ok && o.id == id {
		delete(x.orphans, sid)
	}
	x.mu.Unlock()
}

func (x *sidIndex) markDone(sid string) {
	x.mu.Lock()
	delete(x.mapped, sid)
	if old := x.ring[x.ringPos]; old != "" {
		delete(x.recent, old)
	}
	x.ring[x.ringPos] = sid
	x.recent[sid] = struct{}{}
	x.ringPos = (x.ringPos + 1) % len(x.ring)
	x.mu.Unlock()
}

// unpark withdraws orphan o, whose durable commit failed (the SMSC will
// deliver the receipt again): whoever took it meanwhile sees id 0 and
// skips it.
func (x *sidIndex) unpark(o *orphanEntry) {
	x.mu.Lock()
	if x.orphans[o.sid] == o {
		delete(x.orphans, o.sid)
	}
	x.mu.Unlock()
	close(o.done)
}

// parked records that orphan o is durable as item id of the orphan queue.
func (x *sidIndex) parked(o *orphanEntry, id uint64) {
	x.mu.Lock()
	o.id = id
	x.mu.Unlock()
	close(o.done)
}
