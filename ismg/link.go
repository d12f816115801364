package ismg

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tandem-sms/tandem/ismg/queue"
	"github.com/tandem-sms/tandem/ismg/smsclink"
	"github.com/tandem-sms/tandem/smpp"
	"github.com/tandem-sms/tandem/smstext"
)

// linkRuntime is one SMSC link: the smsclink pool, its mt:<link> queue,
// its dispatcher and the index of SMSC message ids awaiting or ahead of
// their durable mapping.
type linkRuntime struct {
	n     *Node
	cfg   SMSCLinkConfig
	link  *smsclink.Link
	q     string // mt:<link>
	dc0   smstext.Coding
	textM smpp.IDMode // how to turn a receipt-text id into the response spelling
	cap   int         // submit_sm in flight at once: binds × window
	ref   atomic.Uint32
	idx   sidIndex

	// Metric children used per message, looked up once.
	mMatched, mDuplicate, mSubmitOK prometheus.Counter
	mLatency                        prometheus.Observer

	// Owned by dispatch: idle submit goroutines take work from work and
	// leave when quit closes.
	work chan submitJob
	quit chan struct{}
}

func newLinkRuntime(n *Node, c SMSCLinkConfig) (*linkRuntime, error) {
	lc := smsclink.DefaultConfig()
	lc.Name, lc.Address, lc.SystemID, lc.Password, lc.SystemType = c.Name, c.Address, c.SystemID, c.Password, c.SystemType
	lc.BindType = smsclink.BindType(c.BindType)
	lc.Binds, lc.Window, lc.Rate = c.Binds, c.Window, c.Rate
	lc.Burst = max(1, int(c.Rate/10))
	lc.EnquireLink = c.EnquireLink
	lc.ResponseTimeout = c.ResponseTimeout
	lc.ReconnectMin, lc.ReconnectMax = c.ReconnectMin, c.ReconnectMax
	lc.ThrottleBackoff, lc.ThrottleBackoffMax = c.ThrottleBackoff, 15*c.ThrottleBackoff
	lc.ShutdownTimeout = n.cfg.Delivery.ShutdownTimeout
	// Each receipt holds its deliver_sm_resp until its commit is durable,
	// so receipts in flight = receipt rate × commit latency. Refusing the
	// ones beyond the bound makes the SMSC retry them much later (a report
	// tail of seconds), so the bound is set well above any SMSC's window.
	lc.MaxDeliverInFlight = max(lc.MaxDeliverInFlight, 1024)
	lc.Logger = n.log.With("component", "smsclink")
	if c.TLS != nil {
		tc, err := c.TLS.load()
		if err != nil {
			return nil, fmt.Errorf("ismg: smsc %s: tls: %w", c.Name, err)
		}
		d := &tls.Dialer{Config: tc}
		lc.Dial = d.DialContext
	}
	lr := &linkRuntime{n: n, cfg: c, q: qMTPrefix + c.Name, dc0: smstext.GSM7}
	if c.DataCoding0 == "latin1" {
		lr.dc0 = smstext.Latin1
	}
	switch c.IDFormat {
	case "hex":
		lr.textM = smpp.IDHexToDec
	case "decimal":
		lr.textM = smpp.IDDecToHex
	}
	lr.cap = c.Binds * c.Window
	lr.ref.Store(rand.Uint32())
	lr.idx.init()
	lr.mMatched = n.m.Receipts.WithLabelValues(c.Name, "matched")
	lr.mDuplicate = n.m.Receipts.WithLabelValues(c.Name, "duplicate")
	lr.mSubmitOK = n.m.SMSCSubmits.WithLabelValues(c.Name, "ok")
	lr.mLatency = n.m.SMSCLatency.WithLabelValues(c.Name)
	var err error
	if lr.link, err = smsclink.New(lc, smscHandler{n}); err != nil {
		return nil, err
	}
	return lr, nil
}

// canonID is the comparison form of an SMSC id as spelt in a response or
// the receipted_message_id TLV.
func canonID(id string) string {
	s, _ := smpp.NormalizeMessageID(id, smpp.IDCanonical)
	return s
}

