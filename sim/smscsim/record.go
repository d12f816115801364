package smscsim

import (
	"context"
	"fmt"
	"time"

	"github.com/tandem-sms/tandem/smpp"
	"github.com/tandem-sms/tandem/smstext"
)

// Submission is one submit_sm the simulator accepted, as it arrived. Byte
// slices alias the PDU as decoded; treat them as read-only.
type Submission struct {
	SystemID           string    // system_id of the bind it arrived on
	Bind               int       // 1-based number of that bind, in bind order
	Time               time.Time // when it arrived
	ServiceType        string
	SourceAddr         smpp.Addr
	DestAddr           smpp.Addr
	ESMClass           uint8
	ProtocolID         uint8
	PriorityFlag       uint8
	RegisteredDelivery uint8
	DataCoding         uint8
	ShortMessage       []byte
	Payload            []byte    // message_payload TLV; nil when absent
	TLVs               smpp.TLVs // every TLV, in order
	SAR                smpp.SAR  // sar_* TLVs, valid when HasSAR
	HasSAR             bool
	MessageID          string // as answered in submit_sm_resp
	Number             uint64 // the number MessageID spells
	ReceiptStat        string // stat of the receipt scheduled for it; "" when none was asked for
	Key                string // client key in its text (sim/record), found only when Config.Record is set
}

// Content returns the user data: message_payload when present, else
// short_message (a UDH included when esm_class has 0x40).
func (s *Submission) Content() []byte {
	if s.Payload != nil {
		return s.Payload
	}
	return s.ShortMessage
}

// Text returns the message text: Content after any UDH (when esm_class
// has 0x40 and one parses), decoded by data_coding (0 taken as GSM 03.38).
func (s *Submission) Text() (string, error) {
	b := s.Content()
	if s.ESMClass&smpp.ESMClassUDHI != 0 {
		if seg, err := smstext.SegmentFromUD(b); err == nil {
			b = seg.Data
		}
	}
	return smstext.Decode(smstext.FromSMPP(s.DataCoding, smstext.GSM7), b)
}

// Refusal is one submit_sm the simulator answered with an error status.
type Refusal struct {
	SystemID string
	Bind     int
	Time     time.Time
	DestAddr smpp.Addr
	Status   smpp.Status
}

// Stats is a snapshot of the simulator's counters.
type Stats struct {
	Binds        uint64 `json:"binds"`         // binds accepted
	BindsRefused uint64 `json:"binds_refused"` // binds refused (down, bad system_id/password)
	Bound        int    `json:"bound"`         // sessions bound now

	Submits   uint64 `json:"submits"`    // submit_sm received
	Accepted  uint64 `json:"accepted"`   // answered with a message id
	Throttled uint64 `json:"throttled"`  // answered ESME_RTHROTTLED
	QueueFull uint64 `json:"queue_full"` // answered ESME_RMSGQFUL
	Rejected  uint64 `json:"rejected"`   // other requests refused (unsupported commands)

	ReceiptsScheduled uint64            `json:"receipts_scheduled"`
	ReceiptsSent      uint64            `json:"receipts_sent"`    // deliver_sm receipts written, retries included
	ReceiptsAcked     uint64            `json:"receipts_acked"`   // answered with deliver_sm_resp OK
	ReceiptsRetried   uint64            `json:"receipts_retried"` // attempts that failed and were rescheduled
	ReceiptsFailed    uint64            `json:"receipts_failed"`  // given up after ReceiptAttempts or a permanent error
	ReceiptsDropped   uint64            `json:"receipts_dropped"` // not scheduled: MaxPendingReceipts reached
	ReceiptsPending   int64             `json:"receipts_pending"` // scheduled, not yet acked, failed or dropped
	ReceiptsByStat    map[string]uint64 `json:"receipts_by_stat"` // scheduled receipts per stat

	MOSent  uint64 `json:"mo_sent"`
	MOAcked uint64 `json:"mo_acked"`
}

