package ismg

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/tandem-sms/tandem/billing"
	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/ismg/queue"
	"github.com/tandem-sms/tandem/smpp"
)

// handleDeliver is the smsclink Handler: receipts and MO messages. It
// returns ESME_ROK only once what it received is durable; a temporary
// status makes the SMSC deliver again.
func (n *Node) handleDeliver(ctx context.Context, link string, d *smpp.DeliverSM) smpp.Status {
	lr := n.links[link]
	if lr == nil {
		return smpp.StatusSysErr
	}
	if d.IsReceipt() {
		info, err := smpp.ParseDeliverReceipt(d)
		return lr.handleReceipt(ctx, d, info, err)
	}
	return n.handleMO(ctx, lr, d)
}

// smscHandler is the smsclink Handler of every link; receipts come to
// HandleReceipt already parsed.
type smscHandler struct{ n *Node }

func (h smscHandler) HandleDeliver(ctx context.Context, link string, d *smpp.DeliverSM) smpp.Status {
	return h.n.handleDeliver(ctx, link, d)
}

func (h smscHandler) HandleReceiptAsync(link string, d *smpp.DeliverSM, info smpp.ReceiptInfo, err error, respond func(smpp.Status)) bool {
	lr := h.n.links[link]
	return lr != nil && lr.receiptAsync(d, info, err, respond)
}

func (h smscHandler) HandleReceipt(ctx context.Context, link string, d *smpp.DeliverSM, info smpp.ReceiptInfo, err error) smpp.Status {
	lr := h.n.links[link]
	if lr == nil {
		return smpp.StatusSysErr
	}
	return lr.handleReceipt(ctx, d, info, err)
}