// textID converts an id read from receipt text into the response
// spelling, then canonicalises it.
func (lr *linkRuntime) textID(id string) string {
	if lr.textM != smpp.IDAsIs {
		if s, err := smpp.NormalizeMessageID(id, lr.textM); err == nil {
			id = s
		}
	}
	return canonID(id)
}

// dispatch feeds the link from mt:<link> until ctx ends, then waits for
// the submits in flight (which run on hard, cancelled only at the shutdown
// deadline). It keeps at most cap items leased: each holds a slot from
// lease until its outcome is durable, so the items marked in flight at any
// moment, and so the resends after a crash, are at most binds × window.
func (lr *linkRuntime) dispatch(ctx, hard context.Context) error {
	n := lr.n
	slots := make(chan struct{}, lr.cap)
	var wg sync.WaitGroup
	lr.work, lr.quit = make(chan submitJob), make(chan struct{})
	defer func() {
		close(lr.quit)
		wg.Wait()
	}()
	for {
		if !lr.waitReady(ctx, hard) {
			return nil
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		free := 1
		for free < lr.cap {
			select {
			case slots <- struct{}{}:
				free++
				continue
			default:
			}
			break
		}
		items, err := n.st.Lease(lr.q, time.Now(), free)
		for range free - len(items) {
			<-slots
		}
		if err != nil {
			n.log.Error("lease", "queue", lr.q, "err", err)
			return err
		}
		if len(items) == 0 {
			if err := n.st.Wait(ctx, lr.q); err != nil {
				return nil
			}
			continue
		}
		lr.start(ctx, hard, items, slots, &wg)
	}
}

// waitReady waits until the link can submit, reporting every
// delivery.expiry_sweep the MTs whose Valid_Time passed while it could not.
// It returns false when ctx ends.
func (lr *linkRuntime) waitReady(ctx, hard context.Context) bool {
	for {
		wctx, cancel := context.WithTimeout(ctx, lr.n.cfg.Delivery.ExpirySweep)
		err := lr.link.WaitReady(wctx)
		cancel()
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		lr.expireWhileDown(hard)
	}
}

// expireWhileDown reports EXPIRED every due MT of the link whose Valid_Time
// has passed. It runs on the dispatcher goroutine while the link is down,
// so nothing else leases the queue meanwhile; the items it keeps are
// leased until the end of the sweep (so each is looked at once) and then
// released for the link.
func (lr *linkRuntime) expireWhileDown(hard context.Context) {
	n := lr.n
	var keep []uint64
	defer func() {
		for _, id := range keep {
			n.st.Release(lr.q, id)
		}
	}()
	now := n.now()
	for {
		items, err := n.st.Lease(lr.q, time.Now(), 512)
		if err != nil {
			n.log.Error("lease for expiry", "queue", lr.q, "err", err)
			return
		}
		if len(items) == 0 {
			return
		}
		for _, it := range items {
			r, err := decodeMT(it.Value)
			if err != nil || r.ValidUntil.IsZero() || !now.After(r.ValidUntil) {
				keep = append(keep, it.ID)
				continue
			}
			n.m.Expired.WithLabelValues("mt").Inc()
			if !n.finalReport(hard, lr.q, it.ID, &r, smpp.StatExpired, "expired", "") {
				return // the store refused (logged; item released): try at the next sweep
			}
		}
	}
}

// start marks a leased batch in flight with one commit, then submits each
// item in its own goroutine.
func (lr *linkRuntime) start(ctx, hard context.Context, items []queue.Item, slots chan struct{}, wg *sync.WaitGroup) {
	n := lr.n
	now := n.now()
	recs := make([]mtRecord, 0, len(items))
	keep := items[:0]
	for _, it := range items {
		r, err := decodeMT(it.Value)
		if err != nil {
			n.log.Error("dropping undecodable MT", "queue", lr.q, "id", it.ID, "err", err)
			_ = n.commit(hard, queue.Remove(lr.q, it.ID))
			<-slots
			continue
		}
		if !r.ValidUntil.IsZero() && now.After(r.ValidUntil) {
			n.m.Expired.WithLabelValues("mt").Inc()
			n.finalReport(hard, lr.q, it.ID, &r, smpp.StatExpired, "expired", "")
			<-slots
			continue
		}
		r.Attempts++
		recs = append(recs, r)
		keep = append(keep, it)
	}
	if len(keep) == 0 {
		return
	}
	b, err := n.markInflight(hard, lr.q, keep)
	if err != nil {
		n.log.Error("mark in flight", "queue", lr.q, "err", err)
		for _, it := range keep {
			n.st.Release(lr.q, it.ID)
			<-slots
		}
		return
	}
	for i, it := range keep {
		lr.run(submitJob{it: it, r: recs[i], b: b}, hard, slots, wg)
	}
}

// submitJob is one leased MT for a submit goroutine.
type submitJob struct {
	it queue.Item
	r  mtRecord
	b  *inflightBatch
}

// run hands j to an idle submit goroutine or starts one. The goroutines
// stay for further MTs until the dispatcher ends (lr.quit): a goroutine
// per MT would grow a fresh stack every time. The slots bound how many
// there are.
func (lr *linkRuntime) run(j submitJob, hard context.Context, slots chan struct{}, wg *sync.WaitGroup) {
	if lr.runAsync(j, hard, slots, wg) {
		return
	}
	select {
	case lr.work <- j:
		return
	default:
	}
	lr.spawn(j, hard, slots, wg)
}

// spawn starts a submit goroutine with j (its own function so that only
// this path moves j to the heap).
func (lr *linkRuntime) spawn(j submitJob, hard context.Context, slots chan struct{}, wg *sync.WaitGroup) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			lr.submitOne(hard, j.it, &j.r)
			lr.n.inflightDone(j.b)
			<-slots
			j = submitJob{}
			select {
			case j = <-lr.work:
			case <-lr.quit:
				return
			}
		}
	}()
}

