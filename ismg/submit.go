package ismg

import (
	"errors"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/ismg/queue"
	"github.com/tandem-sms/tandem/routing"
)

// submit accepts one CMPP_SUBMIT: checks, flow control, routing, one
// durable group commit for all its destinations, CDRs, and only then
// SUBMIT_RESP with the first Msg_Id.
func (n *Node) submit(s *cmpp.Session, h cmpp.Header, p *cmpp.Submit, c *spConn) {
	start := time.Now()
	sp := c.sp
	acct := sp.acct.Load()
	reject := func(result uint32, reason string) {
		n.m.Submits.WithLabelValues(sp.id, "rejected", reason).Inc()
		_ = s.Reply(h, &cmpp.SubmitResp{Result: result})
	}
	if acct == nil {
		reject(cmpp.ResultBadMsgSrc, reasonMsgSrc)
		return
	}
	if reason, refused := n.refuseAdmin(sp); refused {
		reject(cmpp.ResultFlowControl, reason)
		return
	}
	if c.inflight.Add(1) > int64(acct.Window) {
		c.inflight.Add(-1)
		reject(cmpp.ResultFlowControl, reasonWindow)
		return
	}
	stored := false // from here on, the answer comes from submitWait.finish
	defer func() {
		if !stored {
			c.inflight.Add(-1)
		}
	}()

	now := time.Now()
	times, ref := checkSubmit(p, sp.id, acct.ServiceCodes, now, n.loc, n.cfg.Delivery.DefaultValidity)
	if ref != accepted {
		reject(ref.result, ref.reason)
		return
	}
	at, valid := times.at, times.valid
	due := now
	if at.After(now) {
		due = at
	}
	if n.billingBad.Load() {
		reject(cmpp.ResultFlowControl, reasonBilling)
		return
	}
	if !sp.lim.Allow() {
		reject(cmpp.ResultFlowControl, reasonRate)
		return
	}
	if n.mtDepth() >= n.limits.Load().QueueDepth {
		reject(cmpp.ResultFlowControl, reasonQueue)
		return
	}

	if list, num := n.destCheck(sp.id, p.DestTerminalIDs); list != "" {
		n.refuseDest(s, h, p, sp, num, list, c)
		return
	}
	t := n.table()
	queues := make([]queueRef, len(p.DestTerminalIDs))
	dests := make([]string, len(p.DestTerminalIDs))
	for i, d := range p.DestTerminalIDs {
		q, num, ok := n.routeMT(t, d)
		if !ok {
			reject(cmpp.ResultBadDestTerminal, reasonDest)
			return
		}
		if q.kind == queueMT && n.overHighWater(q) {
			reject(cmpp.ResultFlowControl, reasonLinkHigh)
			return
		}
		queues[i], dests[i] = q, num
	}
	first, err := n.ids.next(len(dests))
	if err != nil {
		if errors.Is(err, cmpp.ErrMsgIDReserve) {
			reject(cmpp.ResultFlowControl, reasonMsgID)
		} else {
			reject(cmpp.ResultBadStructure, reasonStruct)
		}
		return
	}
	content := []byte(p.MsgContent)
	sw := n.getSubmitWait()
	if len(dests) == 1 {
		sw.ops, sw.recs, sw.queues = sw.op2[:1], sw.rec1[:], sw.q1[:]
		sw.queues[0] = queues[0]
	} else {
		sw.ops, sw.recs, sw.queues = make([]queue.Op, len(dests), 2*len(dests)), make([]mtRecord, len(dests)), queues
	}
	for i := range dests {
		r := &sw.recs[i]
		*r = mtRecord{
			SPID: sp.id, ServiceID: p.ServiceID, SrcID: p.SrcID, Dest: dests[i],
			FeeUserType: p.FeeUserType, FeeType: p.FeeType, FeeCode: p.FeeCode, FeeTerminalID: p.FeeTerminalID,
			RegisteredDelivery: p.RegisteredDelivery, MsgLevel: p.MsgLevel, PkTotal: p.PkTotal, PkNumber: p.PkNumber,
			TPPID: p.TPPID, TPUDHI: p.TPUDHI, MsgFmt: p.MsgFmt, LinkID: p.LinkID,
			Submitted: now, ValidUntil: valid, Content: content,
		}
		qdue := due
		if queues[i].kind == queueFwd {
			if n.peers == nil {
				// No federation: it waits for Valid_Time and is then
				// reported EXPIRED by the fwd sweeper.
				qdue = valid
			}
		} else {
			r.Link = queues[i].name
		}
		sw.ops[i] = queue.Enqueue(queues[i].queue(), first+uint64(i), qdue, r.Append(nil))
	}
	// The MT CDRs go in the same commit (the outbox, cdrout.go): a SUBMIT
	// that is not stored is not billed.
	for i := range sw.recs {
		sw.ops = n.cdrOps(sw.ops, n.mtCDR(first+uint64(i), &sw.recs[i], sw.queues[i]))
	}
	sw.s, sw.h, sw.sp, sw.c, sw.first, sw.start = s, h, sp, c, first, start
	stored = true
	// The handler (the session's reader) is free from here: the commit's
	// callback answers the SP (submitWait.finish).
	n.st.CommitAsync(sw.ops, sw.storeDone)
}

