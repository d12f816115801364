package smpp_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/smpp"
	"github.com/tandem-sms/tandem/smpp/smpptest"
)

const testWait = 10 * time.Second // upper bound for anything to happen; never a pacing sleep

func testConfig(t *testing.T) smpp.Config {
	c := smpptest.Config()
	c.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	t.Cleanup(cancel)
	return ctx
}

func waitDone(t *testing.T, s *smpp.Session) {
	t.Helper()
	select {
	case <-s.Done():
	case <-time.After(testWait):
		t.Fatalf("session %v did not end", s.RemoteAddr())
	}
}

func newServer(t *testing.T, cfg smpp.Config, h smpp.Handler) (*smpptest.Server, chan *smpp.Session) {
	t.Helper()
	srv := smpptest.NewUnstartedServer(cfg, h)
	sessions := make(chan *smpp.Session, 16)
	srv.SMPP.OnSession = func(s *smpp.Session) { sessions <- s }
	srv.Start()
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("server: %v", err)
		}
	})
	return srv, sessions
}

func nextSession(t *testing.T, c chan *smpp.Session) *smpp.Session {
	t.Helper()
	select {
	case s := <-c:
		return s
	case <-time.After(testWait):
		t.Fatal("no server session")
		return nil
	}
}

func dial(t *testing.T, srv *smpptest.Server, cfg smpp.Config, h smpp.Handler) *smpp.Session {
	t.Helper()
	s, err := srv.Dial(ctxT(t), cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(); <-s.Done() })
	return s
}

func wantStatus(t *testing.T, err error, st smpp.Status) {
	t.Helper()
	var se *smpp.StatusError
	if !errors.As(err, &se) || se.Status != st {
		t.Fatalf("err = %v, want status %v", err, st)
	}
}

