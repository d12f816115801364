package spsim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/sim/record"
	"github.com/tandem-sms/tandem/smstext"
)

// Client is one load run. Run it once.
type Client struct {
	cfg     Config
	log     *slog.Logger
	payload []byte // the encoded text, split per message with its own reference

	rngMu sync.Mutex
	rng   *rand.Rand

	runID string         // names the run in its record and client keys
	rec   *record.Writer // nil: no record, no keys in the texts

	next       atomic.Uint64 // next message index to claim
	resent     atomic.Uint64
	reconnects atomic.Uint64
	recErr     atomic.Pointer[error] // first record write error
	ref        atomic.Uint32         // concatenation reference counter
	messages   atomic.Uint64
	submitted  atomic.Uint64
	acked      atomic.Uint64
	errs       atomic.Uint64
	lastResp   atomic.Int64 // unix nanos of the latest SUBMIT_RESP

	submitLat Histogram
	sendLag   Histogram // paced runs: send time − due time
	reportLat Histogram

	// mu guards the report bookkeeping and the maps below; it is a leaf.
	mu         sync.Mutex
	rejected   map[uint32]uint64
	lastErr    string
	pending    map[uint64]time.Time // acked Msg_Id → SUBMIT time, report awaited
	reported   map[uint64]struct{}
	early      map[uint64]earlyReport // reports ahead of their SUBMIT_RESP
	byStat     map[string]uint64
	reports    uint64
	dupReports uint64
	badReports uint64
	dupMsgIDs  uint64
	mo         uint64
	emptyCh    chan struct{} // closed when pending becomes empty

	started   time.Time
	sendStart time.Time
	ran       atomic.Bool
}

type earlyReport struct {
	stat  string
	at    time.Time
	extra int // further copies seen before the SUBMIT_RESP
}

// New validates cfg and prepares a run.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	text := cfg.Text
	if text == "" {
		text = sampleText(cfg.Coding, cfg.Long)
	}
	payload, err := smstext.Encode(cfg.Coding, text)
	if err != nil {
		return nil, fmt.Errorf("spsim: text: %w", err)
	}
	if _, err := smstext.Split(payload, cfg.Coding, smstext.SplitOptions{}); err != nil {
		return nil, fmt.Errorf("spsim: text: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	c := &Client{
		cfg:      cfg,
		log:      log,
		payload:  payload,
		runID:    cfg.RunID,
		rec:      cfg.Record,
		rng:      rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d)),
		rejected: make(map[uint32]uint64),
		pending:  make(map[uint64]time.Time),
		reported: make(map[uint64]struct{}),
		early:    make(map[uint64]earlyReport),
		byStat:   make(map[string]uint64),
	}
	if c.runID == "" {
		c.runID = record.NewRunID()
	}
	if c.rec != nil {
		// The keys take room from the text: check the longest.
		if _, err := c.message(1<<40, "0"); err != nil {
			return nil, fmt.Errorf("spsim: text with its client key: %w", err)
		}
		c.ref.Store(0)
	}
	return c, nil
}

// Run is New(cfg) followed by Client.Run.
func Run(ctx context.Context, cfg Config) (Result, error) {
	c, err := New(cfg)
	if err != nil {
		return Result{}, err
	}
	return c.Run(ctx)
}

// sampleText is the default content: a short sentence, or with long one
// about three segments long.
func sampleText(c smstext.Coding, long bool) string {
	base := "Tandem spsim test message. "
	if c != smstext.ASCII {
		base = "短信网关压力测试消息。"
	}
	if !long {
		return strings.TrimSpace(base)
	}
	_, seg := smstext.Capacity(c, smstext.ConcatUDH8)
	var b strings.Builder
	for {
		b.WriteString(base)
		if enc, err := smstext.Encode(c, b.String()); err != nil || len(enc) > 2*seg {
			return b.String()
		}
	}
}

