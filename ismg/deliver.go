package ismg

import (
	"context"
	"errors"
	"sync"
	"time"

	"tandem/cmpp"
	"tandem/ismg/queue"
)

// deliverLoop sends the SP's out queue (status reports and MO) as
// CMPP_DELIVER over its logged-in sessions, round robin, at most the SP's
// window unanswered at once. Each DELIVER is marked in flight durably
// before it is sent (so a restart counts the repeats) and removed on
// DELIVER_RESP Result 0; otherwise it is retried with backoff. It ends
// with ctx; hard bounds the commits of the answers still arriving.
//
// One commit per round carries both the removals of the DELIVERs answered
// since the last round and the in-flight marks of the next batch. A slot
// is free again as soon as its answer arrives: its removal and the mark of
// the DELIVER taking its place are durable together, so the items marked
// in flight on disk never exceed the window either.
func (sp *spRuntime) deliverLoop(ctx, hard context.Context) error {
	n := sp.n
	st := &deliverState{kick: make(chan struct{}, 1)}
	var (
		inflight int      // sent, unanswered (or being rescheduled)
		removes  []uint64 // answered Result 0, removal not yet committed
		ops      []queue.Op
	)
	for {
		acked, freed := st.take(removes[:0])
		removes = acked
		inflight -= len(acked) + freed
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
			watch = n.st.Watch(sp.q)
			var err error
			if items, err = n.st.Lease(sp.q, time.Now(), window-inflight); err != nil {
				return err
			}
		}
		if len(items) == 0 && len(removes) == 0 {
			var timer <-chan time.Time
			var t *time.Timer
			if watch != nil {
				if due, ok := n.st.NextDue(sp.q); ok {
					t = time.NewTimer(max(time.Until(due), time.Millisecond))
					timer = t.C
				}
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
		ops = ops[:0]
		for _, id := range removes {
			ops = append(ops, queue.Remove(sp.q, id))
		}
		recs := make([]outRecord, 0, len(items))
		keep := items[:0]
		for _, it := range items {
			o, err := decodeOut(it.Value)
			if err != nil {
				n.log.Error("dropping undecodable DELIVER", "queue", sp.q, "id", it.ID, "err", err)
				ops = append(ops, queue.Remove(sp.q, it.ID))
				continue
			}
			o.InFlight = true
			o.Attempts++
			ops = append(ops, queue.Update(sp.q, it.ID, it.Due, o.Append(nil)))
			recs = append(recs, o)
			keep = append(keep, it)
		}
		if err := n.commit(hard, ops...); err != nil {
			n.log.Error("mark DELIVER in flight", "queue", sp.q, "err", err)
			for _, it := range items {
				n.st.Release(sp.q, it.ID)
			}
			// The answered ones are still removed, each on its own.
			for _, id := range removes {
				n.st.CommitAsync([]queue.Op{queue.Remove(sp.q, id)}, func(err error) {
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
		for i, it := range keep {
			if sess == nil || sess.Err() != nil || i > 0 {
				if sess, _ = sp.pick(); sess == nil {
					n.st.Release(sp.q, it.ID)
					continue
				}
			}
			inflight++
			if err := sp.send(sess, it, recs[i], st, hard); err != nil {
				inflight--
				n.st.Release(sp.q, it.ID)
			}
		}
	}
}

// deliverState is what DELIVER_RESP callbacks hand back to the
// deliverer; mu is a leaf.
type deliverState struct {
	mu    sync.Mutex
	acked []uint64 // answered Result 0
	freed int      // slots freed by rescheduled DELIVERs
	kick  chan struct{}
}

func (st *deliverState) ack(id uint64) {
	st.mu.Lock()
	st.acked = append(st.acked, id)
	st.mu.Unlock()
	st.signal()
}

func (st *deliverState) free() {
	st.mu.Lock()
	st.freed++
	st.mu.Unlock()
	st.signal()
}

func (st *deliverState) signal() {
	select {
	case st.kick <- struct{}{}:
	default:
	}
}

// take returns the answered ids (swapping in buf's array for the next
// ones) and the count of rescheduled ones.
func (st *deliverState) take(buf []uint64) ([]uint64, int) {
	st.mu.Lock()
	acked, freed := st.acked, st.freed
	st.acked, st.freed = buf, 0
	st.mu.Unlock()
	return acked, freed
}

// send sends one DELIVER; the answer is handed to st on the session's
// reader.
func (sp *spRuntime) send(sess *cmpp.Session, it queue.Item, o outRecord, st *deliverState, hard context.Context) error {
	ok, bad := sp.mReportOK, sp.mReportErr
	if !o.Report {
		ok, bad = sp.mMOOK, sp.mMOErr
	}
	id := it.ID
	return sess.SendAsync(o.deliver(id, sess.Version()), func(resp cmpp.PDU, err error) {
		if dr, isDR := resp.(*cmpp.DeliverResp); err == nil && isDR && dr.Result == cmpp.ResultOK {
			ok.Inc()
			st.ack(id)
			return
		}
		bad.Inc()
		// Rare: leave the read goroutine at once and retry later.
		go sp.retry(hard, it, o, st)
	})
}

// retry reschedules a DELIVER the SP refused or did not answer.
func (sp *spRuntime) retry(ctx context.Context, it queue.Item, o outRecord, st *deliverState) {
	n := sp.n
	o.InFlight = false
	due := n.now().Add(backoff(n.cfg.Delivery.RetryMin, n.cfg.Delivery.RetryMax, int(o.Attempts)))
	if err := n.commit(ctx, queue.Update(sp.q, it.ID, due, o.Append(nil))); err != nil {
		n.log.Error("reschedule DELIVER", "queue", sp.q, "id", it.ID, "err", err)
	}
	n.st.Release(sp.q, it.ID)
	st.free()
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
