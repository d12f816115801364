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
// batch record of the next DELIVERs. A slot
// is free again as soon as its answer arrives: its removal and the mark of
// the DELIVER taking its place are durable together, so the items marked
// in flight on disk never exceed the window either.
func (sp *spRuntime) deliverLoop(ctx, hard context.Context) error {
	n := sp.n
	st := &deliverState{kick: make(chan struct{}, 1)}
	var (
		inflight int      // sent, unanswered (or being rescheduled)
		removes  []uint64 // answered Result 0, removal not yet committed
		freed    []uint64 // rescheduled (their Update is durable)
		ops      []queue.Op
		// The in-flight batch record of every DELIVER sent and not yet
		// settled (inflight.go); a record is deleted in the commit after
		// its last item settled.
		batchOf   = map[uint64]*inflightBatch{}
		lastSweep time.Time
		expired   []expiredOut // leased past deliver_ttl: removed in this round's commit
	)
	for {
		removes, freed = st.take(removes[:0], freed[:0])
		inflight -= len(removes) + len(freed)
		ops = ops[:0]
		for _, ids := range [2][]uint64{removes, freed} {
			for _, id := range ids {
				if b := batchOf[id]; b != nil {
					delete(batchOf, id)
					if b.settle() {
						ops = append(ops, b.deleteOp())
					}
				}
			}
		}
		window := 16
		if a := sp.acct.Load(); a != nil {
			window = a.Window
		}
		sess, wake := sp.pick()
		var (
			items []queue.Item
			watch <-chan struct{}
		)
		if sess != nil && inflight < window {
			watch = n.st.Watch(sp.q.queue())
			var err error
			if items, err = n.st.Lease(sp.q.queue(), time.Now(), window-inflight); err != nil {
				return err
			}
		} else if sess == nil && time.Since(lastSweep) >= n.cfg.Delivery.ExpirySweep {
			// Offline SP: look at what waits for it, so that DELIVERs
			// past deliver_ttl are dropped even if it never returns.
			lastSweep = time.Now()
			if err := sp.expireOffline(hard); err != nil {
				return err
			}
		}
		if len(items) == 0 && len(ops) == 0 && len(removes) == 0 {
			var timer <-chan time.Time
			var t *time.Timer
			if watch != nil {
				if due, ok := n.st.NextDue(sp.q.queue()); ok {
					t = time.NewTimer(max(time.Until(due), time.Millisecond))
					timer = t.C
				}
			} else if sess == nil {
				t = time.NewTimer(n.cfg.Delivery.ExpirySweep)
				timer = t.C
			}
			select {
			case <-watch: // nil (blocks) when the window is full or no session
			case <-wake:
			case <-timer:
			case <-st.kick:
			case <-ctx.Done():
				return nil
			}
			if t != nil {
				t.Stop()
			}
			continue
		}
		for _, id := range removes {
			ops = append(ops, queue.Remove(sp.q.queue(), id))
		}
		recs := make([]outRecord, 0, len(items))
		// Not compacted in place: a failed commit releases all of items.
		keep := make([]queue.Item, 0, len(items))
		expired = expired[:0]
		for _, it := range items {
			o, err := decodeOut(it.Value)
			if err != nil {
				n.log.Error("dropping undecodable DELIVER", "queue", sp.q.queue(), "id", it.ID, "err", err)
				ops = append(ops, queue.Remove(sp.q.queue(), it.ID))
				continue
			}
			if sp.expired(&o) {
				ops = append(ops, queue.Remove(sp.q.queue(), it.ID))
				expired = append(expired, expiredOut{it.ID, o})
				continue
			}
			o.Attempts++
			recs = append(recs, o)
			keep = append(keep, it)
		}
		var batch *inflightBatch
		if len(keep) > 0 {
			var op queue.Op
			batch, op = n.newInflight(sp.q.queue(), keep)
			ops = append(ops, op)
		}
		if err := n.commit(hard, ops...); err != nil {
			n.log.Error("mark DELIVER in flight", "queue", sp.q.queue(), "err", err)
			for _, it := range items {
				n.st.Release(sp.q.queue(), it.ID)
			}
			// The answered ones are still removed, each on its own.
			for _, id := range removes {
				n.st.CommitAsync([]queue.Op{queue.Remove(sp.q.queue(), id)}, func(err error) {
					if err != nil && !errors.Is(err, queue.ErrNotFound) {
						n.noteStoreErr(err)
					}
				})
			}
			// Do not spin on a failed store.
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
				return nil
			}
			continue
		}
		for i := range expired {
			sp.noteExpired(expired[i].id, &expired[i].o)
		}
		for i, it := range keep {
			if sess == nil || sess.Err() != nil || i > 0 {
				if sess, _ = sp.pick(); sess == nil {
					n.st.Release(sp.q.queue(), it.ID)
					n.inflightDone(batch)
					continue
				}
			}
			inflight++
			batchOf[it.ID] = batch
			if err := sp.send(sess, it, &recs[i], st, hard); err != nil {
				inflight--
				delete(batchOf, it.ID)
				n.st.Release(sp.q.queue(), it.ID)
				n.inflightDone(batch)
			}
		}
	}
}

// deliverState is what DELIVER_RESP callbacks hand back to the
// deliverer; mu is a leaf.
type deliverState struct {
	mu    sync.Mutex
	acked []uint64 // answered Result 0
	freed []uint64 // rescheduled DELIVERs: their slots are free
	kick  chan struct{}
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
func (st *deliverState) take(abuf, fbuf []uint64) (acked, freed []uint64) {
	st.mu.Lock()
	acked, freed = st.acked, st.freed
	st.acked, st.freed = abuf, fbuf
	st.mu.Unlock()
	return acked, freed
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
	return sess.SendAsync(o.deliver(id, sess.Version()), func(resp cmpp.PDU, err error) {
		if dr, isDR := resp.(*cmpp.DeliverResp); err == nil && isDR && dr.Result == cmpp.ResultOK {
			ok.Inc()
			if !o.Report {
				sp.n.stats.moDone(sp.id, o.Created, true)
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
	sp.n.log.Warn("DELIVER expired undelivered", "sp", sp.id, "kind", kind, "id", id,
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
				n.log.Error("drop expired DELIVERs", "queue", sp.q.queue(), "err", err)
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
		n.log.Error("reschedule DELIVER", "queue", sp.q.queue(), "id", it.ID, "err", err)
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
