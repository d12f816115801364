package smscsim

import (
	"container/heap"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/tandem-sms/tandem/sim/record"
	"github.com/tandem-sms/tandem/smpp"
)

// receipt is one delivery receipt on its way to the ESME. It is owned by
// exactly one of: the queue, the due channel, a worker, the parked map.
type receipt struct {
	systemID string
	due      time.Time
	attempts int
	state    smpp.MessageState
	id       string // the submit_sm_resp id, for logs and the record
	key      string // the client key of its submission, for the record
	dest     string
	pdu      *smpp.DeliverSM
	index    int // in the heap
}

// errCodes are the err: values of the receipt text per final state.
var errCodes = map[string]string{
	smpp.StatDelivered:     "000",
	smpp.StatUndeliverable: "001",
	smpp.StatExpired:       "002",
	smpp.StatRejected:      "003",
	smpp.StatDeleted:       "004",
	smpp.StatUnknown:       "005",
	smpp.StatAccepted:      "000",
	smpp.StatEnroute:       "000",
}

// receiptDate is t to the minute in the simulator's zone.
func (s *SMSC) receiptDate(t time.Time) time.Time {
	loc := s.cfg.Location
	if loc == nil {
		loc = time.UTC
	}
	return t.In(loc).Truncate(time.Minute)
}

// newReceipt builds the receipt for sub, or returns nil (and counts a
// drop) when MaxPendingReceipts receipts are already pending.
func (s *SMSC) newReceipt(sub *Submission, stat string, now time.Time) *receipt {
	if s.c.receiptsPending.Add(1) > int64(s.cfg.MaxPendingReceipts) {
		s.c.receiptsPending.Add(-1)
		s.c.receiptsDropped.Add(1)
		s.log.Warn("receipt dropped: too many pending", "message_id", sub.MessageID, "max", s.cfg.MaxPendingReceipts)
		return nil
	}
	state, _ := smpp.StatState(stat)
	s.c.receiptsScheduled.Add(1)
	s.c.byStat[state].Add(1)
	due := now.Add(s.receiptDelay())
	dlvrd := 0
	if state == smpp.StateDelivered {
		dlvrd = 1
	}
	text := smpp.Receipt{
		ID:         s.cfg.ReceiptIDFormat.Format(sub.Number),
		Sub:        1,
		Dlvrd:      dlvrd,
		SubmitDate: s.receiptDate(sub.Time),
		DoneDate:   s.receiptDate(due),
		Stat:       stat,
		Err:        errCodes[stat],
		Text:       receiptText(sub),
	}
	d := &smpp.DeliverSM{
		SourceAddr:   sub.DestAddr,
		DestAddr:     sub.SourceAddr,
		ESMClass:     smpp.ESMClassReceipt,
		DataCoding:   smpp.CodingDefault,
		ShortMessage: text.Append(make([]byte, 0, 160)),
	}
	if !s.cfg.OmitReceiptTLVs {
		d.TLVs = make(smpp.TLVs, 0, 3)
		d.TLVs.SetReceiptedMessageID(sub.MessageID)
		d.TLVs.SetMessageState(state)
		if state != smpp.StateDelivered {
			d.TLVs.SetNetworkErrorCode(smpp.NetworkErrorCode{Type: 3, Code: 1})
		}
	}
	return &receipt{systemID: sub.SystemID, due: due, state: state, id: sub.MessageID, key: sub.Key, dest: sub.DestAddr.Addr, pdu: d}
}

// receiptText is the text: field, the first 20 characters of the message
// as printable ASCII; what cannot be shown becomes '?'.
func receiptText(sub *Submission) string {
	t, err := sub.Text()
	if err != nil {
		return ""
	}
	out := make([]byte, 0, 20)
	for _, r := range t {
		if len(out) == 20 {
			break
		}
		if r < 0x20 || r > 0x7e {
			r = '?'
		}
		out = append(out, byte(r))
	}
	return string(out)
}

// dueSlack lets the scheduler release a receipt this much before its due
// time, so that under load one timer wake-up releases every receipt due
// within it rather than one receipt per wake-up.
const dueSlack = 500 * time.Microsecond

// scheduleLoop hands receipts to the workers when they fall due.
func (s *SMSC) scheduleLoop() {
	t := time.NewTimer(time.Hour)
	t.Stop()
	defer t.Stop()
	for {
		r, wait := s.q.popDue(time.Now().Add(dueSlack))
		if r != nil {
			select {
			case s.q.due <- r:
				continue
			case <-s.ctx.Done():
				return
			}
		}
		var tc <-chan time.Time
		if wait > 0 {
			t.Reset(wait)
			tc = t.C
		}
		select {
		case <-s.q.wake:
		case <-tc:
		case <-s.ctx.Done():
			return
		}
	}
}

func (s *SMSC) receiptWorker() {
	for {
		select {
		case r := <-s.q.due:
			s.sendReceipt(r)
		case <-s.ctx.Done():
			return
		}
	}
}

