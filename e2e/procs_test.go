package e2e

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/internal/waitfor"
	"github.com/tandem-sms/tandem/sim/smscsim"
)

// bin holds the binaries TestMain built.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tandem-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = dir
	build := exec.Command("go", "build", "-o", dir+"/",
		"github.com/tandem-sms/tandem/cmd/gns", "github.com/tandem-sms/tandem/cmd/gnsctl", "github.com/tandem-sms/tandem/cmd/ismg")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running child process.
type proc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done
}

func start(t *testing.T, dir, name string, args ...string) *proc {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(bin, strings.Fields(name)[0]), args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatal(err)
	}
	p := &proc{t: t, name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() { p.kill() })
	return p
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.t.Errorf("%s did not die", p.name)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop() {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			b, _ := os.ReadFile(p.log)
			p.t.Fatalf("%s after SIGTERM: %v\n%s", p.name, p.err, tail(b))
		}
	case <-time.After(30 * time.Second):
		p.t.Fatalf("%s did not stop on SIGTERM", p.name)
	}
}

func tail(b []byte) string {
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// waitHealthy waits until url answers 200, failing with the process's log.
func (p *proc) waitHealthy(url string) {
	p.t.Helper()
	ok := waitfor.Poll(waitfor.Timeout, func() bool {
		select {
		case <-p.done:
			return true
		default:
		}
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	select {
	case <-p.done:
		b, _ := os.ReadFile(p.log)
		p.t.Fatalf("%s exited: %v\n%s", p.name, p.err, tail(b))
	default:
	}
	if !ok {
		b, _ := os.ReadFile(p.log)
		resp, _ := http.Get(url)
		var body []byte
		if resp != nil {
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		p.t.Fatalf("%s not healthy at %s: %s\n%s", p.name, url, body, tail(b))
	}
}

// freeAddr returns a loopback address that was free a moment ago, on a
// port below Linux's ephemeral range (32768-60999): a node restarted on
// the same address must not find it taken by some client socket's
// ephemeral port in the meantime.
func freeAddr(t testing.TB) string {
	t.Helper()
	for range 1000 {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12000)))
		if err != nil {
			continue
		}
		defer l.Close()
		return l.Addr().String()
	}
	t.Fatal("no free port in 20000-31999")
	return ""
}

// metric reads the sum of a Prometheus series from addr's /metrics whose
// labels contain every filter.
func metric(t testing.TB, addr, name string, filters ...string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	sum := 0.0
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, name+"{") && !strings.HasPrefix(l, name+" ") {
			continue
		}
		keep := true
		for _, f := range filters {
			keep = keep && strings.Contains(l, f)
		}
		if keep {
			var v float64
			fmt.Sscan(l[strings.LastIndexByte(l, ' ')+1:], &v)
			sum += v
		}
	}
	return sum
}

func startSMSC(t testing.TB) *smscsim.SMSC {
	t.Helper()
	c := smscsim.DefaultConfig()
	c.ReceiptDelay = 5 * time.Millisecond
	// A real SMSC keeps a receipt until the gateway takes it: retried
	// every 100 ms for minutes, it outlives a gateway's restart however
	// slow the machine (10 tries 50 ms apart did not, under CI's load).
	c.ReceiptRetry = 100 * time.Millisecond
	c.ReceiptAttempts = 3000
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

// sp is Sina logged in to a gateway, collecting its status reports.
type sp struct {
	s       *cmpp.Session
	reports chan cmpp.Report
}

func dialSP(t testing.TB, addr string) *sp {
	t.Helper()
	c := &sp{reports: make(chan cmpp.Report, 100000)}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := cmpp.Dial(ctx, addr, cmpp.ClientConfig{
		SourceAddr: "901234", Secret: "sina-secret", Version: cmpp.V30,
		Session: cmpp.Config{Window: 256, InboundWindow: 256},
		Handler: cmpp.HandlerFunc(func(s *cmpp.Session, h cmpp.Header, req cmpp.PDU) {
			if d, ok := req.(*cmpp.Deliver); ok {
				if r, err := d.Report(); err == nil {
					c.reports <- r
				}
				_ = s.Reply(h, &cmpp.DeliverResp{MsgID: d.MsgID})
			}
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c.s = s
	return c
}

// submit sends one MT and returns its Msg_Id (Result must be 0).
func (c *sp) submit(t testing.TB, dest, text string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := c.s.SendWait(ctx, &cmpp.Submit{
		PkTotal: 1, PkNumber: 1, RegisteredDelivery: 1, ServiceID: "E2E", FeeType: "01",
		MsgSrc: "901234", SrcID: "10657001", DestTerminalIDs: []string{dest}, MsgContent: text,
	})
	if err != nil {
		t.Fatalf("SUBMIT to %s: %v", dest, err)
	}
	r := resp.(*cmpp.SubmitResp)
	if r.Result != 0 {
		t.Fatalf("SUBMIT to %s: Result %d", dest, r.Result)
	}
	return r.MsgID
}

// waitReports collects reports until every id in want has one.
func (c *sp) waitReports(t testing.TB, want map[uint64]bool) map[uint64]cmpp.Report {
	t.Helper()
	got := map[uint64]cmpp.Report{}
	deadline := time.After(waitfor.Timeout * 2)
	for missing := len(want); missing > 0; {
		select {
		case r := <-c.reports:
			if want[r.MsgID] {
				if _, dup := got[r.MsgID]; !dup {
					missing--
				}
				got[r.MsgID] = r
			}
		case <-deadline:
			t.Fatalf("%d of %d reports missing", missing, len(want))
		}
	}
	return got
}

// delivered reports how many submit_sm with this text s accepted.
func delivered(s *smscsim.SMSC, text string) int {
	n := 0
	for _, sub := range s.Submitted() {
		if string(sub.ShortMessage) == text {
			n++
		}
	}
	return n
}
