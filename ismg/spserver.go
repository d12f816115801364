package ismg

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/tandem-sms/tandem/billing"
	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/ismg/queue"
	"github.com/tandem-sms/tandem/routing"
)

// spRuntime is the live state of one SP account: its current settings
// (swapped by Reload), the rate limiter shared by its connections, its
// sessions and the deliverer of its out queue.
type spRuntime struct {
	n    *Node
	id   string
	acct atomic.Pointer[SPAccount] // nil once removed by Reload
	lim  *rate.Limiter
	q    string // out:<spid>

	mu       sync.Mutex
	sessions []*cmpp.Session
	reserved map[string]time.Time // remote address → CONNECT accepted, session not yet registered
	rr       int
	wake     chan struct{} // closed when sessions change

	// Metric children used per message, looked up once.
	mSubmitOK, mReportOK, mReportErr, mMOOK, mMOErr prometheus.Counter
	mReportExpired, mMOExpired                      prometheus.Counter
}

func newSPRuntime(n *Node, a *SPAccount) *spRuntime {
	sp := &spRuntime{n: n, id: a.SPID, q: qOutPrefix + a.SPID, reserved: map[string]time.Time{}, wake: make(chan struct{})}
	sp.acct.Store(a)
	sp.lim = rate.NewLimiter(limitOf(a), a.Burst)
	sp.mSubmitOK = n.m.Submits.WithLabelValues(sp.id, "ok", "")
	sp.mReportOK = n.m.Delivers.WithLabelValues(sp.id, "report", "ok")
	sp.mReportErr = n.m.Delivers.WithLabelValues(sp.id, "report", "error")
	sp.mMOOK = n.m.Delivers.WithLabelValues(sp.id, "mo", "ok")
	sp.mReportExpired = n.m.Delivers.WithLabelValues(sp.id, "report", "expired")
	sp.mMOExpired = n.m.Delivers.WithLabelValues(sp.id, "mo", "expired")
	sp.mMOErr = n.m.Delivers.WithLabelValues(sp.id, "mo", "error")
	return sp
}

func limitOf(a *SPAccount) rate.Limit {
	if a.SubmitRate <= 0 {
		return rate.Inf
	}
	return rate.Limit(a.SubmitRate)
}

// reserve takes a connection slot for a CONNECT that passed authentication;
// onSession turns it into a session. A reservation whose handshake failed
// afterwards lapses after the CONNECT timeout.
func (sp *spRuntime) reserve(remote string, max int, now time.Time, ttl time.Duration) bool {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	for k, t := range sp.reserved {
		if now.Sub(t) > ttl {
			delete(sp.reserved, k)
		}
	}
	if len(sp.sessions)+len(sp.reserved) >= max {
		return false
	}
	sp.reserved[remote] = now
	return true
}

func (sp *spRuntime) addSession(s *cmpp.Session) {
	sp.mu.Lock()
	delete(sp.reserved, s.RemoteAddr().String())
	sp.sessions = append(sp.sessions, s)
	close(sp.wake)
	sp.wake = make(chan struct{})
	sp.mu.Unlock()
}

func (sp *spRuntime) removeSession(s *cmpp.Session) {
	sp.mu.Lock()
	for i, x := range sp.sessions {
		if x == s {
			sp.sessions = append(sp.sessions[:i], sp.sessions[i+1:]...)
			break
		}
	}
	close(sp.wake)
	sp.wake = make(chan struct{})
	sp.mu.Unlock()
}

// pick returns a live session round robin (nil if none) and the channel
// closed on the next change of the session set.
func (sp *spRuntime) pick() (*cmpp.Session, <-chan struct{}) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	for range sp.sessions {
		sp.rr++
		s := sp.sessions[sp.rr%len(sp.sessions)]
		if s.Err() == nil {
			return s, sp.wake
		}
	}
	return nil, sp.wake
}

