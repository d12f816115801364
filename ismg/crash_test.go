package ismg

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/billing"
	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/sim/smscsim"
)

// child is the ismg binary running as a separate process.
type child struct {
	cmd      *exec.Cmd
	cmppAddr string
	httpAddr string
	exited   chan error
}

var listenRE = regexp.MustCompile(`listening cmpp=(\S+) http=(\S+)`)

func startChild(t *testing.T, bin, cfgPath, logPath string) *child {
	t.Helper()
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	cmd := exec.Command(bin, "-config", cfgPath, "-log-level", "warn")
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, exited: make(chan error, 1)}
	addrs := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
				addrs <- m[1:]
			}
		}
		c.exited <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	select {
	case a := <-addrs:
		c.cmppAddr, c.httpAddr = a[0], a[1]
	case err := <-c.exited:
		b, _ := os.ReadFile(logPath)
		t.Fatalf("ismg exited at start: %v\n%s", err, b)
	case <-time.After(30 * time.Second):
		t.Fatal("ismg did not start")
	}
	return c
}

// TestSIGKILL kills the ismg process with SIGKILL in the middle of a load
// of acknowledged messages, restarts it on the same data directory and
// checks that nothing acknowledged was lost and that the duplicates are
// bounded and counted (see the package doc, "Crash semantics").
func TestSIGKILL(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "ismg")
	build := exec.Command("go", "build", "-o", bin, "github.com/tandem-sms/tandem/cmd/ismg")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	smsc := startSMSC(t, func(c *smscsim.Config) {
		c.ReceiptDelay = 20 * time.Millisecond
		c.ReceiptDelayMax = 200 * time.Millisecond
		c.RecordLimit = 1 << 20
	})
	const binds, linkWindow, spWindow = 2, 32, 64
	y := nodeYAML(t, dir, smsc.Addr())
	cfgPath := filepath.Join(dir, "ismg.yaml")
	if err := os.WriteFile(cfgPath, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "ismg.log")
	ch := startChild(t, bin, cfgPath, logPath)

	// Load: unique content per message, so SMSC submissions map back to
	// acknowledged Msg_Ids.
	var mu sync.Mutex
	acked := map[uint64]string{}
	reportsSeen := map[uint64]int{}
	reportCh := make(chan struct{}, 1)
	onReport := func(d *cmpp.Deliver) {
		if r, err := d.Report(); err == nil {
			mu.Lock()
			reportsSeen[r.MsgID]++
			mu.Unlock()
			select {
			case reportCh <- struct{}{}:
			default:
			}
		}
	}
	sp1 := mustSPWith(t, ch.cmppAddr, onReport)
	const killAfter = 1500
	killed := make(chan struct{})
	var once sync.Once
	sem := make(chan struct{}, spWindow)
	var wg sync.WaitGroup
	for i := 0; ; i++ {
		select {
		case <-killed:
		case sem <- struct{}{}:
			content := fmt.Sprintf("crash-%06d", i)
			wg.Add(1)
			err := sp1.SendAsync(context.Background(), submitPDU(bjNumber, 0, []byte(content)), func(resp cmpp.PDU, err error) {
				defer wg.Done()
				defer func() { <-sem }()
				if err != nil {
					return
				}
				r := resp.(*cmpp.SubmitResp)
				if r.Result != 0 {
					return
				}
				mu.Lock()
				acked[r.MsgID] = content
				n := len(acked)
				mu.Unlock()
				if n >= killAfter {
					once.Do(func() {
						_ = ch.cmd.Process.Kill() // SIGKILL
						close(killed)
					})
				}
			})
			if err != nil {
				wg.Done()
				<-sem
				if sp1.Err() != nil {
					break
				}
			}
			continue
		}
		break
	}
	<-ch.exited
	wg.Wait()
	sp1.Close()
	mu.Lock()
	nAcked := len(acked)
	mu.Unlock()
	t.Logf("killed after %d acks; smsc accepted %d so far", nAcked, smsc.Stats().Accepted)

	ch2 := startChild(t, bin, cfgPath, logPath)
	sp2 := mustSPWith(t, ch2.cmppAddr, onReport)
	defer sp2.Close()

	// Every acknowledged Msg_Id gets its status report.
	deadline := time.Now().Add(40 * time.Second)
	for {
		mu.Lock()
		missing := 0
		for id := range acked {
			if reportsSeen[id] == 0 {
				missing++
			}
		}
		mu.Unlock()
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("%d of %d acked Msg_Ids got no report\nlog:\n%s", missing, nAcked, b)
		}
		select {
		case <-reportCh:
		case <-time.After(time.Until(deadline)):
		}
	}

	// Every acknowledged message reached the SMSC; duplicates are bounded
	// and counted.
	count := map[string]int{}
	for _, s := range smsc.Submitted() {
		count[string(s.ShortMessage)]++
	}
	dups := 0
	for _, c := range count {
		dups += c - 1
	}
	for _, content := range acked {
		if count[content] == 0 {
			t.Fatalf("acked message %q never reached the SMSC", content)
		}
	}
	resends := metric(t, ch2.httpAddr, "ismg_smsc_resends_total")
	repeats := metric(t, ch2.httpAddr, "ismg_sp_report_repeats_total")
	repeated := 0
	for id, n := range reportsSeen {
		if _, ok := acked[id]; ok && n > 1 {
			repeated += n - 1
		}
	}
	t.Logf("acked %d, smsc duplicates %d, resends metric %v, repeated reports %d, repeats metric %v",
		nAcked, dups, resends, repeated, repeats)
	// The crash-resend bound of the pipelined dispatcher: an MT may be
	// marked in flight from its lease until its Move to await is durable,
	// and resend_bound of them may be (dispatch.go; default
	// 4 × binds × window).
	if bound := defaultResendFactor * binds * linkWindow; dups > bound || float64(dups) > resends || resends > float64(bound) {
		t.Errorf("SMSC duplicates %d, resends metric %v: want dups <= resends <= %d", dups, resends, bound)
	}
	if repeated > spWindow || float64(repeated) > repeats || repeats > spWindow {
		t.Errorf("repeated reports %d, metric %v: want repeated <= metric <= %d", repeated, repeats, spWindow)
	}

	// Billing: after a graceful stop, every acknowledged Msg_Id has its MT
	// record and the REPORT record of its final state, across the crash —
	// each once (the CDR outbox files every record exactly once).
	sp2.Close()
	if err := ch2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ch2.exited:
		if err != nil {
			t.Fatalf("ismg after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("ismg did not stop on SIGTERM")
	}
	files, err := filepath.Glob(filepath.Join(dir, "data", "cdr", "*.csv"))
	if err != nil || len(files) == 0 {
		t.Fatalf("CDR files: %v %v", files, err)
	}
	mts, reps := map[uint64]int{}, map[uint64]int{}
	for _, f := range files {
		recs, err := billing.ReadFile(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, r := range recs {
			switch {
			case r.Kind == billing.KindMT:
				mts[r.MsgID]++
			case r.Kind == billing.KindReport && r.FinalStatus != "":
				reps[r.MsgID]++
			}
		}
	}
	noMT, noReport := 0, 0
	for id := range acked {
		if mts[id] == 0 {
			noMT++
		}
		if reps[id] == 0 {
			noReport++
		}
	}
	if noMT > 0 || noReport > 0 {
		t.Errorf("of %d acked Msg_Ids, %d have no MT CDR and %d no REPORT CDR", nAcked, noMT, noReport)
	}
	twice := 0
	for id, k := range mts {
		if k > 1 || reps[id] > 1 {
			twice++
		}
	}
	if twice > 0 {
		t.Errorf("%d Msg_Ids have an MT or REPORT record more than once", twice)
	}
}

// mustSPWith dials an SP session whose DELIVERs go to fn.
func mustSPWith(t *testing.T, addr string, fn func(*cmpp.Deliver)) *cmpp.Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := cmpp.Dial(ctx, addr, cmpp.ClientConfig{
		SourceAddr: testSP, Secret: testSecret, Version: cmpp.V30,
		Session: cmpp.Config{Window: 1024, InboundWindow: 1024},
		Handler: cmpp.HandlerFunc(func(s *cmpp.Session, h cmpp.Header, req cmpp.PDU) {
			if d, ok := req.(*cmpp.Deliver); ok {
				fn(d)
				_ = s.Reply(h, &cmpp.DeliverResp{MsgID: d.MsgID})
			}
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
