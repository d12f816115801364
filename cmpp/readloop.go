package cmpp

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// connReader sets the read deadline before every read that would block
// (bufio calls Read only when its buffer is empty) and notes when bytes
// arrive, which is what the keepalive calls idle.
//
// The deadline is the earliest of three bounds: the login deadline (until
// the session runs), ReadTimeout from now (idleness: renewed by every
// read), and PDUTimeout from when we began reading the PDU (its first
// byte), which later bytes do not renew, so a peer cannot hold the
// session by trickling a PDU in a byte at a time.
type connReader struct{ s *Session }

func (r connReader) Read(b []byte) (int, error) {
	s := r.s
	now := time.Now()
	if s.pduStart.IsZero() && s.pduBegun {
		s.pduStart = now
	}
	dl := s.rdeadline
	if s.cfg.ReadTimeout > 0 && dl.IsZero() {
		dl = now.Add(s.cfg.ReadTimeout)
	}
	s.pduBound = false
	if !s.pduStart.IsZero() && s.cfg.PDUTimeout > 0 {
		if p := s.pduStart.Add(s.cfg.PDUTimeout); dl.IsZero() || p.Before(dl) {
			dl, s.pduBound = p, true
		}
	}
	if !dl.Equal(s.rdl) {
		s.conn.SetReadDeadline(dl)
		s.rdl = dl
	}
	n, err := s.conn.Read(b)
	if n > 0 {
		now = time.Now()
		s.lastRead.Store(int64(now.Sub(s.epoch)))
		if s.pduStart.IsZero() {
			// bufio reads only for the PDU being read, so these bytes
			// include its first.
			s.pduStart = now
		}
	}
	return n, err
}

// readPDU reads one whole PDU. The returned slice aliases the read buffer
// and is valid until the next call; Decode copies what it keeps.
func (s *Session) readPDU() (Header, []byte, error) {
	// The PDU's clock starts when we start reading it: now if bytes of it
	// are buffered already, else when a read returns its first bytes.
	// Time the session spent on earlier PDUs, with the peer's bytes
	// waiting, is not held against the peer.
	s.pduStart, s.pduBegun = time.Time{}, s.br.Buffered() > 0
	h, err := ReadHeader(s.br, s.cfg.MaxPDU)
	if err != nil {
		if errors.Is(err, ErrBadLength) {
			return h, nil, err
		}
		return h, nil, s.ioErr(err, "header", HeaderLen)
	}
	b, err := s.br.Peek(int(h.Length))
	if err != nil {
		return h, nil, s.ioErr(err, fmt.Sprintf("%v (Sequence_Id %d) body", h.Command, h.Seq), int(h.Length))
	}
	return h, b, nil
}

func (s *Session) ioErr(err error, what string, need int) error {
	if errors.Is(err, io.EOF) {
		if n := s.br.Buffered(); n > 0 {
			return fmt.Errorf("cmpp: read %s: truncated: %d of %d bytes: %w", what, n, need, io.ErrUnexpectedEOF)
		}
		if s.closing.Load() {
			return ErrTerminated
		}
		return ErrPeerClosed
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		if s.pduBound {
			return fmt.Errorf("%w: read %s: %d of %d bytes in the %v since the first: %w",
				ErrPDUTimeout, what, s.br.Buffered(), need, s.cfg.PDUTimeout, err)
		}
		if !s.rdeadline.IsZero() {
			return fmt.Errorf("cmpp: read %s: login deadline: %w", what, err)
		}
		return fmt.Errorf("cmpp: read %s: nothing received for %v: %w", what, s.cfg.ReadTimeout, err)
	}
	return fmt.Errorf("cmpp: read %s: %w", what, err)
}

func (s *Session) readLoop() error {
	for {
		h, b, err := s.readPDU()
		if err != nil {
			if s.ctx.Err() != nil {
				return nil // we closed the connection; the cause is set
			}
			if !errors.Is(err, ErrPeerClosed) && !errors.Is(err, ErrTerminated) {
				s.stats.ProtocolErrors.Add(1)
			}
			if errors.Is(err, ErrBadLength) {
				s.badPDU(h, BadPDULength, err)
			}
			return err
		}
		if !h.Command.Known() {
			s.br.Discard(int(h.Length))
			s.badPDU(h, BadPDUUnknownCommand, fmt.Errorf("cmpp: read: %w 0x%08x (Sequence_Id %d, Total_Length %d)",
				ErrUnknownCommand, uint32(h.Command), h.Seq, h.Length))
			continue
		}
		p, _ := New(h.Command)
		err = p.DecodeBody(b[HeaderLen:], s.version)
		s.br.Discard(int(h.Length))
		if err != nil {
			err = s.badBody(h, p, fmt.Errorf("%w (Sequence_Id %d)", err, h.Seq))
		} else {
			err = s.dispatch(h, p)
		}
		if err != nil {
			return err
		}
	}
}

func (s *Session) dispatch(h Header, p PDU) error {
	if h.Command.IsResponse() {
		s.stats.ResponsesReceived.Add(1)
		s.deliver(h, p, nil)
		return nil
	}
	s.stats.RequestsReceived.Add(1)
	switch h.Command {
	case CmdActiveTest:
		// Answered here, never queued behind the handlers, so a busy
		// session still looks alive.
		return s.reply(h.Seq, &ActiveTestResp{})
	case CmdTerminate:
		s.closing.Store(true)
		err := s.reply(h.Seq, &TerminateResp{})
		s.armDrain()
		return err
	case CmdConnect:
		s.stats.ProtocolErrors.Add(1)
		return fmt.Errorf("cmpp: CONNECT (Sequence_Id %d) on an established session", h.Seq)
	}
	er, canRefuse := p.(ErrorResponder)
	if s.in.has(h.Seq) {
		if !canRefuse {
			s.stats.ProtocolErrors.Add(1)
			return fmt.Errorf("cmpp: %v reuses Sequence_Id %d of an unanswered request", h.Command, h.Seq)
		}
		s.stats.DuplicateSeq.Add(1)
		return s.reply(h.Seq, er.ErrorResponse(ResultDuplicateSeq))
	}
	if !s.in.tryAdd(h.Seq) {
		if canRefuse {
			s.stats.FlowControl.Add(1)
			s.log.Debug("inbound window full", LogKeyCommand, h.Command.String(), LogKeySeq, h.Seq)
			return s.reply(h.Seq, er.ErrorResponse(ResultFlowControl))
		}
		if !s.in.addWait(h.Seq, s.cfg.ResponseTimeout, s.ctx.Done()) {
			if s.ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("%w: %v (Sequence_Id %d) found all %d slots busy for %v",
				ErrInboundWindow, h.Command, h.Seq, s.cfg.InboundWindow, s.cfg.ResponseTimeout)
		}
	}
	if s.cfg.InlineHandler {
		s.handler.ServeCMPP(s, h, p)
		return nil
	}
	select {
	case s.work <- job{h, p}:
	default:
		s.handlers.Add(1)
		go s.handle(job{h, p})
	}
	return nil
}

// deliver completes the request waiting for response h with p, or with
// err when the response did not decode.
func (s *Session) deliver(h Header, p PDU, err error) {
	c := s.win.take(h.Seq)
	if c == nil {
		s.stats.Unmatched.Add(1)
		s.log.Debug("response matches no request", LogKeyCommand, h.Command.String(), LogKeySeq, h.Seq)
		return
	}
	if h.Command != c.want {
		c.complete(nil, fmt.Errorf("%w: %v for Sequence_Id %d, want %v", ErrUnexpectedResponse, h.Command, h.Seq, c.want))
		return
	}
	c.complete(p, err)
}
