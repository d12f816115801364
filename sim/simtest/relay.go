// Package simtest holds test helpers for the simulators: a Relay gateway
// that lets spsim and smscsim meet on loopback without an ISMG (sim/ must
// not import it), so that their records can be joined in tests.
package simtest

import (
	"sync"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/cmpp/cmpptest"
	"github.com/tandem-sms/tandem/smpp"
	"github.com/tandem-sms/tandem/smstext"
)

// Relay is the smallest gateway that lets the two simulators meet without
// an ISMG (sim/ must not import it): each SUBMIT becomes a submit_sm to
// the SMSC, its SUBMIT_RESP waits for the submit_sm_resp, and each
// receipt becomes a status report to the SP. One fault can be played:
// the SP's connection dropped after the submit_sm of SUBMIT dropAt went
// out and before its SUBMIT_RESP — the window every crash has.
type Relay struct {
	// Addr is the CMPP address SP clients dial.
	Addr string

	t      testing.TB
	esme   *smpp.Session
	gen    *cmpp.MsgIDGenerator
	dropAt int

	mu      sync.Mutex
	n       int
	sp      *cmpp.Session     // the SP's latest session
	byID    map[string]owed   // SMSC message_id → what the SP is owed
	early   map[string]string // receipts ahead of their submit_sm_resp: message_id → stat
	pending []owed            // reports the SP was not there for
}

type owed struct {
	msgID uint64
	dest  string
	stat  string
}

// StartRelay binds to the SMSC at smscAddr as a transceiver (system_id
// "relay") and serves SP clients (cmpptest's account) until the test
// ends. dropAt > 0 closes the SP's connection after the submit_sm of the
// dropAt-th SUBMIT (counted from 1) was accepted, before its SUBMIT_RESP.
func StartRelay(t testing.TB, smscAddr string, dropAt int) *Relay {
	r := &Relay{t: t, gen: cmpp.NewMsgIDGenerator(1001, time.Now, time.Time{}), dropAt: dropAt,
		byID: map[string]owed{}, early: map[string]string{}}
	esme, _, err := smpp.DialBind(t.Context(), smscAddr, smpp.DefaultConfig(),
		&smpp.Bind{Mode: smpp.BindTransceiver, SystemID: "relay"}, smpp.HandlerFunc(r.receipt))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = esme.Close(); <-esme.Done() })
	r.esme = esme
	srv := cmpptest.NewUnstartedServer(cmpp.HandlerFunc(r.submit))
	srv.OnSession = r.onSession
	srv.Start(t)
	r.Addr = srv.Addr
	return r
}

func (r *Relay) onSession(s *cmpp.Session) {
	r.mu.Lock()
	r.sp = s
	owed := r.pending
	r.pending = nil
	r.mu.Unlock()
	go func() {
		for _, o := range owed {
			r.report(o)
		}
	}()
}

func (r *Relay) submit(s *cmpp.Session, h cmpp.Header, req cmpp.PDU) {
	sub, ok := req.(*cmpp.Submit)
	if !ok {
		return
	}
	p := &smpp.SubmitSM{
		SourceAddr:         smpp.Addr{Addr: sub.SrcID},
		DestAddr:           smpp.Addr{NPI: 1, Addr: sub.DestTerminalIDs[0]},
		RegisteredDelivery: smpp.RegDeliveryFinal,
		DataCoding:         smstext.FromCMPP(sub.MsgFmt).SMPPDataCoding(),
		ShortMessage:       []byte(sub.MsgContent),
	}
	if smstext.FromCMPP(sub.MsgFmt) == smstext.ASCII {
		p.DataCoding = smpp.CodingIA5
	}
	if sub.TPUDHI == 1 {
		p.ESMClass = smpp.ESMClassUDHI
	}
	id := r.gen.Next()
	r.mu.Lock()
	r.n++
	drop := r.n == r.dropAt
	r.mu.Unlock()
	// Not the SP session's context: a gateway delivers what it took even
	// when the SP went away.
	pdu, err := r.esme.SendWait(r.t.Context(), p)
	resp, ok := pdu.(*smpp.SubmitSMResp)
	if err != nil || !ok {
		if r.t.Context().Err() == nil { // not the test ending
			r.t.Errorf("relay: submit_sm: %T %v", pdu, err)
		}
		_ = s.Reply(h, &cmpp.SubmitResp{Result: cmpp.ResultFlowControl})
		return
	}
	o := owed{msgID: id, dest: sub.DestTerminalIDs[0]}
	r.mu.Lock()
	r.byID[resp.MessageID] = o
	stat, early := r.early[resp.MessageID]
	delete(r.early, resp.MessageID)
	r.mu.Unlock()
	if early {
		o.stat = stat
		go r.report(o)
	}
	if drop {
		_ = s.Close() // delivered, never acked
		return
	}
	_ = s.Reply(h, &cmpp.SubmitResp{MsgID: id})
}

func (r *Relay) receipt(req *smpp.Request) {
	d, ok := req.PDU.(*smpp.DeliverSM)
	if !ok {
		_ = req.Respond(nil, smpp.StatusOK)
		return
	}
	info, err := smpp.ParseDeliverReceipt(d)
	_ = req.Respond(nil, smpp.StatusOK)
	if err != nil {
		if r.t.Context().Err() == nil {
			r.t.Errorf("relay: receipt: %v", err)
		}
		return
	}
	r.mu.Lock()
	o, ok := r.byID[info.MessageID]
	if !ok { // ahead of its submit_sm_resp
		r.early[info.MessageID] = smpp.StateStat(info.State)
	}
	r.mu.Unlock()
	if !ok {
		return
	}
	o.stat = smpp.StateStat(info.State)
	go r.report(o)
}

func (r *Relay) report(o owed) {
	r.mu.Lock()
	s := r.sp
	r.mu.Unlock()
	d := &cmpp.Deliver{MsgID: r.gen.Next(), DestID: "10657001", SrcTerminalID: o.dest}
	if s != nil {
		d.SetReport(&cmpp.Report{MsgID: o.msgID, Stat: o.stat, DestTerminalID: o.dest}, s.Version())
		if _, err := s.SendWait(s.Context(), d); err == nil {
			return
		}
	}
	r.mu.Lock()
	if r.sp != s && r.sp != nil { // a new session came meanwhile
		r.mu.Unlock()
		r.report(o)
		return
	}
	r.pending = append(r.pending, o)
	r.mu.Unlock()
}