// runAsync submits a single-segment MT without a goroutine: the
// submit_sm_resp callback queues the Move to await, whose commit callback
// frees the slot (an MT split into several submit_sm, or whose submit
// fails, takes the goroutine path of run). It reports false when j is
// not for it.
func (lr *linkRuntime) runAsync(j submitJob, hard context.Context, slots chan struct{}, wg *sync.WaitGroup) bool {
	pdus, err := buildSubmits(&j.r, lr.dc0, uint16(lr.ref.Add(1)))
	if err != nil || len(pdus) != 1 {
		return false
	}
	aj := &asyncSubmit{lr: lr, j: j, hard: hard, slots: slots, wg: wg}
	wg.Add(1)
	aj.t0 = time.Now()
	err = lr.link.SubmitAsync(hard, pdus[0], aj.t0.Add(lr.cfg.ResponseTimeout+time.Second), aj.resp)
	if err != nil {
		// Not sent (no bind, a pause or rate wait past the deadline):
		// reschedule off the dispatcher, whose next leases must not wait
		// for this commit.
		go func() {
			lr.failed(hard, aj.j.it, &aj.j.r, err)
			aj.finish()
		}()
	}
	return true
}

// asyncSubmit is one MT of runAsync between its callbacks.
type asyncSubmit struct {
	lr    *linkRuntime
	j     submitJob
	hard  context.Context
	slots chan struct{}
	wg    *sync.WaitGroup
	t0    time.Time
	sids  [1]string
	pend  *pendingMap
	ops   [1]queue.Op // the Move to await; the store is done with it by committed
}

// resp runs on the bind's reader (or a timer): it must not block.
func (a *asyncSubmit) resp(id string, err error) {
	lr, n := a.lr, a.lr.n
	if err != nil {
		go func() { // rare: the retry bookkeeping commits synchronously
			lr.failed(a.hard, a.j.it, &a.j.r, err)
			a.finish()
		}()
		return
	}
	lr.mLatency.Observe(time.Since(a.t0).Seconds())
	lr.mSubmitOK.Inc()
	a.sids[0] = canonID(id)
	a.ops[0], a.pend = lr.awaitOp(a.j.it, &a.j.r, a.sids[:])
	n.st.CommitAsync(a.ops[:], a.committed)
}