func (lr *linkRuntime) handleReceipt(ctx context.Context, d *smpp.DeliverSM, info smpp.ReceiptInfo, err error) smpp.Status {
	n := lr.n
	if err != nil {
		// Nothing to match it with; retrying would not help.
		n.m.Receipts.WithLabelValues(lr.cfg.Name, "bad").Inc()
		n.log.Warn("receipt without message id dropped", "link", lr.cfg.Name, "err", err)
		return smpp.StatusOK
	}
	if !info.State.Final() || info.State == smpp.StateAccepted {
		// ACCEPTD and ENROUTE are intermediate (protocols.md §1.8).
		n.m.Receipts.WithLabelValues(lr.cfg.Name, "intermediate").Inc()
		return smpp.StatusOK
	}
	sid, stat, done := lr.receiptFields(d, info)
	rec := orphanRecord{Link: lr.cfg.Name, SID: sid, Stat: stat, Done: done, Received: n.now()}
	p, mapped, o, dup := lr.idx.lookupOrPark(sid, rec)
	switch {
	case dup:
		n.m.Receipts.WithLabelValues(lr.cfg.Name, "duplicate").Inc()
		n.log.Info("duplicate receipt dropped", "link", lr.cfg.Name, "smsc_id", sid)
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
	unpark := func() {
		lr.idx.mu.Lock()
		if lr.idx.orphans[sid] == o {
			delete(lr.idx.orphans, sid)
		}
		lr.idx.mu.Unlock()
		close(o.done) // o.id stays 0: whoever took it skips it
	}
	// Neither pending nor mapped (the index holds every durable mapping):
	// park it durably as an orphan.
	id, err := n.ids.next(1)
	if err != nil {
		unpark()
		n.log.Warn("orphan receipt refused for now: no Msg_Id", "link", lr.cfg.Name, "err", err)
		return smpp.StatusXTAppn
	}
	if err := n.commit(ctx, queue.Enqueue(qOrphan, id, n.now().Add(n.cfg.Delivery.OrphanTTL), rec.Append(nil))); err != nil {
		unpark()
		n.log.Error("store orphan receipt", "link", lr.cfg.Name, "err", err)
		return smpp.StatusXTAppn
	}
	lr.idx.mu.Lock()
	o.id = id
	lr.idx.mu.Unlock()
	close(o.done)
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
	done = info.Receipt.DoneDate
	if done.IsZero() {
		done = lr.n.now()
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
	ops := n.reportOps(qAwait, msgID, &r, r.Stat, sid, done, nil)
	n.reportCDR(qAwait, msgID, &r, r.Stat, done)
	n.st.CommitAsync(ops, func(err error) {
		if err != nil {
			n.noteStoreErr(err)
		}
		st := smpp.StatusXTAppn
		if n.reportCommitted(err, qAwait, msgID, &r, "smsc") {
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
		n.log.Info("receipt without mapping dropped", "link", lr.cfg.Name, "smsc_id", sid)
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
	if !n.finalReportOps(ctx, qAwait, msgID, &r, r.Stat, "smsc", sid, done, ops) {
		return smpp.StatusXTAppn
	}
	lr.idx.markDone(sid)
	lr.mMatched.Inc()
	return smpp.StatusOK
}

// finalReport ends a message that is still in queue q with stat.
func (n *Node) finalReport(ctx context.Context, q string, id uint64, r *mtRecord, stat, origin, sid string) bool {
	return n.finalReportOps(ctx, q, id, r, stat, origin, sid, n.now(), nil)
}

// finalReportOps removes message id from q and, when the SP asked for it,
// queues its status report for the SP, in one commit with extra, after
// writing the REPORT CDR.
func (n *Node) finalReportOps(ctx context.Context, q string, id uint64, r *mtRecord, stat, origin, sid string, done time.Time, extra []queue.Op) bool {
	ops := n.reportOps(q, id, r, stat, sid, done, extra)
	n.reportCDR(q, id, r, stat, done)
	return n.reportCommitted(n.commit(ctx, ops...), q, id, r, origin)
}

// reportCDR writes the REPORT CDR of a final report before its commit: the
// committer fsyncs the CDRs written before it takes a batch (OnBatch), so
// the record is durable no later than the removal of the message it
// settles, and a crash cannot lose it. A commit that then fails leaves a
// second REPORT for the same Msg_Id when the message is finished again;
// billing settles an MT once (billing/FORMAT.md).
func (n *Node) reportCDR(q string, id uint64, r *mtRecord, stat string, done time.Time) {
	rec := billing.Record{
		Kind: billing.KindReport, MsgID: id, SPID: r.SPID, ServiceID: r.ServiceID,
		FeeUserType: r.FeeUserType, FeeType: r.FeeType, FeeCode: r.FeeCode, FeeTerminalID: r.FeeTerminalID,
		Src: r.SrcID, Dest: r.Dest, Segments: r.PkTotal, SegmentNo: r.PkNumber,
		SubmitTime: r.Submitted, DoneTime: done, FinalStatus: stat, HandlingGateway: n.gw,
		SMSCMsgID: r.SMSCID, MsgFmt: r.MsgFmt, Length: uint32(len(r.Content)),
	}
	if gw, ok := strings.CutPrefix(q, qFwdPrefix); ok {
		rec.Direction, rec.NextGateway = billing.DirFwdOut, gw
	}
	n.writeCDR(rec)
}

// reportOps are the ops of finalReportOps: extra, the removal of id from q
// and the SP's status report if it asked for one.
func (n *Node) reportOps(q string, id uint64, r *mtRecord, stat, sid string, done time.Time, extra []queue.Op) []queue.Op {
	ops := append(extra, queue.Remove(q, id))
	if r.RegisteredDelivery == 1 {
		o := outRecord{
			Report: true, DestID: r.SrcID, ServiceID: r.ServiceID, SrcTerminalID: r.Dest,
			Created: n.now(), OrigMsgID: id, Stat: stat,
			SubmitTime: reportTime(r.Submitted, n.loc), DoneTime: reportTime(done, n.loc),
			DestTerminalID: r.Dest, SMSCSequence: smscSequence(sid),
		}
		ops = append(ops, queue.Enqueue(qOutPrefix+r.SPID, id, time.Time{}, o.Append(nil)))
	}
	return ops
}

// reportCommitted finishes finalReportOps once the commit of reportOps
// returned err: metrics and QUERY counters on success. It reports false
// when the message is still to be finished (the store refused).
func (n *Node) reportCommitted(err error, q string, id uint64, r *mtRecord, origin string) bool {
	if err != nil {
		if errors.Is(err, queue.ErrNotFound) {
			return true // someone else finished it
		}
		n.log.Error("store status report", "msg_id", id, "err", err)
		if q != qAwait {
			n.st.Release(q, id)
		}
		return false
	}
	n.m.Reports.WithLabelValues(r.SPID, origin).Inc()
	n.m.ReportLatency.Observe(n.now().Sub(r.Submitted).Seconds())
	if q != qAwait {
		// Ended before any SMSC took it: a forwarding failure for QUERY.
		n.stats.mtFailed(r.SPID, r.ServiceID, r.Submitted)
	}
	return true
}

// smscSequence derives the report's 4-byte SMSC_sequence from the SMSC's
// message id: its low 32 bits when numeric (decimal, else hex).
func smscSequence(sid string) uint32 {
	if sid == "" {
		return 0
	}
	// By hand: strconv's errors allocate, and most SMSC ids are hex.
	if v, ok := parseUint(sid, 10); ok {
		return uint32(v)
	}
	if v, ok := parseUint(sid, 16); ok {
		return uint32(v)
	}
	var h uint32 = 2166136261
	for i := 0; i < len(sid); i++ {
		h = (h ^ uint32(sid[i])) * 16777619
	}
	return h
}

// handleMO routes an MO to the SP owning the service code: a local SP's
// out queue, or fwd:<gw> for the SP partition's gateway elsewhere.
func (n *Node) handleMO(ctx context.Context, lr *linkRuntime, d *smpp.DeliverSM) smpp.Status {
	code := d.DestAddr.Addr
	r, err := n.routes.Load().ResolveMO(code, n.gw)
	if err != nil {
		n.m.MO.WithLabelValues("unknown").Inc()
		// Permanent: the SMSC must not retry an unroutable code.
		n.log.Warn("MO to an unknown service code refused", "link", lr.cfg.Name, "dest", code, "err", err)
		return smpp.StatusInvDstAdr
	}
	content, msgFmt, udhi := moToCMPP(d, lr.dc0)
	now := n.now()
	id, err := n.ids.next(1)
	if err != nil {
		// Temporary: the SMSC retries once the reservation caught up.
		n.m.MO.WithLabelValues("error").Inc()
		n.log.Warn("MO refused for now: no Msg_Id", "link", lr.cfg.Name, "err", err)
		return smpp.StatusXTAppn
	}
	o := outRecord{
		DestID: code, ServiceID: "", TPPID: d.ProtocolID, TPUDHI: udhi, MsgFmt: msgFmt,
		SrcTerminalID: d.SourceAddr.Addr, Content: content, Created: now,
	}
	q := qOutPrefix + r.SP.ID
	due := time.Time{}
	dir, next := billing.DirLocal, ""
	if r.Gateway.Code != n.gw {
		// CMPP_FWD comes with the federation: wait there until the
		// default validity passes, then expire.
		q, due = qFwdPrefix+r.Gateway.Code, now.Add(n.cfg.Delivery.DefaultValidity)
		dir, next = billing.DirFwdOut, r.Gateway.Code
	}
	// The CDR goes first so that the committer's CDR fsync covers it
	// before the MO is durable and acknowledged (see reportCDR).
	n.writeCDR(billing.Record{
		Kind: billing.KindMO, Direction: dir, MsgID: id, SPID: r.SP.ID, Src: d.SourceAddr.Addr, Dest: code,
		Segments: 1, SegmentNo: 1, SubmitTime: now, HandlingGateway: n.gw, NextGateway: next,
		MsgFmt: msgFmt, Length: uint32(len(content)),
	})
	if err := n.commit(ctx, queue.Enqueue(q, id, due, o.Append(nil))); err != nil {
		n.m.MO.WithLabelValues("error").Inc()
		n.log.Error("store MO", "err", err)
		return smpp.StatusXTAppn
	}
	n.stats.moQueued(r.SP.ID, now)
	if dir == billing.DirFwdOut {
		n.m.MO.WithLabelValues("fwd").Inc()
		n.ensureFwdSweeper(q)
	} else {
		n.m.MO.WithLabelValues("local").Inc()
	}
	return smpp.StatusOK
}

// sweepAwait reports MC:0001 for messages whose receipt did not come
// within delivery.report_timeout.
func (n *Node) sweepAwait(ctx context.Context) error {
	for {
		if err := n.st.Wait(ctx, qAwait); err != nil {
			return nil
		}
		items, err := n.st.Lease(qAwait, time.Now(), 256)
		if err != nil {
			return err
		}
		for _, it := range items {
			mu := n.msgLocks.lock(it.ID)
			r, err := decodeMT(it.Value)
			if err != nil {
				_ = n.commit(ctx, queue.Remove(qAwait, it.ID))
				n.msgLocks.unlock(it.ID, mu)
				continue
			}
			lr := n.links[r.Link]
			if !n.finalReportOps(ctx, qAwait, it.ID, &r, "MC:0001", "gateway", firstField(r.SMSCID), n.now(), nil) {
				n.st.Release(qAwait, it.ID)
			} else if lr != nil && r.SMSCID != "" {
				lr.idx.unmap(strings.Fields(r.SMSCID)...)
			}
			n.msgLocks.unlock(it.ID, mu)
		}
	}
}

func firstField(s string) string {
	if i := strings.IndexByte(s, ' '); i >= 0 {
		return s[:i]
	}
	return s
}

// sweepOrphans drops receipts whose mapping never came.
func (n *Node) sweepOrphans(ctx context.Context) error {
	for {
		if err := n.st.Wait(ctx, qOrphan); err != nil {
			return nil
		}
		items, err := n.st.Lease(qOrphan, time.Now(), 256)
		if err != nil {
			return err
		}
		for _, it := range items {
			o, err := decodeOrphan(it.Value)
			if err == nil {
				if lr := n.links[o.Link]; lr != nil {
					lr.idx.dropOrphan(o.SID, it.ID)
				}
			}
			if err := n.commit(ctx, queue.Remove(qOrphan, it.ID)); err != nil && !errors.Is(err, queue.ErrNotFound) {
				n.st.Release(qOrphan, it.ID)
				continue
			}
			n.m.OrphansExpired.Inc()
			n.log.Warn("orphan receipt expired: no message had its SMSC id", "link", o.Link, "smsc_id", o.SID, "stat", o.Stat)
		}
	}
}

// ensureFwdSweeper starts the expiry sweeper of a fwd:<gw> queue once.
func (n *Node) ensureFwdSweeper(q string) {
	n.fwdMu.Lock()
	defer n.fwdMu.Unlock()
	if !n.fwdRun[q] {
		n.startFwdSweeperLocked(q)
	}
}

func (n *Node) startFwdSweeperLocked(q string) {
	if n.goRun(func(ctx context.Context) error { return n.sweepFwd(ctx, q) }) {
		n.fwdRun[q] = true
	}
}

// sweepFwd expires messages waiting for CMPP_FWD at their Valid_Time
// (their due time): MTs get an EXPIRED report, MOs are dropped with a log.
func (n *Node) sweepFwd(ctx context.Context, q string) error {
	for {
		if err := n.st.Wait(ctx, q); err != nil {
			return nil
		}
		items, err := n.st.Lease(q, time.Now(), 256)
		if err != nil {
			return err
		}
		for _, it := range items {
			n.m.Expired.WithLabelValues("fwd").Inc()
			if r, err := decodeMT(it.Value); err == nil {
				n.finalReport(ctx, q, it.ID, &r, cmpp.StatExpired, "expired", "")
				continue
			}
			n.log.Warn("MO for another gateway expired: no CMPP_FWD yet", "queue", q, "id", it.ID)
			if err := n.commit(ctx, queue.Remove(q, it.ID)); err != nil {
				n.st.Release(q, it.ID)
			}
		}
	}
}

// parseUint is strconv.ParseUint(s, base, 64) == nil for base 10 or 16,
// without an error value.
func parseUint(s string, base uint64) (uint64, bool) {
	if s == "" || len(s) > 64 {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		var d uint64
		switch {
		case '0' <= c && c <= '9':
			d = uint64(c - '0')
		case base == 16 && 'a' <= c && c <= 'f':
			d = uint64(c-'a') + 10
		case base == 16 && 'A' <= c && c <= 'F':
			d = uint64(c-'A') + 10
		default:
			return 0, false
		}
		if v > (1<<64-1-d)/base {
			return 0, false // overflow
		}
		v = v*base + d
	}
	return v, true
}
