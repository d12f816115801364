package ismg

import (
	"errors"
	"time"

	"github.com/tandem-sms/tandem/billing"
)

// writeCDR buffers one bill record; a failure marks billing broken, which
// refuses new SUBMITs (flow control) rather than accepting unbilled ones.
func (n *Node) writeCDR(r billing.Record) {
	if err := n.cdr.Write(r); err != nil {
		n.m.BillingErrors.Inc()
		if n.billingBad.CompareAndSwap(false, true) {
			n.log.Error("billing failed: SUBMITs are refused until restart", LogKeyErr, err)
		}
	}
}

// noteCDRSync accounts for a failed CDR fsync: billing is marked broken,
// which refuses new SUBMITs (flow control) rather than accepting unbilled
// ones.
func (n *Node) noteCDRSync(err error) {
	if err == nil || errors.Is(err, errSyncStopped) {
		return
	}
	n.m.BillingErrors.Inc()
	if n.billingBad.CompareAndSwap(false, true) {
		n.log.Error("billing sync failed: SUBMITs are refused until restart", LogKeyErr, err)
	}
}

// bill starts the CDR of message id: the fields every kind shares, with
// the direction of the queue the message leaves through (a fwd:<gw> queue
// bills it forwarded out to gw). The kinds fill in the rest: mtCDR and
// reportCDR from the MT's record, handleMO from the deliver_sm.
func (n *Node) bill(kind billing.Kind, id uint64, via queueRef) billing.Record {
	dir, next := via.billing()
	return billing.Record{Kind: kind, MsgID: id, HandlingGateway: n.gw, Direction: dir, NextGateway: next}
}

// mtCDR is the MT record of an accepted SUBMIT destination.
func (n *Node) mtCDR(id uint64, r *mtRecord, via queueRef) billing.Record {
	rec := n.bill(billing.KindMT, id, via)
	if r.FromGW != "" {
		// Received from a peer (and, if via is a fwd queue, passed on).
		rec.Direction, rec.PrevGateway = billing.DirFwdIn, r.FromGW
	}
	rec.SPID, rec.ServiceID = r.SPID, r.ServiceID
	rec.FeeUserType, rec.FeeType, rec.FeeCode, rec.FeeTerminalID = r.FeeUserType, r.FeeType, r.FeeCode, r.FeeTerminalID
	rec.Src, rec.Dest, rec.Segments, rec.SegmentNo = r.SrcID, r.Dest, r.PkTotal, r.PkNumber
	rec.SubmitTime, rec.MsgFmt, rec.Length = r.Submitted, r.MsgFmt, uint32(len(r.Content))
	return rec
}

// reportRecord is the REPORT record that settles an MT with stat.
func (n *Node) reportRecord(id uint64, r *mtRecord, via queueRef, stat string, done time.Time) billing.Record {
	rec := n.mtCDR(id, r, via)
	rec.Kind, rec.FinalStatus, rec.DoneTime, rec.SMSCMsgID = billing.KindReport, stat, done, r.SMSCID
	return rec
}

// reportCDR writes the REPORT CDR of a final report before its commit: the
// committer fsyncs the CDRs written before it takes a batch (OnBatch), so
// the record is durable no later than the removal of the message it
// settles, and a crash cannot lose it. A commit that then fails leaves a
// second REPORT for the same Msg_Id when the message is finished again;
// billing settles an MT once (billing/FORMAT.md).
func (n *Node) reportCDR(via queueRef, id uint64, r *mtRecord, stat string, done time.Time) {
	n.writeCDR(n.reportRecord(id, r, via, stat, done))
}
