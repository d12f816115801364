package ismg

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/ismg/queue"
)

// deliverLoop sends the SP's out queue (status reports and MO) as
// CMPP_DELIVER over its logged-in sessions, round robin, at most the SP's
// window unanswered at once. Each DELIVER is marked in flight durably
// before it is sent (a batch record, inflight.go, so a restart counts the
// repeats) and removed on DELIVER_RESP Result 0; otherwise it is retried
// with backoff. It ends with ctx; hard bounds the commits of the answers
// still arriving.
//
// One commit per round carries the removals of the DELIVERs answered since
// the last round, the deletion of the batch records they settled and the
// batch record of the next DELIVERs. A slot is free again as soon as its
// answer arrives: its removal and the mark of the DELIVER taking its place
// are durable together, so the items marked in flight on disk never exceed
// the window either. A round: settle the answers, lease the next DELIVERs
// (or wait for work), commit, send.
func (sp *spRuntime) deliverLoop(ctx, hard context.Context) error {
	d := &deliverer{sp: sp, st: &deliverState{kick: make(chan struct{}, 1)}, batchOf: map[uint64]*inflightBatch{}}
	for {
		d.settle()
		sess, wake := sp.pick()
		items, watch, err := d.lease(sess, hard)
		if err != nil {
			return err
		}
		if len(items) == 0 && len(d.ops) == 0 && len(d.removes) == 0 {
			if !d.wait(ctx, sess, watch, wake) {
				return nil
			}
			continue
		}
		keep, recs, batch := d.prepare(items)
		if err := sp.n.commit(hard, d.ops...); err != nil {
			if !d.commitFailed(ctx, items, err) {
				return nil
			}
			continue
		}
		for i := range d.expired {
			sp.noteExpired(d.expired[i].id, &d.expired[i].o)
		}
		for _, gw := range d.moGWs {
			sp.n.ensureFwdQueue(sp.n.fwdQueueOf(gw))
		}
		d.send(sess, keep, recs, batch, hard)
	}
}

// deliverer is the state of one SP's deliverLoop between rounds.
type deliverer struct {
	sp       *spRuntime
	st       *deliverState
	inflight int      // sent, unanswered (or being rescheduled)
	removes  []uint64 // answered Result 0, removal not yet committed
	freed    []uint64 // rescheduled (their Update is durable)
	ops      []queue.Op
	// The in-flight batch record of every DELIVER sent and not yet
	// settled (inflight.go); a record is deleted in the commit after its
	// last item settled.
	batchOf   map[uint64]*inflightBatch
	lastSweep time.Time
	expired   []expiredOut // leased past deliver_ttl: removed in this round's commit
	moGWs     []string     // peer gateways this round's MO reports go to
	// While the SP has no session here: closed when SP presence or the
	// member view changes (sibling.go), so the SP showing up on a sibling
	// wakes the deliverer.
	presence, view <-chan struct{}
}

// settle takes the answers that came since the last round and starts this
// round's ops with the deletion of the batch records they settled.
func (d *deliverer) settle() {
	var moReports []queue.Op
	d.removes, d.freed, moReports, d.moGWs = d.st.take(d.removes[:0], d.freed[:0])
	d.inflight -= len(d.removes) + len(d.freed)
	d.ops = append(d.ops[:0], moReports...)
	for _, ids := range [2][]uint64{d.removes, d.freed} {
		for _, id := range ids {
			if b := d.batchOf[id]; b != nil {
				delete(d.batchOf, id)
				if b.settle() {
					d.ops = append(d.ops, b.deleteOp())
				}
			}
		}
	}
}

// lease takes the DELIVERs that fit in the window while a session is up
// (watch then signals new work), or, for an SP with no session, drops what
// waited past deliver_ttl every expiry_sweep.
func (d *deliverer) lease(sess *cmpp.Session, hard context.Context) (items []queue.Item, watch <-chan struct{}, err error) {
	sp, n := d.sp, d.sp.n
	window := 16
	if a := sp.acct.Load(); a != nil {
		window = a.Window
	}
	d.presence, d.view = nil, nil
	if sess == nil {
		// Taken before handOff reads the presence, so no change is missed.
		d.presence, d.view = n.siblingWatch()
		if w, handed, err := d.handOff(hard); handed || err != nil {
			return nil, w, err
		}
	}
	switch {
	case sess != nil && d.inflight < window:
		watch = n.st.Watch(sp.q.queue())
		items, err = n.st.Lease(sp.q.queue(), time.Now(), window-d.inflight)
	case sess == nil && time.Since(d.lastSweep) >= n.cfg.Delivery.ExpirySweep:
		// Offline SP: look at what waits for it, so that DELIVERs past
		// deliver_ttl are dropped even if it never returns.
		d.lastSweep = time.Now()
		err = sp.expireOffline(hard)
	}
	return items, watch, err
}

