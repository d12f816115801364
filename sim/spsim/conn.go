package spsim

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/sim/record"
)

// job is one SUBMIT: a segment of a message. It is sent once or, when its
// connection dropped before the SUBMIT_RESP, again as a new SUBMIT on the
// next session (what a real SP does: nothing in CMPP lets it ask whether
// the gateway kept it).
type job struct {
	sub  *cmpp.Submit
	key  string // client key; "" when not recording
	dest string
	sent int       // times handed to a session
	at   time.Time // its latest send
}

// conn is one of the run's connections, across reconnects. Its loop
// (runConn) owns the session; the session's reader adds to pending
// through keep.
type conn struct {
	n    int // 1-based
	addr int // index in Config.addrs of the session's address; owned by runConn
	sess atomic.Pointer[cmpp.Session]
	dead atomic.Bool // gave up (or, without reconnects, dropped)

	mu      sync.Mutex
	pending []*job // to send before new messages: left unanswered or unsent by a dropped session
}

func (cn *conn) keep(j *job) {
	cn.mu.Lock()
	cn.pending = append(cn.pending, j)
	cn.mu.Unlock()
}

func (cn *conn) take() *job {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if len(cn.pending) == 0 {
		return nil
	}
	j := cn.pending[0]
	cn.pending = cn.pending[1:]
	return j
}

func (cn *conn) idle() bool {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return len(cn.pending) == 0
}

// Run connects, sends, waits for reports if asked and terminates. The
// Result is filled in even when an error is returned (ctx cancelled, a
// connection refused after others were made...).
func (c *Client) Run(ctx context.Context) (Result, error) {
	if !c.ran.CompareAndSwap(false, true) {
		return Result{}, errors.New("spsim: Run called twice")
	}
	c.started = time.Now()
	c.record(&record.Event{Ev: record.EvRun, T: c.started, Tool: record.ToolSPSim, Run: c.runID,
		SP: c.cfg.SPID, Addr: strings.Join(c.cfg.addrs(), ","), RD: c.cfg.RegisteredDelivery})
	sessions, err := c.dialAll(ctx)
	if err != nil {
		return c.result(), err
	}
	conns := make([]*conn, len(sessions))
	for i, s := range sessions {
		conns[i] = &conn{n: i + 1}
		conns[i].sess.Store(s)
	}

	// sendCtx ends the sending phase (Duration); requests already sent
	// still get their response under ctx.
	sendCtx, cancel := context.WithCancel(ctx)
	if c.cfg.Duration > 0 {
		sendCtx, cancel = context.WithTimeout(ctx, c.cfg.Duration)
	}
	defer cancel()
	c.sendStart = time.Now()
	p := newPacer(c.cfg.Rate, c.sendStart)
	stop := make(chan struct{})
	var sending, running sync.WaitGroup
	for _, cn := range conns {
		sending.Add(1)
		running.Go(func() { c.runConn(ctx, sendCtx, cn, p, sending.Done, stop) })
	}
	sending.Wait()
	cancel()
	var lost error
	dead := 0
	for _, cn := range conns {
		err := cn.sess.Load().Err()
		if cn.dead.Load() || (c.cfg.ReconnectTimeout <= 0 && err != nil) {
			dead++
			lost = err
		}
	}
	if dead == len(conns) && ctx.Err() == nil {
		err = fmt.Errorf("spsim: all %d connection(s) lost: %w", dead, lost)
	} else if c.cfg.WaitReports && c.cfg.RegisteredDelivery == 1 && ctx.Err() == nil {
		wctx, wcancel := context.WithTimeout(ctx, c.cfg.ReportTimeout)
		c.waitReports(wctx)
		wcancel()
	}
	close(stop)
	running.Wait()
	for _, cn := range conns {
		// Left unanswered and never resent: the run ended first.
		for j := cn.take(); j != nil; j = cn.take() {
			if j.sent > 0 {
				c.errs.Add(1)
			}
		}
	}
	c.record(&record.Event{Ev: record.EvEnd, T: time.Now()})
	if c.rec != nil {
		if ferr := c.rec.Flush(); ferr != nil {
			c.recErr.CompareAndSwap(nil, &ferr)
		}
	}
	if p := c.recErr.Load(); p != nil && err == nil {
		err = fmt.Errorf("spsim: record: %w", *p)
	}
	if err != nil {
		return c.result(), err
	}
	return c.result(), ctx.Err()
}

