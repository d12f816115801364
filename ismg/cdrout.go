package ismg

import (
	"context"
	"time"

	"github.com/tandem-sms/tandem/billing"
	"github.com/tandem-sms/tandem/ismg/queue"
)

// The CDR outbox. A CDR is committed in the same store transaction as what
// it bills — the MT with its SUBMIT, the REPORT with the removal of the
// message it settles, the MO with its queueing — as a line of the cdr
// queue, encoded once. So a SUBMIT_RESP (or FWD_RESP, or deliver_sm_resp)
// waits for one fsync, not two; a commit that fails bills nothing; and no
// crash leaves an acknowledged message without its CDR or a CDR without
// its message. The mover (runCDRMover) takes the lines to the CDR files
// every billing.move_interval: write, fsync the file, then remove them
// from the store. A crash between the file's fsync and the removal leaves
// lines that are already filed: at start, before its first move, the
// mover drops the lines it finds at the end of the newest files
// (skipFiledCDRs), so each record is in the files exactly once.

// cdrMoveBatch is the most lines one move takes: it bounds what a crash
// can leave both filed and in the store, and so the tail skipFiledCDRs
// reads (cdrLineMax bytes a line).
const (
	cdrMoveBatch = 4096
	cdrLineMax   = 1024
)

// cdrOps appends to ops the op that records rec in the outbox, for the
// commit of what it bills. A record the file format cannot hold (a bug)
// is counted and marks billing broken, as a failed write would.
func (n *Node) cdrOps(ops []queue.Op, rec billing.Record) []queue.Op {
	if rec.HandlingGateway == "" {
		rec.HandlingGateway = n.gw
	}
	line, err := rec.AppendCSV(make([]byte, 0, 256))
	if err != nil {
		n.noteBillingErr("encode a CDR", err)
		return ops
	}
	return append(ops, queue.Enqueue(qCDR, n.cdrSeq.Add(1), time.Time{}, line))
}

// noteBillingErr counts a billing failure; the first marks billing
// broken, which refuses new SUBMITs (flow control) rather than accepting
// messages whose CDRs cannot be filed.
func (n *Node) noteBillingErr(what string, err error) {
	n.m.BillingErrors.Inc()
	if n.billingBad.CompareAndSwap(false, true) {
		n.log.Error("billing failed: SUBMITs are refused until restart", "op", what, LogKeyErr, err)
	}
}

// openCDRSeq continues the outbox's ids after the highest left in it: ids
// are unique among the lines not yet moved, which is all the queue needs.
func (n *Node) openCDRSeq() error {
	var last uint64
	err := n.st.Scan(qCDR, func(it queue.Item) bool {
		last = it.ID
		return true
	})
	n.cdrSeq.Store(last)
	return err
}

// runCDRMover moves the outbox to the CDR files every
// billing.move_interval until ctx ends; Run moves the rest once nothing
// else can commit. A failed move stops moving (billing is broken until a
// restart, which files what is left).
func (n *Node) runCDRMover(ctx context.Context) error {
	if err := n.skipFiledCDRs(ctx); err != nil {
		n.noteBillingErr("match the outbox with the CDR files", err)
	}
	t := time.NewTicker(n.cfg.Billing.MoveInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if n.billingBad.Load() {
			continue // the lines wait in the store for a restart
		}
		if err := n.moveCDRs(); err != nil {
			n.noteBillingErr("move CDRs to the files", err)
		}
	}
}

// moveCDRs writes the outbox's lines to the CDR files, fsyncs them and
// removes them from the store, cdrMoveBatch at a time, until it is empty.
// On an error the batch stays leased, so this process cannot file it a
// second time; the next start files it (skipping what reached the file).
func (n *Node) moveCDRs() error {
	for {
		items, err := n.st.Lease(qCDR, time.Now(), cdrMoveBatch)
		if err != nil || len(items) == 0 {
			return err
		}
		ops := make([]queue.Op, 0, len(items))
		for _, it := range items {
			if err := n.cdr.WriteLine(it.Value); err != nil {
				return err
			}
			ops = append(ops, queue.Remove(qCDR, it.ID))
		}
		if err := n.cdr.Sync(); err != nil {
			return err
		}
		// Filed: the removal must not be given up half way (a shutdown's
		// cancelled context would leave the lines to be filed again).
		if err := n.commit(context.Background(), ops...); err != nil {
			return err
		}
		n.m.CDRsMoved.Add(float64(len(items)))
		if len(items) < cdrMoveBatch {
			return nil
		}
	}
}

// skipFiledCDRs removes from the outbox the lines a crash caught after
// they reached a file (the last move's, at the end of the newest files).
// Lines are unique — each names its message, kind and times — so one seen
// there is that record.
func (n *Node) skipFiledCDRs(ctx context.Context) error {
	if n.st.Len(qCDR) == 0 {
		return nil
	}
	filed := map[string]struct{}{}
	if err := n.cdr.RecentLines(cdrMoveBatch*cdrLineMax, func(l []byte) { filed[string(l)] = struct{}{} }); err != nil {
		return err
	}
	var ops []queue.Op
	err := n.st.Scan(qCDR, func(it queue.Item) bool {
		if _, ok := filed[string(it.Value)]; ok {
			ops = append(ops, queue.Remove(qCDR, it.ID))
		}
		return true
	})
	if err != nil || len(ops) == 0 {
		return err
	}
	if err := n.commit(ctx, ops...); err != nil {
		return err
	}
	n.log.Warn("CDRs filed before the last stop but still in the store were dropped from it (filed once)", "count", len(ops), "left", n.st.Len(qCDR))
	return nil
}
