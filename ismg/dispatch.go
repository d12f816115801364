package ismg

import (
	"context"
	"sync"
	"time"

	"github.com/tandem-sms/tandem/ismg/queue"
	"github.com/tandem-sms/tandem/smpp"
)

// dispatch feeds the link from mt:<link> until ctx ends, then waits for
// the submits in flight (which run on hard, cancelled only at the shutdown
// deadline). It keeps at most cap items leased: each holds a slot from
// lease until its outcome is durable, so the items marked in flight at any
// moment, and so the resends after a crash, are at most binds × window.
func (lr *linkRuntime) dispatch(ctx, hard context.Context) error {
	n := lr.n
	slots := make(chan struct{}, lr.cap)
	var wg sync.WaitGroup
	lr.work, lr.quit = make(chan submitJob), make(chan struct{})
	defer func() {
		close(lr.quit)
		wg.Wait()
	}()
	for {
		if !lr.waitReady(ctx, hard) {
			return nil
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		free := 1
		for free < lr.cap {
			select {
			case slots <- struct{}{}:
				free++
				continue
			default:
			}
			break
		}
		items, err := n.st.Lease(lr.q.queue(), time.Now(), free)
		for range free - len(items) {
			<-slots
		}
		if err != nil {
			n.log.Error("lease", LogKeyQueue, lr.q.queue(), LogKeyErr, err)
			return err
		}
		if len(items) == 0 {
			if err := n.st.Wait(ctx, lr.q.queue()); err != nil {
				return nil
			}
			continue
		}
		lr.start(ctx, hard, items, slots, &wg)
	}
}

// waitReady waits until the link can submit, reporting every
// delivery.expiry_sweep the MTs whose Valid_Time passed while it could not.
// It returns false when ctx ends.
func (lr *linkRuntime) waitReady(ctx, hard context.Context) bool {
	for {
		wctx, cancel := context.WithTimeout(ctx, lr.n.cfg.Delivery.ExpirySweep)
		err := lr.link.WaitReady(wctx)
		cancel()
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		lr.expireWhileDown(hard)
	}
}

// expireWhileDown reports EXPIRED every due MT of the link whose Valid_Time
// has passed. It runs on the dispatcher goroutine while the link is down,
// so nothing else leases the queue meanwhile; the items it keeps are
// leased until the end of the sweep (so each is looked at once) and then
// released for the link.
func (lr *linkRuntime) expireWhileDown(hard context.Context) {
	n := lr.n
	var keep []uint64
	defer func() {
		for _, id := range keep {
			n.st.Release(lr.q.queue(), id)
		}
	}()
	now := time.Now()
	for {
		items, err := n.st.Lease(lr.q.queue(), time.Now(), 512)
		if err != nil {
			n.log.Error("lease for expiry", LogKeyQueue, lr.q.queue(), LogKeyErr, err)
			return
		}
		if len(items) == 0 {
			return
		}
		for _, it := range items {
			r, err := decodeMT(it.Value)
			if err != nil || r.ValidUntil.IsZero() || !now.After(r.ValidUntil) {
				keep = append(keep, it.ID)
				continue
			}
			n.m.Expired.WithLabelValues("mt").Inc()
			if !n.finalReport(hard, lr.q, it.ID, &r, smpp.StatExpired, "expired", "") {
				return // the store refused (logged; item released): try at the next sweep
			}
		}
	}
}

// start marks a leased batch in flight with one commit, then submits each
// item in its own goroutine.
func (lr *linkRuntime) start(ctx, hard context.Context, items []queue.Item, slots chan struct{}, wg *sync.WaitGroup) {
	n := lr.n
	now := time.Now()
	recs := make([]mtRecord, 0, len(items))
	keep := items[:0]
	for _, it := range items {
		r, err := decodeMT(it.Value)
		if err != nil {
			n.log.Error("dropping undecodable MT", LogKeyQueue, lr.q.queue(), LogKeyMsgID, it.ID, LogKeyErr, err)
			_ = n.commit(hard, queue.Remove(lr.q.queue(), it.ID))
			<-slots
			continue
		}
		if !r.ValidUntil.IsZero() && now.After(r.ValidUntil) {
			n.m.Expired.WithLabelValues("mt").Inc()
			n.finalReport(hard, lr.q, it.ID, &r, smpp.StatExpired, "expired", "")
			<-slots
			continue
		}
		r.Attempts++
		recs = append(recs, r)
		keep = append(keep, it)
	}
	if len(keep) == 0 {
		return
	}
	b, err := n.markInflight(hard, lr.q.queue(), keep)
	if err != nil {
		n.log.Error("mark in flight", LogKeyQueue, lr.q.queue(), LogKeyErr, err)
		for _, it := range keep {
			n.st.Release(lr.q.queue(), it.ID)
			<-slots
		}
		return
	}
	for i, it := range keep {
		lr.run(submitJob{it: it, r: recs[i], b: b}, hard, slots, wg)
	}
}

// submitJob is one leased MT for a submit goroutine.
type submitJob struct {
	it queue.Item
	r  mtRecord
	b  *inflightBatch
}

// run hands j to an idle submit goroutine or starts one. The goroutines
// stay for further MTs until the dispatcher ends (lr.quit): a goroutine
// per MT would grow a fresh stack every time. The slots bound how many
// there are.
func (lr *linkRuntime) run(j submitJob, hard context.Context, slots chan struct{}, wg *sync.WaitGroup) {
	if lr.runAsync(j, hard, slots, wg) {
		return
	}
	select {
	case lr.work <- j:
		return
	default:
	}
	lr.spawn(j, hard, slots, wg)
}

// spawn starts a submit goroutine with j (its own function so that only
// this path moves j to the heap).
func (lr *linkRuntime) spawn(j submitJob, hard context.Context, slots chan struct{}, wg *sync.WaitGroup) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			lr.submitOne(hard, j.it, &j.r)
			lr.n.inflightDone(j.b)
			<-slots
			j = submitJob{}
			select {
			case j = <-lr.work:
			case <-lr.quit:
				return
			}
		}
	}()
}
