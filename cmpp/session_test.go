package cmpp_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/cmpp/cmpptest"
	"github.com/tandem-sms/tandem/internal/waitfor"
)

const waitTimeout = cmpptest.Timeout

// held is a request a test handler passed to the test to answer.
type held struct {
	s   *cmpp.Session
	h   cmpp.Header
	req cmpp.PDU
}

func (r held) reply(t testing.TB, result uint32) {
	t.Helper()
	er, ok := r.req.(cmpp.ErrorResponder)
	if !ok {
		t.Fatalf("%v has no result code", r.h.Command)
	}
	resp := er.ErrorResponse(result)
	if sr, ok := resp.(*cmpp.SubmitResp); ok {
		sr.MsgID = uint64(r.h.Seq)
	}
	if err := r.s.Reply(r.h, resp); err != nil {
		t.Errorf("reply: %v", err)
	}
}

// holdHandler hands every request to the test.
func holdHandler(ch chan<- held) cmpp.Handler {
	return cmpp.HandlerFunc(func(s *cmpp.Session, h cmpp.Header, req cmpp.PDU) {
		select {
		case ch <- held{s, h, req}:
		case <-s.Context().Done():
		}
	})
}

// okHandler answers every request with result 0 (SUBMIT_RESP Msg_Id = Sequence_Id).
var okHandler = cmpp.HandlerFunc(func(s *cmpp.Session, h cmpp.Header, req cmpp.PDU) {
	er, ok := req.(cmpp.ErrorResponder)
	if !ok {
		return
	}
	resp := er.ErrorResponse(cmpp.ResultOK)
	if sr, ok := resp.(*cmpp.SubmitResp); ok {
		sr.MsgID = uint64(h.Seq)
	}
	_ = s.Reply(h, resp)
})

func newSubmit() *cmpp.Submit {
	return &cmpp.Submit{
		PkTotal: 1, PkNumber: 1, RegisteredDelivery: 1,
		ServiceID: "MTEST", FeeUserType: 2, MsgFmt: 0,
		MsgSrc: cmpptest.SourceAddr, FeeType: "01", FeeCode: "000000",
		SrcID: "10657001", DestTerminalIDs: []string{"13800138000"},
		MsgContent: "hello",
	}
}

func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

// checkGoroutines fails the test if goroutines it started outlive it.
// Registered first, it runs after every other cleanup.
func checkGoroutines(t *testing.T) {
	base := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(waitTimeout)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for runtime.NumGoroutine() > base {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Fatalf("goroutines: %d, baseline %d\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
			}
			<-tick.C
		}
	})
}

func waitDone(t testing.TB, s *cmpp.Session) error {
	t.Helper()
	return cmpptest.WaitDone(t, s)
}

// rawServer accepts connections, logs each one in (the secret of
// cmpptest.Secret), then hands it to fn. It returns the address.
func rawServer(t *testing.T, fn func(c net.Conn, br *bufio.Reader, v cmpp.Version)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { l.Close(); <-done })
	go func() {
		defer close(done)
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		h, err := cmpp.ReadHeader(br, cmpp.DefaultMaxPDU)
		if err != nil {
			return
		}
		b := make([]byte, h.Length)
		if _, err := io.ReadFull(br, b); err != nil {
			return
		}
		_, p, err := cmpp.DecodePDU(b, cmpp.V30, cmpp.DefaultMaxPDU)
		if err != nil {
			return
		}
		req := p.(*cmpp.Connect)
		resp := &cmpp.ConnectResp{Version: req.Version,
			Authenticator: cmpp.AuthISMG(0, req.Authenticator, cmpptest.Secret, req.Version)}
		if _, err := c.Write(cmpp.AppendPDU(nil, req.Version, h.Seq, resp)); err != nil {
			return
		}
		fn(c, br, req.Version)
	}()
	return l.Addr().String()
}

func clientConfig(t testing.TB, c cmpp.Config) cmpp.ClientConfig {
	c.Logger = cmpptest.Logger(t)
	return cmpp.ClientConfig{SourceAddr: cmpptest.SourceAddr, Secret: cmpptest.Secret, Version: cmpp.V30, Session: c}
}

func TestConnectVersions(t *testing.T) {
	checkGoroutines(t)
	for _, v := range []cmpp.Version{cmpp.V20, cmpp.V21, cmpp.V30} {
		t.Run(v.String(), func(t *testing.T) {
			ts := cmpptest.NewServer(t, okHandler)
			c := ts.Dial(t, v)
			srvSess := ts.NextSession(t)
			if c.Version() != v || srvSess.Version() != v {
				t.Fatalf("versions: client %v, server %v, want %v", c.Version(), srvSess.Version(), v)
			}
			if srvSess.SourceAddr() != cmpptest.SourceAddr {
				t.Errorf("server SourceAddr %q", srvSess.SourceAddr())
			}
			resp, err := c.Send(context.Background(), newSubmit())
			if err != nil {
				t.Fatal(err)
			}
			if r, ok := resp.(*cmpp.SubmitResp); !ok || r.Result != 0 || r.MsgID == 0 {
				t.Fatalf("resp %#v", resp)
			}
		})
	}
}