// String is the one-line form the command prints periodically.
func (st Stats) String() string {
	return fmt.Sprintf("bound %d binds %d/%d refused | submits %d accepted %d throttled %d queue-full %d | receipts sent %d acked %d pending %d retried %d failed %d dropped %d | mo %d/%d acked",
		st.Bound, st.Binds, st.BindsRefused, st.Submits, st.Accepted, st.Throttled, st.QueueFull,
		st.ReceiptsSent, st.ReceiptsAcked, st.ReceiptsPending, st.ReceiptsRetried, st.ReceiptsFailed, st.ReceiptsDropped,
		st.MOAcked, st.MOSent)
}

// Stats returns a snapshot of the counters.
func (s *SMSC) Stats() Stats {
	c := &s.c
	st := Stats{
		Binds:             c.binds.Load(),
		BindsRefused:      c.bindsRefused.Load(),
		Submits:           c.submits.Load(),
		Accepted:          c.accepted.Load(),
		Throttled:         c.throttled.Load(),
		QueueFull:         c.queueFull.Load(),
		Rejected:          c.rejected.Load(),
		ReceiptsScheduled: c.receiptsScheduled.Load(),
		ReceiptsSent:      c.receiptsSent.Load(),
		ReceiptsAcked:     c.receiptsAcked.Load(),
		ReceiptsRetried:   c.receiptsRetried.Load(),
		ReceiptsFailed:    c.receiptsFailed.Load(),
		ReceiptsDropped:   c.receiptsDropped.Load(),
		ReceiptsPending:   c.receiptsPending.Load(),
		ReceiptsByStat:    make(map[string]uint64),
		MOSent:            c.moSent.Load(),
		MOAcked:           c.moAcked.Load(),
	}
	for i := range c.byStat {
		if n := c.byStat[i].Load(); n > 0 {
			st.ReceiptsByStat[smpp.StateStat(smpp.MessageState(i))] = n
		}
	}
	s.mu.Lock()
	st.Bound = len(s.bound)
	s.mu.Unlock()
	return st
}

// Submitted returns the accepted submissions recorded so far (at most
// Config.RecordLimit), in arrival order.
func (s *SMSC) Submitted() []Submission {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Submission(nil), s.submitted...)
}

// Refused returns the refused submit_sm recorded so far (at most
// Config.RecordLimit), in arrival order.
func (s *SMSC) Refused() []Refusal {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Refusal(nil), s.refused...)
}

// Wait blocks until cond holds for the counters or ctx ends. cond is
// evaluated again after every bind, submit_sm, receipt outcome and MO,
// never by polling. The error on ctx's end includes the last counters.
func (s *SMSC) Wait(ctx context.Context, cond func(Stats) bool) error {
	s.waiters.Add(1)
	defer s.waiters.Add(-1)
	for {
		s.mu.Lock()
		if s.notify == nil {
			s.notify = make(chan struct{})
		}
		ch := s.notify
		s.mu.Unlock()
		st := s.Stats()
		if cond(st) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("smscsim: wait: %w (%v)", ctx.Err(), st)
		}
	}
}

// WaitSubmits waits until n submit_sm have been accepted in total.
func (s *SMSC) WaitSubmits(ctx context.Context, n int) error {
	return s.Wait(ctx, func(st Stats) bool { return st.Accepted >= uint64(n) })
}

// WaitReceipts waits until n receipts have been acknowledged in total.
func (s *SMSC) WaitReceipts(ctx context.Context, n int) error {
	return s.Wait(ctx, func(st Stats) bool { return st.ReceiptsAcked >= uint64(n) })
}

// changed wakes the goroutines in Wait. The waiter count keeps the hot
// path free of the mutex when nobody waits: a waiter registers before it
// evaluates its condition, so an event either is seen by that evaluation
// or finds the waiter registered and wakes it.
func (s *SMSC) changed() {
	if s.waiters.Load() == 0 {
		return
	}
	s.mu.Lock()
	if s.notify != nil {
		close(s.notify)
		s.notify = nil
	}
	s.mu.Unlock()
}
