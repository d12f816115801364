package ismg

import (
	"context"
	"time"

	"tandem/cmpp"
	"tandem/ismg/queue"
)

// deliverLoop sends the SP's out queue (status reports and MO) as
// CMPP_DELIVER over its logged-in sessions, at most the SP's window at
// once. Each DELIVER is marked in flight durably before it is sent (so a
// restart counts the repeats) and removed on DELIVER_RESP Result 0;
// otherwise it is retried with backoff. It ends with ctx; hard bounds the
// commits of the answers still arriving.
func (sp *spRuntime) deliverLoop(ctx, hard context.Context) error {
	n := sp.n
	var inflight int
	freed := make(chan int, 1024)
	drain := func() {
		for {
			select {
			case k := <-freed:
				inflight -= k
			default:
				return
			}
		}
	}
	for {
		drain()
		sess, wake := sp.pick()
		if sess == nil {
			select {
			case <-wake:
				continue
			case <-ctx.Done():
				return nil
			}
		}
		window := 16
		if a := sp.acct.Load(); a != nil {
			window = a.Window
		}
		if inflight >= window {
			select {
			case k := <-freed:
				inflight -= k
				continue
			case <-ctx.Done():
				return nil
			}
		}
		watch := n.st.Watch(sp.q)
		items, err := n.st.Lease(sp.q, time.Now(), window-inflight)
		if err != nil {
			return err
		}
		if len(items) == 0 {
			var timer <-chan time.Time
			var t *time.Timer
			if due, ok := n.st.NextDue(sp.q); ok {
				t = time.NewTimer(max(time.Until(due), time.Millisecond))
				timer = t.C
			}
			select {
			case <-watch:
			case <-wake:
			case <-timer:
			case k := <-freed:
				inflight -= k
			case <-ctx.Done():
				return nil
			}
			if t != nil {
				t.Stop()
			}
			continue
		}
		recs := make([]outRecord, 0, len(items))
		keep := items[:0]
		ops := make([]queue.Op, 0, len(items))
		for _, it := range items {
			o, err := decodeOut(it.Value)
			if err != nil {
				n.log.Error("dropping undecodable DELIVER", "queue", sp.q, "id", it.ID, "err", err)
				_ = n.commit(hard, queue.Remove(sp.q, it.ID))
				continue
			}
			o.InFlight = true
			o.Attempts++
			ops = append(ops, queue.Update(sp.q, it.ID, it.Due, o.Append(nil)))
			recs = append(recs, o)
			keep = append(keep, it)
		}
		if len(ops) > 0 {
			if err := n.commit(hard, ops...); err != nil {
				n.log.Error("mark DELIVER in flight", "queue", sp.q, "err", err)
				for _, it := range keep {
					n.st.Release(sp.q, it.ID)
				}
				continue
			}
		}
		for i, it := range keep {
			o := recs[i]
			if sess == nil || sess.Err() != nil {
				if sess, _ = sp.pick(); sess == nil {
					n.st.Release(sp.q, it.ID)
					continue
				}
			}
			inflight++
			d := o.deliver(it.ID, sess.Version())
			kind := "mo"
			if o.Report {
				kind = "report"
			}
			err := sess.SendAsync(d, func(resp cmpp.PDU, err error) {
				dr, ok := resp.(*cmpp.DeliverResp)
				if err == nil && ok && dr.Result == cmpp.ResultOK {
					n.m.Delivers.WithLabelValues(sp.id, kind, "ok").Inc()
					n.st.CommitAsync([]queue.Op{queue.Remove(sp.q, it.ID)}, func(err error) {
						if err != nil {
							n.noteStoreErr(err)
						}
						freed <- 1
					})
					return
				}
				n.m.Delivers.WithLabelValues(sp.id, kind, "error").Inc()
				// Rare: leave the read goroutine at once and retry later.
				go sp.retry(hard, it, o, freed)
			})
			if err != nil {
				inflight--
				n.st.Release(sp.q, it.ID)
			}
		}
	}
}

// retry reschedules a DELIVER the SP refused or did not answer.
func (sp *spRuntime) retry(ctx context.Context, it queue.Item, o outRecord, freed chan<- int) {
	n := sp.n
	o.InFlight = false
	due := n.now().Add(backoff(n.cfg.Delivery.RetryMin, n.cfg.Delivery.RetryMax, int(o.Attempts)))
	if err := n.commit(ctx, queue.Update(sp.q, it.ID, due, o.Append(nil))); err != nil {
		n.log.Error("reschedule DELIVER", "queue", sp.q, "id", it.ID, "err", err)
	}
	n.st.Release(sp.q, it.ID)
	freed <- 1
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
