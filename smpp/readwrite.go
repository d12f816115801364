package smpp

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"
)

// readLoop is the session's only reader. It frames with Peek/Discard,
// validates command_length before allocating, and gives each PDU a fresh
// body buffer so decoded fields may alias it for as long as anyone holds
// the PDU.
func (s *Session) readLoop() error {
	for {
		// The PDU's clock starts when we start reading it: at the first
		// read for it if bytes of it are buffered already, else when a
		// read returns its first bytes. Time the session spent on earlier
		// PDUs, with the peer's bytes waiting, is not held against the
		// peer.
		s.pduStart, s.pduBegun = time.Time{}, s.br.Buffered() > 0
		h, err := ReadHeader(s.br, s.cfg.MaxPDU)
		if err != nil {
			if errors.Is(err, ErrBadLength) {
				// The stream cannot be resynchronised: answer, then hang up
				// once the writer has flushed the nack.
				s.badPDU(h, err)
				s.send1(frame{p: new(GenericNack), seq: h.Seq, status: StatusInvCmdLen, closeErr: err})
				return nil
			}
			if s.ctx.Err() != nil {
				return nil
			}
			return s.readErr("header", err)
		}
		var body []byte
		if n := h.Length - HeaderLen; n > 0 {
			body = make([]byte, n)
			if _, err := io.ReadFull(s.br, body); err != nil {
				if s.ctx.Err() != nil {
					return nil
				}
				return s.readErr(fmt.Sprintf("%v seq %d body", h.ID, h.Seq), err)
			}
		}
		s.lastRead.Store(time.Now().UnixNano())
		s.stats.PDUsIn.Add(1)
		s.dispatch(h, body)
	}
}

func (s *Session) readErr(what string, err error) error {
	if s.pduBound && errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%w: read %s: %d bytes in the %v since the first: %w",
			ErrPDUTimeout, what, s.br.Buffered(), s.cfg.PDUTimeout, err)
	}
	return fmt.Errorf("smpp: read %s: %w", what, err)
}

// connReader is what the session's bufio.Reader reads from: it sets the
// read deadline before every read that would block (bufio reads only when
// its buffer runs short) and notes when bytes arrive. The deadline is the
// earlier of ReadTimeout from now (idleness: every read renews it) and
// PDUTimeout from when we began reading the PDU (its first byte), which
// later bytes do not renew, so a peer cannot hold the session by
// trickling a PDU in a byte at a time. Reader goroutine only.
type connReader struct{ s *Session }

func (r connReader) Read(b []byte) (int, error) {
	s := r.s
	now := time.Now()
	if s.pduStart.IsZero() && s.pduBegun {
		s.pduStart = now
	}
	var dl time.Time
	if s.cfg.ReadTimeout > 0 {
		dl = now.Add(s.cfg.ReadTimeout)
	}
	s.pduBound = false
	if !s.pduStart.IsZero() && s.cfg.PDUTimeout > 0 {
		if p := s.pduStart.Add(s.cfg.PDUTimeout); dl.IsZero() || p.Before(dl) {
			dl, s.pduBound = p, true
		}
	}
	if !dl.Equal(s.rdl) {
		_ = s.conn.SetReadDeadline(dl)
		s.rdl = dl
	}
	n, err := s.conn.Read(b)
	if n > 0 && s.pduStart.IsZero() {
		// bufio reads only for the PDU being read, so these bytes include
		// its first.
		s.pduStart = time.Now()
	}
	return n, err
}

// send1 queues a frame from the reader goroutine. It blocks while the
// queue is full, which stops us reading: the peer feels the backpressure.
func (s *Session) send1(f frame) {
	select {
	case s.out <- f:
	case <-s.ctx.Done():
	}
}

