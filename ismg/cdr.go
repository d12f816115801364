package ismg

import (
	"time"

	"github.com/tandem-sms/tandem/billing"
)

// The CDRs of the node's messages, built from what they bill; cdrOps
// (cdrout.go) commits each with it.

// bill starts the CDR of message id: the fields every kind shares, with
// the direction of the queue the message leaves through (a fwd:<gw> queue
// bills it forwarded out to gw). The kinds fill in the rest: mtCDR and
// reportRecord from the MT's record, handleMO from the deliver_sm.
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

// reportRecord is the REPORT record that settles an MT with stat. Its
// done_time is when this gateway learned the final state, by its own clock
// to the millisecond: the receipt's done date (or a peer's Done_time) has
// minutes only, and goes to the SP in the status report, not here — so
// billing's latencies and the message trace are true to the millisecond.
func (n *Node) reportRecord(id uint64, r *mtRecord, via queueRef, stat string) billing.Record {
	rec := n.mtCDR(id, r, via)
	rec.Kind, rec.FinalStatus, rec.DoneTime, rec.SMSCMsgID = billing.KindReport, stat, time.Now(), r.SMSCID
	return rec
}