// message returns the SUBMITs of message i to dest: one per segment.
// When recording, each segment's text starts with its client key
// (record.Prefix), and a long text is split so that every segment has
// room for it.
func (c *Client) message(i uint64, dest string) ([]*job, error) {
	opts := smstext.SplitOptions{Ref: uint16(c.ref.Add(1))}
	if c.rec == nil {
		segs, err := smstext.Split(c.payload, c.cfg.Coding, opts)
		if err != nil {
			return nil, err
		}
		jobs := make([]*job, len(segs))
		for k, seg := range segs {
			jobs[k] = &job{sub: c.newSubmit(dest, seg), dest: dest}
		}
		return jobs, nil
	}
	single, segCap := smstext.Capacity(c.cfg.Coding, smstext.ConcatUDH8)
	key := record.Key(c.runID, i, 1, 1)
	prefix, err := smstext.Encode(c.cfg.Coding, record.Prefix(key))
	if err != nil {
		return nil, err
	}
	if len(prefix)+len(c.payload) <= single {
		seg := smstext.Segment{Data: append(prefix, c.payload...), Total: 1, Seq: 1}
		return []*job{{sub: c.newSubmit(dest, seg), key: key, dest: dest}}, nil
	}
	// Room for the longest key of this message; ASCII, GBK and UCS2 spell
	// the key's characters in one, one and two octets.
	room := record.MaxPrefixLen(i)
	if c.cfg.Coding == smstext.UCS2 {
		room *= 2
	}
	opts.Limit = segCap - room
	segs, err := smstext.Split(c.payload, c.cfg.Coding, opts)
	if err != nil {
		return nil, err
	}
	jobs := make([]*job, len(segs))
	for k, seg := range segs {
		key := record.Key(c.runID, i, seg.Seq, seg.Total)
		if seg.Data, err = smstext.AppendEncode(nil, c.cfg.Coding, record.Prefix(key)); err != nil {
			return nil, err
		}
		seg.Data = append(seg.Data, segs[k].Data...)
		jobs[k] = &job{sub: c.newSubmit(dest, seg), key: key, dest: dest}
	}
	return jobs, nil
}

func (c *Client) newSubmit(dest string, seg smstext.Segment) *cmpp.Submit {
	sub := &cmpp.Submit{
		PkTotal:            seg.Total,
		PkNumber:           seg.Seq,
		RegisteredDelivery: c.cfg.RegisteredDelivery,
		MsgLevel:           c.cfg.MsgLevel,
		ServiceID:          c.cfg.ServiceID,
		FeeUserType:        c.cfg.FeeUserType,
		FeeTerminalID:      c.cfg.FeeTerminalID,
		MsgFmt:             c.cfg.Coding.CMPPMsgFmt(),
		MsgSrc:             c.cfg.SPID,
		FeeType:            c.cfg.FeeType,
		FeeCode:            c.cfg.FeeCode,
		SrcID:              c.cfg.SrcID,
		DestTerminalIDs:    []string{dest},
		MsgContent:         string(seg.Bytes()),
	}
	if seg.UDH != nil {
		sub.TPUDHI = 1
	}
	return sub
}

// answered accounts for one SUBMIT's answer; it runs on the session's
// reader (or its timeout sweeper, or the closing session), so it only
// records. With reconnects on, a SUBMIT its connection's end left
// unanswered goes back to the connection to be sent again.
func (c *Client) answered(cn *conn, j *job, resp cmpp.PDU, err error, sent, now time.Time) {
	if err != nil {
		again := c.cfg.ReconnectTimeout > 0 && errors.Is(err, cmpp.ErrClosed)
		if c.rec != nil {
			c.record(&record.Event{Ev: record.EvNoResp, T: now, Key: j.key, Err: err.Error(), Resend: again})
		}
		if again {
			c.setLastErr(err)
			cn.keep(j)
			return
		}
		c.fail(err)
		return
	}
	c.submitLat.Record(now.Sub(sent))
	c.lastResp.Store(now.UnixNano())
	r, ok := resp.(*cmpp.SubmitResp)
	if !ok {
		c.fail(fmt.Errorf("spsim: SUBMIT answered with %T", resp))
		return
	}
	if r.Result != cmpp.ResultOK {
		c.mu.Lock()
		c.rejected[r.Result]++
		c.mu.Unlock()
		if c.rec != nil {
			c.record(&record.Event{Ev: record.EvReject, T: now, Key: j.key, Result: r.Result})
		}
		return
	}
	c.acked.Add(1)
	if c.rec != nil {
		c.record(&record.Event{Ev: record.EvAck, T: now, Key: j.key, MsgID: r.MsgID, Dest: j.dest, SubmitT: j.at})
	}
	if c.cfg.RegisteredDelivery == 1 {
		c.track(r.MsgID, sent)
	}
}