// committed runs on the store's finisher: it must be quick and must not
// Commit.
func (a *asyncSubmit) committed(err error) {
	lr := a.lr
	if err != nil {
		lr.n.noteStoreErr(err)
	}
	orphans := lr.awaitDone(a.j.it, &a.j.r, a.sids[:], a.pend, err)
	if len(orphans) == 0 {
		a.finish()
		return
	}
	go func() {
		lr.applyOrphans(a.hard, orphans)
		a.finish()
	}()
}

func (a *asyncSubmit) finish() {
	a.lr.n.inflightDone(a.j.b)
	<-a.slots
	a.wg.Done()
}

// awaitOp records the SMSC ids in r, registers them as pending and
// returns the Move of the MT to await. The await record carries the SMSC
// ids: the in-memory index is the only sid → Msg_Id map, rebuilt from
// await at start-up.
func (lr *linkRuntime) awaitOp(it queue.Item, r *mtRecord, sids []string) (queue.Op, *pendingMap) {
	r.InFlight = false
	if len(sids) == 1 {
		r.SMSCID = sids[0]
	} else {
		r.SMSCID = strings.Join(sids, " ")
	}
	r.Parts = uint8(len(sids))
	r.Pending = r.Parts
	pend := lr.idx.addPending(sids)
	return queue.Move(lr.q, qAwait, it.ID, lr.n.now().Add(lr.n.cfg.Delivery.ReportTimeout), r.Append(nil)), pend
}

// awaitDone ends the pending state after the Move's commit (err) and
// returns the orphan receipts to apply.
func (lr *linkRuntime) awaitDone(it queue.Item, r *mtRecord, sids []string, pend *pendingMap, err error) []*orphanEntry {
	if err == nil {
		// Counted before the mapping shows, so a QUERY that follows the
		// message's report sees it forwarded.
		lr.n.stats.mtForwarded(r.SPID, r.ServiceID, r.Submitted)
	}
	orphans := lr.idx.resolvePending(sids, pend, it.ID, err == nil)
	if err != nil {
		// The SMSC has the message but we could not record it: leave it
		// in flight in mt so it is sent again (a duplicate beats a loss).
		lr.n.log.Error("store SMSC id mapping", "id", it.ID, "err", err)
		lr.n.st.Release(lr.q, it.ID)
		return nil
	}
	return orphans
}

// applyOrphans applies the receipts that arrived before their mapping.
func (lr *linkRuntime) applyOrphans(ctx context.Context, orphans []*orphanEntry) {
	for _, o := range orphans {
		<-o.done
		if o.id == 0 {
			continue // its durable commit failed: the SMSC will resend
		}
		lr.n.m.Receipts.WithLabelValues(lr.cfg.Name, "orphan_matched").Inc()
		lr.applyReceipt(ctx, o.sid, o.rec.Stat, o.rec.Done, o.id)
	}
}

// submitOne sends one MT (one or more submit_sm) and records the outcome
// durably before its slot is freed.
func (lr *linkRuntime) submitOne(ctx context.Context, it queue.Item, r *mtRecord) {
	n := lr.n
	pdus, err := buildSubmits(r, lr.dc0, uint16(lr.ref.Add(1)))
	if err != nil {
		n.log.Warn("MT cannot be converted", "id", it.ID, "err", err)
		n.finalReport(ctx, lr.q, it.ID, r, "MB:0001", "gateway", "")
		return
	}
	sids := make([]string, 0, len(pdus))
	for _, p := range pdus {
		// A pause or rate wait longer than a response could take fails
		// the attempt (rescheduled); the session bounds the response.
		t0 := time.Now()
		id, err := lr.link.SubmitBy(ctx, p, t0.Add(lr.cfg.ResponseTimeout+time.Second))
		if err != nil {
			lr.failed(ctx, it, r, err)
			return
		}
		lr.mLatency.Observe(time.Since(t0).Seconds())
		lr.mSubmitOK.Inc()
		sids = append(sids, canonID(id))
	}
	op, pend := lr.awaitOp(it, r, sids)
	err = n.commit(ctx, op)
	lr.applyOrphans(ctx, lr.awaitDone(it, r, sids, pend, err))
}

