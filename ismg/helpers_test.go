package ismg

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/internal/waitfor"
	"github.com/tandem-sms/tandem/sim/smscsim"
)

const (
	testSP     = "901234"
	testSecret = "s3cret"
	testSrc    = "10657001"
	bjNumber   = "13800100001" // segment 1380010 → 001001, smsc north
	gzNumber   = "13802000001" // segment 1380200 → 020001
)

func routesFile(t testing.TB) string {
	t.Helper()
	p, err := filepath.Abs("../testdata/routes/sample.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// testLogger sends logs to the test output when -v, else discards.
func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

// nodeYAML is a node configuration for tests; smsc is the smscsim
// address, extra is appended (indented YAML keys of the top level).
func nodeYAML(t testing.TB, dir, smsc string, mods ...func(string) string) string {
	y := fmt.Sprintf(`
gateway:
  code: "001001"
  region: beijing
data_dir: %s
listen:
  cmpp: 127.0.0.1:0
  http: 127.0.0.1:0
routes:
  file: %s
limits:
  auth_failures: 3
  auth_fail_window: 1m
delivery:
  retry_min: 20ms
  retry_max: 200ms
  shutdown_timeout: 5s
sps:
  - sp_id: "901234"
    name: Sina
    secret: s3cret
    allowed_ips: [127.0.0.1]
    service_codes: ["10657001"]
    submit_rate: 100000
    burst: 10000
    window: 64
    max_connections: 4
smsc:
  - name: north
    address: %s
    system_id: ismg
    password: pw
    binds: 2
    window: 32
    default: true
    reconnect_min: 20ms
    reconnect_max: 100ms
    throttle_backoff: 20ms
`, filepath.Join(dir, "data"), routesFile(t), smsc)
	for _, m := range mods {
		y = m(y)
	}
	return y
}

func replace(old, new string) func(string) string {
	return func(s string) string {
		if !strings.Contains(s, old) {
			panic("replace: " + old + " not found")
		}
		return strings.Replace(s, old, new, 1)
	}
}

type testEnv struct {
	t      testing.TB
	smsc   *smscsim.SMSC
	node   *Node
	cfg    Config
	cancel context.CancelFunc
	done   chan error
}

func startSMSC(t testing.TB, mod func(*smscsim.Config)) *smscsim.SMSC {
	t.Helper()
	c := smscsim.DefaultConfig()
	c.ReceiptDelay = 5 * time.Millisecond
	c.ReceiptRetry = 50 * time.Millisecond
	c.Seed = 1
	if mod != nil {
		mod(&c)
	}
	s, err := smscsim.New(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func loadYAML(t testing.TB, dir, y string) Config {
	t.Helper()
	p := filepath.Join(dir, "ismg.yaml")
	if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func startNode(t testing.TB, cfg Config, opts ...Option) *testEnv {
	t.Helper()
	n, err := New(cfg, append([]Option{WithLogger(testLogger(t))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &testEnv{t: t, node: n, cfg: cfg, cancel: cancel, done: make(chan error, 1)}
	go func() { e.done <- n.Run(ctx) }()
	t.Cleanup(func() { e.stop() })
	return e
}

func (e *testEnv) stop() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	e.cancel = nil
	select {
	case err := <-e.done:
		if err != nil {
			e.t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		e.t.Error("Run did not return")
	}
}

// newEnv starts smscsim and a node wired to it.
func newEnv(t testing.TB, smscMod func(*smscsim.Config), mods ...func(string) string) *testEnv {
	t.Helper()
	s := startSMSC(t, smscMod)
	dir := t.TempDir()
	cfg := loadYAML(t, dir, nodeYAML(t, dir, s.Addr(), mods...))
	e := startNode(t, cfg)
	e.smsc = s
	return e
}

// sp is a test SP: a CMPP client that collects the DELIVERs it gets.
type sp struct {
	s        *cmpp.Session
	mu       sync.Mutex
	delivers []*cmpp.Deliver
	changed  chan struct{}
	refuse   bool // answer DELIVERs with Result 9
}

func dialSP(t testing.TB, addr string, v cmpp.Version, secret string) (*sp, error) {
	c := &sp{changed: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := cmpp.Dial(ctx, addr, c.clientConfig(v, secret))
	if err != nil {
		return nil, err
	}
	c.s = s
	t.Cleanup(func() { s.Close() })
	return c, nil
}

// clientConfig logs in as the test SP; DELIVERs are collected (or refused
// while c.refuse).
func (c *sp) clientConfig(v cmpp.Version, secret string) cmpp.ClientConfig {
	return cmpp.ClientConfig{
		SourceAddr: testSP, Secret: secret, Version: v,
		Session: cmpp.Config{Window: 1024, InboundWindow: 1024},
		Handler: cmpp.HandlerFunc(func(s *cmpp.Session, h cmpp.Header, req cmpp.PDU) {
			d, ok := req.(*cmpp.Deliver)
			if !ok {
				return
			}
			c.mu.Lock()
			refuse := c.refuse
			if !refuse {
				c.delivers = append(c.delivers, d)
				close(c.changed)
				c.changed = make(chan struct{})
			}
			c.mu.Unlock()
			res := cmpp.ResultOK
			if refuse {
				res = 9
			}
			_ = s.Reply(h, &cmpp.DeliverResp{MsgID: d.MsgID, Result: res})
		}),
	}
}

func mustSP(t testing.TB, addr string, v cmpp.Version) *sp {
	t.Helper()
	c, err := dialSP(t, addr, v, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitDelivers waits until cond holds for the DELIVERs received.
func (c *sp) waitDelivers(t testing.TB, d time.Duration, cond func([]*cmpp.Deliver) bool) []*cmpp.Deliver {
	t.Helper()
	deadline := time.After(d)
	for {
		c.mu.Lock()
		ds := append([]*cmpp.Deliver(nil), c.delivers...)
		ch := c.changed
		c.mu.Unlock()
		if cond(ds) {
			return ds
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("timed out waiting for DELIVERs; have %d", len(ds))
			return nil
		}
	}
}

func reports(ds []*cmpp.Deliver) map[uint64]cmpp.Report {
	out := map[uint64]cmpp.Report{}
	for _, d := range ds {
		if d.RegisteredDelivery != 1 {
			continue
		}
		if r, err := d.Report(); err == nil {
			out[r.MsgID] = r
		}
	}
	return out
}

func submitPDU(dest string, fmt uint8, content []byte) *cmpp.Submit {
	return &cmpp.Submit{
		PkTotal: 1, PkNumber: 1, RegisteredDelivery: 1, ServiceID: "TEST", FeeType: "02", FeeCode: "10",
		MsgFmt: fmt, MsgSrc: testSP, SrcID: testSrc, DestTerminalIDs: []string{dest}, MsgContent: string(content),
	}
}

func (c *sp) submit(t testing.TB, p *cmpp.Submit) *cmpp.SubmitResp {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.s.SendWait(ctx, p)
	if err != nil {
		t.Fatalf("SUBMIT: %v", err)
	}
	return resp.(*cmpp.SubmitResp)
}

// metric scrapes /metrics and sums the samples of name whose label text
// contains every filter (e.g. `reason="rate"`).
func metric(t testing.TB, httpAddr, name string, filters ...string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var sum float64
lines:
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, name+"{") && !strings.HasPrefix(l, name+" ") {
			continue
		}
		for _, f := range filters {
			if !strings.Contains(l, f) {
				continue lines
			}
		}
		var v float64
		fmt.Sscan(l[strings.LastIndexByte(l, ' ')+1:], &v)
		sum += v
	}
	return sum
}

func waitSMSC(t testing.TB, s *smscsim.SMSC, cond func(smscsim.Stats) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Wait(ctx, cond); err != nil {
		t.Fatal(err)
	}
}

func httpGet(addr, path string) (int, error) {
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// waitFiled waits until the CDR mover has filed every CDR committed so
// far (it removes lines from the store only once their file is fsynced).
func waitFiled(t testing.TB, n *Node) {
	t.Helper()
	waitfor.Cond(t, "CDRs filed", func() bool { return n.st.Len(qCDR) == 0 })
}
