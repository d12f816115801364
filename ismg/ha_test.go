package ismg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/gns"
	"github.com/tandem-sms/tandem/gns/gnspb"
	"github.com/tandem-sms/tandem/gns/gnstest"
	"github.com/tandem-sms/tandem/internal/waitfor"
	"github.com/tandem-sms/tandem/routing"
	"github.com/tandem-sms/tandem/sim/smscsim"
)

const haToken = "ha-token"

// haNodeYAML is node name's configuration for two nodes of gateway 001001
// sharing one GNS: its own data dir and SMSC account (system_id ismg<name>),
// routes from the GNS, and the sibling's store adoptable.
func haNodeYAML(t *testing.T, dir, name, sibling, smsc string, gnsAddrs []string) string {
	y := nodeYAML(t, filepath.Join(dir, name), smsc,
		replace("  file: "+routesFile(t), fmt.Sprintf("  gns: [%s]\n  token: %s", strings.Join(gnsAddrs, ", "), haToken)),
		replace("system_id: ismg\n", "system_id: ismg"+name+"\n"),
		// One window per bind: the most a crash may make a node (or its
		// adopter) send twice, as region HA promises (the default is four).
		replace("binds: 2\n    window: 32", "binds: 2\n    window: 32\n    resend_bound: 64"))
	return y + fmt.Sprintf(`ha:
  node: %s
  lease_ttl: 1s
  renew_interval: 250ms
  adopt_after: 1s
  poll_interval: 100ms
  adoptable:
    - store_id: "001001-%s"
      config: %s.yaml
`, name, sibling, sibling)
}

// haReports tracks acknowledged Msg_Ids and the reports that came for them,
// as multisets: the two nodes of one gateway draw Msg_Ids from their own
// stores, so the same id may be issued by both (the siblings' Msg_Id split
// is another change); an id acked k times must be reported k times.
type haReports struct {
	mu       sync.Mutex
	acked    map[uint64]int
	contents map[string]bool
	reported map[uint64]int
	ch       chan struct{}
}

func (h *haReports) onReport(d *cmpp.Deliver) {
	if r, err := d.Report(); err == nil {
		h.mu.Lock()
		h.reported[r.MsgID]++
		h.mu.Unlock()
		select {
		case h.ch <- struct{}{}:
		default:
		}
	}
}

func (h *haReports) missing() (missing, acked int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, k := range h.acked {
		acked += k
		if h.reported[id] < k {
			missing += k - h.reported[id]
		}
	}
	return missing, acked
}

// submitLoad sends count unique messages on s, window at a time, and
// records the acked ones; after is called with the running count of acks.
// It returns when all were answered or the session broke.
func (h *haReports) submitLoad(s *cmpp.Session, prefix string, count, window int, after func(int)) {
	sem := make(chan struct{}, window)
	var wg sync.WaitGroup
	acks := 0
	for i := range count {
		sem <- struct{}{}
		content := fmt.Sprintf("%s-%06d", prefix, i)
		wg.Add(1)
		err := s.SendAsync(context.Background(), submitPDU(bjNumber, 0, []byte(content)), func(resp cmpp.PDU, err error) {
			defer wg.Done()
			defer func() { <-sem }()
			if err != nil {
				return
			}
			if r := resp.(*cmpp.SubmitResp); r.Result == 0 {
				h.mu.Lock()
				h.acked[r.MsgID]++
				h.contents[content] = true
				acks++
				n := acks
				h.mu.Unlock()
				if after != nil {
					after(n)
				}
			}
		})
		if err != nil {
			wg.Done()
			<-sem
			if s.Err() != nil {
				break
			}
		}
	}
	wg.Wait()
}

