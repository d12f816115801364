package smscsim

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/tandem-sms/tandem/sim/record"
	"github.com/tandem-sms/tandem/smpp"
)

// ErrClosed is returned by calls on an SMSC that was shut down or closed.
var ErrClosed = errors.New("smscsim: closed")

// ErrNoReceiver: no receiver or transceiver is bound to take an MO.
var ErrNoReceiver = errors.New("smscsim: no receiver bound")

// SMSC is an SMPP 3.4 SMSC simulator. Its methods are safe for concurrent
// use.
type SMSC struct {
	cfg Config
	log *slog.Logger
	srv *smpp.Server

	rec     *record.Writer // Config.Record
	runOnce sync.Once      // writes the record's run line at the first Serve or Start
	recErr  atomic.Pointer[error]

	ctx    context.Context // cancelled by Shutdown/Close: ends every goroutine
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine we start, through goTrack

	down          atomic.Bool
	draining      atomic.Bool // Shutdown began: submit_sm are refused while receipts drain
	queueFull     atomic.Bool
	hold          atomic.Bool
	throttleEvery atomic.Int64
	nextID        atomic.Uint64
	seen          atomic.Uint64 // submit_sm received, for ThrottleEvery
	moRef         atomic.Uint32
	waiters       atomic.Int32
	bucket        bucket

	rngMu sync.Mutex
	rng   *rand.Rand

	c counters

	// mu guards everything below. Lock order: mu → q.mu.
	mu        sync.Mutex
	stopped   bool
	binds     int
	bound     map[*smpp.Session]*bindInfo
	rr        int                   // round-robin cursor over receivers
	parked    map[string][]*receipt // receipts waiting for a receiver, or held, by system_id
	boundCh   chan struct{}         // closed and replaced when a receiver binds
	submitted []Submission
	refused   []Refusal
	notify    chan struct{}
	listeners []net.Listener

	q        receiptQueue
	inflight chan struct{} // one token per receipt awaiting its deliver_sm_resp
}

type bindInfo struct {
	sess     *smpp.Session
	systemID string
	index    int
	mode     smpp.BindMode
}

type counters struct {
	binds, bindsRefused                               atomic.Uint64
	submits, accepted, throttled, queueFull, rejected atomic.Uint64
	receiptsScheduled, receiptsSent, receiptsAcked    atomic.Uint64
	receiptsRetried, receiptsFailed, receiptsDropped  atomic.Uint64
	receiptsPending                                   atomic.Int64
	byStat                                            [9]atomic.Uint64 // by smpp.MessageState
	moSent, moAcked                                   atomic.Uint64
}

