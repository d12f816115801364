package ismg

import (
	"context"
	"fmt"

	"github.com/tandem-sms/tandem/ismg/queue"
)

// recover counts what a previous process left in flight (start-up only,
// before traffic flows) and rebuilds the in-memory orphan index.
func (n *Node) recover() error {
	if err := n.stats.load(n.st); err != nil {
		return fmt.Errorf("ismg: load CMPP_QUERY counters: %w", err)
	}
	for _, name := range n.st.Queues() {
		ref, err := parseQueue(name)
		if err != nil {
			n.log.Warn("unknown queue in the store left alone", LogKeyQueue, name)
			continue
		}
		q := ref.queue()
		switch ref.kind {
		case queueMT, queueOut:
			bump := func(v []byte) []byte {
				if r, err := decodeMT(v); err == nil {
					r.Attempts++
					return r.Append(nil)
				}
				return nil
			}
			if ref.kind == queueOut {
				bump = func(v []byte) []byte {
					if o, err := decodeOut(v); err == nil {
						o.Attempts++
						return o.Append(nil)
					}
					return nil
				}
			}
			count, err := n.recoverInflight(context.Background(), q, bump)
			if err != nil {
				return err
			}
			if count == 0 {
				continue
			}
			if ref.kind == queueMT {
				n.m.Resends.WithLabelValues(ref.name).Add(float64(count))
				n.log.Warn("messages were in flight to the SMSC at the last stop; they are sent again", LogKeyLink, ref.name, "count", count)
			} else {
				n.m.ReportRepeats.WithLabelValues(ref.name).Add(float64(count))
				n.log.Warn("DELIVERs were in flight to the SP at the last stop; they are sent again", LogKeySP, ref.name, "count", count)
			}
		case queueAwait:
			// The SMSC id → Msg_Id index lives in memory only.
			err := n.st.Scan(q, func(it queue.Item) bool {
				r, err := decodeMT(it.Value)
				if err != nil {
					return true // the await sweeper drops it
				}
				if lr := n.links[r.Link]; lr != nil {
					lr.idx.remap(it.ID, r.SMSCID, r.Done)
				}
				return true
			})
			if err != nil {
				return fmt.Errorf("ismg: recover await: %w", err)
			}
		case queueOrphan:
			err := n.st.Scan(q, func(it queue.Item) bool {
				o, err := decodeOrphan(it.Value)
				if err != nil {
					n.log.Error("bad orphan record", LogKeyMsgID, it.ID, LogKeyErr, err)
					return true
				}
				if lr := n.links[o.Link]; lr != nil {
					lr.idx.addDurableOrphan(o.SID, it.ID, o)
				}
				return true
			})
			if err != nil {
				return fmt.Errorf("ismg: recover orphans: %w", err)
			}
		case queueFwd, queueSib:
			n.fwdRun[ref] = false
		}
	}
	return nil
}