// failed handles a submit error: temporary ones retry with exponential
// backoff and jitter until MaxAttempts, permanent ones end the message.
func (lr *linkRuntime) failed(ctx context.Context, it queue.Item, r *mtRecord, err error) {
	n := lr.n
	kind := smsclink.Classify(err)
	n.m.SMSCFailures.WithLabelValues(lr.cfg.Name, kind.String()).Inc()
	if kind == smsclink.KindThrottled || kind == smsclink.KindQueueFull || kind == smsclink.KindPaused {
		n.m.SMSCThrottled.WithLabelValues(lr.cfg.Name).Inc()
	}
	var se *smpp.StatusError
	if !smsclink.Temporary(err) {
		n.m.SMSCSubmits.WithLabelValues(lr.cfg.Name, "permanent").Inc()
		stat := "MB:0001"
		if errors.As(err, &se) {
			stat = smppStatusText(se.Status)
		}
		n.finalReport(ctx, lr.q, it.ID, r, stat, "gateway", "")
		return
	}
	n.m.SMSCSubmits.WithLabelValues(lr.cfg.Name, "temporary").Inc()
	// Refusals before anything was sent (no bind, pause, rate) do not
	// use up an attempt.
	if kind == smsclink.KindNoBind || kind == smsclink.KindPaused || kind == smsclink.KindRateWait || kind == smsclink.KindClosed {
		r.Attempts--
	}
	if int(r.Attempts) >= n.cfg.Delivery.MaxAttempts {
		stat := "MA:0001"
		if errors.As(err, &se) {
			stat = smppStatusText(se.Status)
		}
		n.finalReport(ctx, lr.q, it.ID, r, stat, "gateway", "")
		return
	}
	r.InFlight = false
	due := n.now().Add(backoff(n.cfg.Delivery.RetryMin, n.cfg.Delivery.RetryMax, int(r.Attempts)))
	if cerr := n.commit(ctx, queue.Update(lr.q, it.ID, due, r.Append(nil))); cerr != nil {
		n.log.Error("schedule retry", "id", it.ID, "err", cerr)
	}
	n.st.Release(lr.q, it.ID)
}

// backoff is min·2^(attempt-1) capped at max, with ±25% jitter.
func backoff(lo, hi time.Duration, attempt int) time.Duration {
	d := lo
	for i := 1; i < attempt && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	j := time.Duration(rand.Int64N(int64(d)/2+1)) - d/4
	return max(lo/2, d+j)
}

// sidIndex coordinates the two orders in which a submit_sm_resp and its
// receipt can arrive. The dispatcher registers a pending mapping before
// committing it; a receipt that finds one waits for the commit. A receipt
// finding neither a mapping nor a pending one is stored as an orphan, and
// the dispatcher, after its commit, takes the orphans of its ids and
// applies them. Both sides decide under mu, so exactly one sees the other.
type sidIndex struct {
	mu      sync.Mutex
	pending map[string]*pendingMap
	orphans map[string]*orphanEntry
	recent  map[string]struct{} // ids whose final receipt was applied: duplicates
	ring    []string
	ringPos int
	// mapped is the only SMSC id → Msg_Id map: every part of every await
	// record not yet receipted (its SMSCID minus Done). An entry is added
	// once the Move to await is durable and removed once the receipt's
	// commit is; recover rebuilds it from await at start-up. Its size is
	// bounded by the await queue.
	mapped map[string]uint64
}

type pendingMap struct{ done chan struct{} }

type orphanEntry struct {
	sid  string
	id   uint64 // item id in the orphan queue; 0 if its commit failed
	rec  orphanRecord
	done chan struct{} // closed once the orphan is durable (or failed)
}

const recentIDs = 1 << 16

