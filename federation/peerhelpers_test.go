package federation_test

// Helpers of the peer tests: FWD servers and links on loopback, a
// recording FwdReceiver, FWDs of every Msg_Fwd_Type, metric reads.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/federation"
)

const (
	gwBJ   = "001001" // Beijing
	gwGZ   = "020001" // Guangzhou
	secret = "fwd-s3cret"
)

// peerConfig is a valid PeerConfig for gateway self on loopback, with
// quick reconnects and its own registry.
func peerConfig(tb testing.TB, self string) federation.PeerConfig {
	c := federation.DefaultPeerConfig()
	c.Gateway = self
	c.Default.Secret = secret
	c.Default.AllowedIPs = []string{"127.0.0.1/32", "::1"}
	c.ReconnectMin, c.ReconnectMax = 5*time.Millisecond, 50*time.Millisecond
	c.Logger = testLog(tb)
	c.Metrics = federation.NewPeerMetrics(prometheus.NewRegistry())
	return c
}

// fwdServer is a running FwdServer on 127.0.0.1.
type fwdServer struct {
	*federation.FwdServer
	addr string
	done chan error
}

// startServer serves cfg on addr ("127.0.0.1:0" for any port); the
// server is closed at the end of the test unless stopped before.
func startServer(tb testing.TB, cfg federation.PeerConfig, recv federation.FwdReceiver, addr string) *fwdServer {
	tb.Helper()
	return startServerFor(tb, cfg, recv, nil, addr)
}

// startServerFor is startServer admitting only the codes isPeer allows.
func startServerFor(tb testing.TB, cfg federation.PeerConfig, recv federation.FwdReceiver, isPeer func(string) bool, addr string) *fwdServer {
	tb.Helper()
	s, err := federation.NewFwdServer(cfg, recv, isPeer)
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	fs := &fwdServer{FwdServer: s, addr: ln.Addr().String(), done: make(chan error, 1)}
	go func() { fs.done <- s.Serve(ln) }()
	tb.Cleanup(fs.stop)
	return fs
}

// stop closes the server at once and waits for Serve; idempotent.
func (s *fwdServer) stop() {
	s.Close()
	if err, ok := <-s.done; ok {
		if !errors.Is(err, cmpp.ErrServerClosed) {
			panic(fmt.Sprintf("Serve: %v", err))
		}
		close(s.done)
	}
}

// startLink runs a link from cfg's gateway to code until the test ends.
func startLink(tb testing.TB, cfg federation.PeerConfig, code string, addrs []string, recv federation.FwdReceiver) *federation.Link {
	tb.Helper()
	l, err := federation.NewLink(cfg, code, addrs, recv)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("link Run: %v", err)
		}
	})
	return l
}

func waitReady(tb testing.TB, l *federation.Link) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := l.WaitReady(ctx); err != nil {
		tb.Fatal(err)
	}
}

// received is one FWD a recorder got.
type received struct {
	peer    string
	fwd     *cmpp.Fwd
	respond func(uint32)
}

// recorder is a FwdReceiver that passes every FWD to a channel; with
// answer set it answers at once with that Result, else the test answers
// through respond.
type recorder struct {
	ch     chan received
	answer func(f *cmpp.Fwd) (uint32, bool)
}

func newRecorder(answer func(f *cmpp.Fwd) (uint32, bool)) *recorder {
	return &recorder{ch: make(chan received, 1024), answer: answer}
}

// answerOK answers every FWD with Result 0.
func answerOK(*cmpp.Fwd) (uint32, bool) { return cmpp.ResultOK, true }

func (r *recorder) ReceiveFwd(peer string, f *cmpp.Fwd, respond func(uint32)) {
	if r.answer != nil {
		if res, ok := r.answer(f); ok {
			respond(res)
		}
	}
	r.ch <- received{peer, f, respond}
}