// New returns an SMSC for cfg, its receipt machinery running. Serve or
// Start it, and end it with Shutdown or Close. A zero cfg.Session means
// smpp.DefaultConfig().
func New(cfg Config) (*SMSC, error) {
	if cfg.Session == (smpp.Config{}) {
		cfg.Session = smpp.DefaultConfig()
	}
	if cfg.IDFormat == IDDefault {
		cfg.IDFormat = IDHex
	}
	if cfg.ReceiptIDFormat == IDDefault {
		cfg.ReceiptIDFormat = cfg.IDFormat
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Session.Logger == nil {
		cfg.Session.Logger = log
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	first := cfg.FirstID
	if first == 0 {
		first = uint64(time.Now().Unix()) << 20
	}
	s := &SMSC{
		cfg:    cfg,
		log:    log,
		rec:    cfg.Record,
		rng:    rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		bound:  make(map[*smpp.Session]*bindInfo),
		parked: make(map[string][]*receipt),
		q:      newReceiptQueue(),

		inflight: make(chan struct{}, cfg.ReceiptWorkers),
	}
	s.nextID.Store(first)
	s.down.Store(cfg.Down)
	s.queueFull.Store(cfg.QueueFull)
	s.throttleEvery.Store(int64(cfg.ThrottleEvery))
	s.bucket.set(cfg.MaxRate)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.srv = &smpp.Server{
		Config:    cfg.Session,
		Handler:   smpp.HandlerFunc(s.serveSMPP),
		OnSession: s.onSession,
	}
	s.goTrack(s.scheduleLoop)
	// A few senders suffice now that none waits for an answer; more than
	// one keeps a receiver whose window is full from holding up others.
	for range min(cfg.ReceiptWorkers, receiptSenders) {
		s.goTrack(s.receiptWorker)
	}
	return s, nil
}

// receiptSenders is the number of goroutines handing due receipts to the
// sessions.
const receiptSenders = 4

// goTrack runs f in a goroutine that Shutdown and Close wait for; it
// refuses (returns false) once they have begun.
func (s *SMSC) goTrack(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

// Serve accepts ESME connections on l until Shutdown or Close, then
// returns smpp.ErrServerClosed. It closes l.
func (s *SMSC) Serve(l net.Listener) error {
	s.recordRun(l.Addr())
	return s.srv.Serve(l)
}

// recordRun writes the record's run line, once.
func (s *SMSC) recordRun(addr net.Addr) {
	if s.rec == nil {
		return
	}
	s.runOnce.Do(func() {
		s.record(&record.Event{Ev: record.EvRun, T: time.Now(), Tool: record.ToolSMSCSim, Run: record.NewRunID(),
			SystemID: s.cfg.SystemID, Addr: addr.String()})
	})
}

// record writes e to Config.Record; the first error is kept (RecordErr).
func (s *SMSC) record(e *record.Event) {
	if err := s.rec.Write(e); err != nil {
		s.recErr.CompareAndSwap(nil, &err)
	}
}

// RecordErr returns the first error writing Config.Record, if any: the
// ledger is incomplete after one.
func (s *SMSC) RecordErr() error {
	if p := s.recErr.Load(); p != nil {
		return *p
	}
	return nil
}

// Start listens on addr ("" means Config.Addr) and serves in the
// background; Addr reports the address, useful with port 0.
func (s *SMSC) Start(addr string) error {
	if addr == "" {
		addr = s.cfg.Addr
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.listeners = append(s.listeners, l)
	s.mu.Unlock()
	s.recordRun(l.Addr())
	if !s.goTrack(func() {
		if err := s.srv.Serve(l); err != nil && !errors.Is(err, smpp.ErrServerClosed) {
			s.log.Error("serve", "addr", l.Addr().String(), smpp.LogKeyErr, err)
		}
	}) {
		_ = l.Close()
		return ErrClosed
	}
	s.log.Info("listening", "addr", l.Addr().String())
	return nil
}

// Addr returns the address of the first listener Start opened, or "".
func (s *SMSC) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.listeners) == 0 {
		return ""
	}
	return s.listeners[0].Addr().String()
}

// Shutdown stops taking submit_sm (ESME_RTHROTTLED: the ESME keeps the
// message and sends it again later, to this SMSC restarted), sends the
// receipts it owes to the ESMEs still bound, then unbinds every session
// gracefully, all until ctx ends, and stops the receipt machinery.
// Receipts are held in memory only: without that drain a restart would
// lose the ones scheduled a moment before it. What ctx cuts short is lost,
// as on a real SMSC restart without persistence.
func (s *SMSC) Shutdown(ctx context.Context) error {
	s.stop()
	s.draining.Store(true)
	_ = s.Wait(ctx, func(st Stats) bool { return st.ReceiptsPending <= 0 || st.Bound == 0 })
	err := s.srv.Shutdown(ctx)
	s.cancel()
	s.wg.Wait()
	return err
}

// Close closes every session at once and stops the receipt machinery.
func (s *SMSC) Close() error {
	s.stop()
	_ = s.srv.Close()
	s.cancel()
	s.wg.Wait()
	return nil
}

func (s *SMSC) stop() {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
}

// SetDown takes the SMSC down (true): every session is closed and binds
// are refused with ESME_RBINDFAIL until SetDown(false).
func (s *SMSC) SetDown(down bool) {
	s.down.Store(down)
	if !down {
		s.log.Info("up")
		return
	}
	s.log.Warn("down: closing sessions, refusing binds")
	for _, sess := range s.srv.Sessions() {
		_ = sess.Close()
	}
	s.mu.Lock()
	for sess := range s.bound {
		_ = sess.Close()
	}
	s.mu.Unlock()
}

// SetQueueFull makes every submit_sm get ESME_RMSGQFUL (true) or not.
func (s *SMSC) SetQueueFull(full bool) { s.queueFull.Store(full) }

// SetThrottleEvery answers every nth submit_sm with ESME_RTHROTTLED; 0
// stops it.
func (s *SMSC) SetThrottleEvery(n int) { s.throttleEvery.Store(int64(max(n, 0))) }

// SetMaxRate throttles submit_sm arriving faster than rate per second; 0
// stops it.
func (s *SMSC) SetMaxRate(rate float64) { s.bucket.set(max(rate, 0)) }

// HoldReceipts stops sending receipts (true): they wait, still counted as
// pending, until HoldReceipts(false) releases them all at once.
func (s *SMSC) HoldReceipts(hold bool) {
	s.hold.Store(hold)
	if hold {
		return
	}
	s.mu.Lock()
	var all []*receipt
	for sys, rs := range s.parked {
		all = append(all, rs...)
		delete(s.parked, sys)
	}
	s.mu.Unlock()
	now := time.Now()
	for _, r := range all {
		r.due = now
		s.q.push(r)
	}
}

// onSession watches each accepted session so that it leaves the registry
// when it ends.
func (s *SMSC) onSession(sess *smpp.Session) {
	if !s.goTrack(func() {
		<-sess.Done()
		s.mu.Lock()
		bi := s.bound[sess]
		delete(s.bound, sess)
		s.mu.Unlock()
		if bi != nil {
			s.log.Info("session ended", smpp.LogKeySystemID, bi.systemID, "bind", bi.index, smpp.LogKeyErr, sess.Err())
		}
		s.changed()
	}) {
		_ = sess.Close()
	}
}

func (s *SMSC) serveSMPP(r *smpp.Request) {
	switch p := r.PDU.(type) {
	case *smpp.Bind:
		s.serveBind(r, p)
	case *smpp.SubmitSM:
		s.serveSubmit(r, p)
	default:
		// query_sm, cancel_sm, replace_sm, submit_multi, data_sm: not
		// simulated. Say so rather than pretend.
		s.c.rejected.Add(1)
		_ = r.Respond(nil, smpp.StatusInvCmdID)
	}
}

func (s *SMSC) serveBind(r *smpp.Request, b *smpp.Bind) {
	sess := r.Session()
	refuse := func(st smpp.Status, why string) {
		s.c.bindsRefused.Add(1)
		s.log.Warn("bind refused", smpp.LogKeySystemID, b.SystemID, smpp.LogKeyPeer, sess.RemoteAddr().String(), "reason", why)
		_ = r.Respond(nil, st)
		s.changed()
	}
	if s.down.Load() {
		refuse(smpp.StatusBindFail, "down")
		return
	}
	if len(s.cfg.Accounts) > 0 {
		pw, ok := s.cfg.Accounts[b.SystemID]
		if !ok {
			refuse(smpp.StatusInvSysID, "unknown system_id")
			return
		}
		if pw != b.Password {
			refuse(smpp.StatusInvPaswd, "wrong password")
			return
		}
	}
	resp := &smpp.BindResp{SystemID: s.cfg.SystemID}
	resp.TLVs.SetSCInterfaceVersion(smpp.InterfaceVersion34)
	if err := r.Respond(resp, smpp.StatusOK); err != nil {
		return
	}
	// Registered only after bind_resp is queued, so a receipt can never
	// overtake it on the wire.
	s.mu.Lock()
	s.binds++
	bi := &bindInfo{sess: sess, systemID: b.SystemID, index: s.binds, mode: b.Mode}
	s.bound[sess] = bi
	var flush []*receipt
	if b.Mode.CanReceive() {
		if s.boundCh != nil {
			close(s.boundCh)
			s.boundCh = nil
		}
		if !s.hold.Load() {
			flush = s.parked[b.SystemID]
			delete(s.parked, b.SystemID)
		}
	}
	down := s.down.Load() // SetDown stores before it locks mu: one of us sees the other
	s.mu.Unlock()
	s.c.binds.Add(1)
	s.log.Info("bound", smpp.LogKeySystemID, b.SystemID, "mode", b.Mode.String(), "bind", bi.index, smpp.LogKeyPeer, sess.RemoteAddr().String(), "released_receipts", len(flush))
	now := time.Now()
	for _, rc := range flush {
		rc.due = now
		s.q.push(rc)
	}
	if down {
		_ = sess.Close()
	}
	s.changed()
}

func (s *SMSC) serveSubmit(r *smpp.Request, p *smpp.SubmitSM) {
	now := time.Now()
	sess := r.Session()
	s.mu.Lock()
	bi := s.bound[sess]
	s.mu.Unlock()
	if bi == nil { // bound but not yet registered: cannot happen once Respond returned
		bi = &bindInfo{systemID: sess.SystemID()}
	}
	s.c.submits.Add(1)
	if st := s.admit(now); st != smpp.StatusOK {
		s.mu.Lock()
		if len(s.refused) < s.cfg.RecordLimit {
			s.refused = append(s.refused, Refusal{SystemID: bi.systemID, Bind: bi.index, Time: now, DestAddr: p.DestAddr, Status: st})
		}
		s.mu.Unlock()
		_ = r.Respond(nil, st)
		s.changed()
		return
	}
	n := s.nextID.Add(1) - 1
	sub := Submission{
		SystemID:           bi.systemID,
		Bind:               bi.index,
		Time:               now,
		ServiceType:        p.ServiceType,
		SourceAddr:         p.SourceAddr,
		DestAddr:           p.DestAddr,
		ESMClass:           p.ESMClass,
		ProtocolID:         p.ProtocolID,
		PriorityFlag:       p.PriorityFlag,
		RegisteredDelivery: p.RegisteredDelivery,
		DataCoding:         p.DataCoding,
		ShortMessage:       p.ShortMessage,
		TLVs:               p.TLVs,
		MessageID:          s.cfg.IDFormat.Format(n),
		Number:             n,
	}
	if pl, ok := p.TLVs.MessagePayload(); ok {
		sub.Payload = pl
	}
	sub.SAR, sub.HasSAR = p.TLVs.SAR()
	if s.rec != nil {
		sub.Key = findKey(&sub)
	}
	var rc *receipt
	if stat := s.chooseStat(&sub); wantReceipt(p.RegisteredDelivery, stat) {
		sub.ReceiptStat = stat
		rc = s.newReceipt(&sub, stat, now)
	}
	s.mu.Lock()
	if len(s.submitted) < s.cfg.RecordLimit {
		s.submitted = append(s.submitted, sub)
	}
	s.mu.Unlock()
	s.c.accepted.Add(1)
	if s.rec != nil {
		s.record(&record.Event{Ev: record.EvAccept, T: now, SMSCID: sub.MessageID, ESME: sub.SystemID, Src: sub.SourceAddr.Addr,
			Dest: sub.DestAddr.Addr, Key: sub.Key, RD: sub.RegisteredDelivery})
	}
	resp := &smpp.SubmitSMResp{MessageID: sub.MessageID}
	if rc != nil && s.cfg.ReceiptFirst && s.raceReceipt(r, resp, rc) {
		s.changed()
		return
	}
	if d := s.cfg.RespDelay; d > 0 {
		// The receipt follows the answer, as without the delay.
		time.AfterFunc(d, func() { s.respond(r, resp, rc) })
		return
	}
	s.respond(r, resp, rc)
}

// respond answers a submit_sm and schedules its receipt.
func (s *SMSC) respond(r *smpp.Request, resp *smpp.SubmitSMResp, rc *receipt) {
	_ = r.Respond(resp, smpp.StatusOK)
	if rc != nil {
		s.q.push(rc)
	}
	s.changed()
}

// admit applies the overload modes to one submit_sm.
func (s *SMSC) admit(now time.Time) smpp.Status {
	k := s.seen.Add(1)
	if s.draining.Load() {
		s.c.throttled.Add(1)
		return smpp.StatusThrottled
	}
	if s.queueFull.Load() {
		s.c.queueFull.Add(1)
		return smpp.StatusMsgQFul
	}
	if n := s.throttleEvery.Load(); n > 0 && k%uint64(n) == 0 {
		s.c.throttled.Add(1)
		return smpp.StatusThrottled
	}
	if !s.bucket.allow(now) {
		s.c.throttled.Add(1)
		return smpp.StatusThrottled
	}
	return smpp.StatusOK
}

// wantReceipt applies registered_delivery (§2.4): 01 any final state, 10
// failures only.
func wantReceipt(reg uint8, stat string) bool {
	switch reg & smpp.RegDeliveryReceiptMask {
	case smpp.RegDeliveryFinal:
		return true
	case smpp.RegDeliveryFailure:
		return stat != smpp.StatDelivered
	}
	return false
}

func (s *SMSC) chooseStat(sub *Submission) string {
	if s.cfg.StatusFor != nil {
		if st := s.cfg.StatusFor(sub); st != "" {
			return st
		}
	}
	mix := s.cfg.StatusMix
	if len(mix) == 0 {
		return smpp.StatDelivered
	}
	total := 0
	for _, m := range mix {
		total += m.Weight
	}
	s.rngMu.Lock()
	x := s.rng.IntN(total)
	s.rngMu.Unlock()
	for _, m := range mix {
		if x < m.Weight {
			return m.Stat
		}
		x -= m.Weight
	}
	return mix[len(mix)-1].Stat
}

func (s *SMSC) receiptDelay() time.Duration {
	lo, hi := s.cfg.ReceiptDelay, s.cfg.ReceiptDelayMax
	if hi <= lo {
		return lo
	}
	s.rngMu.Lock()
	d := lo + time.Duration(s.rng.Int64N(int64(hi-lo)+1))
	s.rngMu.Unlock()
	return d
}

// bucket caps accepted submits at MaxRate (burst MaxRate/10); a zero rate
// admits everything. The rate can change while sessions run.
type bucket struct {
	lim *rate.Limiter
}

func (b *bucket) set(r float64) {
	if b.lim == nil {
		b.lim = rate.NewLimiter(rate.Inf, 1)
	}
	if r <= 0 {
		b.lim.SetLimit(rate.Inf)
		return
	}
	b.lim.SetLimit(rate.Limit(r))
	b.lim.SetBurst(int(max(r/10, 1)))
}

func (b *bucket) allow(now time.Time) bool { return b.lim.AllowN(now, 1) }

// findKey returns the client key (sim/record) in sub's text, or "".
func findKey(sub *Submission) string {
	text, err := sub.Text()
	if err != nil {
		return ""
	}
	return record.FindKey(text)
}