// wait sleeps until there may be work: new items (watch), a session
// (wake), the next due time or expiry sweep, or an answer. It returns
// false when ctx ends.
func (d *deliverer) wait(ctx context.Context, sess *cmpp.Session, watch, wake <-chan struct{}) bool {
	n := d.sp.n
	var timer <-chan time.Time
	var t *time.Timer
	if watch != nil {
		if due, ok := n.st.NextDue(d.sp.q.queue()); ok {
			t = time.NewTimer(max(time.Until(due), time.Millisecond))
			timer = t.C
		}
	}
	if t == nil && sess == nil {
		t = time.NewTimer(n.cfg.Delivery.ExpirySweep)
		timer = t.C
	}
	if t != nil {
		defer t.Stop()
	}
	select {
	case <-watch: // nil (blocks) when the window is full or no session
	case <-wake:
	case <-timer:
	case <-d.st.kick:
	case <-d.presence: // nil unless no session and siblings are on
	case <-d.view:
	case <-ctx.Done():
		return false
	}
	return true
}

// prepare adds to the round's ops the removals of the answered DELIVERs,
// drops the leased ones that cannot or need not go (undecodable, past
// deliver_ttl) and marks the rest in flight with one batch record.
func (d *deliverer) prepare(items []queue.Item) (keep []queue.Item, recs []outRecord, batch *inflightBatch) {
	sp, n := d.sp, d.sp.n
	for _, id := range d.removes {
		d.ops = append(d.ops, queue.Remove(sp.q.queue(), id))
	}
	recs = make([]outRecord, 0, len(items))
	// Not compacted in place: a failed commit releases all of items.
	keep = make([]queue.Item, 0, len(items))
	d.expired = d.expired[:0]
	for _, it := range items {
		o, err := decodeOut(it.Value)
		if err != nil {
			n.log.Error("dropping undecodable DELIVER", LogKeyQueue, sp.q.queue(), LogKeyMsgID, it.ID, LogKeyErr, err)
			d.ops = append(d.ops, queue.Remove(sp.q.queue(), it.ID))
			continue
		}
		if sp.expired(&o) {
			d.ops = append(d.ops, queue.Remove(sp.q.queue(), it.ID))
			d.expired = append(d.expired, expiredOut{it.ID, o})
			continue
		}
		o.Attempts++
		recs = append(recs, o)
		keep = append(keep, it)
	}
	if len(keep) > 0 {
		var op queue.Op
		batch, op = n.newInflight(sp.q.queue(), keep)
		d.ops = append(d.ops, op)
	}
	return keep, recs, batch
}

// commitFailed undoes a round whose commit failed: the leased items go
// back, the answered ones are removed each on its own, and the loop pauses
// a second rather than spin on a failed store. It returns false when ctx
// ends.
func (d *deliverer) commitFailed(ctx context.Context, items []queue.Item, err error) bool {
	sp, n := d.sp, d.sp.n
	n.log.Error("mark DELIVER in flight", LogKeyQueue, sp.q.queue(), LogKeyErr, err)
	for _, it := range items {
		n.st.Release(sp.q.queue(), it.ID)
	}
	for _, id := range d.removes {
		n.st.CommitAsync([]queue.Op{queue.Remove(sp.q.queue(), id)}, func(err error) {
			if err != nil && !errors.Is(err, queue.ErrNotFound) {
				n.noteStoreErr(err)
			}
		})
	}
	select {
	case <-time.After(time.Second):
		return true
	case <-ctx.Done():
		return false
	}
}