func (x *sidIndex) init() {
	x.pending = map[string]*pendingMap{}
	x.orphans = map[string]*orphanEntry{}
	x.recent = make(map[string]struct{}, recentIDs)
	x.ring = make([]string, recentIDs)
	x.mapped = map[string]uint64{}
}

func (x *sidIndex) addPending(sids []string) *pendingMap {
	p := &pendingMap{done: make(chan struct{})}
	x.mu.Lock()
	for _, s := range sids {
		x.pending[s] = p
	}
	x.mu.Unlock()
	return p
}

// resolvePending ends the pending state of sids (their commit returned;
// durable tells whether it succeeded, mapping them to id) and hands back
// the orphans that arrived for them meanwhile.
func (x *sidIndex) resolvePending(sids []string, p *pendingMap, id uint64, durable bool) []*orphanEntry {
	var out []*orphanEntry
	x.mu.Lock()
	for _, s := range sids {
		if x.pending[s] == p {
			delete(x.pending, s)
		}
		if durable {
			x.mapped[s] = id
		}
		if o, ok := x.orphans[s]; ok {
			delete(x.orphans, s)
			out = append(out, o)
		}
	}
	x.mu.Unlock()
	close(p.done)
	return out
}

// lookupOrPark is the receipt side: it returns a pending mapping to wait
// for, or the Msg_Id of a durable mapping (mapped), or registers a new
// orphan (nil, o, false) for the caller to make durable, or reports a
// known duplicate/orphan (nil, nil, true).
func (x *sidIndex) lookupOrPark(sid string, rec orphanRecord) (p *pendingMap, mapped uint64, o *orphanEntry, dup bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if p, ok := x.pending[sid]; ok {
		return p, 0, nil, false
	}
	if id, ok := x.mapped[sid]; ok {
		return nil, id, nil, false
	}
	if _, ok := x.recent[sid]; ok {
		return nil, 0, nil, true
	}
	if _, ok := x.orphans[sid]; ok {
		return nil, 0, nil, true
	}
	o = &orphanEntry{sid: sid, rec: rec, done: make(chan struct{})}
	x.orphans[sid] = o
	return nil, 0, o, false
}

// remap restores the mappings of await record id at start-up: the parts
// of sids not listed in done.
func (x *sidIndex) remap(id uint64, sids, done string) {
	x.mu.Lock()
	for s := range strings.FieldsSeq(sids) {
		if !slices.Contains(strings.Fields(done), s) {
			x.mapped[s] = id
		}
	}
	x.mu.Unlock()
}

// mappedID returns the Msg_Id of a durable mapping this process knows.
func (x *sidIndex) mappedID(sid string) (uint64, bool) {
	x.mu.Lock()
	id, ok := x.mapped[sid]
	x.mu.Unlock()
	return id, ok
}

// unmap forgets mappings whose deletion is durable.
func (x *sidIndex) unmap(sids ...string) {
	x.mu.Lock()
	for _, s := range sids {
		delete(x.mapped, s)
	}
	x.mu.Unlock()
}

func (x *sidIndex) addDurableOrphan(sid string, id uint64, rec orphanRecord) {
	o := &orphanEntry{sid: sid, id: id, rec: rec, done: make(chan struct{})}
	close(o.done)
	x.mu.Lock()
	x.orphans[sid] = o
	x.mu.Unlock()
}

// dropOrphan forgets an expired orphan if it is still the one registered.
func (x *sidIndex) dropOrphan(sid string, id uint64) {
	x.mu.Lock()
	if o, ok := x.orphans[sid]; ok && o.id == id {
		delete(x.orphans, sid)
	}
	x.mu.Unlock()
}

func (x *sidIndex) markDone(sid string) {
	x.mu.Lock()
	delete(x.mapped, sid)
	if old := x.ring[x.ringPos]; old != "" {
		delete(x.recent, old)
	}
	x.ring[x.ringPos] = sid
	x.recent[sid] = struct{}{}
	x.ringPos = (x.ringPos + 1) % len(x.ring)
	x.mu.Unlock()
}