// spConn is the per-connection state of a logged-in SP.
type spConn struct {
	sp       *spRuntime
	inflight atomic.Int64 // SUBMITs being handled (the SP's window)
}

// authenticate decides a CONNECT. Refusals: unknown SP_Id → status 2
// (illegal source address); bad AuthenticatorSource → 3; source IP not
// on the SP's allow list, too many connections, or an IP blocked after
// repeated failures → 5 ("other"), because statuses 2 and 3 would tell a
// scanner which half of its guess was right. Each refusal is logged and
// counted by reason.
func (n *Node) authenticate(_ context.Context, remote net.Addr, c *cmpp.Connect) (string, uint32) {
	now := n.now()
	lim := n.limits.Load()
	ip := remoteIP(remote)
	refuse := func(reason string, status uint32) (string, uint32) {
		n.m.ConnectRejected.WithLabelValues(reason).Inc()
		if n.connLog.allow(now) {
			n.log.Warn("CONNECT refused", "reason", reason, "sp", c.SourceAddr, "peer", remote.String())
		}
		return "", status
	}
	if n.fw.blocked(ip, c.SourceAddr, now, lim) {
		return refuse("blocked", cmpp.ConnectOther)
	}
	sp := (*n.sps.Load())[c.SourceAddr]
	var acct *SPAccount
	if sp != nil {
		acct = sp.acct.Load()
	}
	if acct == nil {
		n.fw.fail(ip, c.SourceAddr, now, lim)
		return refuse("unknown_sp", cmpp.ConnectBadSource)
	}
	if !acct.Allows(ip) {
		return refuse("ip", cmpp.ConnectOther)
	}
	if !c.VerifySource(acct.Secret) {
		n.fw.fail(ip, c.SourceAddr, now, lim)
		return refuse("auth", cmpp.ConnectAuthFailed)
	}
	if !sp.reserve(remote.String(), acct.MaxConnections, now, lim.ConnectTimeout) {
		return refuse("connections", cmpp.ConnectOther)
	}
	return acct.Secret, cmpp.ConnectOK
}

func (n *Node) onSession(s *cmpp.Session) {
	sp := (*n.sps.Load())[s.SourceAddr()]
	if sp == nil {
		// Removed by a Reload between CONNECT and now.
		_ = s.Close()
		return
	}
	n.conns.Store(s, &spConn{sp: sp})
	sp.addSession(s)
	n.m.SPConnections.WithLabelValues(sp.id).Inc()
	n.log.Info("SP logged in", "sp", sp.id, "peer", s.RemoteAddr().String(), "version", s.Version().String())
}

func (n *Node) onClose(s *cmpp.Session, err error) {
	v, ok := n.conns.LoadAndDelete(s)
	if !ok {
		return
	}
	c := v.(*spConn)
	c.sp.removeSession(s)
	n.m.SPConnections.WithLabelValues(c.sp.id).Dec()
	n.log.Info("SP session closed", "sp", c.sp.id, "peer", s.RemoteAddr().String(), "err", err)
}

// serveCMPP handles an SP's requests; it runs in a goroutine of its own
// per request (cmpp.Handler), so blocking on the durable commit here never
// blocks the session's read loop.
func (n *Node) serveCMPP(s *cmpp.Session, h cmpp.Header, req cmpp.PDU) {
	v, ok := n.conns.Load(s)
	if !ok {
		if er, ok := req.(cmpp.ErrorResponder); ok {
			_ = s.Reply(h, er.ErrorResponse(cmpp.ResultBadCommand))
		}
		return
	}
	c := v.(*spConn)
	switch p := req.(type) {
	case *cmpp.Submit:
		n.submit(s, h, p, c)
	case *cmpp.Query:
		_ = s.Reply(h, n.stats.query(c.sp.id, p))
	case *cmpp.Cancel:
		n.cancel(s, h, p, c)
	default:
		if er, ok := req.(cmpp.ErrorResponder); ok {
			_ = s.Reply(h, er.ErrorResponse(cmpp.ResultBadCommand))
		}
	}
}

