package ismg

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/federation"
	"github.com/tandem-sms/tandem/ismg/queue"
)

// A forwarder drains one fwd:<gw> queue to the peer gateway gw over
// CMPP_FWD, in the dispatcher's pipeline shape (dispatch.go): it leases a
// batch, commits its in-flight record asynchronously, and its sender sends
// the marked batches (waiting there, never on the dispatcher, for the
// peer's window). Store and forward per hop: an item leaves the queue only
// when the peer's FWD_RESP Result 0 came — an MT moves to await (its
// status report comes back as a type 2 FWD), anything else is removed.
// A FWD that times out, is refused with a temporary Result or cannot be
// sent is resent with backoff (federation.retry_min..retry_max) until its
// validity ends; then an MT is reported EXPIRED to its SP. While the peer
// is unreachable nothing is leased, so the queue waits and flows in order
// when the peer returns.
type forwarder struct {
	n  *Node
	gw string
	// sib and sp are set on a sibling queue's forwarder (sib:<node>/<sp>,
	// sibling.go): it sends to sibling node sib, gw being our own code.
	sib, sp string
	q       queueRef
	durable *slots // MTs leased and not durably settled: the crash-resend bound
	marked  chan []fwdJob
	quit    chan struct{}
}

// fwdJob is one leased item with the FWD built from it.
type fwdJob struct {
	it  queue.Item
	mt  *mtRecord  // an MT (Msg_Fwd_Type 0), or nil
	out *outRecord // an MO or a status report (1, 2, 3), or nil
	f   *cmpp.Fwd
	b   *inflightBatch
}

// forwardWindow is the most FWDs a forwarder keeps marked in flight: twice
// the peer's window, so the next batch is marked while one is on the wire.
func (n *Node) forwardWindow(gw string) int {
	w := n.cfg.Federation.Window
	for _, p := range n.cfg.Federation.Peers {
		if p.Code == gw && p.Window > 0 {
			w = p.Window
		}
	}
	if w <= 0 {
		w = 16
	}
	return 2 * w * max(1, n.cfg.Federation.Sessions)
}

// peerVersion is the CMPP version our link to gw speaks (the layout of a
// status report we forward).
func (n *Node) peerVersion(gw string) cmpp.Version {
	v := n.cfg.Federation.Version
	for _, p := range n.cfg.Federation.Peers {
		if p.Code == gw && p.Version != "" {
			v = p.Version
		}
	}
	if ver, err := federation.ParseVersion(v); err == nil && v != "" {
		return ver
	}
	return cmpp.V30
}