// routeMT picks the destination of a number: this gateway's numbers go to
// their segment's SMSC link (or the default link), others to the peer
// gateway that is their home (fwd:<gw>).
func (n *Node) routeMT(t *routing.Table, dest string) (q queueRef, num string, ok bool) {
	num, err := routing.NormalizeMSISDN(dest)
	if err != nil {
		return queueRef{}, "", false
	}
	r, err := t.ResolveMT(num)
	if err != nil {
		return queueRef{}, "", false
	}
	if r.Gateway.Code != n.gw {
		return n.fwdQueueOf(r.Gateway.Code), num, true
	}
	lr, ok := n.links[r.Segment.SMSC]
	if !ok {
		if lr, ok = n.links[n.defaultLink]; !ok {
			return queueRef{}, "", false
		}
	}
	return lr.q, num, true
}

// fwdQueueOf is the fwd:<gw> queue of gateway gw, named once per gateway
// so that routing a SUBMIT allocates nothing.
func (n *Node) fwdQueueOf(gw string) queueRef {
	if q, ok := n.fwdNames.Load(gw); ok {
		return q.(queueRef)
	}
	q, _ := n.fwdNames.LoadOrStore(gw, fwdQueue(gw))
	return q.(queueRef)
}

// mtDepth is the number of messages waiting for (or at) the SMSC links.
func (n *Node) mtDepth() int {
	d := 0
	for _, q := range n.mtQueues {
		d += n.st.Len(q)
	}
	return d
}

// submitWait is one stored SUBMIT between the handler and its answer
// (pooled in Node.submitWaits): the commit's ops and records, with room for
// the usual single destination and its CDR so that it allocates nothing
// per SUBMIT. storeDone, the commit's callback, runs on the store's
// finisher.
type submitWait struct {
	n         *Node
	storeDone func(error)

	s     *cmpp.Session
	h     cmpp.Header
	sp    *spRuntime
	c     *spConn
	first uint64
	start time.Time

	ops    []queue.Op
	recs   []mtRecord
	queues []queueRef
	op2    [2]queue.Op
	rec1   [1]mtRecord
	q1     [1]queueRef

	storeErr error
}

func (n *Node) getSubmitWait() *submitWait {
	if sw, ok := n.submitWaits.Get().(*submitWait); ok {
		return sw
	}
	sw := &submitWait{n: n}
	sw.storeDone = func(err error) {
		sw.storeErr = err
		sw.finish()
	}
	return sw
}

// finish answers the SUBMIT once its commit is done. It runs on the
// store's finisher, so it must not block: should the session's
// write queue be full (a peer that stopped reading), the answer is left to
// a goroutine.
func (sw *submitWait) finish() {
	n, s, sp := sw.n, sw.s, sw.sp
	resp := cmpp.SubmitResp{MsgID: sw.first, Result: cmpp.ResultOK}
	if err := sw.storeErr; err != nil {
		n.noteStoreErr(err)
		reason := reasonStore
		switch {
		case errors.Is(err, queue.ErrQueueFull), errors.Is(err, queue.ErrStoreFull):
			reason = reasonQueue
		case s.Context().Err() != nil:
			reason = reasonShutdown
		}
		n.log.Warn("SUBMIT not stored", LogKeySP, sp.id, LogKeyErr, err)
		n.m.Submits.WithLabelValues(sp.id, "rejected", reason).Inc()
		resp = cmpp.SubmitResp{Result: cmpp.ResultFlowControl}
	} else {
		for _, q := range sw.queues {
			if q.kind == queueFwd {
				n.ensureFwdQueue(q)
			}
		}
		for i := range sw.recs {
			r := &sw.recs[i]
			n.stats.mtAccepted(r.SPID, r.ServiceID, r.Submitted, r.Dest)
		}
		sp.mSubmitOK.Add(float64(len(sw.recs)))
		n.m.SubmitLatency.Observe(time.Since(sw.start).Seconds())
	}
	n.replyNoWait(s, sw.h, &resp)
	sw.c.inflight.Add(-1)
	n.putSubmitWait(sw)
}

func (n *Node) putSubmitWait(sw *submitWait) {
	sw.s, sw.sp, sw.c, sw.storeErr = nil, nil, nil, nil
	sw.ops, sw.recs, sw.queues = nil, nil, nil
	sw.op2, sw.rec1, sw.q1 = [2]queue.Op{}, [1]mtRecord{}, [1]queueRef{}
	n.submitWaits.Put(sw)
}

// overHighWater reports whether the queue of link q is at its high-water
// mark, counting and logging (rate-limited) which link pushes back.
func (n *Node) overHighWater(q queueRef) bool {
	lr := n.links[q.name]
	if lr == nil || lr.cfg.HighWater < 0 {
		return false
	}
	depth := n.st.Len(q.queue())
	if depth < lr.cfg.HighWater {
		return false
	}
	lr.mBackpressure.Inc()
	lr.hwLog.Do(func() {
		n.log.Warn("SMSC link queue over its high-water mark: SUBMITs for it get Result 8",
			LogKeyLink, lr.cfg.Name, "depth", depth, "high_water", lr.cfg.HighWater)
	})
	return true
}