// submit accepts one CMPP_SUBMIT: checks, flow control, routing, one
// durable group commit for all its destinations, CDRs, and only then
// SUBMIT_RESP with the first Msg_Id.
func (n *Node) submit(s *cmpp.Session, h cmpp.Header, p *cmpp.Submit, c *spConn) {
	start := time.Now()
	sp := c.sp
	acct := sp.acct.Load()
	reject := func(result uint32, reason string) {
		n.m.Submits.WithLabelValues(sp.id, "rejected", reason).Inc()
		_ = s.Reply(h, &cmpp.SubmitResp{Result: result})
	}
	if acct == nil {
		reject(cmpp.ResultBadMsgSrc, reasonMsgSrc)
		return
	}
	if c.inflight.Add(1) > int64(acct.Window) {
		c.inflight.Add(-1)
		reject(cmpp.ResultFlowControl, reasonWindow)
		return
	}
	stored := false // from here on, the answer comes from submitWait.finish
	defer func() {
		if !stored {
			c.inflight.Add(-1)
		}
	}()

	now := n.now()
	times, ref := checkSubmit(p, sp.id, acct.ServiceCodes, now, n.loc, n.cfg.Delivery.DefaultValidity)
	if ref != accepted {
		reject(ref.result, ref.reason)
		return
	}
	at, valid := times.at, times.valid
	due := now
	if at.After(now) {
		due = at
	}
	if n.billingBad.Load() {
		reject(cmpp.ResultFlowControl, reasonBilling)
		return
	}
	if !sp.lim.Allow() {
		reject(cmpp.ResultFlowControl, reasonRate)
		return
	}
	if n.mtDepth() >= n.limits.Load().QueueDepth {
		reject(cmpp.ResultFlowControl, reasonQueue)
		return
	}

	t := n.routes.Load()
	queues := make([]string, len(p.DestTerminalIDs))
	dests := make([]string, len(p.DestTerminalIDs))
	for i, d := range p.DestTerminalIDs {
		q, num, ok := n.routeMT(t, d)
		if !ok {
			reject(cmpp.ResultBadDestTerminal, reasonDest)
			return
		}
		queues[i], dests[i] = q, num
	}
	first, err := n.ids.next(len(dests))
	if err != nil {
		if errors.Is(err, cmpp.ErrMsgIDReserve) {
			reject(cmpp.ResultFlowControl, reasonMsgID)
		} else {
			reject(cmpp.ResultBadStructure, reasonStruct)
		}
		return
	}
	content := []byte(p.MsgContent)
	sw := n.getSubmitWait()
	if len(dests) == 1 {
		sw.ops, sw.recs, sw.queues = sw.op1[:], sw.rec1[:], sw.q1[:]
		sw.queues[0] = queues[0]
	} else {
		sw.ops, sw.recs, sw.queues = make([]queue.Op, len(dests)), make([]mtRecord, len(dests)), queues
	}
	for i := range dests {
		r := &sw.recs[i]
		*r = mtRecord{
			SPID: sp.id, ServiceID: p.ServiceID, SrcID: p.SrcID, Dest: dests[i],
			FeeUserType: p.FeeUserType, FeeType: p.FeeType, FeeCode: p.FeeCode, FeeTerminalID: p.FeeTerminalID,
			RegisteredDelivery: p.RegisteredDelivery, MsgLevel: p.MsgLevel, PkTotal: p.PkTotal, PkNumber: p.PkNumber,
			TPPID: p.TPPID, TPUDHI: p.TPUDHI, MsgFmt: p.MsgFmt, LinkID: p.LinkID,
			Submitted: now, ValidUntil: valid, Content: content,
		}
		qdue := due
		if strings.HasPrefix(queues[i], qFwdPrefix) {
			// Until CMPP_FWD exists these wait for Valid_Time and are
			// then reported EXPIRED by the fwd sweeper.
			qdue = valid
		} else {
			r.Link = strings.TrimPrefix(queues[i], qMTPrefix)
		}
		sw.ops[i] = queue.Enqueue(queues[i], first+uint64(i), qdue, r.Append(nil))
	}
	// The CDRs are buffered first: the committer fsyncs them when it takes
	// this commit, just before the transaction (queue.Config.OnBatch), and
	// SUBMIT_RESP waits for both. Should the commit fail, each MT record is
	// voided by a REPORT record with Stat REJECTD, so nothing refused is
	// ever billed.
	for i := range sw.recs {
		n.writeCDR(n.mtCDR(first+uint64(i), &sw.recs[i], sw.queues[i]))
	}
	sw.s, sw.h, sw.sp, sw.c, sw.first, sw.start = s, h, sp, c, first, start
	sw.pending.Store(2)
	stored = true
	// The handler (the session's reader) is free from here: the later of
	// the two callbacks answers the SP (submitWait.finish).
	n.cdrSync.join(sw.cdrDone)
	n.st.CommitAsync(sw.ops, sw.storeDone)
}

