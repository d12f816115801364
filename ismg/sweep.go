package ismg

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/ismg/queue"
)

// sweepAwait reports MC:0001 for messages whose receipt did not come
// within delivery.report_timeout.
func (n *Node) sweepAwait(ctx context.Context) error {
	for {
		if err := n.st.Wait(ctx, qAwait); err != nil {
			return nil
		}
		items, err := n.st.Lease(qAwait, time.Now(), 256)
		if err != nil {
			return err
		}
		for _, it := range items {
			mu := n.msgLocks.lock(it.ID)
			r, err := decodeMT(it.Value)
			if err != nil {
				_ = n.commit(ctx, queue.Remove(qAwait, it.ID))
				n.msgLocks.unlock(it.ID, mu)
				continue
			}
			lr := n.links[r.Link]
			if !n.finalReportOps(ctx, qAwait, it.ID, &r, "MC:0001", "gateway", firstField(r.SMSCID), n.now(), nil) {
				n.st.Release(qAwait, it.ID)
			} else if lr != nil && r.SMSCID != "" {
				lr.idx.unmap(strings.Fields(r.SMSCID)...)
			}
			n.msgLocks.unlock(it.ID, mu)
		}
	}
}

func firstField(s string) string {
	if i := strings.IndexByte(s, ' '); i >= 0 {
		return s[:i]
	}
	return s
}

// sweepOrphans drops receipts whose mapping never came.
func (n *Node) sweepOrphans(ctx context.Context) error {
	for {
		if err := n.st.Wait(ctx, qOrphan); err != nil {
			return nil
		}
		items, err := n.st.Lease(qOrphan, time.Now(), 256)
		if err != nil {
			return err
		}
		for _, it := range items {
			o, err := decodeOrphan(it.Value)
			if err == nil {
				if lr := n.links[o.Link]; lr != nil {
					lr.idx.dropOrphan(o.SID, it.ID)
				}
			}
			if err := n.commit(ctx, queue.Remove(qOrphan, it.ID)); err != nil && !errors.Is(err, queue.ErrNotFound) {
				n.st.Release(qOrphan, it.ID)
				continue
			}
			n.m.OrphansExpired.Inc()
			n.log.Warn("orphan receipt expired: no message had its SMSC id", "link", o.Link, "smsc_id", o.SID, "stat", o.Stat)
		}
	}
}

// ensureFwdSweeper starts the expiry sweeper of a fwd:<gw> queue once.
func (n *Node) ensureFwdSweeper(q string) {
	n.fwdMu.Lock()
	defer n.fwdMu.Unlock()
	if !n.fwdRun[q] {
		n.startFwdSweeperLocked(q)
	}
}

func (n *Node) startFwdSweeperLocked(q string) {
	if n.goRun(func(ctx context.Context) error { return n.sweepFwd(ctx, q) }) {
		n.fwdRun[q] = true
	}
}

// sweepFwd expires messages waiting for CMPP_FWD at their Valid_Time
// (their due time): MTs get an EXPIRED report, MOs are dropped with a log.
func (n *Node) sweepFwd(ctx context.Context, q string) error {
	for {
		if err := n.st.Wait(ctx, q); err != nil {
			return nil
		}
		items, err := n.st.Lease(q, time.Now(), 256)
		if err != nil {
			return err
		}
		for _, it := range items {
			n.m.Expired.WithLabelValues("fwd").Inc()
			if r, err := decodeMT(it.Value); err == nil {
				n.finalReport(ctx, q, it.ID, &r, cmpp.StatExpired, "expired", "")
				continue
			}
			n.log.Warn("MO for another gateway expired: no CMPP_FWD yet", "queue", q, "id", it.ID)
			if err := n.commit(ctx, queue.Remove(q, it.ID)); err != nil {
				n.st.Release(q, it.ID)
			}
		}
	}
}