// send hands the marked DELIVERs to the SP's sessions, round robin.
func (d *deliverer) send(sess *cmpp.Session, keep []queue.Item, recs []outRecord, batch *inflightBatch, hard context.Context) {
	sp, n := d.sp, d.sp.n
	for i, it := range keep {
		if sess == nil || sess.Err() != nil || i > 0 {
			if sess, _ = sp.pick(); sess == nil {
				n.st.Release(sp.q.queue(), it.ID)
				n.inflightDone(batch)
				continue
			}
		}
		d.inflight++
		d.batchOf[it.ID] = batch
		if err := sp.send(sess, it, &recs[i], d.st, hard); err != nil {
			d.inflight--
			delete(d.batchOf, it.ID)
			n.st.Release(sp.q.queue(), it.ID)
			n.inflightDone(batch)
		}
	}
}

// deliverState is what DELIVER_RESP callbacks hand back to the
// deliverer; mu is a leaf.
type deliverState struct {
	mu    sync.Mutex
	acked []uint64 // answered Result 0
	freed []uint64 // rescheduled DELIVERs: their slots are free
	// moReports are the MO status reports (type 3 FWD) owed to the peer
	// gateways the answered MOs came from, enqueued in the next round's
	// commit with the MOs' removal.
	moReports []queue.Op
	moGWs     []string
	kick      chan struct{}
}

// ackMO is ack for an MO that came from peer gateway gw: its MO report
// goes back there.
func (st *deliverState) ackMO(id uint64, gw string, op queue.Op) {
	st.mu.Lock()
	st.acked = append(st.acked, id)
	st.moReports = append(st.moReports, op)
	st.moGWs = append(st.moGWs, gw)
	st.mu.Unlock()
	st.signal()
}

func (st *deliverState) ack(id uint64) {
	st.mu.Lock()
	st.acked = append(st.acked, id)
	st.mu.Unlock()
	st.signal()
}

func (st *deliverState) free(id uint64) {
	st.mu.Lock()
	st.freed = append(st.freed, id)
	st.mu.Unlock()
	st.signal()
}

func (st *deliverState) signal() {
	select {
	case st.kick <- struct{}{}:
	default:
	}
}

// take returns the answered and the rescheduled ids, swapping in the
// buffers' arrays for the next ones.
func (st *deliverState) take(abuf, fbuf []uint64) (acked, freed []uint64, moReports []queue.Op, moGWs []string) {
	st.mu.Lock()
	acked, freed, moReports, moGWs = st.acked, st.freed, st.moReports, st.moGWs
	st.acked, st.freed, st.moReports, st.moGWs = abuf, fbuf, nil, nil
	st.mu.Unlock()
	return acked, freed, moReports, moGWs
}

// send sends one DELIVER; the answer is handed to st on the session's
// reader.
// o points into the deliverer's batch slice so that the callback does not
// move a copy of the record to the heap for every DELIVER.
func (sp *spRuntime) send(sess *cmpp.Session, it queue.Item, o *outRecord, st *deliverState, hard context.Context) error {
	ok, bad := sp.mReportOK, sp.mReportErr
	if !o.Report {
		ok, bad = sp.mMOOK, sp.mMOErr
	}
	id := it.ID
	sent := time.Now()
	return sess.SendAsync(hard, o.deliver(id, sess.Version()), func(resp cmpp.PDU, err error) {
		if dr, isDR := resp.(*cmpp.DeliverResp); err == nil && isDR && dr.Result == cmpp.ResultOK {
			ok.Inc()
			sp.n.noteDelivered(id)
			if !o.Report {
				sp.n.stats.moDone(sp.id, o.Created, true)
			}
			if !o.Report && o.FromGW != "" {
				st.ackMO(id, o.FromGW, sp.n.moReportOp(id, o, sent))
				return
			}
			st.ack(id)
			return
		}
		bad.Inc()
		// Rare: leave the read goroutine at once and retry later.
		sp.n.tasks.Go(func() { sp.retry(hard, it, o, st) })
	})
}

// expiredOut is a leased DELIVER dropped for its age, noted once the
// removal is durable.
type expiredOut struct {
	id uint64
	o  outRecord
}

// expired reports whether o has waited longer than delivery.deliver_ttl.
func (sp *spRuntime) expired(o *outRecord) bool {
	return !o.Created.IsZero() && time.Now().Sub(o.Created) > sp.n.cfg.Delivery.DeliverTTL
}