func (s *Session) dispatch(h Header, body []byte) {
	if h.ID.IsResponse() {
		s.handleResponse(h, body)
		return
	}
	switch h.ID {
	case CmdEnquireLink:
		// Answered here, ahead of the window and the Handler, so a full
		// window never starves the keep-alive.
		s.send1(frame{p: new(EnquireLinkResp), seq: h.Seq})
		return
	case CmdUnbind:
		s.unbound.Store(true)
		s.setState(SessionUnbinding, s.BindMode())
		s.send1(frame{p: new(UnbindResp), seq: h.Seq, closeErr: errUnbound})
		return
	}
	if !h.ID.Known() {
		s.badPDU(h, fmt.Errorf("smpp: %w %v seq %d", ErrUnknownCommand, h.ID, h.Seq))
		s.send1(frame{p: new(GenericNack), seq: h.Seq, status: StatusInvCmdID})
		return
	}
	p, err := DecodeBody(h, body)
	if err != nil {
		s.badPDU(h, err)
		s.reject(h, StatusFor(err))
		return
	}
	if s.draining.Load() && h.ID.HasResponse() {
		// Shutting down: refuse new work with a temporary status so the
		// peer retries elsewhere or later, and so the drain can finish.
		st := StatusMsgQFul
		switch {
		case h.ID == CmdBindTransmitter || h.ID == CmdBindReceiver || h.ID == CmdBindTransceiver:
			st = StatusBindFail
		case s.role == RoleESME:
			st = StatusXTAppn
		}
		s.reject(h, st)
		return
	}
	if st := s.admit(h.ID); st != StatusOK {
		s.reject(h, st)
		return
	}
	if s.h == nil {
		st := StatusXTAppn
		if _, ok := p.(*Bind); ok {
			st = StatusBindFail
			s.casState(SessionBinding, SessionOpen, 0)
		}
		s.reject(h, st)
		return
	}
	if h.ID.HasResponse() {
		s.win.owe(1)
	}
	s.stats.Incoming.Add(1)
	s.h.ServeSMPP(&Request{Header: h, PDU: p, s: s})
}

// reject answers request h with an empty response carrying st.
func (s *Session) reject(h Header, st Status) {
	if !h.ID.HasResponse() {
		return
	}
	s.stats.Rejected.Add(1)
	resp, err := New(h.ID.Response())
	if err != nil {
		resp = new(GenericNack)
	}
	s.send1(frame{p: resp, seq: h.Seq, status: st})
}

// admit applies the bind-state rules (§2.8) to a request from the peer
// and, for a bind on the SMSC side, moves the session to binding.
func (s *Session) admit(id CommandID) Status {
	st, mode := s.State(), s.BindMode()
	if s.role == RoleSMSC {
		switch id {
		case CmdBindTransmitter, CmdBindReceiver, CmdBindTransceiver:
			if !s.casState(SessionOpen, SessionBinding, 0) {
				return StatusAlyBnd
			}
			return StatusOK
		case CmdSubmitSM, CmdSubmitMulti, CmdDataSM, CmdQuerySM, CmdCancelSM, CmdReplaceSM:
			if st == SessionBound && mode.CanSubmit() {
				return StatusOK
			}
		}
		return StatusInvBndSts
	}
	switch id {
	case CmdDeliverSM, CmdDataSM, CmdAlertNotification:
		if st == SessionBound && mode.CanReceive() {
			return StatusOK
		}
	case CmdOutbind:
		if st == SessionOpen {
			return StatusOK
		}
	}
	return StatusInvBndSts
}

func (s *Session) handleResponse(h Header, body []byte) {
	if h.Seq != 0 && s.enquireSeq.CompareAndSwap(h.Seq, 0) {
		return // answer to our keep-alive (even a generic_nack proves the peer alive)
	}
	wt := s.win.take(h.Seq)
	if wt == nil {
		s.stats.LateResponses.Add(1)
		s.log.Debug("response nobody waits for", LogKeyCommand, h.ID.String(), LogKeySeq, h.Seq)
		return
	}
	r := result{h: h}
	if h.ID != wt.cmd.Response() && h.ID != CmdGenericNack {
		s.stats.DecodeErrors.Add(1)
		r.err = fmt.Errorf("smpp: %v seq %d answered with %v", wt.cmd, h.Seq, h.ID)
		wt.finish(r)
		return
	}
	p, err := DecodeBody(h, body)
	switch {
	case h.Status != StatusOK || h.ID == CmdGenericNack:
		s.stats.ErrorResponses.Add(1)
		if h.Status == StatusThrottled || h.Status == StatusMsgQFul {
			s.stats.Throttled.Add(1)
		}
		if err == nil {
			r.p = p
		}
		r.err = &StatusError{Command: h.ID, Status: h.Status}
	case err != nil:
		s.badPDU(h, err)
		r.err = err
	default:
		r.p = p
		if b, ok := p.(*BindResp); ok {
			s.systemID.Store(&b.SystemID)
			s.setState(SessionBound, b.Mode)
		}
	}
	wt.finish(r)
}

