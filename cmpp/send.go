package cmpp

import (
	"context"
	"errors"
	"fmt"
	"time"
)

func (s *Session) nextSeq() uint32 {
	for {
		if n := s.seq.Add(1); n != 0 {
			return n
		}
	}
}

// register gives c a free Sequence_Id and puts it in the window.
func (s *Session) register(c *call) error {
	for {
		c.seq = s.nextSeq()
		err := s.win.add(c)
		if err == nil {
			return nil
		}
		if !errors.Is(err, errSeqInUse) {
			return err
		}
	}
}

func (s *Session) checkRequest(p PDU) error {
	if p == nil {
		return errors.New("cmpp: send: nil PDU")
	}
	switch cmd := p.Command(); {
	case cmd.IsResponse():
		return fmt.Errorf("cmpp: send: %v is a response: use Reply", cmd)
	case cmd == CmdConnect:
		return errors.New("cmpp: send: CONNECT is sent by Dial only")
	case cmd == CmdTerminate:
		return errors.New("cmpp: send: TERMINATE is sent by Terminate only")
	}
	if s.ctx.Err() != nil {
		return s.closedErr()
	}
	if s.closing.Load() {
		return fmt.Errorf("%w: terminating", ErrClosed)
	}
	return nil
}

// Send sends request p and waits for its response. It fails at once with
// ErrWindowFull when Window requests are unanswered, with ErrTimeout after
// ResponseTimeout, and with ctx's error when ctx ends first; either way the
// window slot is freed and a late response is dropped.
func (s *Session) Send(ctx context.Context, p PDU) (PDU, error) {
	return s.send(ctx, p, false)
}

// SendWait is Send, but waits (until ctx ends) for a free window slot
// instead of failing with ErrWindowFull.
func (s *Session) SendWait(ctx context.Context, p PDU) (PDU, error) {
	return s.send(ctx, p, true)
}

func (s *Session) send(ctx context.Context, p PDU, wait bool) (PDU, error) {
	if err := s.checkRequest(p); err != nil {
		return nil, err
	}
	if wait {
		if err := s.win.acquire(ctx, s.ctx.Done()); err != nil {
			if errors.Is(err, ErrClosed) {
				return nil, s.closedErr()
			}
			return nil, err
		}
	} else if !s.win.tryAcquire() {
		s.stats.WindowFull.Add(1)
		return nil, ErrWindowFull
	}
	c := s.getCall()
	c.want, c.slot, c.deadline = p.Command().Response(), true, s.since()+s.cfg.ResponseTimeout
	if err := s.register(c); err != nil {
		s.win.release()
		s.calls.Put(c)
		return nil, s.closedErr()
	}
	if err := s.enqueue(ctx, s.encode(c.seq, p)); err != nil {
		return s.abandon(c, err)
	}
	s.stats.RequestsSent.Add(1)
	// The response, the sweeper's ErrTimeout or the session's end arrives
	// on c.ch.
	select {
	case r := <-c.ch:
		s.calls.Put(c)
		return r.p, r.err
	case <-ctx.Done():
		return s.abandon(c, ctx.Err())
	}
}

// abandon removes c from the window and returns err, unless the response
// (or the session's end) won the race, in which case that is returned.
func (s *Session) abandon(c *call, err error) (PDU, error) {
	if s.win.takeIf(c.seq, c) {
		s.calls.Put(c)
		return nil, err
	}
	r := <-c.ch
	s.calls.Put(c)
	return r.p, r.err
}

func (s *Session) getCall() *call {
	if c, ok := s.calls.Get().(*call); ok {
		return c
	}
	return &call{ch: make(chan callResult, 1)}
}

// SendAsync sends request p without waiting for its response: fn
// is called exactly once with the response or an error (ErrTimeout after
// ResponseTimeout, ErrClosed, a decode error), from the read goroutine,
// the timeout sweeper or the closing session, so it must not block. If
// SendAsync returns an error, fn is not called.
//
// Unlike smpp's SendAsync, it never waits for a window slot: a full
// window fails at once with ErrWindowFull, as Send does, so the caller
// answers its own client with flow control instead of queueing. ctx
// bounds only the wait for room in the outbound queue (full only while
// the peer reads slowly); a ctx already done fails at once with its error.
func (s *Session) SendAsync(ctx context.Context, p PDU, fn func(resp PDU, err error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.checkRequest(p); err != nil {
		return err
	}
	if !s.win.tryAcquire() {
		s.stats.WindowFull.Add(1)
		return ErrWindowFull
	}
	c := &call{want: p.Command().Response(), slot: true, fn: fn, deadline: s.since() + s.cfg.ResponseTimeout}
	if err := s.register(c); err != nil {
		s.win.release()
		return s.closedErr()
	}
	seq := c.seq
	if err := s.enqueue(ctx, s.encode(seq, p)); err != nil {
		if s.win.takeIf(seq, c) {
			return err
		}
		return nil // the session's end already reported err to fn
	}
	s.stats.RequestsSent.Add(1)
	return nil
}

// sweepPeriod is how often the sweeper looks for requests past
// ResponseTimeout: a timeout fires up to an eighth late, which a timer per
// request would avoid at a cost paid on every request.
func (s *Session) sweepPeriod() time.Duration {
	return min(max(s.cfg.ResponseTimeout/8, time.Millisecond), time.Second)
}

// sweepLoop fails the requests left unanswered for ResponseTimeout; it
// runs with the session (owned by serve) and ends with its context.
func (s *Session) sweepLoop() {
	t := time.NewTicker(s.sweepPeriod())
	defer t.Stop()
	var buf []*call
	for {
		select {
		case <-t.C:
		case <-s.ctx.Done():
			return
		}
		buf = s.win.expire(s.since(), buf[:0])
		for i, c := range buf {
			buf[i] = nil
			s.stats.Timeouts.Add(1)
			c.complete(nil, fmt.Errorf("%w: %v (Sequence_Id %d) unanswered after %v",
				ErrTimeout, c.want.Request(), c.seq, s.cfg.ResponseTimeout))
		}
	}
}
