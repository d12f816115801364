package ismg

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/tandem-sms/tandem/ismg/queue"
	"github.com/tandem-sms/tandem/ismg/smsclink"
	"github.com/tandem-sms/tandem/smpp"
)

// runAsync submits a single-segment MT without a goroutine: the
// submit_sm_resp callback frees the window slot and queues the Move to
// await, whose commit callback frees the durable slot (an MT split into
// several submit_sm takes the goroutine path of run). It reports false
// when j is not for it.
func (lr *linkRuntime) runAsync(j submitJob, hard context.Context) bool {
	pdus, err := buildSubmits(&j.r, lr.dc0, uint16(lr.ref.Add(1)))
	if err != nil || len(pdus) != 1 {
		return false
	}
	aj := &asyncSubmit{lr: lr, j: j, hard: hard}
	aj.t0 = time.Now()
	err = lr.link.SubmitAsync(hard, pdus[0], aj.t0.Add(lr.cfg.ResponseTimeout+time.Second), aj.resp)
	if err != nil {
		// Not sent (no bind, a pause or rate wait past the deadline):
		// reschedule on a task, off the sender.
		lr.freeWindow()
		lr.n.tasks.Go(func() {
			lr.failed(hard, aj.j.it, &aj.j.r, err)
			aj.finish()
		})
	}
	return true
}

// asyncSubmit is one MT of runAsync between its callbacks.
type asyncSubmit struct {
	lr   *linkRuntime
	j    submitJob
	hard context.Context
	t0   time.Time
	sids [1]string
	pend *pendingMap
	ops  [1]queue.Op // the Move to await; the store is done with it by committed
}

// resp runs on the bind's reader (or a timer): it must not block.
func (a *asyncSubmit) resp(id string, err error) {
	lr, n := a.lr, a.lr.n
	lr.freeWindow()
	if err != nil {
		n.tasks.Go(func() { // rare: the retry bookkeeping commits synchronously
			lr.failed(a.hard, a.j.it, &a.j.r, err)
			a.finish()
		})
		return
	}
	lr.mLatency.Observe(time.Since(a.t0).Seconds())
	lr.mSubmitOK.Inc()
	a.sids[0] = canonID(id)
	a.ops[0], a.pend = lr.awaitOp(a.j.it, &a.j.r, a.sids[:])
	n.st.CommitAsync(a.ops[:], a.committed)
}

// committed runs on the store's finisher: it must be quick and must not
// Commit.
func (a *asyncSubmit) committed(err error) {
	lr := a.lr
	if err != nil {
		lr.n.noteStoreErr(err)
	}
	orphans := lr.awaitDone(a.j.it, &a.j.r, a.sids[:], a.pend, err)
	if len(orphans) == 0 {
		a.finish()
		return
	}
	lr.n.tasks.Go(func() {
		lr.applyOrphans(a.hard, orphans)
		a.finish()
	})
}

// finish frees the MT's durable slot: its outcome is durable.
func (a *asyncSubmit) finish() {
	a.lr.n.inflightDone(a.j.b)
	a.lr.durable.put(1)
}

// awaitOp records the SMSC ids in r, registers them as pending and
// returns the Move of the MT to await. The await record carries the SMSC
// ids: the in-memory index is the only sid → Msg_Id map, rebuilt from
// await at start-up.
func (lr *linkRuntime) awaitOp(it queue.Item, r *mtRecord, sids []string) (queue.Op, *pendingMap) {
	r.InFlight = false
	if len(sids) == 1 {
		r.SMSCID = sids[0]
	} else {
		r.SMSCID = strings.Join(sids, " ")
	}
	r.Parts = uint8(len(sids))
	r.Pending = r.Parts
	pend := lr.idx.addPending(sids)
	lr.n.noteSubmitted(it.ID, lr.q.name)
	return queue.Move(lr.q.queue(), qAwait, it.ID, time.Now().Add(lr.n.cfg.Delivery.ReportTimeout), r.Append(nil)), pend
}

// awaitDone ends the pending state after the Move's commit (err) and
// returns the orphan receipts to apply.
func (lr *linkRuntime) awaitDone(it queue.Item, r *mtRecord, sids []string, pend *pendingMap, err error) []*orphanEntry {
	if err == nil {
		// Counted before the mapping shows, so a QUERY that follows the
		// message's report sees it forwarded.
		lr.n.stats.mtForwarded(r.SPID, r.ServiceID, r.Submitted)
	}
	orphans := lr.idx.resolvePending(sids, pend, it.ID, err == nil)
	if err != nil {
		// The SMSC has the message but we could not record it: leave it
		// in flight in mt so it is sent again (a duplicate beats a loss).
		lr.n.log.Error("store SMSC id mapping", LogKeyMsgID, it.ID, LogKeyErr, err)
		lr.n.st.Release(lr.q.queue(), it.ID)
		return nil
	}
	return orphans
}

