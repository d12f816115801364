package ismg

import (
	"errors"
	"time"

	"github.com/tandem-sms/tandem/billing"
	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/ismg/queue"
)

// Receiving CMPP_FWD (federation.FwdReceiver). Store and forward per hop:
// the FWD_RESP with Result 0 goes back only once what the FWD carried is in
// this gateway's store, its CDR with it (one commit, as a SUBMIT). In the
// same commit goes the FWD's dedup key, so a resend —
// after a lost FWD_RESP, a timeout or a reconnect — is answered Result 0
// and dropped, never delivered twice (fwddedup.go).
//
//	type 0 MT         the number is ours: into mt:<link>, its report later
//	                  goes back to the sender as type 2; not ours (a route
//	                  change, tables that disagree): on to its home gateway
//	type 1 MO         the SP partition is ours: into out:<sp>, the SP's
//	                  DELIVER_RESP answered later with a type 3 to the
//	                  sender; else on to the partition's gateway
//	type 2 MT report  the MT we forwarded waits in await: its report goes
//	                  to its SP (or further back, if it came from a peer)
//	type 3 MO report  counted and billed; nothing goes on
//
// NodesCount goes up by one per hop; a FWD that would go on past
// federation.max_nodes is refused with Result 9 (forward decision error):
// its sender reports the MT failed to its SP.

// ReceiveFwd takes one FWD from peer on the session's reader: it must not
// block. respond is called from the commit's callback.
func (n *Node) ReceiveFwd(peer string, f *cmpp.Fwd, respond func(result uint32)) {
	if f.MsgFwdType == cmpp.FwdMTReport && peer != n.gw {
		if an := n.adoptedOwner(f.MsgID); an != nil {
			an.ReceiveFwd(peer, f, respond) // its MT waits in the adopted store (adopt.go)
			return
		}
	}
	typ := fwdTypeName(f.MsgFwdType)
	answer := func(result uint32, outcome string) {
		n.m.FwdReceived.WithLabelValues(peer, typ, outcome).Inc()
		respond(result)
	}
	bucket, key := dedupKey(f)
	if peer == n.gw {
		// A sibling's FWD (sibling.go): the same record may come back
		// after a round trip between siblings, one hop further each time.
		key = append(key, f.NodesCount)
	}
	if _, err := n.st.GetKV(bucket, key); err == nil {
		answer(cmpp.ResultOK, "duplicate") // already durable here: the FWD_RESP was lost
		return
	}
	in, ref := n.fwdIn(peer, f)
	if ref != accepted {
		if ref.reason == reasonFwdLoop {
			n.m.FwdLoops.Inc()
			n.connLog.Do(func() {
				n.log.Warn("FWD refused: it would pass more gateways than federation.max_nodes",
					"peer", peer, LogKeyMsgID, f.MsgID, "nodes", f.NodesCount)
			})
		}
		answer(ref.result, ref.reason)
		return
	}
	if !in.noKey {
		in.ops = append(in.ops, queue.Put(bucket, key, nil))
	}
	n.st.CommitAsync(in.ops, func(err error) {
		if in.unlock != nil {
			in.unlock()
		}
		switch {
		case err == nil:
			if in.done != nil {
				in.done()
			}
			if in.result != cmpp.ResultOK {
				answer(in.result, "reclaimed")
				return
			}
			answer(cmpp.ResultOK, "ok")
		case errors.Is(err, queue.ErrDuplicate):
			// The same FWD, resent while its first copy was committing.
			answer(cmpp.ResultOK, "duplicate")
		default:
			n.noteStoreErr(err)
			n.log.Warn("FWD not stored", "peer", peer, LogKeyMsgID, f.MsgID, LogKeyErr, err)
			answer(cmpp.ResultFlowControl, reasonStore) // the peer resends it
		}
	})
}

