package ismg

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/ismg/queue"
	"github.com/tandem-sms/tandem/smpp"
)

// smppStatusText is the MB:xxxx gateway code for an SMPP error status.
func smppStatusText(st smpp.Status) string { return fmt.Sprintf("MB:%04d", uint32(st)%10000) }

// outQueueOf is the out queue of SP spID (precomputed for the SPs of the
// configuration).
func (n *Node) outQueueOf(spID string) queueRef {
	if sp := (*n.sps.Load())[spID]; sp != nil {
		return sp.q
	}
	return outQueue(spID)
}

// finalReport ends a message that is still in queue q with stat.
func (n *Node) finalReport(ctx context.Context, q queueRef, id uint64, r *mtRecord, stat, origin, sid string) bool {
	return n.finalReportOps(ctx, q, id, r, stat, origin, sid, time.Now(), nil)
}

// finalReportOps removes message id from q and, when the SP asked for it,
// queues its status report for the SP, in one commit with extra and the
// REPORT CDR.
func (n *Node) finalReportOps(ctx context.Context, q queueRef, id uint64, r *mtRecord, stat, origin, sid string, done time.Time, extra []queue.Op) bool {
	ops := n.reportOps(q, id, r, stat, sid, done, extra)
	return n.reportCommitted(n.commit(ctx, ops...), q, id, r, origin)
}

// reportOps are the ops of finalReportOps: extra, the removal of id from q,
// its REPORT CDR and the SP's status report if it asked for one.
func (n *Node) reportOps(q queueRef, id uint64, r *mtRecord, stat, sid string, done time.Time, extra []queue.Op) []queue.Op {
	ops := n.cdrOps(append(extra, queue.Remove(q.queue(), id)), n.reportRecord(id, r, q, stat))
	if r.RegisteredDelivery == 1 {
		o := outRecord{
			Report: true, DestID: r.SrcID, ServiceID: r.ServiceID, SrcTerminalID: r.Dest,
			Created: time.Now(), OrigMsgID: id, Stat: stat,
			SubmitTime: cmpp.FormatReportTime(r.Submitted, n.loc), DoneTime: cmpp.FormatReportTime(done, n.loc),
			DestTerminalID: r.Dest, SMSCSequence: smscSequence(sid),
		}
		to := n.outQueueOf(r.SPID)
		if r.FromGW != "" {
			// The MT came from a peer gateway: its report goes back there
			// as a type 2 FWD, to the SP's gateway.
			o.FwdType = cmpp.FwdMTReport
			to = n.fwdQueueOf(r.FromGW)
		}
		ops = append(ops, queue.Enqueue(to.queue(), id, time.Time{}, o.Append(nil)))
	}
	return ops
}

// reportCommitted finishes finalReportOps once the commit of reportOps
// returned err: metrics and QUERY counters on success. It reports false
// when the message is still to be finished (the store refused).
func (n *Node) reportCommitted(err error, q queueRef, id uint64, r *mtRecord, origin string) bool {
	if err != nil {
		if errors.Is(err, queue.ErrNotFound) {
			return true // someone else finished it
		}
		n.log.Error("store status report", LogKeyMsgID, id, LogKeyErr, err)
		if q.kind != queueAwait {
			n.st.Release(q.queue(), id)
		}
		return false
	}
	if r.FromGW != "" && r.RegisteredDelivery == 1 {
		n.ensureFwdQueue(n.fwdQueueOf(r.FromGW))
	}
	n.m.Reports.WithLabelValues(r.SPID, origin).Inc()
	n.m.ReportLatency.Observe(time.Now().Sub(r.Submitted).Seconds())
	if q.kind != queueAwait {
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