// An older server (MaxVersion 2.x) serves a 2.x client and refuses a 3.0
// one with status 4.
func TestConnectNegotiation(t *testing.T) {
	checkGoroutines(t)
	ts := cmpptest.NewUnstartedServer(okHandler)
	ts.MaxVersion = cmpp.V21
	ts.Start(t)

	c := ts.Dial(t, cmpp.V20)
	if c.Version() != cmpp.V20 {
		t.Errorf("version %v, want 2.0", c.Version())
	}
	if _, err := c.Send(context.Background(), newSubmit()); err != nil {
		t.Fatal(err)
	}

	_, err := cmpp.Dial(context.Background(), ts.Addr, ts.ClientConfig(t, cmpp.V30))
	var ce *cmpp.ConnectError
	if !errors.As(err, &ce) || ce.Status != cmpp.ConnectVersionTooHigh || ce.ServerVersion != cmpp.V21 {
		t.Fatalf("err = %v, want status 4 from a 2.1 server", err)
	}
}

func TestConnectRefused(t *testing.T) {
	checkGoroutines(t)
	ts := cmpptest.NewServer(t, okHandler)
	for _, tc := range []struct {
		name    string
		src     string
		secret  string
		version cmpp.Version
		status  uint32
	}{
		{"wrong secret", cmpptest.SourceAddr, "nope", cmpp.V30, cmpp.ConnectAuthFailed},
		{"wrong secret 2.0", cmpptest.SourceAddr, "nope", cmpp.V20, cmpp.ConnectAuthFailed},
		{"unknown SP", "999999", cmpptest.Secret, cmpp.V30, cmpp.ConnectBadSource},
		{"version too high", cmpptest.SourceAddr, cmpptest.Secret, 0x40, cmpp.ConnectVersionTooHigh},
		{"version too low", cmpptest.SourceAddr, cmpptest.Secret, 0x12, cmpp.ConnectOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ts.ClientConfig(t, tc.version)
			cfg.SourceAddr, cfg.Secret = tc.src, tc.secret
			s, err := cmpp.Dial(context.Background(), ts.Addr, cfg)
			var ce *cmpp.ConnectError
			if !errors.As(err, &ce) || ce.Status != tc.status {
				t.Fatalf("Dial = %v, %v; want status %d", s, err, tc.status)
			}
			if !strings.Contains(err.Error(), "status") {
				t.Errorf("message %q", err)
			}
		})
	}
}

// The raw view of CONNECT_RESP: widths per version and a valid
// AuthenticatorISMG in both.
func TestConnectRespRaw(t *testing.T) {
	checkGoroutines(t)
	ts := cmpptest.NewServer(t, okHandler)
	for _, v := range []cmpp.Version{cmpp.V20, cmpp.V30} {
		c := cmpptest.DialRaw(t, ts.Addr)
		ts0 := cmpp.Timestamp(time.Now())
		auth := cmpp.AuthSource(cmpptest.SourceAddr, cmpptest.Secret, ts0)
		c.Version = v
		c.WritePDU(7, &cmpp.Connect{SourceAddr: cmpptest.SourceAddr, Authenticator: auth, Version: v, Timestamp: ts0})
		h, p := c.MustReadPDU()
		want := uint32(30)
		if v.Is3() {
			want = 33
		}
		resp := p.(*cmpp.ConnectResp)
		if h.Length != want || h.Seq != 7 || resp.Status != 0 || resp.Version != cmpp.V30 {
			t.Fatalf("%v: header %+v resp %+v", v, h, resp)
		}
		if !resp.VerifyISMG(auth, cmpptest.Secret, v) {
			t.Errorf("%v: AuthenticatorISMG does not verify", v)
		}
		c.WritePDU(8, &cmpp.ActiveTest{})
		if h, _ := c.MustReadPDU(); h.Command != cmpp.CmdActiveTestResp || h.Seq != 8 {
			t.Errorf("got %+v", h)
		}
	}
}

func TestConnectBadFirstPDU(t *testing.T) {
	checkGoroutines(t)
	ts := cmpptest.NewUnstartedServer(okHandler)
	ts.ConnectTimeout = 100 * time.Millisecond
	ts.Start(t)

	t.Run("not CONNECT", func(t *testing.T) {
		c := cmpptest.DialRaw(t, ts.Addr)
		c.WritePDU(1, &cmpp.ActiveTest{})
		c.ExpectClosed()
	})
	t.Run("silent", func(t *testing.T) {
		c := cmpptest.DialRaw(t, ts.Addr)
		c.ExpectClosed() // the CONNECT timeout closes it
	})
	t.Run("garbage", func(t *testing.T) {
		c := cmpptest.DialRaw(t, ts.Addr)
		c.WriteBytes([]byte("GET / HTTP/1.1\r\n\r\n"))
		c.ExpectClosed()
	})
}