// cancel answers CMPP_CANCEL: an MT of this SP still waiting for its SMSC
// link (or for forwarding) is removed, its CDR voided with a DELETED
// REPORT record and no status report sent; one already handed to an SMSC,
// being handed over, or unknown cannot be cancelled. Like SUBMIT, it is
// answered from the commit callback.
func (n *Node) cancel(s *cmpp.Session, h cmpp.Header, p *cmpp.Cancel, c *spConn) {
	sp := c.sp
	fail := func(reason string) {
		n.m.Cancels.WithLabelValues(sp.id, reason).Inc()
		_ = s.Reply(h, &cmpp.CancelResp{SuccessID: cmpp.CancelFailed})
	}
	var queues []string
	for _, name := range n.linkOrder {
		queues = append(queues, n.links[name].q)
	}
	n.fwdMu.Lock()
	for q := range n.fwdRun {
		queues = append(queues, q)
	}
	n.fwdMu.Unlock()
	for _, q := range queues {
		it, err := n.st.Take(q, p.MsgID)
		switch {
		case errors.Is(err, queue.ErrNotFound):
			continue
		case errors.Is(err, queue.ErrLeased):
			fail("in_flight") // being handed to the SMSC right now
			return
		case err != nil:
			fail("store")
			return
		}
		r, err := decodeMT(it.Value)
		if err != nil || r.SPID != sp.id {
			n.st.Release(q, it.ID)
			fail("not_found") // another SP's message is none of this one's business
			return
		}
		n.st.CommitAsync([]queue.Op{queue.Remove(q, it.ID)}, func(err error) {
			if err != nil {
				n.noteStoreErr(err)
				n.st.Release(q, it.ID)
				n.m.Cancels.WithLabelValues(sp.id, "store").Inc()
				n.replyNoWait(s, h, &cmpp.CancelResp{SuccessID: cmpp.CancelFailed})
				return
			}
			rec := n.mtCDR(it.ID, &r, q)
			rec.Kind, rec.FinalStatus, rec.DoneTime = billing.KindReport, cmpp.StatDeleted, n.now()
			n.writeCDR(rec)
			n.stats.mtFailed(r.SPID, r.ServiceID, r.Submitted)
			n.m.Cancels.WithLabelValues(sp.id, "ok").Inc()
			n.log.Info("MT cancelled by its SP", "sp", sp.id, "msg_id", it.ID, "queue", q)
			n.replyNoWait(s, h, &cmpp.CancelResp{SuccessID: cmpp.CancelOK})
		})
		return
	}
	fail("not_found") // delivered, reported, never ours, or awaiting its receipt
}

