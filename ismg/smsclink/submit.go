package smsclink

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tandem-sms/tandem/smpp"
)

// Submit sends one submit_sm (one segment) through the link and returns
// the SMSC's message_id. In order it:
//
//   - fails at once with ErrNoBind when no bind can submit;
//   - waits out a throttling pause (ErrPaused if ctx's deadline comes first);
//   - waits for a rate token (ErrRateWait if ctx's deadline comes first);
//   - picks the bound transmitter with the fewest outstanding submits,
//     round-robin among equals, waiting while every window is full;
//   - sends and waits for submit_sm_resp (ResponseTimeout).
//
// A response with a non-zero command_status comes back as a wrapped
// *smpp.StatusError: errors.Is(err, smpp.ErrThrottled) and
// smpp.ErrQueueFull report the statuses that also pause the whole link
// (the caller retries the message later); Temporary and Classify sort the
// rest. p must not be modified until Submit returns. Safe for concurrent
// use.
func (l *Link) Submit(ctx context.Context, p *smpp.SubmitSM) (string, error) {
	dl, _ := ctx.Deadline()
	return l.SubmitBy(ctx, p, dl)
}

// SubmitBy is Submit with the deadline that decides ErrPaused and
// ErrRateWait given as a time instead of a context deadline (zero: no
// limit), which saves the caller a context and a timer per submit_sm: the
// response itself is bounded by ResponseTimeout either way.
func (l *Link) SubmitBy(ctx context.Context, p *smpp.SubmitSM, deadline time.Time) (string, error) {
	l.counters.submits.Add(1)
	id, err := l.submit(ctx, p, deadline)
	if err != nil {
		l.counters.errs[Classify(err)].Add(1)
		return "", err
	}
	l.counters.submitOK.Add(1)
	return id, nil
}

// SubmitAsync is SubmitBy without waiting for the response: it returns
// once the submit_sm is queued on a bind (after the same checks and
// waits), and fn then gets the message_id or the error exactly once, from
// the bind's reader goroutine, a timer or the closing session, so it must
// not block. If SubmitAsync returns an error, fn is not called. It spares
// the caller a goroutine, a channel and a timer per submit_sm.
func (l *Link) SubmitAsync(ctx context.Context, p *smpp.SubmitSM, deadline time.Time, fn func(id string, err error)) error {
	l.counters.submits.Add(1)
	fail := func(err error) error {
		l.counters.errs[Classify(err)].Add(1)
		return err
	}
	c, gen, err := l.prepare(ctx, p, deadline)
	if err != nil {
		return fail(err)
	}
	err = c.sess.SendAsync(ctx, p, func(r smpp.PDU, err error) {
		l.release(c, gen, err)
		var id string
		if err != nil {
			err = fmt.Errorf("smsclink %s: bind %d: %w", l.cfg.Name, c.slot.idx, err)
		} else if resp, ok := r.(*smpp.SubmitSMResp); ok {
			id = resp.MessageID
		} else {
			err = fmt.Errorf("smsclink %s: bind %d: submit_sm answered with %T", l.cfg.Name, c.slot.idx, r)
		}
		if err != nil {
			l.counters.errs[Classify(err)].Add(1)
		} else {
			l.counters.submitOK.Add(1)
		}
		fn(id, err)
	})
	if err != nil {
		l.release(c, gen, err)
		return fail(fmt.Errorf("smsclink %s: bind %d: %w", l.cfg.Name, c.slot.idx, err))
	}
	return nil
}

// prepare runs the checks and waits before a submit_sm and reserves a
// window slot for it (release frees it).
func (l *Link) prepare(ctx context.Context, p *smpp.SubmitSM, dl time.Time) (*conn, uint64, error) {
	if err := p.Validate(); err != nil {
		return nil, 0, fmt.Errorf("smsclink %s: %w", l.cfg.Name, err)
	}
	if err := l.available(); err != nil {
		return nil, 0, err
	}
	if err := l.waitPause(ctx, dl); err != nil {
		return nil, 0, err
	}
	if err := l.waitRate(ctx, dl); err != nil {
		return nil, 0, err
	}
	return l.acquire(ctx)
}

func (l *Link) submit(ctx context.Context, p *smpp.SubmitSM, dl time.Time) (string, error) {
	c, gen, err := l.prepare(ctx, p, dl)
	if err != nil {
		return "", err
	}
	r, err := c.sess.SendWait(ctx, p)
	l.release(c, gen, err)
	if err != nil {
		return "", fmt.Errorf("smsclink %s: bind %d: %w", l.cfg.Name, c.slot.idx, err)
	}
	resp, ok := r.(*smpp.SubmitSMResp)
	if !ok {
		return "", fmt.Errorf("smsclink %s: bind %d: submit_sm answered with %T", l.cfg.Name, c.slot.idx, r)
	}
	return resp.MessageID, nil
}