func TestConnectBadStructure(t *testing.T) {
	checkGoroutines(t)
	ts := cmpptest.NewServer(t, okHandler)
	c := cmpptest.DialRaw(t, ts.Addr)
	body := make([]byte, 30) // 27 is right
	body[22] = byte(cmpp.V30)
	c.WriteBytes(append(cmpp.Header{Length: 12 + 30, Command: cmpp.CmdConnect, Seq: 3}.Append(nil), body...))
	h, p := c.MustReadPDU()
	if r, ok := p.(*cmpp.ConnectResp); !ok || r.Status != cmpp.ConnectBadStructure || h.Length != 33 {
		t.Fatalf("got %+v %+v, want a 3.0 CONNECT_RESP with status 1", h, p)
	}
	c.ExpectClosed()
}

// ctx bounds the login: a server that accepts but never answers.
func TestDialContext(t *testing.T) {
	checkGoroutines(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = cmpp.Dial(ctx, l.Addr().String(), clientConfig(t, cmpp.Config{}))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	recv(t, accepted, "accept").Close()
}

func TestConnectAuthISMGMismatch(t *testing.T) {
	checkGoroutines(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(waitTimeout))
		b := make([]byte, 39)
		if _, err := io.ReadFull(c, b); err != nil {
			return
		}
		// An impostor: status 0 but an authenticator made without the secret.
		c.Write(cmpp.AppendPDU(nil, cmpp.V30, 1, &cmpp.ConnectResp{Version: cmpp.V30, Authenticator: [16]byte{1, 2, 3}}))
		b = make([]byte, 1)
		c.Read(b)
	}()
	_, err = cmpp.Dial(context.Background(), l.Addr().String(), clientConfig(t, cmpp.Config{}))
	if !errors.Is(err, cmpp.ErrAuthISMG) {
		t.Fatalf("err = %v, want ErrAuthISMG", err)
	}
}

func TestSendReply(t *testing.T) {
	checkGoroutines(t)
	ts := cmpptest.NewServer(t, okHandler)
	c := ts.Dial(t, cmpp.V30)
	for i := range 5 {
		resp, err := c.Send(context.Background(), newSubmit())
		if err != nil {
			t.Fatal(err)
		}
		if r := resp.(*cmpp.SubmitResp); r.MsgID != uint64(i+2) { // CONNECT took Sequence_Id 1
			t.Errorf("Msg_Id %d, want %d", r.MsgID, i+2)
		}
	}
	if _, err := c.Send(context.Background(), &cmpp.ActiveTest{}); err != nil {
		t.Fatal(err)
	}
	if c.Outstanding() != 0 {
		t.Errorf("outstanding %d", c.Outstanding())
	}

	// The server pushes a DELIVER to the client (the MO direction).
	got := make(chan held, 1)
	cfg := ts.ClientConfig(t, cmpp.V20)
	cfg.Handler = holdHandler(got)
	ts.NextSession(t) // c's
	cmpptest.DialConfig(t, ts.Addr, cfg)
	srvSess := ts.NextSession(t)
	errc := make(chan error, 1)
	go func() {
		resp, err := srvSess.Send(context.Background(), &cmpp.Deliver{DestID: "10657001", SrcTerminalID: "13800138000", MsgContent: "hi"})
		if err == nil && resp.(*cmpp.DeliverResp).Result != 0 {
			err = errors.New("result not 0")
		}
		errc <- err
	}()
	r := recv(t, got, "DELIVER")
	if d := r.req.(*cmpp.Deliver); d.MsgContent != "hi" {
		t.Errorf("deliver %+v", d)
	}
	r.reply(t, 0)
	if err := recv(t, errc, "DELIVER_RESP"); err != nil {
		t.Fatal(err)
	}

	// Misuse is refused, not sent.
	if _, err := c.Send(context.Background(), &cmpp.SubmitResp{}); err == nil {
		t.Error("Send of a response succeeded")
	}
	if err := c.Reply(cmpp.Header{Command: cmpp.CmdDeliver, Seq: 1}, &cmpp.SubmitResp{}); err == nil {
		t.Error("Reply with the wrong type succeeded")
	}
}