// replyNoWait answers from a callback that must not block, leaving the
// answer to a goroutine when the session's write queue is full.
func (n *Node) replyNoWait(s *cmpp.Session, h cmpp.Header, resp cmpp.PDU) {
	if err := s.ReplyNoWait(h, resp); errors.Is(err, cmpp.ErrWriteQueueFull) {
		go func() { _ = s.Reply(h, resp) }()
	}
}

func hasServiceCode(src string, codes []string) bool {
	for _, c := range codes {
		if strings.HasPrefix(src, c) {
			return true
		}
	}
	return false
}

// routeMT picks the queue of a destination: this gateway's numbers go to
// their segment's SMSC link (or the default link), others to fwd:<gw>.
func (n *Node) routeMT(t *routing.Table, dest string) (q, num string, ok bool) {
	num, err := routing.NormalizeMSISDN(dest)
	if err != nil {
		return "", "", false
	}
	r, err := t.ResolveMT(num)
	if err != nil {
		return "", "", false
	}
	if r.Gateway.Code != n.gw {
		return qFwdPrefix + r.Gateway.Code, num, true
	}
	lr, ok := n.links[r.Segment.SMSC]
	if !ok {
		if lr, ok = n.links[n.defaultLink]; !ok {
			return "", "", false
		}
	}
	return lr.q, num, true // precomputed: no concatenation per SUBMIT
}

// mtDepth is the number of messages waiting for (or at) the SMSC links.
func (n *Node) mtDepth() int {
	d := 0
	for _, q := range n.mtQueues {
		d += n.st.Len(q)
	}
	return d
}

func (n *Node) mtCDR(id uint64, r *mtRecord, q string) billing.Record {
	rec := billing.Record{
		Kind: billing.KindMT, MsgID: id, SPID: r.SPID, ServiceID: r.ServiceID,
		FeeUserType: r.FeeUserType, FeeType: r.FeeType, FeeCode: r.FeeCode, FeeTerminalID: r.FeeTerminalID,
		Src: r.SrcID, Dest: r.Dest, Segments: r.PkTotal, SegmentNo: r.PkNumber,
		SubmitTime: r.Submitted, HandlingGateway: n.gw, MsgFmt: r.MsgFmt, Length: uint32(len(r.Content)),
	}
	if gw, ok := strings.CutPrefix(q, qFwdPrefix); ok {
		rec.Direction, rec.NextGateway = billing.DirFwdOut, gw
	}
	return rec
}

// Reload applies a new configuration's SP accounts and limits without
// dropping connections: accounts are swapped atomically, rate limiters
// updated in place, new SPs start their deliverer, removed SPs can no
// longer log in (their sessions stay until they end). Everything else
// (listeners, SMSC links, data_dir) needs a restart and is ignored.
func (n *Node) Reload(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	n.spMu.Lock()
	defer n.spMu.Unlock()
	lim := cfg.Limits
	n.limits.Store(&lim)
	old := *n.sps.Load()
	next := make(map[string]*spRuntime, len(cfg.SPs))
	var added []*spRuntime
	for i := range cfg.SPs {
		a := &cfg.SPs[i]
		if sp, ok := old[a.SPID]; ok {
			sp.acct.Store(a)
			sp.lim.SetLimit(limitOf(a))
			sp.lim.SetBurst(a.Burst)
			next[a.SPID] = sp
			continue
		}
		sp := newSPRuntime(n, a)
		next[a.SPID] = sp
		added = append(added, sp)
	}
	for id, sp := range old {
		if _, ok := next[id]; !ok {
			sp.acct.Store(nil)
			// Keep the runtime so its sessions' state stays reachable and
			// its queued DELIVERs keep going out while they last.
			next[id] = sp
		}
	}
	n.sps.Store(&next)
	for _, sp := range added {
		n.goRun(func(ctx context.Context) error { return sp.deliverLoop(ctx, ctx) })
	}
	n.log.Info("configuration reloaded", "sps", len(cfg.SPs))
	return nil
}

