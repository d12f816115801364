package ismg

import (
	"context"
	"encoding/binary"
	"fmt"
	"strconv"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/ismg/queue"
)

// Received FWDs are remembered by their key — Source_Id, Msg_Fwd_Type,
// Msg_Id, Pk_number — in KV buckets named for the hour in the Msg_Id
// ("fwdseen:MMDDHH", the hour the origin gateway issued it): a lookup
// reads one bucket, and forgetting is dropping the keys of the hours older
// than federation.dedup_window, which must cover the longest a sender
// keeps resending (the message's validity). The store holds one key per
// received FWD of the window: about 60 bytes each.
const kvDedupPrefix = "fwdseen:"

// dedupKey returns the bucket and key of a received FWD.
func dedupKey(f *cmpp.Fwd) (bucket string, key []byte) {
	id := cmpp.UnpackMsgID(f.MsgID)
	bucket = fmt.Sprintf("%s%02d%02d%02d", kvDedupPrefix, id.Month, id.Day, id.Hour)
	key = make([]byte, 0, 16)
	key = append(key, f.SourceID...)
	key = append(key, f.MsgFwdType)
	key = binary.BigEndian.AppendUint64(key, f.MsgID)
	return bucket, append(key, f.PkNumber)
}

// dedupHour is the most recent time at or before now whose month, day and
// hour are those of a dedup bucket (Msg_Ids carry no year).
func dedupHour(mmddhh string, now time.Time) (time.Time, bool) {
	if len(mmddhh) != 6 {
		return time.Time{}, false
	}
	mo, err1 := strconv.Atoi(mmddhh[0:2])
	d, err2 := strconv.Atoi(mmddhh[2:4])
	h, err3 := strconv.Atoi(mmddhh[4:6])
	if err1 != nil || err2 != nil || err3 != nil || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 {
		return time.Time{}, false
	}
	t := time.Date(now.Year(), time.Month(mo), d, h, 0, 0, 0, now.Location())
	if t.After(now) {
		t = t.AddDate(-1, 0, 0)
	}
	return t, true
}

// forgetDedup deletes the keys of the buckets of the hours that left the
// window, looking back two days beyond it (a node that was down longer
// leaves a few old buckets behind, each still bounded by its hour's
// traffic). Every hour, by the node's sweeper.
func (n *Node) forgetDedup(ctx context.Context, now time.Time) {
	window := n.cfg.Federation.DedupWindow
	for back := window; back < window+48*time.Hour; back += time.Hour {
		t := now.Add(-back)
		bucket := fmt.Sprintf("%s%02d%02d%02d", kvDedupPrefix, int(t.Month()), t.Day(), t.Hour())
		if h, ok := dedupHour(bucket[len(kvDedupPrefix):], now); !ok || now.Sub(h) < window {
			continue // the same MMDDHH a year later is still in the window
		}
		for {
			var ops []queue.Op
			err := n.st.ScanKV(bucket, func(k, _ []byte) bool {
				ops = append(ops, queue.Delete(bucket, append([]byte(nil), k...)))
				return len(ops) < 1024
			})
			if err != nil || len(ops) == 0 {
				break
			}
			if err := n.commit(ctx, ops...); err != nil {
				n.log.Warn("forget FWD dedup keys", "bucket", bucket, LogKeyErr, err)
				return
			}
			n.m.FwdDedupForgotten.Add(float64(len(ops)))
		}
	}
}

// runDedupForget calls forgetDedup every hour until ctx ends.
func (n *Node) runDedupForget(ctx context.Context) error {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		n.forgetDedup(ctx, time.Now())
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