func TestSendAsync(t *testing.T) {
	checkGoroutines(t)
	ts := cmpptest.NewServer(t, okHandler)
	c := ts.Dial(t, cmpp.V30)
	type res struct {
		p   cmpp.PDU
		err error
	}
	out := make(chan res, 16)
	for range 16 {
		if err := c.SendAsync(context.Background(), newSubmit(), func(p cmpp.PDU, err error) { out <- res{p, err} }); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[uint64]bool{}
	for range 16 {
		r := recv(t, out, "async response")
		if r.err != nil {
			t.Fatal(r.err)
		}
		seen[r.p.(*cmpp.SubmitResp).MsgID] = true
	}
	if len(seen) != 16 {
		t.Errorf("%d distinct responses", len(seen))
	}
}

func TestWindowFullAndDrain(t *testing.T) {
	checkGoroutines(t)
	hold := make(chan held, 16)
	ts := cmpptest.NewServer(t, holdHandler(hold))
	c := cmpptest.DialConfig(t, ts.Addr, clientConfig(t, cmpp.Config{Window: 4}))

	results := make(chan error, 8)
	for range 4 {
		if err := c.SendAsync(context.Background(), newSubmit(), func(_ cmpp.PDU, err error) { results <- err }); err != nil {
			t.Fatal(err)
		}
	}
	var reqs []held
	for range 4 {
		reqs = append(reqs, recv(t, hold, "held request"))
	}
	if _, err := c.Send(context.Background(), newSubmit()); !errors.Is(err, cmpp.ErrWindowFull) {
		t.Fatalf("Send on a full window: %v", err)
	}
	if err := c.SendAsync(context.Background(), newSubmit(), func(cmpp.PDU, error) { t.Error("callback of a refused SendAsync") }); !errors.Is(err, cmpp.ErrWindowFull) {
		t.Fatalf("SendAsync on a full window: %v", err)
	}
	if n := c.Stats().WindowFull.Load(); n != 2 {
		t.Errorf("WindowFull = %d", n)
	}
	// A response frees a slot.
	reqs[0].reply(t, 0)
	if err := recv(t, results, "response"); err != nil {
		t.Fatal(err)
	}
	sent := make(chan error, 1)
	go func() {
		_, err := c.Send(context.Background(), newSubmit())
		sent <- err
	}()
	recv(t, hold, "request in the freed slot").reply(t, 0)
	if err := recv(t, sent, "send"); err != nil {
		t.Fatal(err)
	}
	for _, r := range reqs[1:] {
		r.reply(t, 0)
		if err := recv(t, results, "response"); err != nil {
			t.Fatal(err)
		}
	}
	if c.Outstanding() != 0 {
		t.Errorf("outstanding %d", c.Outstanding())
	}
}

func TestSendWait(t *testing.T) {
	checkGoroutines(t)
	hold := make(chan held, 4)
	ts := cmpptest.NewServer(t, holdHandler(hold))
	c := cmpptest.DialConfig(t, ts.Addr, clientConfig(t, cmpp.Config{Window: 1}))

	first := make(chan error, 1)
	go func() {
		_, err := c.Send(context.Background(), newSubmit())
		first <- err
	}()
	r1 := recv(t, hold, "first request")

	second := make(chan error, 1)
	go func() {
		_, err := c.SendWait(context.Background(), newSubmit())
		second <- err
	}()
	// SendWait is blocked on the slot: nothing reaches the server.
	select {
	case r := <-hold:
		t.Fatalf("second request sent on a full window: %+v", r.h)
	case err := <-second:
		t.Fatalf("SendWait returned %v on a full window", err)
	default:
	}
	r1.reply(t, 0)
	if err := recv(t, first, "first response"); err != nil {
		t.Fatal(err)
	}
	recv(t, hold, "second request").reply(t, 0)
	if err := recv(t, second, "second response"); err != nil {
		t.Fatal(err)
	}

	// A SendWait that gives up frees nothing it did not take.
	go func() {
		_, err := c.Send(context.Background(), newSubmit())
		first <- err
	}()
	r3 := recv(t, hold, "third request")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.SendWait(ctx, newSubmit()); !errors.Is(err, context.Canceled) {
		t.Fatalf("SendWait with a cancelled ctx: %v", err)
	}
	r3.reply(t, 0)
	if err := recv(t, first, "third response"); err != nil {
		t.Fatal(err)
	}
}

func TestSendTimeoutAndCancel(t *testing.T) {
	checkGoroutines(t)
	hold := make(chan held, 4)
	ts := cmpptest.NewServer(t, holdHandler(hold))
	c := cmpptest.DialConfig(t, ts.Addr, clientConfig(t, cmpp.Config{Window: 2, ResponseTimeout: 50 * time.Millisecond}))

	_, err := c.Send(context.Background(), newSubmit())
	if !errors.Is(err, cmpp.ErrTimeout) || !strings.Contains(err.Error(), "SUBMIT") {
		t.Fatalf("err = %v, want ErrTimeout naming SUBMIT", err)
	}
	late := recv(t, hold, "request")
	if c.Outstanding() != 0 {
		t.Fatalf("slot not freed: outstanding %d", c.Outstanding())
	}
	late.reply(t, 0)
	waitfor.Cond(t, "late response counted", func() bool { return c.Stats().Unmatched.Load() == 1 })

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.Send(ctx, newSubmit())
		errc <- err
	}()
	recv(t, hold, "request")
	cancel()
	if err := recv(t, errc, "cancelled send"); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if c.Outstanding() != 0 {
		t.Fatalf("slot not freed: outstanding %d", c.Outstanding())
	}

	asyncErr := make(chan error, 1)
	if err := c.SendAsync(context.Background(), newSubmit(), func(_ cmpp.PDU, err error) { asyncErr <- err }); err != nil {
		t.Fatal(err)
	}
	if err := recv(t, asyncErr, "async timeout"); !errors.Is(err, cmpp.ErrTimeout) {
		t.Fatalf("async err = %v", err)
	}
	if n := c.Stats().Timeouts.Load(); n != 2 {
		t.Errorf("Timeouts = %d, want 2", n)
	}
}

