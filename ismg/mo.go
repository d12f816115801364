package ismg

import (
	"context"
	"errors"
	"time"

	"github.com/tandem-sms/tandem/billing"
	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/ismg/queue"
	"github.com/tandem-sms/tandem/routing"
	"github.com/tandem-sms/tandem/smpp"
)

// handleMO routes an MO to the SP owning the service code: a local SP's
// out queue, or fwd:<gw> for the SP partition's gateway elsewhere.
func (n *Node) handleMO(ctx context.Context, lr *linkRuntime, d *smpp.DeliverSM) smpp.Status {
	code := d.DestAddr.Addr
	r, err := n.table().ResolveMO(code, n.gw)
	if errors.Is(err, routing.ErrUnknownGateway) {
		// The route table does not know this gateway yet (a route cache
		// that has not reached the GNS): the SMSC retries later.
		n.m.MO.WithLabelValues("error").Inc()
		n.log.Warn("MO refused for now: this gateway is not in the route table yet", LogKeyLink, lr.cfg.Name, "dest", code)
		return smpp.StatusXTAppn
	}
	if err != nil {
		n.m.MO.WithLabelValues("unknown").Inc()
		// Permanent: the SMSC must not retry an unroutable code.
		n.log.Warn("MO to an unknown service code refused", LogKeyLink, lr.cfg.Name, "dest", code, LogKeyErr, err)
		return smpp.StatusInvDstAdr
	}
	content, msgFmt, udhi := moToCMPP(d, lr.dc0)
	now := time.Now()
	id, err := n.ids.next(1)
	if err != nil {
		// Temporary: the SMSC retries once the reservation caught up.
		n.m.MO.WithLabelValues("error").Inc()
		n.log.Warn("MO refused for now: no Msg_Id", LogKeyLink, lr.cfg.Name, LogKeyErr, err)
		return smpp.StatusXTAppn
	}
	o := outRecord{
		DestID: code, ServiceID: "", TPPID: d.ProtocolID, TPUDHI: udhi, MsgFmt: msgFmt,
		SrcTerminalID: d.SourceAddr.Addr, Content: content, Created: now,
	}
	q, due := n.outQueueOf(r.SP.ID), time.Time{}
	if r.Gateway.Code != n.gw {
		// CMPP_FWD comes with the federation: wait there until the
		// default validity passes, then expire.
		q, due = n.fwdQueueOf(r.Gateway.Code), time.Time{}
		if n.peers == nil {
			// No federation: wait there until the default validity
			// passes, then expire (sweep.go).
			due = now.Add(n.cfg.Delivery.DefaultValidity)
		}
		o.FwdType = cmpp.FwdMO
	}
	rec := n.bill(billing.KindMO, id, q)
	rec.SPID, rec.Src, rec.Dest, rec.Segments, rec.SegmentNo = r.SP.ID, d.SourceAddr.Addr, code, 1, 1
	rec.SubmitTime, rec.MsgFmt, rec.Length = now, msgFmt, uint32(len(content))
	if err := n.commit(ctx, n.cdrOps([]queue.Op{queue.Enqueue(q.queue(), id, due, o.Append(nil))}, rec)...); err != nil {
		n.m.MO.WithLabelValues("error").Inc()
		n.log.Error("store MO", LogKeyErr, err)
		return smpp.StatusXTAppn
	}
	n.stats.moQueued(r.SP.ID, now)
	if q.kind == queueFwd {
		n.m.MO.WithLabelValues("fwd").Inc()
		n.ensureFwdQueue(q)
	} else {
		n.m.MO.WithLabelValues("local").Inc()
	}
	return smpp.StatusOK
}