// writeLoop is the session's only writer. It drains the queue into the
// bufio.Writer and flushes when the queue is momentarily empty, so a burst
// costs one syscall. It also runs the timers (keep-alive, bind timeout),
// since it is the goroutine that would send the enquire_link.
func (s *Session) writeLoop() error {
	var tick <-chan time.Time
	if p := s.tickPeriod(); p > 0 {
		t := time.NewTicker(p)
		defer t.Stop()
		tick = t.C
	}
	for {
		yielded := false
		// Bounded so timers are still served under a constant stream.
	drain:
		for range cap(s.out) {
			select {
			case f := <-s.out:
				if err := s.write(f); err != nil {
					return err
				}
			default:
				if s.bw.Buffered() == 0 || yielded {
					break drain
				}
				yielded = true
				// Yield once before the syscall: goroutines about to
				// queue (handlers answering a batch, senders refilling
				// the window) then share this write.
				runtime.Gosched()
				if len(s.out) == 0 {
					break drain
				}
			}
		}
		if s.bw.Buffered() > 0 {
			if err := s.flush(); err != nil {
				return err
			}
		}
		select {
		case f := <-s.out:
			if err := s.write(f); err != nil {
				return err
			}
		case <-tick:
			if err := s.tick(); err != nil {
				return err
			}
		case <-s.ctx.Done():
			return nil
		}
	}
}

func (s *Session) write(f frame) error {
	s.wbuf = AppendPDU(s.wbuf[:0], f.p, f.seq, f.status)
	if len(s.wbuf) > s.bw.Available() {
		// This Write reaches the network: bound how long it may block.
		_ = s.conn.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	}
	if _, err := s.bw.Write(s.wbuf); err != nil {
		return fmt.Errorf("smpp: write %v seq %d: %w", f.p.CommandID(), f.seq, err)
	}
	s.stats.PDUsOut.Add(1)
	if f.p.CommandID() == CmdGenericNack {
		s.stats.GenericNacks.Add(1)
	}
	if f.closeErr != nil {
		if err := s.flush(); err != nil {
			return err
		}
		return f.closeErr
	}
	return nil
}

func (s *Session) flush() error {
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	if err := s.bw.Flush(); err != nil {
		return fmt.Errorf("smpp: write: %w", err)
	}
	return nil
}

func (s *Session) tickPeriod() time.Duration {
	var p time.Duration
	for _, d := range []time.Duration{s.cfg.EnquireInterval, s.cfg.EnquireTimeout, s.cfg.BindTimeout} {
		if d > 0 && (p == 0 || d < p) {
			p = d
		}
	}
	if s.cfg.EnquireInterval <= 0 && (s.role != RoleSMSC || s.cfg.BindTimeout <= 0) {
		return 0
	}
	return max(p/4, time.Millisecond)
}

// tick runs the timers: the SMSC-side bind timeout, dead-peer detection
// and the idle keep-alive.
func (s *Session) tick() error {
	now := time.Now()
	if s.role == RoleSMSC && s.cfg.BindTimeout > 0 {
		if st := s.State(); (st == SessionOpen || st == SessionBinding) && now.Sub(s.started) > s.cfg.BindTimeout {
			return fmt.Errorf("%w (%v)", ErrBindTimeout, s.cfg.BindTimeout)
		}
	}
	if s.cfg.EnquireInterval <= 0 {
		return nil
	}
	if seq := s.enquireSeq.Load(); seq != 0 {
		if now.Sub(time.Unix(0, s.enquireSent.Load())) >= s.cfg.EnquireTimeout {
			s.stats.DeadPeers.Add(1)
			return fmt.Errorf("%w: no enquire_link_resp for seq %d within %v", ErrPeerDead, seq, s.cfg.EnquireTimeout)
		}
		return nil
	}
	if now.Sub(time.Unix(0, s.lastRead.Load())) < s.cfg.EnquireInterval {
		return nil
	}
	seq := s.nextSeq()
	s.enquireSent.Store(now.UnixNano())
	s.enquireSeq.Store(seq)
	s.stats.EnquireLinks.Add(1)
	return s.write(frame{p: new(EnquireLink), seq: seq})
}