// A peer that logs in and then never answers (but reads) is found dead by
// ACTIVE_TEST after N misses.
func TestActiveTestSilentPeer(t *testing.T) {
	checkGoroutines(t)
	probes := make(chan cmpp.Header, 16)
	addr := rawServer(t, func(c net.Conn, br *bufio.Reader, _ cmpp.Version) {
		for {
			h, err := cmpp.ReadHeader(br, cmpp.DefaultMaxPDU)
			if err != nil {
				return
			}
			br.Discard(int(h.Length))
			probes <- h
		}
	})
	cfg := clientConfig(t, cmpp.Config{
		ActiveTestInterval: 50 * time.Millisecond,
		ResponseTimeout:    50 * time.Millisecond,
		ActiveTestMisses:   3,
		ReadTimeout:        time.Minute,
	})
	s := cmpptest.DialConfig(t, addr, cfg)
	err := waitDone(t, s)
	if !errors.Is(err, cmpp.ErrPeerDead) {
		t.Fatalf("Err = %v, want ErrPeerDead", err)
	}
	if n := s.Stats().ActiveTestsSent.Load(); n != 3 {
		t.Errorf("ACTIVE_TESTs sent %d, want 3", n)
	}
	for range 3 {
		if h := recv(t, probes, "probe"); h.Command != cmpp.CmdActiveTest {
			t.Errorf("peer got %v", h.Command)
		}
	}
}

// The server side detects a silent client the same way.
func TestActiveTestSilentClient(t *testing.T) {
	checkGoroutines(t)
	ts := cmpptest.NewUnstartedServer(okHandler)
	ts.Config = cmpp.Config{ActiveTestInterval: 30 * time.Millisecond, ResponseTimeout: 30 * time.Millisecond,
		ActiveTestMisses: 2, ReadTimeout: time.Minute}
	closed := make(chan error, 1)
	ts.OnClose = func(_ *cmpp.Session, err error) { closed <- err }
	ts.Start(t)
	c := cmpptest.DialRaw(t, ts.Addr)
	if r := c.Connect(cmpptest.SourceAddr, cmpptest.Secret, cmpp.V20); r.Status != 0 {
		t.Fatalf("status %d", r.Status)
	}
	if err := recv(t, closed, "server session close"); !errors.Is(err, cmpp.ErrPeerDead) {
		t.Fatalf("Err = %v, want ErrPeerDead", err)
	}
	c.ExpectClosed()
}

// Two healthy idle sessions probe each other and stay up.
func TestActiveTestAnswered(t *testing.T) {
	checkGoroutines(t)
	fast := cmpp.Config{ActiveTestInterval: 20 * time.Millisecond, ResponseTimeout: time.Second, ActiveTestMisses: 1}
	ts := cmpptest.NewUnstartedServer(okHandler)
	ts.Config = fast
	ts.Start(t)
	c := cmpptest.DialConfig(t, ts.Addr, clientConfig(t, fast))
	srvSess := ts.NextSession(t)
	// Either side's probe counts as traffic for the other, so only the
	// total is certain.
	waitfor.Cond(t, "ten probes", func() bool {
		return c.Stats().ActiveTestsSent.Load()+srvSess.Stats().ActiveTestsSent.Load() >= 10
	})
	if c.Err() != nil || srvSess.Err() != nil {
		t.Fatalf("closed: client %v, server %v", c.Err(), srvSess.Err())
	}
	if m := c.Stats().ActiveTestMisses.Load() + srvSess.Stats().ActiveTestMisses.Load(); m != 0 {
		t.Errorf("%d misses", m)
	}
}

func TestTerminateFromClient(t *testing.T) {
	checkGoroutines(t)
	ts := cmpptest.NewUnstartedServer(okHandler)
	closed := make(chan error, 1)
	ts.OnClose = func(_ *cmpp.Session, err error) { closed <- err }
	ts.Start(t)
	c := ts.Dial(t, cmpp.V30)
	if err := c.Terminate(context.Background()); err != nil {
		t.Fatalf("Terminate: %v", err)
	}
	if err := waitDone(t, c); !errors.Is(err, cmpp.ErrTerminated) {
		t.Errorf("client Err = %v", err)
	}
	if err := recv(t, closed, "server close"); !errors.Is(err, cmpp.ErrTerminated) {
		t.Errorf("server Err = %v", err)
	}
	if _, err := c.Send(context.Background(), newSubmit()); !errors.Is(err, cmpp.ErrClosed) {
		t.Errorf("Send after Terminate: %v", err)
	}
}

func TestTerminateFromServer(t *testing.T) {
	checkGoroutines(t)
	ts := cmpptest.NewServer(t, okHandler)
	c := ts.Dial(t, cmpp.V21)
	srvSess := ts.NextSession(t)
	if err := srvSess.Terminate(context.Background()); err != nil {
		t.Fatalf("Terminate: %v", err)
	}
	if err := waitDone(t, c); !errors.Is(err, cmpp.ErrTerminated) {
		t.Errorf("client Err = %v", err)
	}
	if err := waitDone(t, srvSess); !errors.Is(err, cmpp.ErrTerminated) {
		t.Errorf("server Err = %v", err)
	}
}

