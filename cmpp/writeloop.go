package cmpp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"
)

// frame is one encoded PDU waiting for the writer.
type frame struct {
	buf *[]byte
}

func (s *Session) encode(seq uint32, p PDU) frame {
	bp, ok := s.bufs.Get().(*[]byte)
	if !ok {
		b := make([]byte, 0, 256)
		bp = &b
	}
	*bp = AppendPDU((*bp)[:0], s.version, seq, p)
	return frame{buf: bp}
}

func (s *Session) putBuf(bp *[]byte) {
	if cap(*bp) <= 64<<10 {
		s.bufs.Put(bp)
	}
}

// enqueue hands f to the writer, waiting while the queue is full until ctx
// or the session ends.
func (s *Session) enqueue(ctx context.Context, f frame) error {
	select {
	case s.out <- f:
	default:
		select {
		case s.out <- f:
		case <-s.ctx.Done():
			return s.closedErr()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.stats.queueLen(len(s.out))
	return nil
}

// writeLoop is the only writer of the connection: it drains the queue into
// a bufio.Writer and flushes when the queue is momentarily empty, so a
// burst costs one syscall (STYLE rule 8). It also owns the keepalive timer.
func (s *Session) writeLoop() error {
	bw := bufio.NewWriterSize(connWriter{s}, 4096)
	var (
		ka   keepalive
		tick <-chan time.Time
		t    *time.Timer
	)
	if s.cfg.ActiveTestInterval > 0 {
		t = time.NewTimer(s.cfg.ActiveTestInterval)
		defer t.Stop()
		tick = t.C
	}
	yielded := false
	for {
		select {
		case f := <-s.out:
			if err := s.writeFrame(bw, f); err != nil {
				return err
			}
			continue
		default:
		}
		if bw.Buffered() > 0 {
			if !yielded {
				// Let the goroutines that are about to queue (the
				// handlers a group commit just released) run first, so
				// that their replies share this write.
				yielded = true
				runtime.Gosched()
				continue
			}
			if err := bw.Flush(); err != nil {
				return s.writeErr(err)
			}
		}
		yielded = false
		select {
		case f := <-s.out:
			if err := s.writeFrame(bw, f); err != nil {
				return err
			}
		case <-tick:
			if err := s.keepalive(bw, &ka, t); err != nil {
				return err
			}
		case seq := <-s.probeAck:
			if ka.probe != nil && ka.probe.seq == seq {
				// Measure the next idle period from the answer rather
				// than waiting out ResponseTimeout.
				ka.probe, ka.misses = nil, 0
				t.Reset(s.cfg.ActiveTestInterval)
			}
		case <-s.drained:
			// Every reply that freed a slot was queued before the slot
			// was freed, so what is queued now is all there is to send.
			for {
				select {
				case f := <-s.out:
					if err := s.writeFrame(bw, f); err != nil {
						return err
					}
					continue
				default:
				}
				break
			}
			if err := bw.Flush(); err != nil {
				return s.writeErr(err)
			}
			return ErrTerminated
		case <-s.ctx.Done():
			return nil
		}
	}
}

func (s *Session) writeFrame(bw *bufio.Writer, f frame) error {
	_, err := bw.Write(*f.buf)
	s.putBuf(f.buf)
	if err != nil {
		return s.writeErr(err)
	}
	return nil
}

func (s *Session) writeErr(err error) error {
	if s.ctx.Err() != nil {
		return nil
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("cmpp: write: peer read nothing for %v: %w", s.cfg.WriteTimeout, err)
	}
	return fmt.Errorf("cmpp: write: %w", err)
}

// connWriter sets the write deadline before every write: bufio calls
// Write only when it flushes, so this costs one deadline per syscall.
type connWriter struct{ s *Session }

func (w connWriter) Write(b []byte) (int, error) {
	if w.s.cfg.WriteTimeout > 0 {
		w.s.conn.SetWriteDeadline(time.Now().Add(w.s.cfg.WriteTimeout))
	}
	return w.s.conn.Write(b)
}