// record writes e to the run's record, if it keeps one; the first write
// error is kept for Run to return.
func (c *Client) record(e *record.Event) {
	if c.rec == nil {
		return
	}
	if err := c.rec.Write(e); err != nil {
		c.recErr.CompareAndSwap(nil, &err)
	}
}

func (c *Client) setLastErr(err error) {
	c.mu.Lock()
	c.lastErr = err.Error()
	c.mu.Unlock()
}

func (c *Client) fail(err error) {
	c.errs.Add(1)
	c.setLastErr(err)
}

// dest returns the destination of message i.
func (c *Client) dest(i uint64) string {
	if n := len(c.cfg.Dests); n > 0 {
		return c.cfg.Dests[i%uint64(n)]
	}
	b := make([]byte, c.cfg.DestLen)
	copy(b, c.cfg.DestPrefix)
	c.rngMu.Lock()
	for j := len(c.cfg.DestPrefix); j < len(b); j++ {
		b[j] = byte('0' + c.rng.IntN(10))
	}
	c.rngMu.Unlock()
	return string(b)
}

// track records an acked Msg_Id, settling a report that overtook it.
func (c *Client) track(id uint64, sent time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.early[id]; ok {
		delete(c.early, id)
		c.reported[id] = struct{}{}
		c.countReportLocked(e.stat, e.at.Sub(sent))
		c.dupReports += uint64(e.extra)
		return
	}
	if _, dup := c.pending[id]; dup {
		c.dupMsgIDs++
	} else if _, dup := c.reported[id]; dup {
		c.dupMsgIDs++
	}
	c.pending[id] = sent
}

func (c *Client) report(id uint64, stat string, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if sent, ok := c.pending[id]; ok {
		delete(c.pending, id)
		c.reported[id] = struct{}{}
		c.countReportLocked(stat, at.Sub(sent))
		if len(c.pending) == 0 && c.emptyCh != nil {
			close(c.emptyCh)
			c.emptyCh = nil
		}
		return
	}
	if _, ok := c.reported[id]; ok {
		c.dupReports++
		return
	}
	e, ok := c.early[id]
	if ok {
		e.extra++
	} else {
		e = earlyReport{stat: stat, at: at}
	}
	c.early[id] = e
}

func (c *Client) countReportLocked(stat string, lat time.Duration) {
	c.reports++
	c.byStat[stat]++
	c.reportLat.Record(lat)
}

// waitReports returns when no acked SUBMIT awaits its report or ctx ends.
func (c *Client) waitReports(ctx context.Context) {
	for {
		c.mu.Lock()
		if len(c.pending) == 0 {
			c.mu.Unlock()
			return
		}
		if c.emptyCh == nil {
			c.emptyCh = make(chan struct{})
		}
		ch := c.emptyCh
		n := len(c.pending)
		c.mu.Unlock()
		c.log.Info("waiting for status reports", "pending", n)
		select {
		case <-ch:
		case <-ctx.Done():
			return
		}
	}
}

// serveCMPP answers the ISMG's DELIVERs: status reports are matched by the
// report body's Msg_Id, the rest counted as MO. Every DELIVER gets Result 0.
func (c *Client) serveCMPP(s *cmpp.Session, h cmpp.Header, req cmpp.PDU) {
	d, ok := req.(*cmpp.Deliver)
	if !ok {
		if er, ok := req.(cmpp.ErrorResponder); ok {
			_ = s.Reply(h, er.ErrorResponse(cmpp.ResultBadCommand))
		}
		return
	}
	now := time.Now()
	if d.IsReport() {
		var rep cmpp.Report
		if err := rep.DecodeString(d.MsgContent); err != nil {
			c.mu.Lock()
			c.badReports++
			c.mu.Unlock()
			c.log.Warn("unparsable status report", "msg_id", d.MsgID, "err", err)
		} else {
			stat := strings.TrimRight(rep.Stat, "\x00 ")
			if c.rec != nil {
				c.record(&record.Event{Ev: record.EvReport, T: now, MsgID: rep.MsgID, Stat: stat, Dest: strings.TrimRight(rep.DestTerminalID, "\x00 ")})
			}
			c.report(rep.MsgID, stat, now)
		}
	} else {
		c.mu.Lock()
		c.mo++
		c.mu.Unlock()
	}
	_ = s.Reply(h, &cmpp.DeliverResp{MsgID: d.MsgID, Result: cmpp.ResultOK})
}