// fwdIntake is what storing a received FWD takes: the ops of its commit
// (its CDR among them) and what to do once it is durable.
type fwdIntake struct {
	ops    []queue.Op
	result uint32 // the FWD_RESP Result once ops are durable: 0, or 9 for a reclaimed bounce
	noKey  bool   // no dedup key: a resend must be decided again
	done   func() // after a successful commit (on the callback: must not block)
	unlock func() // after the commit, whatever its outcome
}

const (
	reasonFwdLoop   = "loop"     // NodesCount at federation.max_nodes
	reasonFwdRoute  = "no_route" // not ours and no gateway to pass it to
	reasonFwdBusy   = "busy"     // its message is being worked on: resend later
	reasonFwdEarly  = "early"    // an MT report ahead of its MT's move to await: resend later
	reasonFwdBounce = "bounce"   // an MT we forwarded to the sender, sent back: resend later
	reasonFwdStruct = "structure"
	// reasonFwdOwnerDown: an MT report for an MT another node of this
	// gateway forwarded, and that node is not alive: resend later.
	reasonFwdOwnerDown = "owner_down"
)

// fwdIn decides what a received FWD becomes.
func (n *Node) fwdIn(peer string, f *cmpp.Fwd) (fwdIntake, refusal) {
	if peer == n.gw {
		return n.fwdInSibling(f)
	}
	switch f.MsgFwdType {
	case cmpp.FwdMT:
		return n.fwdInMT(peer, f)
	case cmpp.FwdMO:
		return n.fwdInMO(peer, f)
	case cmpp.FwdMTReport:
		return n.fwdInReport(peer, f)
	case cmpp.FwdMOReport:
		n.m.FwdMOReports.Inc()
		return fwdIntake{}, accepted
	}
	return fwdIntake{}, refusal{cmpp.ResultBadStructure, reasonFwdStruct}
}

// onward checks that a FWD may go one more hop.
func (n *Node) onward(f *cmpp.Fwd) refusal {
	if int(f.NodesCount) >= n.cfg.Federation.MaxNodes {
		return refusal{cmpp.ResultFwdDecision, reasonFwdLoop}
	}
	return accepted
}

// fwdInMT takes an MT forwarded to its number's home.
func (n *Node) fwdInMT(peer string, f *cmpp.Fwd) (fwdIntake, refusal) {
	q, num, ok := n.routeMT(n.table(), f.DestID)
	if !ok {
		return fwdIntake{}, refusal{cmpp.ResultFwdDecision, reasonFwdRoute}
	}
	if q.kind == queueFwd {
		if ref := n.onward(f); ref != accepted {
			return fwdIntake{}, ref
		}
	}
	if queued, waiting := n.passedHere(peer, f.MsgID); queued || waiting != nil {
		return n.fwdInBounce(peer, f, q, waiting)
	}
	now := time.Now()
	valid, err := cmpp.ParseTime(f.ValidTime, now, n.loc)
	if err != nil {
		return fwdIntake{}, refusal{cmpp.ResultBadStructure, reasonTime}
	}
	if valid.IsZero() {
		valid = now.Add(n.cfg.Delivery.DefaultValidity)
	}
	due := now
	if at, err := cmpp.ParseTime(f.AtTime, now, n.loc); err == nil && at.After(now) {
		due = at
	}
	r := mtRecord{
		SPID: f.MsgSrc, ServiceID: f.ServiceID, SrcID: f.SrcID, Dest: num,
		FeeUserType: f.FeeUserType, FeeType: f.FeeType, FeeCode: f.FeeCode, FeeTerminalID: f.FeeTerminalID,
		RegisteredDelivery: f.RegisteredDelivery, MsgLevel: f.MsgLevel, PkTotal: f.PkTotal, PkNumber: f.PkNumber,
		TPPID: f.TPPID, TPUDHI: f.TPUDHI, MsgFmt: f.MsgFmt, LinkID: f.LinkID,
		Submitted: now, ValidUntil: valid, Content: []byte(f.MsgContent),
		fedFields: fedFields{FromGW: peer, Nodes: f.NodesCount},
	}
	if q.kind == queueMT {
		r.Link = q.name
	}
	in := fwdIntake{ops: n.cdrOps([]queue.Op{queue.Enqueue(q.queue(), f.MsgID, due, r.Append(nil))}, n.mtCDR(f.MsgID, &r, q))}
	if q.kind == queueFwd {
		in.done = func() { n.ensureFwdQueue(q) }
	}
	return in, accepted
}