func (c *Client) dialAll(ctx context.Context) ([]*cmpp.Session, error) {
	var sessions []*cmpp.Session
	addr := c.cfg.addrs()[0]
	for i := range c.cfg.Connections {
		s, err := c.dial(ctx, addr)
		if err != nil {
			c.terminateAll(sessions)
			return nil, fmt.Errorf("spsim: connection %d of %d to %s: %w", i+1, c.cfg.Connections, addr, err)
		}
		sessions = append(sessions, s)
	}
	c.log.Info("connected", "addr", addr, "connections", len(sessions), "version", sessions[0].Version().String())
	return sessions, nil
}

func (c *Client) dial(ctx context.Context, addr string) (*cmpp.Session, error) {
	scfg := c.cfg.Session
	scfg.Window = c.cfg.Window
	if scfg.Logger == nil {
		scfg.Logger = c.log
	}
	dctx, cancel := context.WithTimeout(ctx, c.cfg.ConnectTimeout)
	defer cancel()
	return cmpp.Dial(dctx, addr, cmpp.ClientConfig{
		SourceAddr: c.cfg.SPID,
		Secret:     c.cfg.Secret,
		Version:    c.cfg.Version,
		Session:    scfg,
		Handler:    cmpp.HandlerFunc(c.serveCMPP),
	})
}

func (c *Client) terminateAll(sessions []*cmpp.Session) {
	var wg sync.WaitGroup
	for _, s := range sessions {
		wg.Go(func() { terminate(s) })
	}
	wg.Wait()
}

func terminate(s *cmpp.Session) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.Terminate(ctx)
	<-s.Done()
}

// runConn is the life of one connection: send on its session until the
// run has nothing more to send, then keep the session (status reports
// arrive on it) until stop. When the session drops and reconnects are on,
// it dials again and resends what the drop left unanswered; otherwise, or
// once ReconnectTimeout passes, the connection is dead. doneSending is
// called once, when this connection has nothing more to send.
func (c *Client) runConn(ctx, sendCtx context.Context, cn *conn, p *pacer, doneSending func(), stop <-chan struct{}) {
	var once sync.Once
	finish := func() { once.Do(doneSending) }
	defer finish()
	defer func() { terminate(cn.sess.Load()) }()
	for {
		s := cn.sess.Load()
		if c.sendOn(ctx, sendCtx, cn, s, p) {
			finish()
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-s.Context().Done(): // dropped while waiting for reports
			}
		}
		select {
		case <-stop:
			return
		default:
		}
		if ctx.Err() != nil {
			return
		}
		if c.cfg.ReconnectTimeout <= 0 {
			cn.dead.Store(true)
			return
		}
		cause := s.Err()
		c.log.Warn("connection lost", "conn", cn.n, "err", cause)
		c.record(&record.Event{Ev: record.EvConn, T: time.Now(), Conn: cn.n, State: record.StateLost, Err: errText(cause)})
		next, err := c.reconnect(ctx, cn, stop)
		if err != nil {
			cn.dead.Store(true)
			c.log.Error("connection given up", "conn", cn.n, "err", err)
			c.record(&record.Event{Ev: record.EvConn, T: time.Now(), Conn: cn.n, State: record.StateGone, Err: err.Error()})
			c.setLastErr(err)
			return
		}
		terminate(s) // already closed: this only waits for its goroutines
		cn.sess.Store(next)
	}
}

// reconnect dials until a session is up or ReconnectTimeout has passed
// since the drop: the first attempt at once, then after ReconnectWait,
// doubling up to ReconnectMaxWait, each wait ±20% so that many clients
// do not come back in step. With several addresses each attempt takes
// the next one, starting after the address that dropped: a gateway's
// other node is tried first, as a real SP's connection list does.
func (c *Client) reconnect(ctx context.Context, cn *conn, stop <-chan struct{}) (*cmpp.Session, error) {
	deadline := time.Now().Add(c.cfg.ReconnectTimeout)
	wait := c.cfg.ReconnectWait
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var lastErr error
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			d := min(c.jitter(wait), time.Until(deadline))
			if d <= 0 {
				break
			}
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-stop:
				return nil, errors.New("spsim: run ended while reconnecting")
			}
			wait = min(2*wait, c.cfg.ReconnectMaxWait)
		}
		addrs := c.cfg.addrs()
		k := (cn.addr + attempt) % len(addrs)
		s, err := c.dial(ctx, addrs[k])
		if err == nil {
			cn.addr = k
			c.reconnects.Add(1)
			c.log.Info("reconnected", "conn", cn.n, "attempts", attempt, "addr", addrs[k])
			c.record(&record.Event{Ev: record.EvConn, T: time.Now(), Conn: cn.n, State: record.StateUp})
			return s, nil
		}
		lastErr = err
		c.log.Debug("reconnect failed", "conn", cn.n, "attempt", attempt, "addr", addrs[k], "err", err)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !time.Now().Before(deadline) {
			break
		}
	}
	return nil, fmt.Errorf("spsim: connection %d: no reconnect within %v: %w", cn.n, c.cfg.ReconnectTimeout, lastErr)
}

