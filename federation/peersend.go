package federation

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
)

// SendAsync sends one CMPP_FWD over the link without waiting for its
// FWD_RESP. In order it:
//
//   - fails with ErrInvalidFwd unless f's Source_Id is this gateway and
//     its Destination_Id the peer (NodesCount and the rest go as given);
//   - fails at once with ErrNoSession when no session is logged in
//     (keep the FWD queued; WaitReady says when to try again);
//   - picks the session with the fewest FWDs in flight, round-robin among
//     equals (so a gateway served by several nodes gets its traffic spread
//     over them), waiting while every window is full: until deadline
//     (ErrWindowWait; zero means no limit) or ctx ends;
//   - queues the FWD on that session and returns.
//
// cb then gets the FWD_RESP or the error exactly once, from the session's
// reader, its timeout sweeper or the closing session, so it must not
// block: a FWD_RESP with Result ≠ 0 comes with a *ResultError, no FWD_RESP
// within ResponseTimeout with an error of KindTimeout, a session lost
// under the FWD with KindConnection. Temporary and Classify sort the
// errors. If SendAsync returns an error, cb is not called. f must not be
// modified until cb runs.
func (l *Link) SendAsync(ctx context.Context, f *cmpp.Fwd, deadline time.Time, cb func(resp *cmpp.FwdResp, err error)) error {
	l.counters.sent.Add(1)
	if f == nil || f.SourceID != l.self || f.DestinationID != l.code {
		err := fmt.Errorf("federation: peer %s: %w", l.code, ErrInvalidFwd)
		if f != nil {
			err = fmt.Errorf("federation: peer %s: %w: Source_Id %q (want %q), Destination_Id %q (want %q)",
				l.code, ErrInvalidFwd, f.SourceID, l.self, f.DestinationID, l.code)
		}
		l.count(nil, err)
		return err
	}
	for {
		c, err := l.acquire(ctx, deadline)
		if err != nil {
			l.count(nil, err)
			return err
		}
		err = c.sess.SendAsync(ctx, f, func(p cmpp.PDU, err error) {
			l.release(c)
			resp, err := l.outcome(c, p, err)
			l.count(resp, err)
			cb(resp, err)
		})
		if err == nil {
			return nil
		}
		l.release(c)
		if errors.Is(err, cmpp.ErrClosed) && ctx.Err() == nil {
			// The session is terminating or just ended: nothing was
			// sent. Take it out and try another; each turn takes one
			// out, so this ends, at worst in ErrNoSession.
			l.mu.Lock()
			c.refused = true
			l.mu.Unlock()
			continue
		}
		err = fmt.Errorf("federation: peer %s at %s: %w", l.code, c.slot.addr, err)
		l.count(nil, err)
		return err
	}
}

// Send is SendAsync that waits for the outcome.
func (l *Link) Send(ctx context.Context, f *cmpp.Fwd) (*cmpp.FwdResp, error) {
	type result struct {
		resp *cmpp.FwdResp
		err  error
	}
	ch := make(chan result, 1)
	dl, _ := ctx.Deadline()
	if err := l.SendAsync(ctx, f, dl, func(resp *cmpp.FwdResp, err error) { ch <- result{resp, err} }); err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		return r.resp, r.err
	case <-ctx.Done():
		// The FWD is in flight: its outcome still arrives on ch, unread.
		return nil, fmt.Errorf("federation: peer %s: %w", l.code, ctx.Err())
	}
}

// outcome turns a session's answer into SendAsync's.
func (l *Link) outcome(c *linkConn, p cmpp.PDU, err error) (*cmpp.FwdResp, error) {
	if err != nil {
		return nil, fmt.Errorf("federation: peer %s at %s: %w", l.code, c.slot.addr, err)
	}
	resp, ok := p.(*cmpp.FwdResp)
	if !ok {
		return nil, fmt.Errorf("federation: peer %s at %s: %w: FWD answered with %T", l.code, c.slot.addr, cmpp.ErrUnexpectedResponse, p)
	}
	if resp.Result != cmpp.ResultOK {
		return resp, &ResultError{Result: resp.Result}
	}
	return resp, nil
}

// count records one outcome in the counters and the sent metric.
func (l *Link) count(resp *cmpp.FwdResp, err error) {
	if err == nil {
		l.counters.ok.Add(1)
		l.sentOK.Inc()
		return
	}
	k := Classify(err)
	l.counters.errs[k].Add(1)
	label := k.String()
	if resp != nil {
		label = ResultName(resp.Result)
	}
	l.m.Sent.WithLabelValues(l.code, label).Inc()
}

// acquire reserves a window slot on the least loaded session.
func (l *Link) acquire(ctx context.Context, deadline time.Time) (*linkConn, error) {
	var expired <-chan time.Time
	waited := false
	l.mu.Lock()
	for {
		if l.closing {
			l.mu.Unlock()
			return nil, fmt.Errorf("federation: peer %s: %w", l.code, ErrLinkClosed)
		}
		if c := l.pickLocked(); c != nil {
			c.inflight++
			l.mu.Unlock()
			l.inUse.Inc()
			return c, nil
		}
		if l.readyLocked() == 0 {
			l.mu.Unlock()
			return nil, fmt.Errorf("federation: peer %s: %w", l.code, ErrNoSession)
		}
		if expired == nil && !deadline.IsZero() {
			d := time.Until(deadline)
			if d <= 0 {
				l.mu.Unlock()
				return nil, fmt.Errorf("federation: peer %s: %w", l.code, ErrWindowWait)
			}
			t := time.NewTimer(d)
			defer t.Stop()
			expired = t.C
		}
		if !waited {
			waited = true
			l.counters.windowWaits.Add(1)
		}
		w := l.waitChanLocked()
		l.mu.Unlock()
		select {
		case <-w:
		case <-expired:
			return nil, fmt.Errorf("federation: peer %s: %w", l.code, ErrWindowWait)
		case <-ctx.Done():
			return nil, fmt.Errorf("federation: peer %s: waiting for a window slot: %w", l.code, ctx.Err())
		}
		l.mu.Lock()
	}
}

// pickLocked returns the session taking FWDs with the fewest in flight and
// a free window slot, scanning from the round-robin cursor so that equals
// take turns; nil if there is none.
func (l *Link) pickLocked() *linkConn {
	n := len(l.slots)
	var best *linkConn
	at := 0
	for i := range n {
		j := (l.rr + i) % n
		c := l.slots[j].cur
		if !c.takes() || c.inflight >= l.p.window {
			continue
		}
		if best == nil || c.inflight < best.inflight {
			best, at = c, j
			if c.inflight == 0 {
				break
			}
		}
	}
	if best != nil {
		l.rr = (at + 1) % n
	}
	return best
}

// release frees the window slot taken by acquire.
func (l *Link) release(c *linkConn) {
	l.mu.Lock()
	c.inflight--
	l.notifyLocked()
	l.mu.Unlock()
	l.inUse.Dec()
}