// passedHere says whether MT id already went from here to peer: it is still
// queued for peer in fwd:<peer>, or peer took it and its record waits in
// await for peer's report (waiting).
func (n *Node) passedHere(peer string, id uint64) (queued bool, waiting *mtRecord) {
	if _, err := n.st.Get(n.fwdQueueOf(peer).queue(), id); err == nil {
		return true, nil
	}
	it, err := n.st.Get(qAwait, id)
	if err != nil {
		return false, nil
	}
	if r, err := decodeMT(it.Value); err == nil && r.Peer == peer {
		return false, &r
	}
	return false, nil
}

// fwdInBounce takes an MT that peer sends back to us after we forwarded it
// there: for a moment the tables disagree about its number's home.
//
// If our table says the home is peer — it and we each think the other —
// the MT is refused with Result 8: peer resends it after its backoff and,
// deciding the route again when it sends (fwdsend.go rehome), takes it
// where its table says by then. Taking it would run it in a circle, its
// id colliding with itself in our queues.
//
// If our table now says the home is here, or a third gateway, while our
// record waits for peer's report, that record is the message: it moves
// from await to where the number now goes, in one commit, and peer gets
// Result 9 for its copy, which it ends with a failure report back to us
// (dropped: the record no longer waits for peer). Refusing would leave
// both sides waiting on each other for good.
func (n *Node) fwdInBounce(peer string, f *cmpp.Fwd, to queueRef, waiting *mtRecord) (fwdIntake, refusal) {
	if to == n.fwdQueueOf(peer) || waiting == nil {
		// (Still queued for peer: our forwarder has it in hand; the
		// resend finds it acknowledged or not.)
		return fwdIntake{}, refusal{cmpp.ResultFlowControl, reasonFwdBounce}
	}
	mu := n.msgLocks.tryLock(f.MsgID)
	if mu == nil {
		// Its report is being applied: resend later.
		return fwdIntake{}, refusal{cmpp.ResultFlowControl, reasonFwdBusy}
	}
	if _, w := n.passedHere(peer, f.MsgID); w == nil {
		n.msgLocks.unlock(f.MsgID, mu)
		return fwdIntake{}, refusal{cmpp.ResultFlowControl, reasonFwdBusy} // finished meanwhile
	}
	r := *waiting
	r.Peer, r.Link = "", ""
	if to.kind == queueMT {
		r.Link = to.name
	}
	in := fwdIntake{
		ops:    []queue.Op{queue.Move(qAwait, to.queue(), f.MsgID, time.Time{}, r.Append(nil))},
		result: cmpp.ResultFwdDecision,
		noKey:  true,
		unlock: func() { n.msgLocks.unlock(f.MsgID, mu) },
	}
	if to.kind == queueFwd {
		in.done = func() { n.ensureFwdQueue(to) }
	}
	n.m.FwdRerouted.Inc()
	return in, accepted
}

