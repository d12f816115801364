package smsclink

import (
	"tandem/smpp"
)

// deliverHandler is the smpp.Handler of one slot's sessions. It runs on
// the session's reader goroutine, which must not block, so each delivery
// is handed to a goroutine of its own (bounded by the slot's semaphore)
// that calls the link's Handler and then answers.
type deliverHandler struct {
	l *Link
	s *slot
}

func (d *deliverHandler) ServeSMPP(r *smpp.Request) {
	switch p := r.PDU.(type) {
	case *smpp.DeliverSM:
		d.l.deliver(d.s, r, p, &smpp.DeliverSMResp{})
	case *smpp.DataSM:
		// data_sm carries the same content with longer addresses and the
		// text in message_payload, which DeliverSM.Payload reads too.
		dm := &smpp.DeliverSM{
			ServiceType:        p.ServiceType,
			SourceAddr:         p.SourceAddr,
			DestAddr:           p.DestAddr,
			ESMClass:           p.ESMClass,
			RegisteredDelivery: p.RegisteredDelivery,
			DataCoding:         p.DataCoding,
			TLVs:               p.TLVs,
		}
		d.l.deliver(d.s, r, dm, &smpp.DataSMResp{})
	case *smpp.AlertNotification:
		d.s.log.Debug("alert_notification ignored", "source", p.SourceAddr.Addr)
	default:
		if r.Header.ID.HasResponse() {
			_ = r.Respond(nil, smpp.StatusInvCmdID)
		}
	}
}

// deliver runs the Handler for one delivery and answers with its status.
func (l *Link) deliver(s *slot, r *smpp.Request, d *smpp.DeliverSM, ok smpp.PDU) {
	l.counters.delivers.Add(1)
	if l.h == nil {
		l.counters.deliverRejected.Add(1)
		_ = r.Respond(nil, smpp.StatusXTAppn)
		return
	}
	select {
	case s.sem <- struct{}{}:
	default:
		// The SMSC outruns the Handler: let it retry later rather than
		// queue without bound or stall the reader (which also carries our
		// submit_sm_resp).
		l.counters.deliverRejected.Add(1)
		s.log.Warn("deliver_sm refused: too many in flight", "limit", cap(s.sem))
		_ = r.Respond(nil, smpp.StatusXTAppn)
		return
	}
	// The session's reader calls us, and Run waits for every session to end
	// before it waits for handlers, so this Add never races with Wait.
	l.handlers.Add(1)
	go func() {
		defer l.handlers.Done()
		defer func() { <-s.sem }()
		st := l.h.HandleDeliver(l.hctx, l.cfg.Name, d)
		if st != smpp.StatusOK {
			l.counters.deliverErrors.Add(1)
		}
		if err := r.Respond(ok, st); err != nil {
			s.log.Warn("deliver_sm_resp not sent", smpp.LogKeyErr, err, smpp.LogKeySeq, r.Header.Seq)
		}
	}()
}