// sendReceipt tries one receipt once: on a receiver of its system_id, or
// parked until one binds. It does not wait for the deliver_sm_resp: the
// receipts in flight are bounded by ReceiptWorkers and each session's
// window, so a slow ESME (one that answers only after a disk commit) still
// gets a full window of receipts instead of one per worker.
func (s *SMSC) sendReceipt(r *receipt) {
	sess := s.pickReceiver(r.systemID, r)
	if sess == nil {
		return // parked
	}
	select {
	case s.inflight <- struct{}{}:
	case <-s.ctx.Done():
		return
	}
	s.c.receiptsSent.Add(1)
	err := sess.SendAsync(s.ctx, r.pdu, func(_ smpp.PDU, err error) {
		<-s.inflight
		s.receiptOutcome(r, err)
	})
	if err != nil {
		<-s.inflight
		s.receiptOutcome(r, err)
	}
}

// receiptOutcome accounts for one attempt and reschedules a failed one.
func (s *SMSC) receiptOutcome(r *receipt, err error) {
	if err == nil {
		s.c.receiptsAcked.Add(1)
		s.c.receiptsPending.Add(-1)
		if s.rec != nil {
			s.record(&record.Event{Ev: record.EvReceipt, T: time.Now(), SMSCID: r.id, Key: r.key, Stat: smpp.StateStat(r.state), Dest: r.dest})
		}
		s.changed()
		return
	}
	if s.ctx.Err() != nil {
		return // shutting down: the receipt is lost with the SMSC
	}
	r.attempts++
	var se *smpp.StatusError
	permanent := errors.As(err, &se) && !se.Status.Temporary()
	if permanent || r.attempts >= s.cfg.ReceiptAttempts {
		s.c.receiptsFailed.Add(1)
		s.c.receiptsPending.Add(-1)
		s.log.Warn("receipt given up", "message_id", r.id, smpp.LogKeySystemID, r.systemID, "attempts", r.attempts, smpp.LogKeyErr, err)
		if s.rec != nil {
			s.record(&record.Event{Ev: record.EvReceiptFailed, T: time.Now(), SMSCID: r.id, Key: r.key, Err: err.Error()})
		}
		s.changed()
		return
	}
	s.c.receiptsRetried.Add(1)
	s.log.Debug("receipt retry", "message_id", r.id, "attempts", r.attempts, smpp.LogKeyErr, err)
	r.due = time.Now().Add(s.cfg.ReceiptRetry)
	s.q.push(r)
}

// pickReceiver returns the next bound receiver or transceiver of systemID,
// round robin. With none (or receipts held) it parks r, if r is not nil,
// in the same critical section in which binds release parked receipts, so
// a receipt cannot be parked just after its receiver bound.
func (s *SMSC) pickReceiver(systemID string, r *receipt) *smpp.Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r == nil || !s.hold.Load() {
		if sess := s.nextReceiverLocked(func(bi *bindInfo) bool { return bi.systemID == systemID }); sess != nil {
			return sess
		}
	}
	if r != nil {
		s.parked[systemID] = append(s.parked[systemID], r)
	}
	return nil
}

// nextReceiverLocked picks round robin among the bound receivers that
// match.
func (s *SMSC) nextReceiverLocked(match func(*bindInfo) bool) *smpp.Session {
	var cands []*bindInfo
	for _, bi := range s.bound {
		if bi.mode.CanReceive() && bi.sess.State() == smpp.SessionBound && match(bi) {
			cands = append(cands, bi)
		}
	}
	if len(cands) == 0 {
		return nil
	}
	// Map order is random; sort by bind index so round robin is fair.
	for i := 1; i < len(cands); i++ {
		for j := i; j > 0 && cands[j].index < cands[j-1].index; j-- {
			cands[j], cands[j-1] = cands[j-1], cands[j]
		}
	}
	s.rr++
	return cands[s.rr%len(cands)].sess
}

// raceReceipt sends r's receipt before answering the submit_sm: it waits
// up to RaceWait for the deliver_sm_resp, then responds. It reports false
// (and does nothing) when no receiver is bound.
func (s *SMSC) raceReceipt(req *smpp.Request, resp *smpp.SubmitSMResp, r *receipt) bool {
	sess := s.pickReceiver(r.systemID, nil)
	if sess == nil {
		return false
	}
	return s.goTrack(func() {
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RaceWait)
		s.c.receiptsSent.Add(1)
		_, err := sess.SendWait(ctx, r.pdu)
		cancel()
		_ = req.Respond(resp, smpp.StatusOK)
		s.receiptOutcome(r, err)
	})
}

// receiptQueue is a min-heap of receipts by due time, plus the channel
// to the workers. Its mutex is a leaf.
type receiptQueue struct {
	mu   sync.Mutex
	h    receiptHeap
	wake chan struct{} // capacity 1: "the head may have changed"
	due  chan *receipt
}

func newReceiptQueue() receiptQueue {
	return receiptQueue{wake: make(chan struct{}, 1), due: make(chan *receipt)}
}

func (q *receiptQueue) push(r *receipt) {
	q.mu.Lock()
	heap.Push(&q.h, r)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// popDue removes and returns the head if it is due at now; otherwise it
// returns how long until the head is due (0 when the queue is empty).
func (q *receiptQueue) popDue(now time.Time) (*receipt, time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.h) == 0 {
		return nil, 0
	}
	if d := q.h[0].due.Sub(now); d > 0 {
		return nil, d
	}
	return heap.Pop(&q.h).(*receipt), 0
}

type receiptHeap []*receipt

func (h receiptHeap) Len() int           { return len(h) }
func (h receiptHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h receiptHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *receiptHeap) Push(x any) {
	r := x.(*receipt)
	r.index = len(*h)
	*h = append(*h, r)
}
func (h *receiptHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return r
}