// submitWait is one stored SUBMIT between the handler and its answer
// (pooled in Node.submitWaits): the commit's ops and records, with room for
// the usual single destination so that it allocates nothing per SUBMIT, and
// the two outcomes the SUBMIT_RESP waits for, the queue commit and the CDR
// fsync, whose callbacks run on the store's finisher and the syncer.
type submitWait struct {
	n                  *Node
	storeDone, cdrDone func(error)

	s     *cmpp.Session
	h     cmpp.Header
	sp    *spRuntime
	c     *spConn
	first uint64
	start time.Time

	ops    []queue.Op
	recs   []mtRecord
	queues []string
	op1    [1]queue.Op
	rec1   [1]mtRecord
	q1     [1]string

	pending  atomic.Int32 // outcomes still to come
	storeErr error
	cdrErr   error
}

func (n *Node) getSubmitWait() *submitWait {
	if sw, ok := n.submitWaits.Get().(*submitWait); ok {
		return sw
	}
	sw := &submitWait{n: n}
	sw.storeDone = func(err error) {
		sw.storeErr = err
		if err != nil {
			// Refused at once (store failed or closed), this commit may
			// never reach the committer's OnBatch poke.
			n.cdrSync.poke()
		}
		if sw.pending.Add(-1) == 0 {
			sw.finish()
		}
	}
	sw.cdrDone = func(err error) {
		sw.cdrErr = err
		if sw.pending.Add(-1) == 0 {
			sw.finish()
		}
	}
	return sw
}

// finish answers the SUBMIT once both outcomes are in. It runs on the
// store's finisher or the CDR syncer, so it must not block: should the session's
// write queue be full (a peer that stopped reading), the answer is left to
// a goroutine.
func (sw *submitWait) finish() {
	n, s, sp := sw.n, sw.s, sw.sp
	n.noteCDRSync(sw.cdrErr)
	resp := cmpp.SubmitResp{MsgID: sw.first, Result: cmpp.ResultOK}
	if err := sw.storeErr; err != nil {
		n.noteStoreErr(err)
		for i := range sw.recs {
			rec := n.mtCDR(sw.first+uint64(i), &sw.recs[i], sw.queues[i])
			rec.Kind, rec.FinalStatus, rec.DoneTime = billing.KindReport, cmpp.StatRejected, n.now()
			n.writeCDR(rec)
		}
		reason := reasonStore
		switch {
		case errors.Is(err, queue.ErrQueueFull), errors.Is(err, queue.ErrStoreFull):
			reason = reasonQueue
		case s.Context().Err() != nil:
			reason = reasonShutdown
		}
		n.log.Warn("SUBMIT not stored", "sp", sp.id, "err", err)
		n.m.Submits.WithLabelValues(sp.id, "rejected", reason).Inc()
		resp = cmpp.SubmitResp{Result: cmpp.ResultFlowControl}
	} else {
		for _, q := range sw.queues {
			if strings.HasPrefix(q, qFwdPrefix) {
				n.ensureFwdSweeper(q)
			}
		}
		for i := range sw.recs {
			r := &sw.recs[i]
			n.stats.mtAccepted(r.SPID, r.ServiceID, r.Submitted, r.Dest)
		}
		sp.mSubmitOK.Add(float64(len(sw.recs)))
		n.m.SubmitLatency.Observe(time.Since(sw.start).Seconds())
	}
	n.replyNoWait(s, sw.h, &resp)
	sw.c.inflight.Add(-1)
	n.putSubmitWait(sw)
}

func (n *Node) putSubmitWait(sw *submitWait) {
	sw.s, sw.sp, sw.c, sw.storeErr, sw.cdrErr = nil, nil, nil, nil, nil
	sw.ops, sw.recs, sw.queues = nil, nil, nil
	sw.op1, sw.rec1, sw.q1 = [1]queue.Op{}, [1]mtRecord{}, [1]string{}
	n.submitWaits.Put(sw)
}
