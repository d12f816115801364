package ismg

import (
	"context"
	"sync"
	"time"

	"github.com/tandem-sms/tandem/ismg/queue"
	"github.com/tandem-sms/tandem/smpp"
)

// The dispatcher is a pipeline, so that no window slot waits for an
// fsync on a goroutine others queue behind:
//
//	dispatcher  lease a batch, CommitAsync its in-flight record, lease the next
//	commit cb   hand the marked batch to the sender (lr.marked)
//	sender      submit_sm each MT of the batch (SubmitAsync; rate and pause
//	            waits happen here)
//	resp cb     frees the MT's window slot at once, CommitAsync the Move to
//	            await; its callback frees the durable slot
//
// Two bounds: durable slots (the link's resend_bound, by default
// 4 × binds × window) are held from lease until
// the MT's outcome is durable; window slots (binds × window) only from the
// submit_sm to its answer. So the next batches are leased and marked while
// the current ones are on the wire, and the SMSC windows stay full while
// Moves are being made durable. An MT holding a durable slot may be marked in flight
// on disk, so what a crash can make us send twice is at most resend_bound
// per link (ismg_smsc_resend_bound), every such resend counted in
// ismg_smsc_resends_total. An MT holds its durable slot for two commit
// rounds and the SMSC's answer, so the bound must cover the link's rate
// over that span: with 2 × window it was the limit at carriers' small
// windows.