// fwdInMO takes an MO forwarded to the gateway of its SP's partition.
func (n *Node) fwdInMO(peer string, f *cmpp.Fwd) (fwdIntake, refusal) {
	code := f.DestID
	// The partition is the one covering the MO's gateway's region: ask as
	// that gateway did.
	mo, err := n.table().ResolveMO(code, peer)
	if err != nil {
		return fwdIntake{}, refusal{cmpp.ResultFwdDecision, reasonFwdRoute}
	}
	q := n.outQueueOf(mo.SP.ID)
	if mo.Gateway.Code != n.gw {
		if ref := n.onward(f); ref != accepted {
			return fwdIntake{}, ref
		}
		q = n.fwdQueueOf(mo.Gateway.Code)
	}
	now := time.Now()
	o := outRecord{
		DestID: code, ServiceID: f.ServiceID, TPPID: f.TPPID, TPUDHI: f.TPUDHI, MsgFmt: f.MsgFmt,
		SrcTerminalID: f.SrcID, LinkID: f.LinkID, Content: []byte(f.MsgContent), Created: now,
		fedFields: fedFields{FromGW: peer, Nodes: f.NodesCount, FwdType: cmpp.FwdMO},
	}
	rec := n.bill(billing.KindMO, f.MsgID, q)
	rec.Direction, rec.PrevGateway = billing.DirFwdIn, peer
	rec.SPID, rec.Src, rec.Dest, rec.Segments, rec.SegmentNo = mo.SP.ID, f.SrcID, code, 1, 1
	rec.SubmitTime, rec.MsgFmt, rec.Length = now, f.MsgFmt, uint32(len(f.MsgContent))
	in := fwdIntake{ops: n.cdrOps([]queue.Op{queue.Enqueue(q.queue(), f.MsgID, time.Time{}, o.Append(nil))}, rec)}
	in.done = func() {
		if q.kind == queueFwd {
			n.ensureFwdQueue(q)
		} else {
			n.stats.moQueued(mo.SP.ID, now)
		}
	}
	return in, accepted
}

// fwdInReport takes the status report of an MT we forwarded: the MT waits
// in await, moved there when the peer acknowledged it. A report can
// overtake that move — the peer's SMSC was quick, or our FWD_RESP was lost
// and the MT is still in fwd:<peer> until it is resent and acknowledged —
// and is then refused with Result 8: the peer resends it after its backoff,
// when the MT has reached await. Nothing is parked, so nothing can be left
// behind by a move that commits beside a park, or by a crash between them.
func (n *Node) fwdInReport(peer string, f *cmpp.Fwd) (fwdIntake, refusal) {
	rep, err := f.Report()
	if err != nil {
		return fwdIntake{}, refusal{cmpp.ResultBadStructure, reasonFwdStruct}
	}
	id := f.MsgID
	mu := n.msgLocks.tryLock(id)
	if mu == nil {
		// A receipt or the sweeper is on this message: resend later.
		return fwdIntake{}, refusal{cmpp.ResultFlowControl, reasonFwdBusy}
	}
	unlock := func() { n.msgLocks.unlock(id, mu) }
	// fwd:<peer> first: the move commits between the two reads or not at
	// all, so the MT is found in one of them (in the other order a move
	// between the reads would hide it from both).
	if _, err := n.st.Get(n.fwdQueueOf(peer).queue(), id); err == nil {
		unlock()
		return fwdIntake{}, refusal{cmpp.ResultFlowControl, reasonFwdEarly}
	}
	it, err := n.st.Get(qAwait, id)
	var r mtRecord
	if err == nil {
		r, err = decodeMT(it.Value)
	}
	if err != nil || r.Peer != peer {
		unlock()
		if in, ref, relayed := n.relayReport(peer, f, &rep); relayed {
			// Another node of this gateway forwarded the MT (sibling.go).
			return in, ref
		}
		n.m.FwdReportsUnknown.Inc()
		n.log.Info("MT report for a message not waiting here dropped", "peer", peer, LogKeyMsgID, id, "stat", rep.Stat)
		return fwdIntake{}, accepted // nothing to do; the key still drops its resends
	}
	done := reportDone(rep.DoneTime, n.loc)
	return fwdIntake{
		ops:    n.reportOps(awaitQueue, id, &r, rep.Stat, "", done, nil),
		done:   func() { n.reportCommitted(nil, awaitQueue, id, &r, "peer") },
		unlock: unlock,
	}, accepted
}

// reportDone reads a report's Done_time, or now.
func reportDone(s string, loc *time.Location) time.Time {
	if t, err := cmpp.ParseReportTime(s, loc); err == nil && !t.IsZero() {
		return t
	}
	return time.Now()
}