// applyOrphans applies the receipts that arrived before their mapping.
func (lr *linkRuntime) applyOrphans(ctx context.Context, orphans []*orphanEntry) {
	for _, o := range orphans {
		<-o.done
		if o.id == 0 {
			continue // its durable commit failed: the SMSC will resend
		}
		lr.n.m.Receipts.WithLabelValues(lr.cfg.Name, "orphan_matched").Inc()
		lr.applyReceipt(ctx, o.sid, o.rec.Stat, o.rec.Done, o.id)
	}
}

// submitOne sends one MT (one or more submit_sm) and records the outcome
// durably before its slot is freed.
func (lr *linkRuntime) submitOne(ctx context.Context, it queue.Item, r *mtRecord) {
	n := lr.n
	pdus, err := buildSubmits(r, lr.dc0, uint16(lr.ref.Add(1)))
	if err != nil {
		lr.freeWindow()
		n.log.Warn("MT cannot be converted", LogKeyMsgID, it.ID, LogKeyErr, err)
		n.finalReport(ctx, lr.q, it.ID, r, "MB:0001", "gateway", "")
		return
	}
	// The MT's window slot covers its submit_sm one at a time.
	sids := make([]string, 0, len(pdus))
	for _, p := range pdus {
		// A pause or rate wait longer than a response could take fails
		// the attempt (rescheduled); the session bounds the response.
		t0 := time.Now()
		id, err := lr.link.SubmitBy(ctx, p, t0.Add(lr.cfg.ResponseTimeout+time.Second))
		if err != nil {
			lr.freeWindow()
			lr.failed(ctx, it, r, err)
			return
		}
		lr.mLatency.Observe(time.Since(t0).Seconds())
		lr.mSubmitOK.Inc()
		sids = append(sids, canonID(id))
	}
	lr.freeWindow()
	op, pend := lr.awaitOp(it, r, sids)
	err = n.commit(ctx, op)
	lr.applyOrphans(ctx, lr.awaitDone(it, r, sids, pend, err))
}

// failed handles a submit error: temporary ones retry with exponential
// backoff and jitter until MaxAttempts, permanent ones end the message.
func (lr *linkRuntime) failed(ctx context.Context, it queue.Item, r *mtRecord, err error) {
	n := lr.n
	kind := smsclink.Classify(err)
	n.m.SMSCFailures.WithLabelValues(lr.cfg.Name, kind.String()).Inc()
	if kind == smsclink.KindThrottled || kind == smsclink.KindQueueFull || kind == smsclink.KindPaused {
		n.m.SMSCThrottled.WithLabelValues(lr.cfg.Name).Inc()
	}
	var se *smpp.StatusError
	if !smsclink.Temporary(err) {
		n.m.SMSCSubmits.WithLabelValues(lr.cfg.Name, "permanent").Inc()
		stat := "MB:0001"
		if errors.As(err, &se) {
			stat = smppStatusText(se.Status)
		}
		n.finalReport(ctx, lr.q, it.ID, r, stat, "gateway", "")
		return
	}
	n.m.SMSCSubmits.WithLabelValues(lr.cfg.Name, "temporary").Inc()
	// Refusals before anything was sent (no bind, pause, rate) do not
	// use up an attempt.
	if kind == smsclink.KindNoBind || kind == smsclink.KindPaused || kind == smsclink.KindRateWait || kind == smsclink.KindClosed {
		r.Attempts--
	}
	if int(r.Attempts) >= n.cfg.Delivery.MaxAttempts {
		stat := "MA:0001"
		if errors.As(err, &se) {
			stat = smppStatusText(se.Status)
		}
		n.finalReport(ctx, lr.q, it.ID, r, stat, "gateway", "")
		return
	}
	r.InFlight = false
	due := time.Now().Add(backoff(n.cfg.Delivery.RetryMin, n.cfg.Delivery.RetryMax, int(r.Attempts)))
	if cerr := n.commit(ctx, queue.Update(lr.q.queue(), it.ID, due, r.Append(nil))); cerr != nil {
		n.log.Error("schedule retry", LogKeyMsgID, it.ID, LogKeyErr, cerr)
	}
	n.st.Release(lr.q.queue(), it.ID)
}

// backoff is min·2^(attempt-1) capped at max, with ±25% jitter.
func backoff(lo, hi time.Duration, attempt int) time.Duration {
	d := lo
	for i := 1; i < attempt && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	j := time.Duration(rand.Int64N(int64(d)/2+1)) - d/4
	return max(lo/2, d+j)
}