// dispatch feeds the link from mt:<link> until ctx ends, then waits for
// the MTs it leased to settle (their commits run on hard, cancelled only
// at the shutdown deadline) and stops the sender.
func (lr *linkRuntime) dispatch(ctx, hard context.Context) error {
	n := lr.n
	var wg sync.WaitGroup
	lr.work, lr.quit = make(chan submitJob), make(chan struct{})
	lr.marked = make(chan markedBatch, lr.durable.size)
	wg.Add(1)
	go func() {
		defer wg.Done()
		lr.sendMarked(hard, &wg)
	}()
	defer func() {
		lr.drain(hard)
		close(lr.quit)
		wg.Wait()
	}()
	// At most markDepth mark commits in flight: while they commit, the
	// sender works through the batches before them, and what arrives
	// meanwhile joins the next batch, so commits stay large when traffic
	// is thin; the dispatcher never holds a window slot while it waits.
	marking := make(chan struct{}, markDepth)
	for {
		select {
		case marking <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		<-marking
		if !lr.waitReady(ctx, hard) {
			return nil
		}
		free, ok := lr.acquire(ctx)
		if !ok {
			return nil
		}
		if n.fenced() {
			// The store's lease is gone (lease.go): not one more MT.
			lr.durable.put(free)
			return errFenced
		}
		items, err := n.st.Lease(lr.q.queue(), time.Now(), free)
		lr.durable.put(free - len(items))
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
		marking <- struct{}{}
		if !lr.start(hard, items, func() { <-marking }) {
			<-marking
		}
	}
}

// markDepth is how many in-flight marks (one commit each) a dispatcher
// keeps going at once. One keeps the next batch marking while the one
// before it is on the wire; measured at 2 binds × window 16 a second one
// did not fill the window any better, and at 4 × 256 it made the batches,
// and so the group commits, smaller (ismg CPU per MT 86 → 110 µs).
const markDepth = 1

// acquire takes every free durable slot, waiting for the first. It
// returns how many, or false when ctx ends.
func (lr *linkRuntime) acquire(ctx context.Context) (int, bool) {
	return lr.durable.takeAll(ctx)
}

// takeWindow waits for a window slot for the next submit_sm; the sender
// calls it, so the slot is held only from the send to the answer. It
// returns false when the dispatcher stops.
func (lr *linkRuntime) takeWindow(hard context.Context) bool {
	select {
	case lr.window <- struct{}{}:
		lr.busy.add(1)
		return true
	case <-hard.Done():
		return false
	}
}

// freeWindow gives back an MT's window slot: its submit_sm has its answer
// (or was never sent).
func (lr *linkRuntime) freeWindow() {
	lr.busy.add(-1)
	<-lr.window
}

// releaseSlots gives back the durable slot of an MT that was never sent.
func (lr *linkRuntime) releaseSlots() { lr.durable.put(1) }

// drain waits until every MT the dispatcher leased has settled (all
// durable slots free), or hard ends.
func (lr *linkRuntime) drain(hard context.Context) { lr.durable.waitAll(hard) }

// markedBatch is a leased batch whose in-flight record is durable.
type markedBatch struct {
	jobs []submitJob
}

// sendMarked is the sender: it submits the MTs of each marked batch in
// lease order, until the dispatcher ends (lr.quit).
func (lr *linkRuntime) sendMarked(hard context.Context, wg *sync.WaitGroup) {
	for {
		select {
		case mb := <-lr.marked:
			for i, j := range mb.jobs {
				ok := lr.takeWindow(hard)
				if ok && lr.n.fenced() {
					// The store's lease went while this batch waited:
					// not one more submit_sm from it.
					lr.freeWindow()
					ok = false
				}
				if !ok {
					// Shut down past the deadline, or fenced: leave the
					// rest in flight (marked; the next start, or the
					// adopter, resends them, counted).
					lr.durable.put(len(mb.jobs) - i)
					break
				}
				lr.run(j, hard, wg)
			}
		case <-lr.quit:
			return
		}
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
// has passed, while the link is down (sweepExpired).
func (lr *linkRuntime) expireWhileDown(hard context.Context) {
	n := lr.n
	n.sweepExpired(lr.q, func(it queue.Item, now time.Time) (ended, stop bool) {
		r, err := decodeMT(it.Value)
		if err != nil || r.ValidUntil.IsZero() || !now.After(r.ValidUntil) {
			return false, false
		}
		n.m.Expired.WithLabelValues("mt").Inc()
		if !n.finalReport(hard, lr.q, it.ID, &r, smpp.StatExpired, "expired", "") {
			return false, true // the store refused (logged; item released): try at the next sweep
		}
		return true, false
	})
}

// start marks a leased batch in flight with CommitAsync and returns true
// if it did: the commit callback hands the batch to the sender, then calls
// marked. MTs past their validity
// are reported EXPIRED, and undecodable ones dropped, on a task (their
// commits must not hold up the dispatcher).
func (lr *linkRuntime) start(hard context.Context, items []queue.Item, marked func()) bool {
	n := lr.n
	now := time.Now()
	jobs := make([]submitJob, 0, len(items))
	keep := make([]queue.Item, 0, len(items))
	for _, it := range items {
		r, err := decodeMT(it.Value)
		if err != nil {
			n.log.Error("dropping undecodable MT", LogKeyQueue, lr.q.queue(), LogKeyMsgID, it.ID, LogKeyErr, err)
			n.tasks.Go(func() {
				_ = n.commit(hard, queue.Remove(lr.q.queue(), it.ID))
				lr.releaseSlots()
			})
			continue
		}
		if !r.ValidUntil.IsZero() && now.After(r.ValidUntil) {
			n.m.Expired.WithLabelValues("mt").Inc()
			n.tasks.Go(func() {
				n.finalReport(hard, lr.q, it.ID, &r, smpp.StatExpired, "expired", "")
				lr.releaseSlots()
			})
			continue
		}
		r.Attempts++
		jobs = append(jobs, submitJob{it: it, r: r})
		keep = append(keep, it)
	}
	if len(keep) == 0 {
		return false
	}
	n.markAsync(lr.q, keep, func(b *inflightBatch) {
		for i := range jobs {
			jobs[i].b = b
		}
		lr.marked <- markedBatch{jobs: jobs} // room for every batch: each holds a durable slot
	}, lr.releaseSlots, marked)
	return true
}

// submitJob is one leased MT for a submit goroutine.
type submitJob struct {
	it queue.Item
	r  mtRecord
	b  *inflightBatch
}

// run submits j: a single submit_sm without a goroutine (runAsync), else
// on an idle submit goroutine or a new one. The goroutines stay for
// further MTs until the dispatcher ends (lr.quit): a goroutine per MT
// would grow a fresh stack every time. The durable slots bound how many
// there are.
func (lr *linkRuntime) run(j submitJob, hard context.Context, wg *sync.WaitGroup) {
	if lr.runAsync(j, hard) {
		return
	}
	select {
	case lr.work <- j:
		return
	default:
	}
	lr.spawn(j, hard, wg)
}

// spawn starts a submit goroutine with j (its own function so that only
// this path moves j to the heap).
func (lr *linkRuntime) spawn(j submitJob, hard context.Context, wg *sync.WaitGroup) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			lr.submitOne(hard, j.it, &j.r)
			lr.n.inflightDone(j.b)
			lr.durable.put(1)
			j = submitJob{}
			select {
			case j = <-lr.work:
			case <-lr.quit:
				return
			}
		}
	}()
}