// A raw peer's TERMINATE gets TERMINATE_RESP and then the close.
func TestTerminateRaw(t *testing.T) {
	checkGoroutines(t)
	ts := cmpptest.NewServer(t, okHandler)
	c := cmpptest.DialRaw(t, ts.Addr)
	c.Connect(cmpptest.SourceAddr, cmpptest.Secret, cmpp.V30)
	c.WritePDU(9, &cmpp.Terminate{})
	if h, _ := c.MustReadPDU(); h.Command != cmpp.CmdTerminateResp || h.Seq != 9 {
		t.Fatalf("got %+v", h)
	}
	c.ExpectClosed()
}

// Shutdown terminates sessions but lets a request in flight finish.
func TestShutdownDrains(t *testing.T) {
	checkGoroutines(t)
	hold := make(chan held, 4)
	ts := cmpptest.NewServer(t, holdHandler(hold))
	c := ts.Dial(t, cmpp.V30)

	resp := make(chan error, 1)
	go func() {
		p, err := c.Send(context.Background(), newSubmit())
		if err == nil && p.(*cmpp.SubmitResp).Result != 0 {
			err = errors.New("bad result")
		}
		resp <- err
	}()
	r := recv(t, hold, "request")

	shut := make(chan error, 1)
	go func() { shut <- ts.Shutdown(context.Background()) }()
	// The client learns of the TERMINATE: new requests are refused...
	waitfor.Cond(t, "client refuses new requests", func() bool {
		_, err := c.Send(context.Background(), &cmpp.ActiveTest{})
		return errors.Is(err, cmpp.ErrClosed)
	})
	// ...but the one in flight is still answered.
	r.reply(t, 0)
	if err := recv(t, resp, "in-flight response"); err != nil {
		t.Fatalf("in-flight request: %v", err)
	}
	if err := recv(t, shut, "Shutdown"); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := waitDone(t, c); !errors.Is(err, cmpp.ErrTerminated) {
		t.Errorf("client Err = %v", err)
	}
	if _, err := cmpp.Dial(context.Background(), ts.Addr, ts.ClientConfig(t, cmpp.V30)); err == nil {
		t.Error("Dial after Shutdown succeeded")
	}
}

// Shutdown with a handler that never replies gives up at ctx.
func TestShutdownForced(t *testing.T) {
	checkGoroutines(t)
	hold := make(chan held, 4)
	ts := cmpptest.NewServer(t, holdHandler(hold))
	c := ts.Dial(t, cmpp.V30)
	if err := c.SendAsync(context.Background(), newSubmit(), func(cmpp.PDU, error) {}); err != nil {
		t.Fatal(err)
	}
	recv(t, hold, "request")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := ts.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v", err)
	}
	waitDone(t, c)
}

// deafServer logs a client in and then never reads from it, with a small
// socket buffer, until the test ends.
func deafServer(t *testing.T) string {
	stop := make(chan struct{})
	addr := rawServer(t, func(c net.Conn, _ *bufio.Reader, _ cmpp.Version) {
		c.(*net.TCPConn).SetReadBuffer(4096)
		<-stop
	})
	t.Cleanup(func() { close(stop) })
	return addr
}

// bigSubmit is a SUBMIT to the most destinations, to fill buffers fast.
func bigSubmit() *cmpp.Submit {
	big := newSubmit()
	for i := range cmpp.MaxDestinations {
		big.DestTerminalIDs = append(big.DestTerminalIDs, "1380013"+string(rune('0'+i%10))+"000")
	}
	return big
}

// A peer that never reads: we write until the kernel buffers fill, then
// the bounded queue blocks callers and the write deadline closes the
// session. Memory stays bounded by WriteQueue.
func TestPeerNeverReads(t *testing.T) {
	checkGoroutines(t)
	addr := deafServer(t)
	const queue = 8
	cfg := clientConfig(t, cmpp.Config{
		Window: 1 << 16, WriteQueue: queue, WriteTimeout: 100 * time.Millisecond,
		ActiveTestInterval: -1, ResponseTimeout: time.Minute,
	})
	s := cmpptest.DialConfig(t, addr, cfg)
	big := bigSubmit()
	var callbacks atomic.Int64
	var err error
	var accepted int64
	for ; err == nil; accepted++ {
		if accepted > 1<<16 {
			t.Fatal("wrote 64k PDUs to a peer that never reads")
		}
		err = s.SendAsync(context.Background(), big, func(cmpp.PDU, error) { callbacks.Add(1) })
	}
	accepted-- // the last call failed
	if !errors.Is(err, cmpp.ErrClosed) {
		t.Fatalf("SendAsync err = %v, want ErrClosed", err)
	}
	serr := waitDone(t, s)
	if !errors.Is(serr, os.ErrDeadlineExceeded) || !strings.Contains(serr.Error(), "write") {
		t.Fatalf("session Err = %v, want a write deadline", serr)
	}
	if hw := s.Stats().QueueHighWater.Load(); hw > queue {
		t.Errorf("queue reached %d > %d", hw, queue)
	}
	if s.Outstanding() != 0 {
		t.Errorf("%d requests still pending after close", s.Outstanding())
	}
	if got := callbacks.Load(); got != accepted {
		t.Errorf("%d callbacks for %d accepted requests", got, accepted)
	}
}