func (sp *spRuntime) noteExpired(id uint64, o *outRecord) {
	kind, m := "mo", sp.mMOExpired
	if o.Report {
		kind, m = "report", sp.mReportExpired
	}
	m.Inc()
	if !o.Report {
		sp.n.stats.moDone(sp.id, o.Created, false)
	}
	sp.n.log.Warn("DELIVER expired undelivered", LogKeySP, sp.id, "kind", kind, LogKeyMsgID, id,
		"queued", o.Created, "attempts", o.Attempts, "deliver_ttl", sp.n.cfg.Delivery.DeliverTTL)
}

// expireOffline drops the DELIVERs past deliver_ttl of an SP with no
// session, in batches, releasing the rest; it runs on the deliverer, so
// nothing else leases the queue meanwhile.
func (sp *spRuntime) expireOffline(ctx context.Context) error {
	n := sp.n
	var keep []uint64
	defer func() {
		for _, id := range keep {
			n.st.Release(sp.q.queue(), id)
		}
	}()
	for {
		items, err := n.st.Lease(sp.q.queue(), time.Now(), 512)
		if err != nil || len(items) == 0 {
			return err
		}
		var (
			ops     []queue.Op
			dropped []uint64
			recs    []outRecord
		)
		for _, it := range items {
			o, err := decodeOut(it.Value)
			if err != nil || !sp.expired(&o) {
				keep = append(keep, it.ID)
				continue
			}
			ops = append(ops, queue.Remove(sp.q.queue(), it.ID))
			dropped = append(dropped, it.ID)
			recs = append(recs, o)
		}
		if len(ops) > 0 {
			if err := n.commit(ctx, ops...); err != nil {
				n.log.Error("drop expired DELIVERs", LogKeyQueue, sp.q.queue(), LogKeyErr, err)
				keep = append(keep, dropped...)
				return nil // try again at the next sweep
			}
			for i, id := range dropped {
				sp.noteExpired(id, &recs[i])
			}
		}
	}
}

// retry reschedules a DELIVER the SP refused or did not answer.
func (sp *spRuntime) retry(ctx context.Context, it queue.Item, o *outRecord, st *deliverState) {
	n := sp.n
	o.InFlight = false
	due := time.Now().Add(backoff(n.cfg.Delivery.RetryMin, n.cfg.Delivery.RetryMax, int(o.Attempts)))
	if err := n.commit(ctx, queue.Update(sp.q.queue(), it.ID, due, o.Append(nil))); err != nil {
		n.log.Error("reschedule DELIVER", LogKeyQueue, sp.q.queue(), LogKeyMsgID, it.ID, LogKeyErr, err)
	}
	n.st.Release(sp.q.queue(), it.ID)
	st.free(it.ID)
}

// deliver builds the CMPP_DELIVER of a queued record in the layout of v.
func (o *outRecord) deliver(id uint64, v cmpp.Version) *cmpp.Deliver {
	d := &cmpp.Deliver{
		MsgID: id, DestID: o.DestID, ServiceID: o.ServiceID, TPPID: o.TPPID, TPUDHI: o.TPUDHI,
		MsgFmt: o.MsgFmt, SrcTerminalID: o.SrcTerminalID, LinkID: o.LinkID,
	}
	if o.Report {
		rep := cmpp.Report{
			MsgID: o.OrigMsgID, Stat: o.Stat, SubmitTime: o.SubmitTime, DoneTime: o.DoneTime,
			DestTerminalID: o.DestTerminalID, SMSCSequence: o.SMSCSequence,
		}
		d.SetReport(&rep, v)
		d.RegisteredDelivery = 1
		return d
	}
	d.MsgContent = string(o.Content)
	return d
}

// moReportOp is the MO status report (a type 3 FWD) owed to the gateway an
// MO came from, once its SP answered the DELIVER (protocols.md §1.11).
func (n *Node) moReportOp(id uint64, o *outRecord, sent time.Time) queue.Op {
	r := outRecord{
		DestID: o.DestID, ServiceID: o.ServiceID, SrcTerminalID: o.SrcTerminalID, Created: time.Now(),
		OrigMsgID: id, Stat: cmpp.StatDelivered,
		SubmitTime: cmpp.FormatReportTime(sent, n.loc), DoneTime: cmpp.FormatReportTime(time.Now(), n.loc),
		fedFields: fedFields{FwdType: cmpp.FwdMOReport},
	}
	return queue.Enqueue(n.fwdQueueOf(o.FromGW).queue(), id, time.Time{}, r.Append(nil))
}