// run leases from the queue until ctx ends, then waits for what it leased
// to settle (bounded by hard) and stops its sender.
func (fw *forwarder) run(ctx, hard context.Context) error {
	n := fw.n
	var wg sync.WaitGroup
	wg.Go(func() { fw.sendMarked(hard) })
	defer func() {
		fw.durable.waitAll(hard) // drain: every leased item settled
		close(fw.quit)
		wg.Wait()
	}()
	marking := make(chan struct{}, markDepth) // as the SMSC dispatcher's (dispatch.go)
	for {
		select {
		case marking <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		<-marking
		if !fw.waitPeer(ctx, hard) {
			return nil
		}
		free, ok := fw.durable.takeAll(ctx)
		if !ok {
			return nil
		}
		items, err := n.st.Lease(fw.q.queue(), time.Now(), free)
		fw.durable.put(free - len(items))
		if err != nil {
			n.log.Error("lease", LogKeyQueue, fw.q.queue(), LogKeyErr, err)
			return err
		}
		if len(items) == 0 {
			wctx, cancel := context.WithTimeout(ctx, n.cfg.Delivery.ExpirySweep)
			err := n.st.Wait(wctx, fw.q.queue())
			cancel()
			if ctx.Err() != nil {
				return nil
			}
			_ = err // a timeout: look at the peer again
			continue
		}
		marking <- struct{}{}
		if !fw.start(hard, items, func() { <-marking }) {
			<-marking
		}
	}
}

// waitPeer waits until a session to the peer is logged in, ending what
// expires meanwhile every delivery.expiry_sweep. It returns false when
// ctx ends.
func (fw *forwarder) waitPeer(ctx, hard context.Context) bool {
	for {
		l := fw.n.peers.Link(fw.gw)
		if fw.sib != "" {
			l = fw.n.peers.Sibling(fw.sib)
		}
		if l != nil {
			wctx, cancel := context.WithTimeout(ctx, fw.n.cfg.Delivery.ExpirySweep)
			err := l.WaitReady(wctx)
			cancel()
			if err == nil {
				return true
			}
		} else {
			if fw.sib != "" {
				fw.n.returnHome(hard, fw.q) // see below
			}
			// No link: the gateway left the table or has no fwd_addr.
			// Wait for a route change to bring one.
			t := time.NewTimer(fw.n.cfg.Delivery.ExpirySweep)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		}
		if ctx.Err() != nil {
			return false
		}
		if fw.sib != "" && fw.sp != relaySP {
			// The sibling is gone, draining or unreachable: what waits
			// for it goes back to the SP's queue, whose deliverer decides
			// again (this node, another sibling, or wait).
			fw.n.returnHome(hard, fw.q)
			continue
		}
		fw.expireWaiting(hard)
	}
}

// expireWaiting ends the due items whose validity passed while the peer
// was unreachable: an MT gets its EXPIRED report, anything else is dropped
// and logged. It runs on the forwarder, so nothing else leases meanwhile.
func (fw *forwarder) expireWaiting(hard context.Context) {
	fw.n.sweepExpired(fw.q, func(it queue.Item, now time.Time) (ended, stop bool) {
		return fw.expired(hard, it, now), false
	})
}

// expired ends item it if its validity passed: true when it is gone.
func (fw *forwarder) expired(hard context.Context, it queue.Item, now time.Time) bool {
	n := fw.n
	if r, err := decodeMT(it.Value); err == nil {
		if r.ValidUntil.IsZero() || !now.After(r.ValidUntil) {
			return false
		}
		n.m.Expired.WithLabelValues("fwd").Inc()
		return n.finalReport(hard, fw.q, it.ID, &r, cmpp.StatExpired, "expired", "")
	}
	o, err := decodeOut(it.Value)
	if err == nil && (o.Created.IsZero() || now.Sub(o.Created) <= n.cfg.Delivery.DeliverTTL) {
		return false
	}
	n.m.Expired.WithLabelValues("fwd").Inc()
	n.log.Warn("FWD expired undelivered: the peer gateway did not take it in time", "peer", fw.gw,
		LogKeyMsgID, it.ID, "fwd_type", o.FwdType, LogKeyErr, err)
	return n.commit(hard, queue.Remove(fw.q.queue(), it.ID)) == nil
}

// start builds the FWDs of a leased batch, commits its in-flight record
// asynchronously and hands it to the sender from the commit callback, then
// calls marked; it returns false if nothing was left to mark.
func (fw *forwarder) start(hard context.Context, items []queue.Item, marked func()) bool {
	n := fw.n
	now := time.Now()
	jobs := make([]fwdJob, 0, len(items))
	keep := make([]queue.Item, 0, len(items))
	for _, it := range items {
		j, err := fw.build(it)
		if err != nil {
			n.log.Error("dropping undecodable FWD item", LogKeyQueue, fw.q.queue(), LogKeyMsgID, it.ID, LogKeyErr, err)
			n.tasks.Go(func() {
				_ = n.commit(hard, queue.Remove(fw.q.queue(), it.ID))
				fw.durable.put(1)
			})
			continue
		}
		if (j.mt != nil && !j.mt.ValidUntil.IsZero() && now.After(j.mt.ValidUntil)) ||
			(j.out != nil && !j.out.Created.IsZero() && now.Sub(j.out.Created) > n.cfg.Delivery.DeliverTTL) {
			n.tasks.Go(func() {
				if !fw.expired(hard, it, now) {
					n.st.Release(fw.q.queue(), it.ID)
				}
				fw.durable.put(1)
			})
			continue
		}
		if j.mt != nil {
			if to, ok := fw.rehome(j.mt); ok {
				n.tasks.Go(func() {
					fw.moveHome(hard, it, j.mt, to)
					fw.durable.put(1)
				})
				continue
			}
		}
		jobs = append(jobs, j)
		keep = append(keep, it)
	}
	if len(keep) == 0 {
		return false
	}
	n.markAsync(fw.q, keep, func(b *inflightBatch) {
		for i := range jobs {
			jobs[i].b = b
		}
		fw.marked <- jobs // room for every batch: each holds a durable slot
	}, func() { fw.durable.put(1) }, marked)
	return true
}

// sendMarked is the forwarder's sender: it sends the FWDs of each marked
// batch in lease order, waiting for the peer's window when it is full.
func (fw *forwarder) sendMarked(hard context.Context) {
	n := fw.n
	for {
		select {
		case jobs := <-fw.marked:
			for i := range jobs {
				j := &jobs[i]
				rt := n.cfg.Federation.ResponseTimeout
				if rt <= 0 {
					rt = 60 * time.Second
				}
				t0 := time.Now()
				cb := func(resp *cmpp.FwdResp, err error) { fw.answered(hard, j, t0, err) }
				var err error
				if fw.sib != "" {
					err = n.peers.SendSibling(hard, fw.sib, j.f, t0.Add(rt), cb)
				} else {
					err = n.peers.SendAsync(hard, j.f, t0.Add(rt), cb)
				}
				if err != nil {
					n.tasks.Go(func() { fw.failed(hard, j, err) })
				}
			}
		case <-fw.quit:
			return
		}
	}
}

// answered runs on the link's reader (or its timeout sweeper): it must not
// block. Result 0 settles the item with CommitAsync; anything else is
// handled on a task.
func (fw *forwarder) answered(hard context.Context, j *fwdJob, t0 time.Time, err error) {
	n := fw.n
	if err != nil {
		n.tasks.Go(func() { fw.failed(hard, j, err) })
		return
	}
	n.m.FwdLatency.WithLabelValues(fw.gw).Observe(time.Since(t0).Seconds())
	n.m.FwdSent.WithLabelValues(fw.gw, fwdTypeName(j.f.MsgFwdType), "ok").Inc()
	var op queue.Op
	if j.mt != nil {
		// The peer has it: the MT now waits for its status report, which
		// comes back as a type 2 FWD, until delivery.report_timeout.
		j.mt.Peer = fw.gw
		op = queue.Move(fw.q.queue(), qAwait, j.it.ID, time.Now().Add(n.cfg.Delivery.ReportTimeout), j.mt.Append(nil))
	} else {
		op = queue.Remove(fw.q.queue(), j.it.ID)
	}
	n.st.CommitAsync([]queue.Op{op}, func(err error) {
		if err != nil {
			// The peer has it but we could not record that: leave it in
			// flight here, so it is sent again (the peer drops the copy).
			n.noteStoreErr(err)
			n.log.Error("store a forwarded message's outcome", LogKeyMsgID, j.it.ID, "peer", fw.gw, LogKeyErr, err)
			n.st.Release(fw.q.queue(), j.it.ID)
		}
		n.inflightDone(j.b)
		fw.durable.put(1)
	})
}

// failed handles a FWD that was not taken: a temporary failure (timeout,
// flow control, no session, connection lost) is resent after a backoff, a
// refusal (the peer said the message is wrong, or not its to take) ends
// it: an MT with a failure report to its SP (MF:00rr, rr the FWD_RESP
// Result), anything else dropped with a log line.
func (fw *forwarder) failed(hard context.Context, j *fwdJob, err error) {
	n := fw.n
	defer func() {
		n.inflightDone(j.b)
		fw.durable.put(1)
	}()
	kind := federation.Classify(err)
	if federation.Temporary(err) {
		n.m.FwdSent.WithLabelValues(fw.gw, fwdTypeName(j.f.MsgFwdType), "retry").Inc()
		var v []byte
		attempts := 0
		if j.mt != nil {
			j.mt.Attempts++
			attempts, v = int(j.mt.Attempts), j.mt.Append(nil)
		} else {
			j.out.Attempts++
			attempts, v = int(j.out.Attempts), j.out.Append(nil)
		}
		delay := backoff(n.cfg.Federation.RetryMin, n.cfg.Federation.RetryMax, attempts)
		if federation.LinkFailure(err) {
			// A cut link: retried as soon as it is back (waitPeer holds the
			// queue meanwhile), not minutes later after a backoff that grew
			// through the outage.
			delay = n.cfg.Federation.RetryMin
		}
		due := time.Now().Add(delay)
		if cerr := n.commit(hard, queue.Update(fw.q.queue(), j.it.ID, due, v)); cerr != nil {
			n.log.Error("schedule FWD resend", LogKeyMsgID, j.it.ID, LogKeyErr, cerr)
		}
		n.st.Release(fw.q.queue(), j.it.ID)
		return
	}
	n.m.FwdSent.WithLabelValues(fw.gw, fwdTypeName(j.f.MsgFwdType), "refused").Inc()
	result := uint32(99)
	var re *federation.ResultError
	if errors.As(err, &re) {
		result = re.Result
	}
	n.log.Warn("peer gateway refused a FWD", "peer", fw.gw, "sibling", fw.sib, LogKeyMsgID, j.it.ID, "kind", kind.String(), "result", result, LogKeyErr, err)
	if fw.sib != "" {
		n.returnOne(hard, fw.q, j.it.ID) // the SP's deliverer decides again
		return
	}
	if j.mt != nil {
		n.finalReport(hard, fw.q, j.it.ID, j.mt, fmt.Sprintf("MF:%04d", result%10000), "peer", "")
		return
	}
	if cerr := n.commit(hard, queue.Remove(fw.q.queue(), j.it.ID)); cerr != nil {
		n.st.Release(fw.q.queue(), j.it.ID)
	}
}

// rehome says where an MT queued for this peer goes now, if the route
// table no longer makes the peer its number's home: routes are decided
// when a message is sent, so that a route change (or a peer that sent a
// message back because the tables disagreed for a moment) moves what
// waits here instead of sending it one hop too far, or in a circle.
func (fw *forwarder) rehome(r *mtRecord) (queueRef, bool) {
	to, _, ok := fw.n.routeMT(fw.n.table(), r.Dest)
	if !ok || to == fw.q {
		return queueRef{}, false
	}
	return to, true
}

// moveHome moves a leased MT to the queue of its number's new home: this
// gateway's SMSC link, or another peer. Its CDR keeps the gateway chosen
// when it was accepted (the one record written then).
func (fw *forwarder) moveHome(hard context.Context, it queue.Item, r *mtRecord, to queueRef) {
	n := fw.n
	r.Link = ""
	if to.kind == queueMT {
		r.Link = to.name
	}
	if err := n.commit(hard, queue.Move(fw.q.queue(), to.queue(), it.ID, time.Time{}, r.Append(nil))); err != nil {
		n.log.Error("move an MT to its number's new home", LogKeyMsgID, it.ID, LogKeyQueue, to, LogKeyErr, err)
		n.st.Release(fw.q.queue(), it.ID)
		return
	}
	if to.kind == queueFwd {
		n.ensureFwdQueue(to)
	}
	n.m.FwdRerouted.Inc()
	n.log.Info("MT rerouted: its number's home changed while it waited", LogKeyMsgID, it.ID, "peer", fw.gw, LogKeyQueue, to)
}

// build decodes a leased item and makes its FWD.
func (fw *forwarder) build(it queue.Item) (fwdJob, error) {
	n := fw.n
	j := fwdJob{it: it}
	if r, err := decodeMT(it.Value); err == nil {
		r.Attempts++
		j.mt = &r
		j.f = n.mtFwd(fw.gw, it.ID, &r)
		return j, nil
	}
	o, err := decodeOut(it.Value)
	if err != nil {
		return j, err
	}
	o.Attempts++
	j.out = &o
	if fw.sib != "" {
		j.f = n.sibFwd(fw.sp, it.ID, &o)
		return j, nil
	}
	j.f = n.outFwd(fw.gw, it.ID, &o)
	return j, nil
}

// mtFwd is the type 0 FWD of an MT for peer gw.
func (n *Node) mtFwd(gw string, id uint64, r *mtRecord) *cmpp.Fwd {
	return &cmpp.Fwd{
		SourceID: n.gw, DestinationID: gw, NodesCount: r.Nodes + 1, MsgFwdType: cmpp.FwdMT, MsgID: id,
		PkTotal: r.PkTotal, PkNumber: r.PkNumber, RegisteredDelivery: r.RegisteredDelivery, MsgLevel: r.MsgLevel,
		ServiceID: r.ServiceID, FeeUserType: r.FeeUserType, FeeTerminalID: r.FeeTerminalID,
		TPPID: r.TPPID, TPUDHI: r.TPUDHI, MsgFmt: r.MsgFmt, MsgSrc: r.SPID, FeeType: r.FeeType, FeeCode: r.FeeCode,
		ValidTime: cmpp.FormatTime(r.ValidUntil, n.loc), SrcID: r.SrcID, DestID: r.Dest,
		MsgContent: string(r.Content), LinkID: r.LinkID,
	}
}

// outFwd is the FWD of an out record waiting in fwd:<gw>: an MO (type 1),
// an MT status report going back to the MT's gateway (2), or an MO status
// report going back to the MO's gateway (3).
func (n *Node) outFwd(gw string, id uint64, o *outRecord) *cmpp.Fwd {
	f := &cmpp.Fwd{
		SourceID: n.gw, DestinationID: gw, NodesCount: o.Nodes + 1, MsgID: id, PkTotal: 1, PkNumber: 1,
		ServiceID: o.ServiceID, TPPID: o.TPPID, LinkID: o.LinkID,
	}
	switch o.FwdType {
	case cmpp.FwdMTReport:
		// Src_Id: the MSISDN that received the MT; Dest_Id: the SP's
		// service code (protocols.md §1.11).
		f.SrcID, f.DestID = o.SrcTerminalID, o.DestID
		rep := cmpp.Report{MsgID: o.OrigMsgID, Stat: o.Stat, SubmitTime: o.SubmitTime, DoneTime: o.DoneTime,
			DestTerminalID: o.DestTerminalID, SMSCSequence: o.SMSCSequence}
		f.SetReport(&rep, n.peerVersion(gw))
	case cmpp.FwdMOReport:
		// Src_Id: the SP's service code; Dest_Id: the MSISDN of the MO.
		f.SrcID, f.DestID = o.DestID, o.SrcTerminalID
		rep := cmpp.MOReport{MsgID: o.OrigMsgID, Stat: o.Stat, DeliverTime: o.SubmitTime,
			DeliverRespTime: o.DoneTime, DestID: o.DestID}
		f.SetMOReport(&rep)
	default:
		f.MsgFwdType = cmpp.FwdMO
		f.SrcID, f.DestID = o.SrcTerminalID, o.DestID
		f.TPUDHI, f.MsgFmt, f.MsgContent = o.TPUDHI, o.MsgFmt, string(o.Content)
	}
	return f
}

func fwdTypeName(t uint8) string {
	switch t {
	case cmpp.FwdMT:
		return "mt"
	case cmpp.FwdMO:
		return "mo"
	case cmpp.FwdMTReport:
		return "mt_report"
	case cmpp.FwdMOReport:
		return "mo_report"
	}
	return "unknown"
}
