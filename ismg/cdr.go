package ismg

import (
	"errors"
	"strings"
	"time"

	"github.com/tandem-sms/tandem/billing"
)

// writeCDR buffers one bill record; a failure marks billing broken, which
// refuses new SUBMITs (flow control) rather than accepting unbilled ones.
func (n *Node) writeCDR(r billing.Record) {
	if err := n.cdr.Write(r); err != nil {
		n.m.BillingErrors.Inc()
		if n.billingBad.CompareAndSwap(false, true) {
			n.log.Error("billing failed: SUBMITs are refused until restart", "err", err)
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
		n.log.Error("billing sync failed: SUBMITs are refused until restart", "err", err)
	}
}

func (n *Node) mtCDR(id uint64, r *mtRecord, q string) billing.Record {
	rec := billing.Record{
		Kind: billing.KindMT, MsgID: id, SPID: r.SPID, ServiceID: r.ServiceID,
		FeeUserType: r.FeeUserType, FeeType: r.FeeType, FeeCode: r.FeeCode, FeeTerminalID: r.FeeTerminalID,
		Src: r.SrcID, Dest: r.Dest, Segments: r.PkTotal, SegmentNo: r.PkNumber,
		SubmitTime: r.Submitted, HandlingGateway: n.gw, MsgFmt: r.MsgFmt, Length: uint32(len(r.Content)),
	}
	if gw, ok := strings.CutPrefix(q, qFwdPrefix); ok {
		rec.Direction, rec.NextGateway = billing.DirFwdOut, gw
	}
	return rec
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