func (c *Client) jitter(d time.Duration) time.Duration {
	c.rngMu.Lock()
	f := 0.8 + 0.4*c.rng.Float64()
	c.rngMu.Unlock()
	return time.Duration(float64(d) * f)
}

// sendOn sends on s — first what a dropped session left, then new
// messages — until the run's total is reached, sendCtx ends or s fails,
// keeping up to Window SUBMITs outstanding with Session.SendAsync: the way
// a fast SP client works, and the response is timed on the session's
// reader as it arrives rather than when a waiting goroutine gets to run.
// Once every SUBMIT it sent has its answer (or ctx ends) it reports
// whether it finished: s still up and nothing left to resend.
func (c *Client) sendOn(ctx, sendCtx context.Context, cn *conn, s *cmpp.Session, p *pacer) bool {
	slots := make(chan struct{}, c.cfg.Window)
	var inflight sync.WaitGroup
	c.sendAll(ctx, sendCtx, cn, s, p, slots, &inflight)
	done := make(chan struct{})
	go func() {
		inflight.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return false
	}
	return s.Err() == nil && cn.idle()
}

func (c *Client) sendAll(ctx, sendCtx context.Context, cn *conn, s *cmpp.Session, p *pacer, slots chan struct{}, inflight *sync.WaitGroup) {
	// What the last session left goes first, unpaced: it is overdue.
	for j := cn.take(); j != nil; j = cn.take() {
		if !c.submit(ctx, cn, s, j, time.Time{}, slots, inflight) {
			return
		}
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for sendCtx.Err() == nil && s.Err() == nil {
		i := c.next.Add(1) - 1
		if c.cfg.Total > 0 && i >= uint64(c.cfg.Total) {
			return
		}
		jobs, err := c.message(i, c.dest(i))
		if err != nil { // checked in New; cannot happen
			c.fail(err)
			return
		}
		c.messages.Add(1)
		for k, j := range jobs {
			due, err := p.wait(sendCtx, timer)
			if err != nil || !c.submit(sendCtx, cn, s, j, due, slots, inflight) {
				// The rest of the message waits for the next session
				// (with reconnects; without, it is not sent, as before).
				if c.cfg.ReconnectTimeout > 0 && sendCtx.Err() == nil {
					for _, rest := range jobs[k+1:] {
						cn.keep(rest)
					}
				}
				return
			}
		}
	}
}

// submit sends j on s once a window slot is free; it reports false when s
// failed or ctx ended first (j is then kept for the next session, when
// reconnects are on).
func (c *Client) submit(ctx context.Context, cn *conn, s *cmpp.Session, j *job, due time.Time, slots chan struct{}, inflight *sync.WaitGroup) bool {
	reconnects := c.cfg.ReconnectTimeout > 0
	select {
	case slots <- struct{}{}:
	case <-ctx.Done():
		if reconnects && j.sent > 0 {
			cn.keep(j)
		}
		return false
	case <-s.Done():
		if reconnects {
			cn.keep(j)
		}
		return false
	}
	now := time.Now()
	t0 := latencyStart(due, now)
	if !due.IsZero() {
		c.sendLag.Record(max(now.Sub(due), 0))
	}
	j.sent++
	j.at = now
	c.submitted.Add(1)
	inflight.Add(1)
	err := s.SendAsync(ctx, j.sub, func(resp cmpp.PDU, err error) {
		c.answered(cn, j, resp, err, t0, time.Now())
		<-slots
		inflight.Done()
	})
	if err != nil {
		<-slots
		inflight.Done()
		c.submitted.Add(^uint64(0)) // not sent
		j.sent--
		switch {
		case ctx.Err() != nil:
			// The sending phase ended (Duration) as this one was handed
			// over: not sent, and no error (a resend is kept, as above).
			if reconnects && j.sent > 0 {
				cn.keep(j)
			}
		case !errors.Is(err, cmpp.ErrClosed):
			c.fail(err)
		case reconnects:
			cn.keep(j)
		}
		return false
	}
	if j.sent > 1 {
		c.resent.Add(1)
	}
	if c.rec != nil {
		c.record(&record.Event{Ev: record.EvSubmit, T: now, Key: j.key, Dest: j.dest, Conn: cn.n, Resend: j.sent > 1})
	}
	return true
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
