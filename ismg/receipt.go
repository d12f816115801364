package ismg

import (
	"context"
	"time"

	"github.com/tandem-sms/tandem/ismg/queue"
	"github.com/tandem-sms/tandem/smpp"
)

// A link's runtime is the smsclink.Handler of its own link: receipts come
// parsed to HandleReceiptAsync (the common case, answered from the commit
// callback) or HandleReceipt, MO to HandleDeliver. Each returns ESME_ROK
// only once what it received is durable; a temporary status makes the
// SMSC deliver again.

// HandleDeliver takes an MO (receipts reach it only unparsed, which the
// link never does while HandleReceipt exists).
func (lr *linkRuntime) HandleDeliver(ctx context.Context, d *smpp.DeliverSM) smpp.Status {
	if d.IsReceipt() {
		info, err := smpp.ParseDeliverReceipt(d)
		return lr.handleReceipt(ctx, d, info, err)
	}
	return lr.n.handleMO(ctx, lr, d)
}

func (lr *linkRuntime) HandleReceiptAsync(d *smpp.DeliverSM, info smpp.ReceiptInfo, err error, respond func(smpp.Status)) bool {
	return lr.receiptAsync(d, info, err, respond)
}

func (lr *linkRuntime) HandleReceipt(ctx context.Context, d *smpp.DeliverSM, info smpp.ReceiptInfo, err error) smpp.Status {
	return lr.handleReceipt(ctx, d, info, err)
}

func (lr *linkRuntime) handleReceipt(ctx context.Context, d *smpp.DeliverSM, info smpp.ReceiptInfo, err error) smpp.Status {
	n := lr.n
	if err != nil {
		// Nothing to match it with; retrying would not help.
		n.m.Receipts.WithLabelValues(lr.cfg.Name, "bad").Inc()
		n.log.Warn("receipt without message id dropped", LogKeyLink, lr.cfg.Name, LogKeyErr, err)
		return smpp.StatusOK
	}
	if !info.State.Final() || info.State == smpp.StateAccepted {
		// ACCEPTD and ENROUTE are intermediate (protocols.md §1.8).
		n.m.Receipts.WithLabelValues(lr.cfg.Name, "intermediate").Inc()
		return smpp.StatusOK
	}
	sid, stat, done := lr.receiptFields(d, info)
	rec := orphanRecord{Link: lr.cfg.Name, SID: sid, Stat: stat, Done: done, Received: time.Now()}
	p, mapped, o, dup := lr.idx.lookupOrPark(sid, rec)
	switch {
	case dup:
		n.m.Receipts.WithLabelValues(lr.cfg.Name, "duplicate").Inc()
		n.log.Info("duplicate receipt dropped", LogKeyLink, lr.cfg.Name, LogKeySMSCID, sid)
		return smpp.StatusOK
	case p != nil:
		// The mapping is being committed: wait for it, then match.
		select {
		case <-p.done:
		case <-ctx.Done():
			return smpp.StatusXTAppn
		}
		return lr.applyReceipt(ctx, sid, stat, done, 0)
	case o == nil:
		return lr.applyReceiptTo(ctx, sid, stat, done, 0, mapped)
	}
	// Neither pending nor mapped (the index holds every durable mapping):
	// park it durably as an orphan.
	id, err := n.ids.next(1)
	if err != nil {
		lr.idx.unpark(o)
		n.log.Warn("orphan receipt refused for now: no Msg_Id", LogKeyLink, lr.cfg.Name, LogKeyErr, err)
		return smpp.StatusXTAppn
	}
	if err := n.commit(ctx, queue.Enqueue(qOrphan, id, time.Now().Add(n.cfg.Delivery.OrphanTTL), rec.Append(nil))); err != nil {
		lr.idx.unpark(o)
		n.log.Error("store orphan receipt", LogKeyLink, lr.cfg.Name, LogKeyErr, err)
		return smpp.StatusXTAppn
	}
	lr.idx.parked(o, id)
	n.m.Receipts.WithLabelValues(lr.cfg.Name, "orphan").Inc()
	return smpp.StatusOK
}

// receiptFields are the normalised SMSC id, the Stat and the done time of
// a final receipt.
func (lr *linkRuntime) receiptFields(d *smpp.DeliverSM, info smpp.ReceiptInfo) (sid, stat string, done time.Time) {
	if id, ok := d.TLVs.ReceiptedMessageID(); ok && id != "" {
		sid = canonID(id)
	} else {
		sid = lr.textID(info.MessageID)
	}
	done = inZone(info.Receipt.DoneDate, lr.n.loc)
	if done.IsZero() {
		done = time.Now()
	}
	return sid, smpp.StateStat(info.State), done
}