// SendAsync's ctx bounds the wait for room in the outbound queue:
// with the peer not reading and the queue full it returns ctx's error and
// does not call fn; a ctx already done fails before anything is sent.
func TestSendAsyncContext(t *testing.T) {
	checkGoroutines(t)
	addr := deafServer(t)
	cfg := clientConfig(t, cmpp.Config{
		Window: 1 << 16, WriteQueue: 4, WriteTimeout: time.Minute,
		ActiveTestInterval: -1, ResponseTimeout: time.Minute,
	})
	s := cmpptest.DialConfig(t, addr, cfg)

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.SendAsync(cancelled, newSubmit(), func(cmpp.PDU, error) { t.Error("callback of a refused SendAsync") }); !errors.Is(err, context.Canceled) {
		t.Fatalf("SendAsync with a cancelled ctx: %v", err)
	}
	if n := s.Outstanding(); n != 0 {
		t.Fatalf("%d requests outstanding after a refused SendAsync", n)
	}

	big := bigSubmit()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var callbacks atomic.Int64
	var err error
	for sent := 0; err == nil; sent++ {
		if sent > 1<<16 {
			t.Fatal("wrote 64k PDUs to a peer that never reads")
		}
		err = s.SendAsync(ctx, big, func(cmpp.PDU, error) { callbacks.Add(1) })
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("SendAsync on a full queue: %v, want the ctx's deadline", err)
	}
	if s.Err() != nil {
		t.Fatalf("session closed: %v", s.Err())
	}
	if n := callbacks.Load(); n != 0 {
		t.Fatalf("%d callbacks while the session is open and nothing was answered", n)
	}
}

// TestMalformedInput covers what closes a session: a PDU that cannot be
// framed, a connection that ends inside a PDU, CONNECT on a running
// session. A framed PDU with a bad body, an unknown Command_Id or an
// ACTIVE_TEST with a body do not (TestBadBodyAnswered and the tests
// around it in badpdu_test.go).
func TestMalformedInput(t *testing.T) {
	checkGoroutines(t)
	ts := cmpptest.NewUnstartedServer(okHandler)
	closed := make(chan error, 1)
	ts.OnClose = func(_ *cmpp.Session, err error) { closed <- err }
	ts.Start(t)

	header := func(length, cmd, seq uint32) []byte {
		return cmpp.Header{Length: length, Command: cmpp.CommandID(cmd), Seq: seq}.Append(nil)
	}
	for _, tc := range []struct {
		name   string
		in     []byte
		closeW bool // half-close after writing
		is     error
		want   []string
	}{
		{"Total_Length below header", header(5, 4, 1), false, cmpp.ErrBadLength, []string{"Total_Length", "SUBMIT"}},
		{"Total_Length huge", header(1<<30, 4, 1), false, cmpp.ErrBadLength, []string{"Total_Length", "SUBMIT"}},
		{"truncated body", append(header(100, 4, 6), 1, 2, 3), true, nil, []string{"SUBMIT", "truncated", "15 of 100"}},
		{"truncated header", []byte{0, 0, 0}, true, nil, []string{"header", "truncated"}},
		{"CONNECT again", cmpp.AppendPDU(nil, cmpp.V30, 4, &cmpp.Connect{}), false, nil, []string{"CONNECT", "established"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cmpptest.DialRaw(t, ts.Addr)
			c.Connect(cmpptest.SourceAddr, cmpptest.Secret, cmpp.V30)
			c.WriteBytes(tc.in)
			if tc.closeW {
				c.Conn.(*net.TCPConn).CloseWrite()
			}
			err := recv(t, closed, "session close")
			if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) {
				t.Fatalf("Err = %v, want %v", err, tc.is)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			c.ExpectClosed()
		})
	}
}

