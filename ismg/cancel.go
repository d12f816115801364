package ismg

import (
	"errors"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/ismg/queue"
)

// cancel answers CMPP_CANCEL: an MT of this SP still waiting for its SMSC
// link (or for forwarding) is removed, its CDR voided with a DELETED
// REPORT record and no status report sent; one already handed to an SMSC,
// being handed over, or unknown cannot be cancelled. Like SUBMIT, it is
// answered from the commit callback.
func (n *Node) cancel(s *cmpp.Session, h cmpp.Header, p *cmpp.Cancel, c *spConn) {
	sp := c.sp
	fail := func(reason string) {
		n.m.Cancels.WithLabelValues(sp.id, reason).Inc()
		_ = s.Reply(h, &cmpp.CancelResp{SuccessID: cmpp.CancelFailed})
	}
	var queues []queueRef
	for _, name := range n.linkOrder {
		queues = append(queues, n.links[name].q)
	}
	n.fwdMu.Lock()
	for q := range n.fwdRun {
		queues = append(queues, q)
	}
	n.fwdMu.Unlock()
	for _, q := range queues {
		it, err := n.st.Take(q.queue(), p.MsgID)
		switch {
		case errors.Is(err, queue.ErrNotFound):
			continue
		case errors.Is(err, queue.ErrLeased):
			fail("in_flight") // being handed to the SMSC right now
			return
		case err != nil:
			fail("store")
			return
		}
		r, err := decodeMT(it.Value)
		if err != nil || r.SPID != sp.id {
			n.st.Release(q.queue(), it.ID)
			fail("not_found") // another SP's message is none of this one's business
			return
		}
		ops := n.cdrOps([]queue.Op{queue.Remove(q.queue(), it.ID)}, n.reportRecord(it.ID, &r, q, cmpp.StatDeleted))
		n.st.CommitAsync(ops, func(err error) {
			if err != nil {
				n.noteStoreErr(err)
				n.st.Release(q.queue(), it.ID)
				n.m.Cancels.WithLabelValues(sp.id, "store").Inc()
				n.replyNoWait(s, h, &cmpp.CancelResp{SuccessID: cmpp.CancelFailed})
				return
			}
			n.stats.mtFailed(r.SPID, r.ServiceID, r.Submitted)
			n.m.Cancels.WithLabelValues(sp.id, "ok").Inc()
			n.log.Info("MT cancelled by its SP", LogKeySP, sp.id, LogKeyMsgID, it.ID, LogKeyQueue, q)
			n.replyNoWait(s, h, &cmpp.CancelResp{SuccessID: cmpp.CancelOK})
		})
		return
	}
	fail("not_found") // delivered, reported, never ours, or awaiting its receipt
}