// TestHAKillAdopt is region HA's acceptance test: two ismg processes of
// gateway 001001 behind one GNS, SPs on both, under load. Node b is killed
// with SIGKILL while receipts are held at the SMSC, so b's store keeps MTs
// queued, in flight and awaiting receipts. The SP of b reconnects to a
// within 2 s and carries on; a adopts b's store once its lease lapsed
// ha.adopt_after ago, sends b's queued MTs through b's SMSC account,
// collects b's receipts and delivers b's reports to the SP logged in at a.
// Every acked message reaches the SMSC (duplicates bounded by the
// dispatcher's crash bound and counted), every acked Msg_Id gets its
// report. Fencing: b, started again while a drains its store, refuses to
// start and sends nothing. Drained, the store's lease is released.
func TestHAKillAdopt(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "ismg")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/tandem-sms/tandem/cmd/ismg").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cl := gnstest.Start(t, 1, func(c *gns.Config) { c.Token, c.InsecureRaft = haToken, true })
	cl.Write(gnstest.Gateway("001001"), routing.Change{Op: routing.OpPutSegment, Segment: routing.Segment{Prefix: "1380010", Gateway: "001001"}})
	smsc := startSMSC(t, func(c *smscsim.Config) {
		c.ReceiptDelay = 20 * time.Millisecond
		c.ReceiptDelayMax = 100 * time.Millisecond
		c.RecordLimit = 1 << 20
	})
	const binds, linkWindow, spWindow = 2, 32, 64
	for _, p := range [][2]string{{"a", "b"}, {"b", "a"}} {
		if err := os.WriteFile(filepath.Join(dir, p[0]+".yaml"), []byte(haNodeYAML(t, dir, p[0], p[1], smsc.Addr(), cl.GRPCAddrs())), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	logA, logB := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	a := startChild(t, bin, filepath.Join(dir, "a.yaml"), logA)
	b := startChild(t, bin, filepath.Join(dir, "b.yaml"), logB)

	h := &haReports{acked: map[uint64]int{}, contents: map[string]bool{}, reported: map[uint64]int{}, ch: make(chan struct{}, 1)}
	spA := mustSPWith(t, a.cmppAddr, h.onReport)
	spB := mustSPWith(t, b.cmppAddr, h.onReport)
	// The nodes route once their caches followed the GNS.
	for _, s := range []*cmpp.Session{spA, spB} {
		waitfor.Within(t, 20*time.Second, "routes from the GNS", func() bool {
			before, _ := h.missing()
			h.submitLoad(s, fmt.Sprintf("warm-%p", s), 1, 1, nil)
			_, acked := h.missing()
			return acked > before
		})
	}

	// Load on both; b dies by SIGKILL after 600 acks, receipts held so
	// that its store holds MTs awaiting receipts too.
	var killedAt time.Time
	killed := make(chan struct{})
	var once sync.Once
	var load sync.WaitGroup
	load.Go(func() { h.submitLoad(spA, "a", 1500, spWindow, nil) })
	load.Go(func() {
		h.submitLoad(spB, "b", 5000, spWindow, func(n int) {
			if n >= 600 {
				once.Do(func() {
					smsc.HoldReceipts(true)
					_ = b.cmd.Process.Kill()
					killedAt = time.Now()
					close(killed)
				})
			}
		})
	})
	<-killed
	<-b.exited
	// The SP of b reconnects to its sibling and carries on.
	waitfor.Within(t, 10*time.Second, "b's SP notices", func() bool { return spB.Err() != nil })
	spB2 := mustSPWith(t, a.cmppAddr, h.onReport)
	// How soon is logged, not asserted (no wall-clock thresholds in
	// tests): the login needs nothing from b or the adoption.
	reconnect := time.Since(killedAt)
	load.Go(func() { h.submitLoad(spB2, "b2", 300, spWindow, nil) })
	load.Wait()
	_, nAcked := h.missing()
	t.Logf("acked %d; SP reconnected to a in %v", nAcked, reconnect.Round(time.Millisecond))

	// a adopts b's store after its lease lapsed adopt_after ago.
	waitfor.Within(t, 20*time.Second, "a adopts b's store", func() bool {
		return metric(t, a.httpAddr, "ismg_ha_adopted_stores") == 1
	})
	// The console shows who owns b's store now.
	var st struct {
		Stores []StoreView `json:"stores"`
	}
	resp, err := http.Get("http://" + a.httpAddr + "/status")
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Stores) != 2 || st.Stores[0] != (StoreView{StoreID: "001001-a", Role: "own", State: "held", Holder: "a",
		Token: st.Stores[0].Token, Expires: st.Stores[0].Expires, Pending: st.Stores[0].Pending}) ||
		st.Stores[1].StoreID != "001001-b" || st.Stores[1].Holder != "a" || st.Stores[1].State != adoptDraining {
		t.Fatalf("console stores: %+v", st.Stores)
	}
	// Every acked message reaches the SMSC, b's through b's account.
	var count map[string]int
	waitfor.Within(t, 30*time.Second, "every acked MT at the SMSC", func() bool {
		count = map[string]int{}
		for _, s := range smsc.Submitted() {
			count[string(s.ShortMessage)]++
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		for c := range h.contents {
			if count[c] == 0 {
				return false
			}
		}
		return true
	})

	// Fencing: b comes back while a drains its store; it refuses to
	// start and binds or sends nothing.
	before := smsc.Stats()
	logf, err := os.OpenFile(logB, os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	back := exec.Command(bin, "-config", filepath.Join(dir, "b.yaml"), "-log-level", "warn")
	back.Stderr = logf
	var out strings.Builder
	back.Stdout = &out
	if err := back.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- back.Wait() }()
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() == 0 {
			t.Fatalf("b came back while its store is adopted: exit %v, want non-zero", err)
		}
	case <-time.After(30 * time.Second):
		_ = back.Process.Kill()
		t.Fatal("b, back while its store is adopted, did not exit")
	}
	if lb, _ := os.ReadFile(logB); !strings.Contains(string(lb), "refusing to start from store 001001-b") {
		t.Fatalf("b's log does not say why it stopped:\n%s", lb)
	}
	if strings.Contains(out.String(), "listening") {
		t.Fatalf("b served: %s", out.String())
	}
	after := smsc.Stats()
	if after.Binds != before.Binds || after.Submits != before.Submits {
		t.Fatalf("while b was back: binds %d → %d, submits %d → %d; want no change", before.Binds, after.Binds, before.Submits, after.Submits)
	}

	// Receipts flow again: every acked Msg_Id gets its report at the SP.
	smsc.HoldReceipts(false)
	deadline := time.Now().Add(40 * time.Second)
	for {
		missing, _ := h.missing()
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			la, _ := os.ReadFile(logA)
			t.Fatalf("%d of %d acked Msg_Ids got no report\nlog of a:\n%s", missing, nAcked, la)
		}
		select {
		case <-h.ch:
		case <-time.After(time.Until(deadline)):
		}
	}

	// Duplicates at the SMSC are bounded (per link: resend_bound, here
	// one window per bind) and counted.
	dups := 0
	for _, c := range count {
		dups += c - 1
	}
	resends := metric(t, a.httpAddr, "ismg_ha_adopted_resends_total", `store="001001-b"`) + metric(t, a.httpAddr, "ismg_smsc_resends_total")
	t.Logf("SMSC duplicates %d, counted resends %v (bound %d)", dups, resends, binds*linkWindow)
	if bound := binds * linkWindow; dups > bound || float64(dups) > resends || resends > float64(bound) {
		t.Errorf("SMSC duplicates %d, resends counted %v: want dups <= counted <= %d", dups, resends, bound)
	}

	// Drained: a releases b's store; the GNS shows no owner for it.
	waitfor.Within(t, 30*time.Second, "b's store drained and released", func() bool {
		return metric(t, a.httpAddr, "ismg_ha_adopted_stores") == 0 && metric(t, a.httpAddr, "ismg_ha_drained_total") > 0
	})
	cc, err := grpc.NewClient(cl.GRPCAddrs()[0], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+haToken), 10*time.Second)
	defer cancel()
	ls, err := gnspb.NewGNSClient(cc).ListStoreLeases(ctx, &gnspb.ListStoreLeasesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls.Leases {
		if l.StoreId == "001001-b" {
			t.Fatalf("b's store still leased after the drain: %v", l)
		}
		if l.StoreId == "001001-a" && l.Holder != "a" {
			t.Fatalf("a's store: %v", l)
		}
	}
}
