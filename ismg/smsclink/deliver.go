package smsclink

import (
	"errors"
	"slices"

	"github.com/tandem-sms/tandem/smpp"
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
	if rh, isRH := l.h.(ReceiptHandler); isRH && d.IsReceipt() {
		j.rh = rh
		j.info, j.infoErr = smpp.ParseDeliverReceipt(d)
		if arh, isAsync := rh.(AsyncReceiptHandler); isAsync {
			l.handlers.Add(1)
			respond := func(st smpp.Status) {
				defer l.handlers.Done()
				l.respond(s, r, ok, st, true)
			}
			if arh.HandleReceiptAsync(d, j.info, j.infoErr, respond) {
				return
			}
			l.handlers.Done()
		}
	}
	s.idleMu.Lock()
	if n := len(s.idle); n > 0 {
		w := s.idle[n-1]
		s.idle[n-1] = nil
		s.idle = s.idle[:n-1]
		s.idleMu.Unlock()
		w.ch <- j // buffered, and only the one who popped w sends
		return
	}
	s.idleMu.Unlock()
	l.handlers.Add(1)
	go l.deliverLoop(s, j)
}

// deliverWorker is an idle Handler goroutine's mailbox.
type deliverWorker struct{ ch chan deliverJob }

// deliverJob is one delivery for a Handler goroutine.
type deliverJob struct {
	r  *smpp.Request
	d  *smpp.DeliverSM
	ok smpp.PDU
	// A receipt for a ReceiptHandler, parsed on the reader.
	rh      ReceiptHandler
	info    smpp.ReceiptInfo
	infoErr error
}

// deliverLoop runs j and then further deliveries of the slot until the
// Handler context ends. Keeping the goroutine keeps its grown stack: a
// goroutine per receipt would grow a new one each time. The slot's
// semaphore bounds how many there are.
func (l *Link) deliverLoop(s *slot, j deliverJob) {
	defer l.handlers.Done()
	w := &deliverWorker{ch: make(chan deliverJob, 1)}
	for {
		l.deliver1(s, j)
		j = deliverJob{}
		s.idleMu.Lock()
		s.idle = append(s.idle, w)
		s.idleMu.Unlock()
		select {
		case j = <-w.ch:
		case <-l.hctx.Done():
			s.idleMu.Lock()
			if i := slices.Index(s.idle, w); i >= 0 {
				s.idle = slices.Delete(s.idle, i, i+1)
				s.idleMu.Unlock()
				return
			}
			s.idleMu.Unlock()
			j = <-w.ch // taken by a delivery: its job is on the way
		}
	}
}

func (l *Link) deliver1(s *slot, j deliverJob) {
	var st smpp.Status
	if j.rh != nil {
		st = j.rh.HandleReceipt(l.hctx, j.d, j.info, j.infoErr)
	} else {
		st = l.h.HandleDeliver(l.hctx, j.d)
	}
	l.respond(s, j.r, j.ok, st, false)
}

// respond answers a delivery and frees its slot. noWait is for callers that
// must not block (an AsyncReceiptHandler's respond): a full write queue
// then leaves the answer to a goroutine.
func (l *Link) respond(s *slot, r *smpp.Request, ok smpp.PDU, st smpp.Status, noWait bool) {
	if st != smpp.StatusOK {
		l.counters.deliverErrors.Add(1)
	}
	var err error
	if noWait {
		if err = r.RespondNoWait(ok, st); errors.Is(err, smpp.ErrWriteQueueFull) {
			go func() {
				defer func() { <-s.sem }()
				if err := r.Respond(ok, st); err != nil {
					s.log.Warn("deliver_sm_resp not sent", smpp.LogKeyErr, err, smpp.LogKeySeq, r.Header.Seq)
				}
			}()
			return
		}
	} else {
		err = r.Respond(ok, st)
	}
	<-s.sem
	if err != nil {
		s.log.Warn("deliver_sm_resp not sent", smpp.LogKeyErr, err, smpp.LogKeySeq, r.Header.Seq)
	}
}