// Snapshot returns the counters so far; safe to call while Run runs.
func (c *Client) Snapshot() Result { return c.result() }

func (c *Client) result() Result {
	r := Result{
		Connections:   c.cfg.Connections,
		Version:       c.cfg.Version.String(),
		RunID:         c.runID,
		Resent:        c.resent.Load(),
		Reconnects:    c.reconnects.Load(),
		Messages:      c.messages.Load(),
		Submitted:     c.submitted.Load(),
		Acked:         c.acked.Load(),
		Errors:        c.errs.Load(),
		SubmitLatency: c.submitLat.Summary(),
		SendLag:       c.sendLag.Summary(),
		ReportLatency: c.reportLat.Summary(),
	}
	if !c.started.IsZero() {
		r.Duration = time.Since(c.started)
	}
	if last := c.lastResp.Load(); last != 0 && !c.sendStart.IsZero() {
		r.SendDuration = time.Unix(0, last).Sub(c.sendStart)
		if r.SendDuration > 0 {
			r.Throughput = float64(r.Acked) / r.SendDuration.Seconds()
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	r.Rejected = make(map[uint32]uint64, len(c.rejected))
	for k, v := range c.rejected {
		r.Rejected[k] = v
	}
	r.ReportsByStat = make(map[string]uint64, len(c.byStat))
	for k, v := range c.byStat {
		r.ReportsByStat[k] = v
	}
	r.LastError = c.lastErr
	r.Reports = c.reports
	r.DuplicateReports = c.dupReports
	r.UnknownReports = uint64(len(c.early))
	for _, e := range c.early {
		r.UnknownReports += uint64(e.extra)
	}
	r.BadReports = c.badReports
	r.NoReport = uint64(len(c.pending))
	r.DuplicateMsgIDs = c.dupMsgIDs
	r.MO = c.mo
	return r
}

// pacer schedules SUBMITs over all connections at a fixed rate, open loop:
// SUBMIT k is due at start + k/rate whatever happened before, so a gateway
// that slows down still gets the offered rate (the slots it made us miss
// are sent as soon as the window allows), and a late SUBMIT's latency is
// timed from its due time rather than from its send, which would hide the
// wait (coordinated omission). A sender may go up to pacerSlack early
// (timed from its send then), so that it sleeps about once per pacerSlack
// rather than once per SUBMIT, as an SP sending in small bursts would. A
// nil pacer does not wait.
type pacer struct {
	start    time.Time
	interval float64 // ns between SUBMITs
	next     atomic.Uint64
}

func newPacer(r float64, start time.Time) *pacer {
	if r <= 0 {
		return nil
	}
	return &pacer{start: start, interval: float64(time.Second) / r}
}

// pacerSlack is how early a paced SUBMIT may go.
const pacerSlack = time.Millisecond

// wait blocks until pacerSlack before the caller's slot is due and returns
// the due time (zero for a nil pacer, which does not wait).
func (p *pacer) wait(ctx context.Context, t *time.Timer) (time.Time, error) {
	if p == nil {
		return time.Time{}, ctx.Err()
	}
	due := p.start.Add(time.Duration(float64(p.next.Add(1)-1) * p.interval))
	d := time.Until(due) - pacerSlack
	if d <= 0 {
		return due, ctx.Err()
	}
	t.Reset(d)
	select {
	case <-t.C:
		return due, nil
	case <-ctx.Done():
		t.Stop()
		return due, ctx.Err()
	}
}

// latencyStart is when a SUBMIT sent at sent with slot due (zero when not
// paced) starts its latency: the due time if it went late, else its send.
func latencyStart(due, sent time.Time) time.Time {
	if !due.IsZero() && due.Before(sent) {
		return due
	}
	return sent
}