// available fails fast when no submit can be placed at all.
func (l *Link) available() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.closing:
		return fmt.Errorf("smsclink %s: %w", l.cfg.Name, ErrClosed)
	case l.ready == 0:
		return fmt.Errorf("smsclink %s: %w", l.cfg.Name, ErrNoBind)
	}
	return nil
}

// waitPause holds the caller while the link pauses after throttling.
func (l *Link) waitPause(ctx context.Context, dl time.Time) error {
	for {
		until := l.pauseUntil.Load()
		if until == 0 {
			return nil
		}
		d := time.Unix(0, until).Sub(l.clk.Now())
		if d <= 0 {
			return nil
		}
		if !dl.IsZero() && time.Until(dl) < d {
			return fmt.Errorf("smsclink %s: %w for another %v", l.cfg.Name, ErrPaused, d)
		}
		l.counters.pauseWaits.Add(1)
		if !l.sleep(ctx, d) {
			return fmt.Errorf("smsclink %s: throttling pause: %w", l.cfg.Name, ctx.Err())
		}
		// Loop: the pause may have been extended meanwhile.
	}
}

// waitRate takes a token from the rate cap, waiting for it if need be.
func (l *Link) waitRate(ctx context.Context, dl time.Time) error {
	if l.lim == nil {
		return nil
	}
	now := l.clk.Now()
	r := l.lim.ReserveN(now, 1)
	d := r.DelayFrom(now)
	if d <= 0 {
		return nil
	}
	if !dl.IsZero() && time.Until(dl) < d {
		r.CancelAt(now)
		return fmt.Errorf("smsclink %s: %w (%v)", l.cfg.Name, ErrRateWait, d)
	}
	l.counters.rateWaits.Add(1)
	if !l.sleep(ctx, d) {
		r.CancelAt(l.clk.Now())
		return fmt.Errorf("smsclink %s: rate wait: %w", l.cfg.Name, ctx.Err())
	}
	return nil
}

// acquire reserves a window slot on the least loaded bound transmitter and
// returns it with the throttling generation the submit is sent under.
func (l *Link) acquire(ctx context.Context) (*conn, uint64, error) {
	waited := false
	l.mu.Lock()
	for {
		if l.closing {
			l.mu.Unlock()
			return nil, 0, fmt.Errorf("smsclink %s: %w", l.cfg.Name, ErrClosed)
		}
		if c := l.pickLocked(); c != nil {
			c.inflight++
			gen := l.gen
			l.mu.Unlock()
			return c, gen, nil
		}
		if l.ready == 0 {
			l.mu.Unlock()
			return nil, 0, fmt.Errorf("smsclink %s: %w", l.cfg.Name, ErrNoBind)
		}
		if !waited {
			waited = true
			l.counters.windowWaits.Add(1)
		}
		w := l.waitChanLocked()
		l.mu.Unlock()
		select {
		case <-w:
		case <-ctx.Done():
			return nil, 0, fmt.Errorf("smsclink %s: waiting for a window slot: %w", l.cfg.Name, ctx.Err())
		}
		l.mu.Lock()
	}
}

// pickLocked returns the bound transmitter with the fewest outstanding
// submits and a free window slot, scanning from the round-robin cursor so
// that equals take turns; nil if there is none.
func (l *Link) pickLocked() *conn {
	n := len(l.slots)
	var best *conn
	for i := range n {
		s := l.slots[(l.rr+i)%n]
		c := s.cur
		if c == nil || !s.mode.CanSubmit() || c.inflight >= l.cfg.Window {
			continue
		}
		if best == nil || c.inflight < best.inflight {
			best = c
			if c.inflight == 0 {
				break
			}
		}
	}
	if best != nil {
		l.rr = (best.slot.idx + 1) % n
	}
	return best
}

// release frees the window slot taken by acquire and applies the
// throttling rules to the outcome.
//
// Only the first throttled response of a generation starts a pause: the
// other submits already in flight when it started will likely be
// throttled too, and must not stretch the pause. If the first submits sent
// after a pause are throttled again, the pause doubles; a success sent
// after the last pause resets it.
func (l *Link) release(c *conn, gen uint64, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c.inflight--
	l.notifyLocked()
	switch {
	case errors.Is(err, smpp.ErrThrottled) || errors.Is(err, smpp.ErrQueueFull):
		l.counters.throttled.Add(1)
		if gen != l.gen {
			return
		}
		l.gen++
		if l.backoff == 0 {
			l.backoff = l.cfg.ThrottleBackoff
		} else {
			l.backoff = min(2*l.backoff, l.cfg.ThrottleBackoffMax)
		}
		until := l.clk.Now().Add(l.backoff)
		l.pauseUntil.Store(until.UnixNano())
		l.counters.pauses.Add(1)
		l.log.Warn("SMSC throttling: pausing submits", smpp.LogKeyErr, err, "pause", l.backoff)
	case err == nil && gen == l.gen && l.backoff != 0:
		l.backoff = 0
		l.log.Info("SMSC accepts submits again")
	}
}