// receiptAsync is handleReceipt's fast path, run on the bind's reader: the
// final receipt of a single-part message whose mapping is durable becomes
// its status report through CommitAsync, and the commit callback answers
// the SMSC, so no goroutine waits for the commit. Everything else (bad or
// intermediate receipts, no mapping yet, orphans, duplicates, multi-part
// messages, a Msg_Id another receipt is working on) returns false and goes
// to handleReceipt.
func (lr *linkRuntime) receiptAsync(d *smpp.DeliverSM, info smpp.ReceiptInfo, err error, respond func(smpp.Status)) bool {
	if err != nil || !info.State.Final() || info.State == smpp.StateAccepted {
		return false
	}
	n := lr.n
	sid, stat, done := lr.receiptFields(d, info)
	msgID, ok := lr.idx.mappedID(sid)
	if !ok {
		return false
	}
	mu := n.msgLocks.tryLock(msgID)
	if mu == nil {
		return false
	}
	it, err := n.st.Get(qAwait, msgID)
	var r mtRecord
	if err == nil {
		r, err = decodeMT(it.Value)
	}
	if id, ok := lr.idx.mappedID(sid); err != nil || r.Pending > 1 || !ok || id != msgID {
		n.msgLocks.unlock(msgID, mu)
		return false
	}
	if r.Stat == "" || r.Stat == smpp.StatDelivered {
		r.Stat = stat
	}
	ops := n.reportOps(awaitQueue, msgID, &r, r.Stat, sid, done, nil)
	n.st.CommitAsync(ops, func(err error) {
		if err != nil {
			n.noteStoreErr(err)
		}
		st := smpp.StatusXTAppn
		if n.reportCommitted(err, awaitQueue, msgID, &r, "smsc") {
			lr.idx.markDone(sid)
			lr.mMatched.Inc()
			st = smpp.StatusOK
		}
		n.msgLocks.unlock(msgID, mu)
		respond(st)
	})
	return true
}

// applyReceipt matches a final receipt with its message through the
// durable mapping and, for the last part, replaces the message by its
// status report in one commit (removing orphanID too when it came from
// the orphan queue). The report CDR is written before returning.
func (lr *linkRuntime) applyReceipt(ctx context.Context, sid, stat string, done time.Time, orphanID uint64) smpp.Status {
	n := lr.n
	msgID, ok := lr.idx.mappedID(sid)
	if !ok {
		if orphanID != 0 {
			_ = n.commit(ctx, queue.Remove(qOrphan, orphanID))
		}
		lr.mDuplicate.Inc()
		n.log.Info("receipt without mapping dropped", LogKeyLink, lr.cfg.Name, LogKeySMSCID, sid)
		return smpp.StatusOK
	}
	return lr.applyReceiptTo(ctx, sid, stat, done, orphanID, msgID)
}

// applyReceiptTo is applyReceipt once the mapping sid → msgID is known.
func (lr *linkRuntime) applyReceiptTo(ctx context.Context, sid, stat string, done time.Time, orphanID, msgID uint64) smpp.Status {
	n := lr.n
	mu := n.msgLocks.lock(msgID)
	defer n.msgLocks.unlock(msgID, mu)
	if id, ok := lr.idx.mappedID(sid); !ok || id != msgID {
		// A copy of this receipt was applied while we waited.
		if orphanID != 0 {
			_ = n.commit(ctx, queue.Remove(qOrphan, orphanID))
		}
		lr.mDuplicate.Inc()
		return smpp.StatusOK
	}
	it, err := n.st.Get(qAwait, msgID)
	var r mtRecord
	if err == nil {
		r, err = decodeMT(it.Value)
	}
	if err != nil {
		// Already reported (timeout) or undecodable: drop the mapping.
		if orphanID == 0 || n.commit(ctx, queue.Remove(qOrphan, orphanID)) == nil {
			lr.idx.unmap(sid)
		}
		lr.mDuplicate.Inc()
		return smpp.StatusOK
	}
	if r.Stat == "" || r.Stat == smpp.StatDelivered {
		r.Stat = stat // the first failure of a multi-part message wins
	}
	var ops []queue.Op
	if orphanID != 0 {
		ops = append(ops, queue.Remove(qOrphan, orphanID))
	}
	if r.Pending > 1 {
		r.Pending--
		if r.Done != "" {
			r.Done += " "
		}
		r.Done += sid
		ops = append(ops, queue.Update(qAwait, msgID, it.Due, r.Append(nil)))
		if err := n.commit(ctx, ops...); err != nil {
			return smpp.StatusXTAppn
		}
		lr.idx.markDone(sid)
		lr.mMatched.Inc()
		return smpp.StatusOK
	}
	if !n.finalReportOps(ctx, awaitQueue, msgID, &r, r.Stat, "smsc", sid, done, ops) {
		return smpp.StatusXTAppn
	}
	lr.idx.markDone(sid)
	lr.mMatched.Inc()
	return smpp.StatusOK
}
