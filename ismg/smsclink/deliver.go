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
	j := deliverJob{r: r, d: d, ok: ok}
	select {
	case s.work <- j:
	default:
		l.handlers.Add(1)
		go l.deliverLoop(s, j)
	}
}

// deliverJob is one delivery for a Handler goroutine.
type deliverJob struct {
	r  *smpp.Request
	d  *smpp.DeliverSM
	ok smpp.PDU
}

// deliverLoop runs j and then further deliveries of the slot until the
// Handler context ends. Keeping the goroutine keeps its grown stack: a
// goroutine per receipt would grow a new one each time. The slot's
// semaphore bounds how many there are.
func (l *Link) deliverLoop(s *slot, j deliverJob) {
	defer l.handlers.Done()
	for {
		l.deliver1(s, j)
		j = deliverJob{}
		select {
		case j = <-s.work:
		case <-l.hctx.Done():
			return
		}
	}
}

func (l *Link) deliver1(s *slot, j deliverJob) {
	defer func() { <-s.sem }()
	st := l.h.HandleDeliver(l.hctx, l.cfg.Name, j.d)
	if st != smpp.StatusOK {
		l.counters.deliverErrors.Add(1)
	}
	if err := j.r.Respond(j.ok, st); err != nil {
		s.log.Warn("deliver_sm_resp not sent", smpp.LogKeyErr, err, smpp.LogKeySeq, j.r.Header.Seq)
	}
}
