package ismg

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/ismg/queue"
)

// Sweepers end what waited too long in the queues nobody else leases by
// due time: an MT with no receipt by its report deadline (await), a
// receipt whose mapping never came (orphan), and a message for a peer
// gateway past its validity (fwd:<gw>). Each is a sweep over one queue.

// sweepBatch is how many due items a sweeper leases at once.
const sweepBatch = 256

// sweep leases the due items of q as they fall due and hands each to end,
// until ctx ends. end removes the item (or releases it to try again).
func (n *Node) sweep(ctx context.Context, q queueRef, end func(ctx context.Context, it queue.Item)) error {
	for {
		if err := n.st.Wait(ctx, q.queue()); err != nil {
			return nil
		}
		items, err := n.st.Lease(q.queue(), time.Now(), sweepBatch)
		if err != nil {
			return err
		}
		for _, it := range items {
			end(ctx, it)
		}
	}
}

// sweepAwait reports MC:0001 for messages whose receipt did not come
// within delivery.report_timeout.
func (n *Node) sweepAwait(ctx context.Context) error {
	return n.sweep(ctx, awaitQueue, func(ctx context.Context, it queue.Item) {
		mu := n.msgLocks.lock(it.ID)
		defer n.msgLocks.unlock(it.ID, mu)
		r, err := decodeMT(it.Value)
		if err != nil {
			_ = n.commit(ctx, queue.Remove(qAwait, it.ID))
			return
		}
		if !n.finalReportOps(ctx, awaitQueue, it.ID, &r, "MC:0001", "gateway", firstField(r.SMSCID), time.Now(), nil) {
			n.st.Release(qAwait, it.ID)
		} else if lr := n.links[r.Link]; lr != nil && r.SMSCID != "" {
			lr.idx.unmap(strings.Fields(r.SMSCID)...)
		}
	})
}

func firstField(s string) string {
	if i := strings.IndexByte(s, ' '); i >= 0 {
		return s[:i]
	}
	return s
}

// sweepOrphans drops receipts whose mapping never came.
func (n *Node) sweepOrphans(ctx context.Context) error {
	return n.sweep(ctx, orphanQueue, func(ctx context.Context, it queue.Item) {
		o, err := decodeOrphan(it.Value)
		if err == nil {
			if lr := n.links[o.Link]; lr != nil {
				lr.idx.dropOrphan(o.SID, it.ID)
			}
		}
		if err := n.commit(ctx, queue.Remove(qOrphan, it.ID)); err != nil && !errors.Is(err, queue.ErrNotFound) {
			n.st.Release(qOrphan, it.ID)
			return
		}
		n.m.OrphansExpired.Inc()
		n.log.Warn("orphan receipt expired: no message had its SMSC id", LogKeyLink, o.Link, LogKeySMSCID, o.SID, "stat", o.Stat)
	})
}

// sweepFwd expires messages waiting for CMPP_FWD at their Valid_Time
// (their due time): MTs get an EXPIRED report, MOs are dropped with a log.
func (n *Node) sweepFwd(ctx context.Context, q queueRef) error {
	return n.sweep(ctx, q, func(ctx context.Context, it queue.Item) {
		n.m.Expired.WithLabelValues("fwd").Inc()
		if r, err := decodeMT(it.Value); err == nil {
			n.finalReport(ctx, q, it.ID, &r, cmpp.StatExpired, "expired", "")
			return
		}
		n.log.Warn("MO for another gateway expired: no CMPP_FWD yet", LogKeyQueue, q.queue(), LogKeyMsgID, it.ID)
		if err := n.commit(ctx, queue.Remove(q.queue(), it.ID)); err != nil {
			n.st.Release(q.queue(), it.ID)
		}
	})
}

// sweepExpired hands every due item of q to end, which ends it (ended) or
// leaves it; stop ends the sweep early. It runs on the queue's own
// dispatcher or forwarder while its link or peer is down, so nothing else
// leases q meanwhile; the items left are leased until the end of the
// sweep (so each is looked at once) and then released.
func (n *Node) sweepExpired(q queueRef, end func(it queue.Item, now time.Time) (ended, stop bool)) {
	var keep []uint64
	defer func() {
		for _, id := range keep {
			n.st.Release(q.queue(), id)
		}
	}()
	now := time.Now()
	for {
		items, err := n.st.Lease(q.queue(), now, sweepBatch)
		if err != nil {
			n.log.Error("lease for expiry", LogKeyQueue, q.queue(), LogKeyErr, err)
			return
		}
		if len(items) == 0 {
			return
		}
		for _, it := range items {
			ended, stop := end(it, now)
			if stop {
				return
			}
			if !ended {
				keep = append(keep, it.ID)
			}
		}
	}
}