// next returns the next FWD received, failing after a while.
func (r *recorder) next(tb testing.TB) received {
	tb.Helper()
	select {
	case x := <-r.ch:
		return x
	case <-time.After(30 * time.Second):
		tb.Fatal("no FWD received")
	}
	return received{}
}

// outcome is what a SendAsync callback got.
type outcome struct {
	resp *cmpp.FwdResp
	err  error
}

// sendAsync sends f and returns the channel its outcome arrives on.
func sendAsync(tb testing.TB, l *federation.Link, f *cmpp.Fwd) <-chan outcome {
	tb.Helper()
	ch := make(chan outcome, 1)
	if err := l.SendAsync(context.Background(), f, time.Time{}, func(resp *cmpp.FwdResp, err error) {
		ch <- outcome{resp, err}
	}); err != nil {
		tb.Fatalf("SendAsync: %v", err)
	}
	return ch
}

func await(tb testing.TB, ch <-chan outcome) outcome {
	tb.Helper()
	select {
	case o := <-ch:
		return o
	case <-time.After(30 * time.Second):
		tb.Fatal("no FWD outcome")
	}
	return outcome{}
}

// fwdOf builds a FWD from src to dst of Msg_Fwd_Type typ, Msg_Id id, with
// the content its type carries (a report body in the layout of v).
func fwdOf(src, dst string, typ uint8, id uint64, v cmpp.Version) *cmpp.Fwd {
	f := &cmpp.Fwd{
		SourceID: src, DestinationID: dst, NodesCount: 1, MsgFwdType: typ,
		MsgID: id, PkTotal: 1, PkNumber: 1, RegisteredDelivery: 1, MsgLevel: 1,
		ServiceID: "news", FeeUserType: 2, MsgSrc: "901234", FeeType: "02", FeeCode: "10",
		MsgFmt: 15,
	}
	if v.Is3() {
		f.LinkID = "link-0123456789"
		f.SrcPseudo, f.SrcUserType, f.SrcType = "pseudo-src", 1, 1
		f.DestPseudo, f.DestUserType = "pseudo-dst", 1
		f.FeeTerminalPseudo, f.FeeTerminalUserType = "pseudo-fee", 1
	}
	switch typ {
	case cmpp.FwdMT:
		f.SrcID, f.DestID, f.MsgContent = "10657001", "13800200001", "MT to Guangzhou"
	case cmpp.FwdMO:
		f.SrcID, f.DestID, f.MsgContent = "13800200001", "10657001", "MO to Sina"
	case cmpp.FwdMTReport:
		f.SrcID, f.DestID = "13800200001", "10657001"
		f.SetReport(&cmpp.Report{MsgID: id, Stat: "DELIVRD", SubmitTime: "2510151430", DoneTime: "2510151431", DestTerminalID: "13800200001", SMSCSequence: 7}, v)
	case cmpp.FwdMOReport:
		f.SrcID, f.DestID = "10657001", "13800200001"
		f.SetMOReport(&cmpp.MOReport{MsgID: id, Stat: "DELIVRD", DeliverTime: "2510151430", DeliverRespTime: "2510151431", DestID: "10657001"})
	}
	return f
}

// value reads a counter or gauge the way a scrape would, through a
// registry of its own.
func value(tb testing.TB, m prometheus.Metric) float64 {
	tb.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(single{m})
	fams, err := reg.Gather()
	if err != nil || len(fams) != 1 {
		tb.Fatalf("gather: %v", err)
	}
	got := fams[0].GetMetric()[0]
	return got.GetCounter().GetValue() + got.GetGauge().GetValue()
}

// single collects one metric.
type single struct{ m prometheus.Metric }

func (s single) Describe(ch chan<- *prometheus.Desc) { ch <- s.m.Desc() }
func (s single) Collect(ch chan<- prometheus.Metric) { ch <- s.m }

// holdAll is a receiver that keeps every respond for the test.
var holdAll = func(*cmpp.Fwd) (uint32, bool) { return 0, false }

// listen opens a loopback listener.
func listen(tb testing.TB) net.Listener {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	return ln
}
