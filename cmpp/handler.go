package cmpp

import (
	"context"
	"fmt"
)

// Handler serves requests from the peer. ServeCMPP runs in its own
// goroutine, at most InboundWindow at once per session, and answers with
// s.Reply(h, resp), then or later from any goroutine. Until it replies the
// request holds an inbound slot. A handler must return once s.Context() is
// done: the session's Done waits for its handlers.
//
// With Config.InlineHandler, ServeCMPP runs on the session's reader
// instead, one request at a time: it must not block (see InlineHandler),
// and a Reply it makes itself may block the reader while the outbound
// queue is full, where ReplyNoWait never does.
//
// ACTIVE_TEST and TERMINATE never reach the handler, nor does a request
// whose body did not decode (the session answers it itself; see
// BadPDUField).
type Handler interface {
	ServeCMPP(s *Session, h Header, req PDU)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(s *Session, h Header, req PDU)

func (f HandlerFunc) ServeCMPP(s *Session, h Header, req PDU) { f(s, h, req) }

// refuseHandler answers every request it can with Result 2 (bad command):
// a session without a handler does not serve requests.
type refuseHandler struct{}

func (refuseHandler) ServeCMPP(s *Session, h Header, req PDU) {
	if er, ok := req.(ErrorResponder); ok {
		_ = s.Reply(h, er.ErrorResponse(ResultBadCommand))
		return
	}
	// Nothing to answer with; free the slot so the window does not leak.
	s.inDone(h.Seq)
}

// job is one peer request for a handler goroutine.
type job struct {
	h Header
	p PDU
}

// handle runs j, then stays for further requests until the session ends:
// reusing the goroutine keeps its grown stack, where a goroutine per
// request would grow a fresh one every time. The pool only grows to the
// number of requests handled at once.
func (s *Session) handle(j job) {
	defer s.handlers.Done()
	for {
		s.handler.ServeCMPP(s, j.h, j.p)
		j = job{}
		select {
		case j = <-s.work:
		case <-s.ctx.Done():
			return
		}
	}
}

// Reply answers the peer's request h with resp, which must be its response
// type, and frees the request's inbound slot. It blocks only while the
// outbound queue is full: called from an inline handler (on the reader),
// that blocks the reader too; use ReplyNoWait there.
func (s *Session) Reply(h Header, resp PDU) error {
	if resp == nil || resp.Command() != h.Command.Response() {
		got := "nil"
		if resp != nil {
			got = resp.Command().String()
		}
		return fmt.Errorf("cmpp: reply to %v (Sequence_Id %d) with %s", h.Command, h.Seq, got)
	}
	// The slot is freed after the reply is queued so that a drain that
	// completes on it still finds the reply in the queue.
	defer s.inDone(h.Seq)
	return s.reply(h.Seq, resp)
}

// ReplyNoWait is Reply for callers that must never block (a store's commit
// callback): when the outbound queue is full it returns ErrWriteQueueFull
// without queueing, and the request stays unanswered for a later Reply.
// The queue holds WriteQueue frames, by default a reply to every request
// of a full inbound window plus a window of our own requests, so it is
// full only when the peer stopped reading.
func (s *Session) ReplyNoWait(h Header, resp PDU) error {
	if resp == nil || resp.Command() != h.Command.Response() {
		return s.Reply(h, resp) // the same error
	}
	if s.ctx.Err() != nil {
		s.inDone(h.Seq)
		return s.closedErr()
	}
	f := s.encode(h.Seq, resp)
	select {
	case s.out <- f:
	default:
		s.putBuf(f.buf)
		return ErrWriteQueueFull
	}
	s.stats.queueLen(len(s.out))
	s.stats.ResponsesSent.Add(1)
	s.inDone(h.Seq)
	return nil
}

func (s *Session) inDone(seq uint32) {
	if s.in.done(seq) {
		s.checkDrained()
	}
}

func (s *Session) reply(seq uint32, resp PDU) error {
	if s.ctx.Err() != nil {
		return s.closedErr()
	}
	if err := s.enqueue(context.Background(), s.encode(seq, resp)); err != nil {
		return err
	}
	s.stats.ResponsesSent.Add(1)
	return nil
}