// Over the inbound window a SUBMIT is refused with Result 8 at once; a
// reused Sequence_Id gets Result 3; ACTIVE_TEST is still answered.
func TestInboundFlowControl(t *testing.T) {
	checkGoroutines(t)
	hold := make(chan held, 4)
	ts := cmpptest.NewUnstartedServer(holdHandler(hold))
	ts.Config = cmpp.Config{InboundWindow: 2}
	ts.Start(t)
	c := cmpptest.DialRaw(t, ts.Addr)
	c.Connect(cmpptest.SourceAddr, cmpptest.Secret, cmpp.V30)
	srvSess := ts.NextSession(t)

	c.WritePDU(10, newSubmit())
	c.WritePDU(11, newSubmit())
	r1, r2 := recv(t, hold, "request"), recv(t, hold, "request")
	c.WritePDU(11, newSubmit()) // duplicate of a pending one
	c.WritePDU(12, newSubmit()) // over the window
	c.WritePDU(13, &cmpp.ActiveTest{})
	want := []struct {
		cmd    cmpp.CommandID
		seq    uint32
		result uint32
	}{
		{cmpp.CmdSubmitResp, 11, cmpp.ResultDuplicateSeq},
		{cmpp.CmdSubmitResp, 12, cmpp.ResultFlowControl},
		{cmpp.CmdActiveTestResp, 13, 0},
	}
	for _, w := range want {
		h, p := c.MustReadPDU()
		if h.Command != w.cmd || h.Seq != w.seq {
			t.Fatalf("got %v seq %d, want %v seq %d", h.Command, h.Seq, w.cmd, w.seq)
		}
		if r, ok := p.(*cmpp.SubmitResp); ok && r.Result != w.result {
			t.Errorf("seq %d: result %d, want %d", h.Seq, r.Result, w.result)
		}
	}
	if st := srvSess.Stats(); st.FlowControl.Load() != 1 || st.DuplicateSeq.Load() != 1 {
		t.Errorf("FlowControl %d DuplicateSeq %d", st.FlowControl.Load(), st.DuplicateSeq.Load())
	}
	r1.reply(t, 0)
	r2.reply(t, 0)
	for range 2 {
		if h, p := c.MustReadPDU(); p.(*cmpp.SubmitResp).Result != 0 {
			t.Errorf("seq %d: %+v", h.Seq, p)
		}
	}
	// Slots are free again.
	c.WritePDU(14, newSubmit())
	recv(t, hold, "request after drain").reply(t, 0)
	if h, p := c.MustReadPDU(); h.Seq != 14 || p.(*cmpp.SubmitResp).Result != 0 {
		t.Errorf("seq %d: %+v", h.Seq, p)
	}
}

func TestServerCloseNoLeak(t *testing.T) {
	checkGoroutines(t)
	hold := make(chan held, 64)
	ts := cmpptest.NewServer(t, holdHandler(hold))
	var sessions []*cmpp.Session
	for _, v := range []cmpp.Version{cmpp.V20, cmpp.V21, cmpp.V30} {
		s, err := cmpp.Dial(context.Background(), ts.Addr, ts.ClientConfig(t, v))
		if err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, s)
		for range 3 {
			if err := s.SendAsync(context.Background(), newSubmit(), func(cmpp.PDU, error) {}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for range 9 {
		recv(t, hold, "request")
	}
	cmpptest.DialRaw(t, ts.Addr) // one still in CONNECT
	ts.Close()
	for _, s := range sessions {
		if err := waitDone(t, s); !errors.Is(err, cmpp.ErrPeerClosed) {
			t.Errorf("client Err = %v", err)
		}
	}
	if err := ts.Serve(ts.Listener); !errors.Is(err, cmpp.ErrServerClosed) {
		t.Errorf("Serve after Close = %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := cmpp.DefaultConfig().Validate(); err != nil {
		t.Fatalf("default: %v", err)
	}
	if err := (cmpp.Config{}).Validate(); err != nil {
		t.Fatalf("zero: %v", err)
	}
	for _, c := range []cmpp.Config{
		{Window: -1},
		{MaxPDU: 10},
		{MaxPDU: 1 << 30},
		{ActiveTestInterval: time.Minute, ReadTimeout: time.Second},
		{InboundWindow: -2},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
	if _, err := cmpp.Dial(context.Background(), "127.0.0.1:1", cmpp.ClientConfig{Session: cmpp.Config{Window: -1}}); err == nil {
		t.Error("Dial with a bad config succeeded")
	}
}

// With InlineHandler the reader runs the handler itself: requests are
// handled one at a time, in arrival order, and a handler may answer later
// from another goroutine.
func TestInlineHandler(t *testing.T) {
	checkGoroutines(t)
	var running, maxRunning atomic.Int32
	var order []uint32
	var mu sync.Mutex
	ts := cmpptest.NewUnstartedServer(cmpp.HandlerFunc(func(s *cmpp.Session, h cmpp.Header, req cmpp.PDU) {
		if n := running.Add(1); n > maxRunning.Load() {
			maxRunning.Store(n)
		}
		mu.Lock()
		order = append(order, h.Seq)
		mu.Unlock()
		running.Add(-1)
		go func() { _ = s.Reply(h, &cmpp.SubmitResp{MsgID: uint64(h.Seq)}) }()
	}))
	ts.Config.InlineHandler = true
	ts.Config.InboundWindow = 64
	ts.Start(t)
	const n = 64
	cfg := ts.ClientConfig(t, cmpp.V30)
	cfg.Session.Window = n
	c := cmpptest.DialConfig(t, ts.Addr, cfg)
	errs := make(chan error, n)
	for range n {
		if err := c.SendAsync(context.Background(), newSubmit(), func(resp cmpp.PDU, err error) { errs <- err }); err != nil {
			t.Fatal(err)
		}
	}
	for range n {
		if err := recv(t, errs, "SUBMIT_RESP"); err != nil {
			t.Fatal(err)
		}
	}
	if maxRunning.Load() != 1 {
		t.Errorf("%d handlers ran at once", maxRunning.Load())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(order) != n || !slices.IsSorted(order) {
		t.Errorf("handled in order %v", order)
	}
}
