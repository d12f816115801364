package smscsim

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tandem-sms/tandem/smpp"
	"github.com/tandem-sms/tandem/smstext"
)

// InjectMO sends a mobile-originated message from subscriber from to
// address to (typically an SP service code) as deliver_sm to a bound
// receiver or transceiver of any system_id, round robin. It waits (until
// ctx ends) for a receiver to bind. Text longer than one message goes as
// UDH-concatenated segments (esm_class 0x40) in order. It returns once
// every segment is answered; a non-OK deliver_sm_resp is an error
// wrapping *smpp.StatusError.
func (s *SMSC) InjectMO(ctx context.Context, from, to, text string, coding smstext.Coding) error {
	return s.InjectMOTo(ctx, "", from, to, text, coding)
}

// InjectMOTo is InjectMO restricted to the binds of systemID ("" means
// any).
func (s *SMSC) InjectMOTo(ctx context.Context, systemID, from, to, text string, coding smstext.Coding) error {
	segs, err := smstext.SplitText(text, coding, smstext.SplitOptions{Ref: uint16(s.moRef.Add(1))})
	if err != nil {
		return fmt.Errorf("smscsim: mo from %s to %s: %w", from, to, err)
	}
	sess, err := s.waitReceiver(ctx, systemID)
	if err != nil {
		return fmt.Errorf("smscsim: mo from %s to %s: %w", from, to, err)
	}
	for _, seg := range segs {
		d := &smpp.DeliverSM{
			SourceAddr:   smpp.Addr{TON: 1, NPI: 1, Addr: from},
			DestAddr:     smpp.Addr{Addr: to},
			DataCoding:   coding.SMPPDataCoding(),
			ShortMessage: seg.Bytes(),
		}
		if seg.UDH != nil {
			d.ESMClass |= smpp.ESMClassUDHI
		}
		// A temporary refusal (the gateway is not ready, or busy) is
		// retried as a real SMSC does: ReceiptRetry apart, ReceiptAttempts
		// times in all.
		for attempt := 1; ; attempt++ {
			err := s.DeliverMO(ctx, sess, d)
			if err == nil {
				break
			}
			var se *smpp.StatusError
			if !errors.As(err, &se) || !se.Status.Temporary() || attempt >= s.cfg.ReceiptAttempts {
				return fmt.Errorf("smscsim: mo from %s to %s segment %d/%d: %w", from, to, seg.Seq, seg.Total, err)
			}
			t := time.NewTimer(s.cfg.ReceiptRetry)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("smscsim: mo from %s to %s: %w", from, to, ctx.Err())
			}
		}
	}
	return nil
}

// DeliverMO sends a deliver_sm built by the caller on sess (one of the
// simulator's bound sessions, see Receiver) and waits for its answer.
func (s *SMSC) DeliverMO(ctx context.Context, sess *smpp.Session, d *smpp.DeliverSM) error {
	s.c.moSent.Add(1)
	if _, err := sess.SendWait(ctx, d); err != nil {
		s.changed()
		return err
	}
	s.c.moAcked.Add(1)
	s.changed()
	return nil
}

// Receiver waits until a receiver or transceiver of systemID ("" means
// any) is bound, and returns one, round robin.
func (s *SMSC) Receiver(ctx context.Context, systemID string) (*smpp.Session, error) {
	return s.waitReceiver(ctx, systemID)
}

func (s *SMSC) waitReceiver(ctx context.Context, systemID string) (*smpp.Session, error) {
	match := func(bi *bindInfo) bool { return systemID == "" || bi.systemID == systemID }
	for {
		s.mu.Lock()
		if s.stopped {
			s.mu.Unlock()
			return nil, ErrClosed
		}
		if sess := s.nextReceiverLocked(match); sess != nil {
			s.mu.Unlock()
			return sess, nil
		}
		if s.boundCh == nil {
			s.boundCh = make(chan struct{})
		}
		ch := s.boundCh
		s.mu.Unlock()
		select {
		case <-ch:
		case <-s.ctx.Done():
			return nil, ErrClosed
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", ErrNoReceiver, ctx.Err())
		}
	}
}
