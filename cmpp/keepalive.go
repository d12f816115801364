package cmpp

import (
	"bufio"
	"fmt"
	"time"
)

// keepalive is the writer's ACTIVE_TEST state; only the writer touches it.
type keepalive struct {
	probe  *call
	sent   time.Duration // since epoch
	misses int
}

func (s *Session) since() time.Duration { return time.Since(s.epoch) }

// keepalive runs when the keepalive timer fires. Anything received counts
// as a sign of life, not only ACTIVE_TEST_RESP, so a busy peer is never
// probed.
func (s *Session) keepalive(bw *bufio.Writer, ka *keepalive, t *time.Timer) error {
	now := s.since()
	last := time.Duration(s.lastRead.Load())
	if ka.probe != nil {
		switch {
		case last >= ka.sent:
			s.win.takeIf(ka.probe.seq, ka.probe)
			ka.probe, ka.misses = nil, 0
		case now-ka.sent >= s.cfg.ResponseTimeout:
			s.win.takeIf(ka.probe.seq, ka.probe)
			ka.probe = nil
			ka.misses++
			s.stats.ActiveTestMisses.Add(1)
			if ka.misses >= s.cfg.ActiveTestMisses {
				return fmt.Errorf("%w: %d in a row, %v apart", ErrPeerDead, ka.misses, s.cfg.ResponseTimeout)
			}
			s.log.Debug("ACTIVE_TEST unanswered", "misses", ka.misses)
			return s.probe(bw, ka, t, now)
		default:
			t.Reset(ka.sent + s.cfg.ResponseTimeout - now)
			return nil
		}
	}
	if idle := now - last; idle < s.cfg.ActiveTestInterval {
		t.Reset(s.cfg.ActiveTestInterval - idle)
		return nil
	}
	return s.probe(bw, ka, t, now)
}

func (s *Session) probe(bw *bufio.Writer, ka *keepalive, t *time.Timer, now time.Duration) error {
	c := &call{want: CmdActiveTestResp}
	c.fn = func(_ PDU, err error) {
		if err == nil {
			select {
			case s.probeAck <- c.seq:
			default: // the writer has an older ack pending; the timer covers this one
			}
		}
	}
	if err := s.register(c); err != nil {
		return nil // the session is closing
	}
	ka.probe, ka.sent = c, now
	t.Reset(s.cfg.ResponseTimeout)
	s.stats.ActiveTestsSent.Add(1)
	s.stats.RequestsSent.Add(1)
	if _, err := bw.Write(AppendPDU(bw.AvailableBuffer(), s.version, c.seq, &ActiveTest{})); err != nil {
		return s.writeErr(err)
	}
	return nil
}