func TestBindSubmitReceiptUnbind(t *testing.T) {
	smsc := &smpptest.SMSC{Users: map[string]string{"esme1": "pw"}, Receipts: true, SystemID: "SMSC01"}
	srv, sessions := newServer(t, testConfig(t), smsc)
	receipts := make(chan *smpp.DeliverSM, 1)
	c := dial(t, srv, testConfig(t), smpp.HandlerFunc(func(r *smpp.Request) {
		if d, ok := r.PDU.(*smpp.DeliverSM); ok {
			receipts <- d
		}
		_ = r.Respond(nil, smpp.StatusOK)
	}))
	ss := nextSession(t, sessions)
	ctx := ctxT(t)

	br, err := c.Bind(ctx, &smpp.Bind{Mode: smpp.BindTransceiver, SystemID: "esme1", Password: "pw", SystemType: "CMPPGW"})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := br.TLVs.SCInterfaceVersion(); br.SystemID != "SMSC01" || v != 0x34 {
		t.Fatalf("bind resp %+v", br)
	}
	if c.State() != smpp.SessionBound || c.BindMode() != smpp.BindTransceiver || c.SystemID() != "SMSC01" {
		t.Fatalf("client state %v %v %q", c.State(), c.BindMode(), c.SystemID())
	}
	if ss.SystemID() != "esme1" || ss.BindMode() != smpp.BindTransceiver {
		t.Fatalf("server session %q %v", ss.SystemID(), ss.BindMode())
	}

	resp, err := c.Submit(ctx, &smpp.SubmitSM{SourceAddr: smpp.Addr{Addr: "10661234"},
		DestAddr: smpp.Addr{TON: 1, NPI: 1, Addr: "8613800138000"}, RegisteredDelivery: smpp.RegDeliveryFinal,
		DataCoding: smpp.CodingUCS2, ShortMessage: []byte{0x4f, 0x60, 0x59, 0x7d}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.MessageID != smpptest.MessageID(1) {
		t.Fatalf("message id %q", resp.MessageID)
	}
	select {
	case d := <-receipts:
		info, err := smpp.ParseDeliverReceipt(d)
		if err != nil || info.MessageID != resp.MessageID || info.State != smpp.StateDelivered || info.Receipt.ID != resp.MessageID {
			t.Fatalf("receipt %+v %v", info, err)
		}
	case <-ctx.Done():
		t.Fatal("no receipt")
	}
	if got := smsc.Submitted(); len(got) != 1 || got[0].DestAddr.Addr != "8613800138000" {
		t.Fatalf("submitted %+v", got)
	}
	smsc.Wait()

	if err := c.Unbind(ctx); err != nil {
		t.Fatalf("Unbind: %v", err)
	}
	waitDone(t, c)
	waitDone(t, ss)
	if c.Err() != nil || ss.Err() != nil {
		t.Fatalf("unclean ends: client %v, server %v", c.Err(), ss.Err())
	}
	if _, err := c.Submit(ctx, &smpp.SubmitSM{}); !errors.Is(err, smpp.ErrClosed) {
		t.Fatalf("submit after unbind: %v", err)
	}
}

func TestSMSCInitiatedUnbindAndDeliver(t *testing.T) {
	srv, sessions := newServer(t, testConfig(t), &smpptest.SMSC{})
	got := make(chan smpp.PDU, 2)
	c := dial(t, srv, testConfig(t), smpp.HandlerFunc(func(r *smpp.Request) {
		got <- r.PDU
		_ = r.Respond(&smpp.DeliverSMResp{}, smpp.StatusOK)
	}))
	ss := nextSession(t, sessions)
	ctx := ctxT(t)
	if _, err := c.Bind(ctx, &smpp.Bind{Mode: smpp.BindReceiver, SystemID: "rx"}); err != nil {
		t.Fatal(err)
	}
	// A receiver cannot submit.
	_, err := c.Submit(ctx, &smpp.SubmitSM{DestAddr: smpp.Addr{Addr: "1"}})
	wantStatus(t, err, smpp.StatusInvBndSts)
	// The SMSC delivers an MO.
	if _, err := ss.Deliver(ctx, &smpp.DeliverSM{SourceAddr: smpp.Addr{Addr: "8613800138000"}, DestAddr: smpp.Addr{Addr: "10661234"}, ShortMessage: []byte("hi")}); err != nil {
		t.Fatal(err)
	}
	if p := (<-got).(*smpp.DeliverSM); string(p.ShortMessage) != "hi" {
		t.Fatalf("got %+v", p)
	}
	// The SMSC unbinds; both ends close cleanly.
	if err := ss.Unbind(ctx); err != nil {
		t.Fatal(err)
	}
	waitDone(t, c)
	if c.Err() != nil || ss.Err() != nil {
		t.Fatalf("client %v, server %v", c.Err(), ss.Err())
	}
}

func TestBindStates(t *testing.T) {
	srv, _ := newServer(t, testConfig(t), &smpptest.SMSC{Users: map[string]string{"a": "pw"}})
	ctx := ctxT(t)
	c := dial(t, srv, testConfig(t), nil)
	sm := &smpp.SubmitSM{DestAddr: smpp.Addr{Addr: "1"}}

	_, err := c.Submit(ctx, sm)
	wantStatus(t, err, smpp.StatusInvBndSts) // not bound yet
	_, err = c.Bind(ctx, &smpp.Bind{SystemID: "a", Password: "bad"})
	wantStatus(t, err, smpp.StatusInvPaswd)
	_, err = c.Bind(ctx, &smpp.Bind{SystemID: "nobody"})
	wantStatus(t, err, smpp.StatusInvSysID)
	if c.State() != smpp.SessionOpen {
		t.Fatalf("state after failed bind: %v", c.State())
	}
	if _, err := c.Bind(ctx, &smpp.Bind{Mode: smpp.BindTransmitter, SystemID: "a", Password: "pw"}); err != nil {
		t.Fatal(err)
	}
	_, err = c.Bind(ctx, &smpp.Bind{SystemID: "a", Password: "pw"})
	wantStatus(t, err, smpp.StatusAlyBnd)
	if _, err := c.Submit(ctx, sm); err != nil {
		t.Fatal(err)
	}
	if err := c.EnquireLink(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Query(ctx, &smpp.QuerySM{MessageID: "1"}); err != nil {
		t.Fatal(err)
	}
}

func TestThrottledTypedErrors(t *testing.T) {
	srv, _ := newServer(t, testConfig(t), &smpptest.SMSC{SubmitStatus: func(p *smpp.SubmitSM) smpp.Status {
		switch p.DestAddr.Addr {
		case "throttle":
			return smpp.StatusThrottled
		case "full":
			return smpp.StatusMsgQFul
		case "bad":
			return smpp.StatusInvDstAdr
		}
		return smpp.StatusOK
	}})
	ctx := ctxT(t)
	c := dial(t, srv, testConfig(t), nil)
	if _, err := c.Bind(ctx, &smpp.Bind{Mode: smpp.BindTransmitter}); err != nil {
		t.Fatal(err)
	}
	submit := func(dest string) error {
		_, err := c.Submit(ctx, &smpp.SubmitSM{DestAddr: smpp.Addr{Addr: dest}})
		return err
	}
	if err := submit("throttle"); !errors.Is(err, smpp.ErrThrottled) || !errors.Is(err, smpp.ErrTemporary) {
		t.Fatalf("throttle: %v", err)
	}
	if err := submit("full"); !errors.Is(err, smpp.ErrQueueFull) || errors.Is(err, smpp.ErrThrottled) {
		t.Fatalf("full: %v", err)
	}
	err := submit("bad")
	wantStatus(t, err, smpp.StatusInvDstAdr)
	if errors.Is(err, smpp.ErrTemporary) {
		t.Fatal("invalid address is permanent")
	}
	if n := c.Stats().Throttled.Load(); n != 2 {
		t.Fatalf("Throttled = %d", n)
	}
}

// holdHandler parks submit_sm requests until the test answers them.
type holdHandler struct {
	smsc smpptest.SMSC
	held chan *smpp.Request
}

func (h *holdHandler) ServeSMPP(r *smpp.Request) {
	if _, ok := r.PDU.(*smpp.SubmitSM); ok {
		h.held <- r
		return
	}
	h.smsc.ServeSMPP(r)
}

func (h *holdHandler) next(t *testing.T) *smpp.Request {
	t.Helper()
	select {
	case r := <-h.held:
		return r
	case <-time.After(testWait):
		t.Fatal("no submit reached the SMSC")
		return nil
	}
}

func TestWindowFillsAndDrains(t *testing.T) {
	h := &holdHandler{held: make(chan *smpp.Request, 100)}
	srv, sessions := newServer(t, testConfig(t), h)
	cfg := testConfig(t)
	cfg.Window = 3
	c := dial(t, srv, cfg, nil)
	ss := nextSession(t, sessions)
	ctx := ctxT(t)
	if _, err := c.Bind(ctx, &smpp.Bind{}); err != nil {
		t.Fatal(err)
	}
	sm := &smpp.SubmitSM{DestAddr: smpp.Addr{Addr: "1"}}
	errs := make(chan error, 10)
	for range 3 {
		go func() { _, err := c.Submit(ctx, sm); errs <- err }()
	}
	var held []*smpp.Request
	for range 3 {
		held = append(held, h.next(t))
	}
	if n := c.Outstanding(); n != 3 {
		t.Fatalf("outstanding = %d", n)
	}
	// Full: fail fast.
	if _, err := c.Submit(ctx, sm); !errors.Is(err, smpp.ErrWindowFull) {
		t.Fatalf("4th submit: %v, want ErrWindowFull", err)
	}
	if c.Stats().WindowFull.Load() != 1 {
		t.Fatal("WindowFull not counted")
	}
	// Still answers the peer's enquire_link while full.
	if err := ss.EnquireLink(ctx); err != nil {
		t.Fatalf("enquire_link while window full: %v", err)
	}
	// The blocking variant waits for a slot...
	go func() { _, err := c.SendWait(ctx, sm); errs <- err }()
	// ...which the first answer frees.
	if err := held[0].Respond(&smpp.SubmitSMResp{MessageID: "1"}, smpp.StatusOK); err != nil {
		t.Fatal(err)
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	held = append(held[1:], h.next(t))
	for i, r := range held {
		if err := r.Respond(&smpp.SubmitSMResp{MessageID: string(rune('a' + i))}, smpp.StatusOK); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := c.Outstanding(); n != 0 {
		t.Fatalf("outstanding after drain = %d", n)
	}
	// A blocked SendWait gives up with its context.
	for range 3 {
		go func() { _, err := c.Submit(ctx, sm); errs <- err }()
	}
	for range 3 {
		h.next(t)
	}
	short, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.SendWait(short, sm); !errors.Is(err, context.Canceled) {
		t.Fatalf("SendWait with done ctx: %v", err)
	}
}

func TestRequestTimeout(t *testing.T) {
	h := &holdHandler{held: make(chan *smpp.Request, 10)}
	srv, _ := newServer(t, testConfig(t), h)
	cfg := testConfig(t)
	cfg.RequestTimeout = 50 * time.Millisecond
	c := dial(t, srv, cfg, nil)
	ctx := ctxT(t)
	if _, err := c.Bind(ctx, &smpp.Bind{}); err != nil {
		t.Fatal(err)
	}
	_, err := c.Submit(ctx, &smpp.SubmitSM{DestAddr: smpp.Addr{Addr: "1"}})
	if !errors.Is(err, smpp.ErrTimeout) {
		t.Fatalf("err = %v", err)
	}
	if c.Outstanding() != 0 || c.Stats().Timeouts.Load() != 1 {
		t.Fatal("timed-out request still holds its slot")
	}
	// The late answer is counted, not delivered anywhere.
	if err := h.next(t).Respond(&smpp.SubmitSMResp{MessageID: "late"}, smpp.StatusOK); err != nil {
		t.Fatal(err)
	}
	if err := c.EnquireLink(ctx); err != nil { // ordered after the late response
		t.Fatal(err)
	}
	if c.Stats().LateResponses.Load() != 1 {
		t.Fatalf("LateResponses = %d", c.Stats().LateResponses.Load())
	}
}

// rawListener accepts connections and hands them to the test.
func rawListener(t *testing.T) (net.Listener, chan net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := make(chan net.Conn, 4)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns <- c
		}
	})
	t.Cleanup(func() {
		_ = l.Close()
		wg.Wait()
		close(conns)
		for c := range conns {
			_ = c.Close()
		}
	})
	return l, conns
}

func accept(t *testing.T, conns chan net.Conn) net.Conn {
	t.Helper()
	select {
	case c := <-conns:
		t.Cleanup(func() { _ = c.Close() })
		return c
	case <-time.After(testWait):
		t.Fatal("no connection")
		return nil
	}
}

func TestSilentPeerDetected(t *testing.T) {
	l, conns := rawListener(t)
	cfg := testConfig(t)
	cfg.EnquireInterval = 50 * time.Millisecond
	cfg.EnquireTimeout = 100 * time.Millisecond
	c, err := smpp.Dial(ctxT(t), l.Addr().String(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	peer := accept(t, conns)
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = io.Copy(io.Discard, peer) }) // reads, never answers
	waitDone(t, c)
	if !errors.Is(c.Err(), smpp.ErrPeerDead) {
		t.Fatalf("err = %v, want ErrPeerDead", c.Err())
	}
	if c.Stats().DeadPeers.Load() != 1 || c.Stats().EnquireLinks.Load() != 1 {
		t.Fatalf("stats: dead %d, enquire %d", c.Stats().DeadPeers.Load(), c.Stats().EnquireLinks.Load())
	}
	_ = peer.Close()
	wg.Wait()
}

func TestKeepAliveAnswered(t *testing.T) {
	l, conns := rawListener(t)
	cfg := testConfig(t)
	cfg.EnquireInterval = 20 * time.Millisecond
	cfg.EnquireTimeout = 5 * time.Second
	c, err := smpp.Dial(ctxT(t), l.Addr().String(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	peer := accept(t, conns)
	// The peer answers every enquire_link and reports it.
	seen := make(chan uint32, 16)
	var wg sync.WaitGroup
	wg.Go(func() {
		br := bufio.NewReader(peer)
		for {
			h, err := smpp.ReadHeader(br, smpp.DefaultMaxPDU)
			if err != nil || h.ID != smpp.CmdEnquireLink {
				return
			}
			if _, err := peer.Write(rawPDU(smpp.CmdEnquireLinkResp, 0, h.Seq, nil)); err != nil {
				return
			}
			select {
			case seen <- h.Seq:
			default:
			}
		}
	})
	var prev uint32
	for range 3 {
		select {
		case seq := <-seen:
			if seq == prev {
				t.Fatalf("sequence %d reused", seq)
			}
			prev = seq
		case <-c.Done():
			t.Fatalf("session died: %v", c.Err())
		case <-time.After(testWait):
			t.Fatal("no keep-alive")
		}
	}
	if c.Stats().DeadPeers.Load() != 0 {
		t.Fatal("answered keep-alive counted as dead peer")
	}
	_ = c.Close()
	waitDone(t, c)
	if c.Err() != nil {
		t.Fatalf("err %v", c.Err())
	}
	_ = peer.Close()
	wg.Wait()
}

func TestPeerThatNeverReads(t *testing.T) {
	l, conns := rawListener(t)
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.(*net.TCPConn).SetWriteBuffer(4 << 10)
	peer := accept(t, conns)
	_ = peer.(*net.TCPConn).SetReadBuffer(4 << 10) // and never read
	cfg := testConfig(t)
	cfg.Window = 8
	cfg.WriteTimeout = 200 * time.Millisecond
	cfg.RequestTimeout = time.Minute // nothing frees the window but the session dying
	c, err := smpp.NewSession(conn, smpp.RoleESME, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	var payload smpp.TLVs
	payload.SetMessagePayload(make([]byte, 60000))
	sm := &smpp.SubmitSM{DestAddr: smpp.Addr{Addr: "1"}, TLVs: payload}
	ctx := ctxT(t)
	const n = 40
	errs := make(chan error, n)
	for i := range n {
		go func() {
			var err error
			if i%2 == 0 {
				_, err = c.Send(ctx, sm)
			} else {
				_, err = c.SendWait(ctx, sm)
			}
			errs <- err
		}()
	}
	for range n {
		err := <-errs
		if !errors.Is(err, smpp.ErrWindowFull) && !errors.Is(err, smpp.ErrClosed) {
			t.Fatalf("err = %v, want ErrWindowFull or ErrClosed", err)
		}
	}
	waitDone(t, c)
	if !errors.Is(c.Err(), os.ErrDeadlineExceeded) {
		t.Fatalf("session err = %v, want a write deadline", c.Err())
	}
	if r := c.Stats().Requests.Load(); r > uint64(cfg.Window) {
		t.Fatalf("%d requests queued past a window of %d", r, cfg.Window)
	}
}

// rawPDU writes a PDU built by hand.
func rawPDU(id smpp.CommandID, status smpp.Status, seq uint32, body []byte) []byte {
	b := smpp.Header{Length: uint32(smpp.HeaderLen + len(body)), ID: id, Status: status, Seq: seq}.Append(nil)
	return append(b, body...)
}

func readRaw(t *testing.T, br *bufio.Reader, conn net.Conn) (smpp.Header, []byte) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(testWait))
	h, err := smpp.ReadHeader(br, smpp.DefaultMaxPDU)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	body := make([]byte, h.Length-smpp.HeaderLen)
	if _, err := io.ReadFull(br, body); err != nil {
		t.Fatal(err)
	}
	return h, body
}

// rawESME is a raw TCP client of a test server, with the server's
// session for it.
type rawESME struct {
	conn net.Conn
	br   *bufio.Reader
	ss   *smpp.Session
}

func dialRawESME(t *testing.T, srv *smpptest.Server, sessions chan *smpp.Session) *rawESME {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawESME{conn: conn, br: bufio.NewReader(conn), ss: nextSession(t, sessions)}
}

// expect reads the next PDU, checks its command, status and sequence
// number and returns its body.
func (c *rawESME) expect(t *testing.T, id smpp.CommandID, st smpp.Status, seq uint32) []byte {
	t.Helper()
	h, body := readRaw(t, c.br, c.conn)
	if h.ID != id || h.Status != st || h.Seq != seq {
		t.Fatalf("got %v %v seq %d, want %v %v seq %d", h.ID, h.Status, h.Seq, id, st, seq)
	}
	return body
}

func TestMalformedFromESME(t *testing.T) {
	srv, sessions := newServer(t, testConfig(t), &smpptest.SMSC{})
	c := dialRawESME(t, srv, sessions)
	conn, br, ss := c.conn, c.br, c.ss
	expect := func(id smpp.CommandID, st smpp.Status, seq uint32) {
		t.Helper()
		c.expect(t, id, st, seq)
	}
	// Unknown command: generic_nack, connection stays.
	_, _ = conn.Write(rawPDU(0x00000077, 0, 5, []byte("junk")))
	expect(smpp.CmdGenericNack, smpp.StatusInvCmdID, 5)
	// A submit_sm whose body is cut short: answered with the field's status.
	_, _ = conn.Write(rawPDU(smpp.CmdSubmitSM, 0, 6, []byte("CMT\x00\x01\x01123")))
	expect(smpp.CmdSubmitSMResp, smpp.StatusInvCmdLen, 6)
	// A bind with an over-long system_id.
	_, _ = conn.Write(rawPDU(smpp.CmdBindTransmitter, 0, 7, []byte(strings.Repeat("x", 20)+"\x00pw\x00\x00\x34\x00\x00\x00")))
	expect(smpp.CmdBindTransmitterResp, smpp.StatusInvSysID, 7)
	// Still alive.
	_, _ = conn.Write(rawPDU(smpp.CmdEnquireLink, 0, 8, nil))
	expect(smpp.CmdEnquireLinkResp, smpp.StatusOK, 8)
	// A response nobody asked for is ignored.
	_, _ = conn.Write(rawPDU(smpp.CmdSubmitSMResp, 0, 99, []byte("x\x00")))
	// command_length below the header: generic_nack, then hang up.
	bad := rawPDU(smpp.CmdEnquireLink, 0, 9, nil)
	binary.BigEndian.PutUint32(bad, 8)
	_, _ = conn.Write(bad)
	expect(smpp.CmdGenericNack, smpp.StatusInvCmdLen, 9)
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("after bad length: %v, want EOF", err)
	}
	waitDone(t, ss)
	if err := ss.Err(); !errors.Is(err, smpp.ErrBadLength) || !strings.Contains(err.Error(), "enquire_link") {
		t.Fatalf("server session err = %v", err)
	}
	if st := ss.Stats(); st.DecodeErrors.Load() != 4 || st.LateResponses.Load() != 1 {
		t.Fatalf("decode errors %d, late %d", st.DecodeErrors.Load(), st.LateResponses.Load())
	}
}

func TestMalformedFromSMSC(t *testing.T) {
	l, conns := rawListener(t)
	cfg := testConfig(t)
	got := make(chan *smpp.Request, 1)
	c, err := smpp.Dial(ctxT(t), l.Addr().String(), cfg, smpp.HandlerFunc(func(r *smpp.Request) { got <- r }))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	peer := accept(t, conns)
	br := bufio.NewReader(peer)
	bindErr := make(chan error, 1)
	go func() {
		_, err := c.Bind(context.Background(), &smpp.Bind{SystemID: "esme"})
		bindErr <- err
	}()
	h, _ := readRaw(t, br, peer)
	if h.ID != smpp.CmdBindTransceiver {
		t.Fatalf("got %v", h.ID)
	}
	// bind_resp whose system_id has no NUL.
	_, _ = peer.Write(rawPDU(smpp.CmdBindTransceiverResp, 0, h.Seq, []byte("SMSC")))
	err = <-bindErr
	if err == nil || !strings.Contains(err.Error(), "bind_transceiver_resp") || !strings.Contains(err.Error(), "system_id") {
		t.Fatalf("bind err = %v, want one naming the PDU and field", err)
	}
	// A deliver_sm while unbound: refused, not handed to the handler.
	_, _ = peer.Write(rawPDU(smpp.CmdDeliverSM, 0, 3, smpp.AppendPDU(nil, &smpp.DeliverSM{}, 0, 0)[smpp.HeaderLen:]))
	h, _ = readRaw(t, br, peer)
	if h.ID != smpp.CmdDeliverSMResp || h.Status != smpp.StatusInvBndSts || h.Seq != 3 {
		t.Fatalf("got %v %v %d", h.ID, h.Status, h.Seq)
	}
	// A header claiming 4 GB: rejected before allocating, session ends.
	_, _ = peer.Write([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 4})
	h, _ = readRaw(t, br, peer)
	if h.ID != smpp.CmdGenericNack || h.Status != smpp.StatusInvCmdLen || h.Seq != 4 {
		t.Fatalf("got %v %v %d", h.ID, h.Status, h.Seq)
	}
	waitDone(t, c)
	if err := c.Err(); !errors.Is(err, smpp.ErrBadLength) || !strings.Contains(err.Error(), "deliver_sm") {
		t.Fatalf("err = %v", err)
	}
	select {
	case r := <-got:
		t.Fatalf("handler got %v", r.Header.ID)
	default:
	}
}

func TestServerShutdownDrains(t *testing.T) {
	h := &holdHandler{held: make(chan *smpp.Request, 10)}
	srv, _ := newServer(t, testConfig(t), h)
	c := dial(t, srv, testConfig(t), nil)
	ctx := ctxT(t)
	if _, err := c.Bind(ctx, &smpp.Bind{}); err != nil {
		t.Fatal(err)
	}
	subErr := make(chan error, 1)
	go func() {
		_, err := c.Submit(ctx, &smpp.SubmitSM{DestAddr: smpp.Addr{Addr: "1"}})
		subErr <- err
	}()
	r := h.next(t)
	shut := make(chan error, 1)
	go func() { shut <- srv.SMPP.Shutdown(ctx) }()
	// The owed response still goes out; then the SMSC unbinds.
	if err := r.Respond(&smpp.SubmitSMResp{MessageID: "m"}, smpp.StatusOK); err != nil {
		t.Fatal(err)
	}
	if err := <-subErr; err != nil {
		t.Fatalf("submit during shutdown: %v", err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	waitDone(t, c)
	if c.Err() != nil {
		t.Fatalf("client err %v", c.Err())
	}
	if _, err := smpp.Dial(ctx, srv.Addr, testConfig(t), nil); err == nil {
		t.Fatal("dial after shutdown succeeded")
	}
}

func TestServerShutdownDeadline(t *testing.T) {
	h := &holdHandler{held: make(chan *smpp.Request, 10)}
	srv, _ := newServer(t, testConfig(t), h)
	c := dial(t, srv, testConfig(t), nil)
	ctx := ctxT(t)
	if _, err := c.Bind(ctx, &smpp.Bind{}); err != nil {
		t.Fatal(err)
	}
	subErr := make(chan error, 1)
	go func() {
		_, err := c.Submit(ctx, &smpp.SubmitSM{DestAddr: smpp.Addr{Addr: "1"}})
		subErr <- err
	}()
	h.next(t) // never answered
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := srv.SMPP.Shutdown(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-subErr; !errors.Is(err, smpp.ErrClosed) {
		t.Fatalf("submit: %v", err)
	}
	waitDone(t, c)
}

func TestServerCloseEndsEverything(t *testing.T) {
	srv := smpptest.NewServer(&smpptest.SMSC{})
	ctx := ctxT(t)
	var clients []*smpp.Session
	for range 3 {
		c, err := srv.Dial(ctx, testConfig(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Bind(ctx, &smpp.Bind{}); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	if n := len(srv.SMPP.Sessions()); n != 3 {
		t.Fatalf("sessions = %d", n)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.SMPP.Sessions()); n != 0 {
		t.Fatalf("sessions after Close = %d", n)
	}
	for _, c := range clients {
		waitDone(t, c)
	}
	if err := srv.SMPP.Serve(srv.Listener); !errors.Is(err, smpp.ErrServerClosed) {
		t.Fatalf("Serve after Close: %v", err)
	}
	st := srv.SMPP.Stats()
	if st.SessionsOpened.Load() != 3 || st.SessionsClosed.Load() != 3 {
		t.Fatalf("opened %d closed %d", st.SessionsOpened.Load(), st.SessionsClosed.Load())
	}
}

func TestBindTimeout(t *testing.T) {
	cfg := testConfig(t)
	cfg.BindTimeout = 50 * time.Millisecond
	srv, sessions := newServer(t, cfg, &smpptest.SMSC{})
	conn, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ss := nextSession(t, sessions)
	waitDone(t, ss)
	if !errors.Is(ss.Err(), smpp.ErrBindTimeout) {
		t.Fatalf("err = %v", ss.Err())
	}
}

func TestOutbindAndAlert(t *testing.T) {
	srv, sessions := newServer(t, testConfig(t), &smpptest.SMSC{})
	got := make(chan smpp.PDU, 2)
	c := dial(t, srv, testConfig(t), smpp.HandlerFunc(func(r *smpp.Request) {
		got <- r.PDU
		if r.Header.ID.HasResponse() {
			_ = r.Respond(nil, smpp.StatusOK)
		}
	}))
	ss := nextSession(t, sessions)
	ctx := ctxT(t)
	if _, err := ss.Send(ctx, &smpp.Outbind{SystemID: "smsc", Password: "pw"}); err != nil {
		t.Fatal(err)
	}
	if p := (<-got).(*smpp.Outbind); p.SystemID != "smsc" {
		t.Fatalf("outbind %+v", p)
	}
	if _, err := c.Bind(ctx, &smpp.Bind{Mode: smpp.BindReceiver}); err != nil {
		t.Fatal(err)
	}
	if _, err := ss.Send(ctx, &smpp.AlertNotification{SourceAddr: smpp.Addr{Addr: "8613800138000"}}); err != nil {
		t.Fatal(err)
	}
	if p := (<-got).(*smpp.AlertNotification); p.SourceAddr.Addr != "8613800138000" {
		t.Fatalf("alert %+v", p)
	}
}

// BenchmarkSessionSubmit measures submit_sm round trips over loopback TCP
// through our ESME and SMSC sessions, with the window kept full.
func BenchmarkSessionSubmit(b *testing.B) {
	srv := smpptest.NewServer(&smpptest.SMSC{})
	defer srv.Close()
	ctx := context.Background()
	cfg := smpptest.Config()
	c, err := srv.Dial(ctx, cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Bind(ctx, &smpp.Bind{Mode: smpp.BindTransmitter}); err != nil {
		b.Fatal(err)
	}
	sm := &smpp.SubmitSM{SourceAddr: smpp.Addr{Addr: "10661234"}, DestAddr: smpp.Addr{TON: 1, NPI: 1, Addr: "8613800138000"}, ShortMessage: []byte("hello world")}
	b.ReportAllocs()
	b.SetParallelism(cfg.Window)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.SendWait(ctx, sm); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// TestSendAsync covers the callback variant: one answer per request (the
// response, a status error, a timeout, or the session's end), window slots
// freed each time, and refusals that never call back.
func TestSendAsync(t *testing.T) {
	h := &holdHandler{held: make(chan *smpp.Request, 10)}
	srv, _ := newServer(t, testConfig(t), h)
	cfg := testConfig(t)
	cfg.Window = 2
	cfg.RequestTimeout = 100 * time.Millisecond
	c := dial(t, srv, cfg, nil)
	ctx := ctxT(t)
	if _, err := c.Bind(ctx, &smpp.Bind{}); err != nil {
		t.Fatal(err)
	}
	type answer struct {
		p   smpp.PDU
		err error
	}
	got := make(chan answer, 10)
	cb := func(p smpp.PDU, err error) { got <- answer{p, err} }
	next := func() answer {
		t.Helper()
		select {
		case a := <-got:
			return a
		case <-time.After(testWait):
			t.Fatal("no callback")
			return answer{}
		}
	}
	sm := &smpp.SubmitSM{DestAddr: smpp.Addr{Addr: "1"}}
	if err := c.SendAsync(ctx, &smpp.SubmitSMResp{}, cb); err == nil {
		t.Fatal("SendAsync of a response: no error")
	}
	if err := c.SendAsync(ctx, sm, nil); err == nil {
		t.Fatal("SendAsync without callback: no error")
	}

	// A response and an error status.
	for range 2 {
		if err := c.SendAsync(ctx, sm, cb); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.next(t).Respond(&smpp.SubmitSMResp{MessageID: "a"}, smpp.StatusOK); err != nil {
		t.Fatal(err)
	}
	if a := next(); a.err != nil || a.p.(*smpp.SubmitSMResp).MessageID != "a" {
		t.Fatalf("first answer: %v %v", a.p, a.err)
	}
	if err := h.next(t).Respond(nil, smpp.StatusThrottled); err != nil {
		t.Fatal(err)
	}
	if a := next(); !errors.Is(a.err, smpp.ErrThrottled) {
		t.Fatalf("second answer: %v", a.err)
	}
	if n := c.Outstanding(); n != 0 {
		t.Fatalf("outstanding = %d", n)
	}

	// Unanswered: the timeout calls back once and frees the slot.
	if err := c.SendAsync(ctx, sm, cb); err != nil {
		t.Fatal(err)
	}
	late := h.next(t)
	if a := next(); !errors.Is(a.err, smpp.ErrTimeout) {
		t.Fatalf("unanswered: %v", a.err)
	}
	if c.Outstanding() != 0 || c.Stats().Timeouts.Load() != 1 {
		t.Fatal("timed-out request still holds its slot")
	}
	if err := late.Respond(&smpp.SubmitSMResp{MessageID: "late"}, smpp.StatusOK); err != nil {
		t.Fatal(err)
	}

	// A full window makes SendAsync wait for a slot, until ctx ends.
	for range 2 {
		if err := c.SendAsync(ctx, sm, cb); err != nil {
			t.Fatal(err)
		}
	}
	h.next(t)
	h.next(t)
	short, cancel := context.WithCancel(ctx)
	cancel()
	if err := c.SendAsync(short, sm, cb); !errors.Is(err, context.Canceled) {
		t.Fatalf("SendAsync on a full window with done ctx: %v", err)
	}

	// Closing the session answers the two outstanding ones with ErrClosed.
	_ = c.Close()
	for range 2 {
		if a := next(); !errors.Is(a.err, smpp.ErrClosed) {
			t.Fatalf("after close: %v", a.err)
		}
	}
	select {
	case a := <-got:
		t.Fatalf("extra callback: %v %v", a.p, a.err)
	default:
	}
}
