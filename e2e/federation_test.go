package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/internal/waitfor"
	"github.com/tandem-sms/tandem/sim/smscsim"
)

// gateway is one region's ISMG process and its SMSC simulator.
type gateway struct {
	code, name, region, link string
	dir, cfgPath             string
	cmpp, http, fwd          string
	smsc                     *smscsim.SMSC
	p                        *proc
}

func newGateway(t *testing.T, root, code, name, region, link string) *gateway {
	g := &gateway{code: code, name: name, region: region, link: link, dir: filepath.Join(root, name),
		cmpp: freeAddr(t), http: freeAddr(t), fwd: freeAddr(t), smsc: startSMSC(t)}
	if err := os.MkdirAll(g.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return g
}

// configure writes the gateway's config from the demo's region template;
// routes is either "gns: [addrs]" or "file: path".
func (g *gateway) configure(t *testing.T, routes string) {
	t.Helper()
	tmpl, err := os.ReadFile("../testdata/ismg/region.yaml.in")
	if err != nil {
		t.Fatal(err)
	}
	r := strings.NewReplacer("@CODE@", g.code, "@NAME@", g.name, "@REGION@", g.region, "@LINK@", g.link,
		"@DATA@", filepath.Join(g.dir, "data"), "@CMPP@", g.cmpp, "@HTTP@", g.http, "@FWD@", g.fwd,
		"@SMSC@", g.smsc.Addr())
	y := regexp.MustCompile(`(?m)^  gns: \[@GNS@\].*$`).ReplaceAllString(r.Replace(string(tmpl)), "  "+routes)
	g.cfgPath = filepath.Join(g.dir, "ismg.yaml")
	if err := os.WriteFile(g.cfgPath, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (g *gateway) start(t *testing.T) {
	t.Helper()
	g.p = start(t, g.dir, "ismg "+g.name, "-config", g.cfgPath, "-log-level", "warn")
	g.p.waitHealthy("http://" + g.http + "/healthz")
}

// routeTable writes the sample table with the gateways' FWD addresses.
func routeTable(t *testing.T, dir string, gws ...*gateway) string {
	t.Helper()
	src, err := os.ReadFile("../testdata/routes/sample.yaml")
	if err != nil {
		t.Fatal(err)
	}
	y := string(src)
	for _, g := range gws {
		re := regexp.MustCompile(`(?m)(  - code: "` + g.code + `"\n(?:    .*\n)*?    fwd_addr: )\S+`)
		y = re.ReplaceAllString(y, "${1}"+g.fwd)
	}
	p := filepath.Join(dir, "routes.yaml")
	if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	csv, err := os.ReadFile("../testdata/routes/segments.csv")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "segments.csv"), csv, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// gnsCluster is three GNS processes.
type gnsCluster struct {
	grpc  []string
	http  []string // /metrics and /healthz
	procs []*proc
}

func startGNS(t *testing.T, root string) *gnsCluster {
	t.Helper()
	c := &gnsCluster{}
	for i := 1; i <= 3; i++ {
		id := fmt.Sprintf("gns%d", i)
		grpcAddr, httpAddr := freeAddr(t), freeAddr(t)
		args := []string{"-id", id, "-data", filepath.Join(root, id), "-raft", freeAddr(t), "-grpc", grpcAddr,
			"-cmpp", freeAddr(t), "-http", httpAddr}
		if i == 1 {
			args = append(args, "-bootstrap")
		} else {
			args = append(args, "-join", c.grpc[0])
		}
		p := start(t, root, "gns "+id, args...)
		p.waitHealthy("http://" + httpAddr + "/healthz")
		c.grpc = append(c.grpc, grpcAddr)
		c.http = append(c.http, httpAddr)
		c.procs = append(c.procs, p)
	}
	return c
}

// followingGNS starts a GNS cluster holding the sample table and
// configures Beijing and Guangzhou to follow it; the caller starts them.
func followingGNS(t *testing.T) (*gnsCluster, *gateway, *gateway) {
	t.Helper()
	root := t.TempDir()
	gnsc := startGNS(t, root)
	bj := newGateway(t, root, "001001", "Beijing", "beijing", "north")
	gz := newGateway(t, root, "020001", "Guangzhou", "guangdong", "south")
	gnsc.gnsctl(t, "table", "push", routeTable(t, root, bj, gz))
	for _, g := range []*gateway{bj, gz} {
		g.configure(t, "gns: ["+strings.Join(gnsc.grpc, ", ")+"]")
	}
	return gnsc, bj, gz
}

// gnsctl runs gnsctl against the cluster and returns its output.
func (c *gnsCluster) gnsctl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(filepath.Join(bin, "gnsctl"), append([]string{"-addr", strings.Join(c.grpc, ",")}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("gnsctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

var revisionRE = regexp.MustCompile(`revision (\d+)`)

func revisionOf(t *testing.T, out string) float64 {
	t.Helper()
	m := revisionRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no revision in %q", out)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// TestRouteChangeAndGNSOutage: two gateways follow a three-node GNS. A
// cross-region MT goes Beijing → Guangzhou and its report comes back; a
// segment moved with gnsctl reaches both caches and new MTs for it take
// the new gateway; with every GNS node stopped the gateways route from
// their caches, and Beijing restarted during the outage routes from the
// table it persisted.
func TestRouteChangeAndGNSOutage(t *testing.T) {
	gnsc, bj, gz := followingGNS(t)
	for _, g := range []*gateway{bj, gz} {
		g.start(t)
	}
	c := dialSP(t, bj.cmpp)
	want := map[uint64]bool{}

	want[c.submit(t, "13802000001", "cross region")] = true
	waitfor.Cond(t, "the MT at Guangzhou's SMSC", func() bool { return delivered(gz.smsc, "cross region") == 1 })

	// A live route change: 1380200 moves from Guangzhou to Beijing.
	rev := revisionOf(t, gnsc.gnsctl(t, "segment", "add", "1380200", "001001"))
	for _, g := range []*gateway{bj, gz} {
		waitfor.Cond(t, g.name+"'s cache at the new revision", func() bool {
			return metric(t, g.http, "federation_routecache_revision") >= rev
		})
	}
	want[c.submit(t, "13802000002", "after the change")] = true
	waitfor.Cond(t, "the moved segment's MT at Beijing's SMSC", func() bool { return delivered(bj.smsc, "after the change") == 1 })
	if n := delivered(gz.smsc, "after the change"); n != 0 {
		t.Fatalf("Guangzhou delivered %d MTs of the segment moved away from it", n)
	}

	// Every GNS node down: the caches keep routing.
	for _, p := range gnsc.procs {
		p.stop()
	}
	want[c.submit(t, "13902200001", "gns down")] = true
	waitfor.Cond(t, "an MT routed from the cache", func() bool { return delivered(gz.smsc, "gns down") == 1 })

	// Beijing restarts while the GNS is still down: it routes from the
	// table it persisted, the route change included.
	c.waitReports(t, want)
	bj.p.stop()
	bj.start(t)
	c = dialSP(t, bj.cmpp)
	want = map[uint64]bool{}
	want[c.submit(t, "13902200002", "after restart")] = true
	want[c.submit(t, "13802000003", "after restart, moved")] = true
	waitfor.Cond(t, "MTs routed from the persisted table", func() bool {
		return delivered(gz.smsc, "after restart") == 1 && delivered(bj.smsc, "after restart, moved") == 1
	})
	for id, r := range c.waitReports(t, want) {
		if r.Stat != cmpp.StatDelivered {
			t.Errorf("Msg_Id %d reported %s", id, r.Stat)
		}
	}
}

// TestKill9ReceivingGateway: Beijing forwards a load of MTs to Guangzhou,
// which is killed with SIGKILL halfway and restarted. Every MT Beijing
// acknowledged reaches Guangzhou's SMSC — at most the resend bound of
// Guangzhou's own SMSC link twice (2 × binds × window, its crash), never
// twice through the hop — and every report reaches the SP.
func TestKill9ReceivingGateway(t *testing.T) {
	root := t.TempDir()
	bj := newGateway(t, root, "001001", "Beijing", "beijing", "north")
	gz := newGateway(t, root, "020001", "Guangzhou", "guangdong", "south")
	table := routeTable(t, root, bj, gz)
	for _, g := range []*gateway{bj, gz} {
		g.configure(t, "file: "+table)
		g.start(t)
	}
	c := dialSP(t, bj.cmpp)
	// The client keeps fewer SUBMITs in flight than the SP's window (64), which
	// the gateway frees only after the answer it sent.
	const n, window = 2000, 32
	var mu sync.Mutex
	acked := map[uint64]string{}
	// Guangzhou dies while it is taking the forwarded load: once its SMSC
	// has a quarter of it.
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		waitfor.Poll(waitfor.Timeout, func() bool { return gz.smsc.Stats().Accepted >= n/4 })
		gz.p.kill()
	}()
	sem := make(chan struct{}, window)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		text := fmt.Sprintf("load %d", i)
		err := c.s.SendAsync(context.Background(), &cmpp.Submit{
			PkTotal: 1, PkNumber: 1, RegisteredDelivery: 1, ServiceID: "E2E", FeeType: "01",
			MsgSrc: "901234", SrcID: "10657001", DestTerminalIDs: []string{fmt.Sprintf("1380200%04d", i)}, MsgContent: text,
		}, func(resp cmpp.PDU, err error) {
			defer wg.Done()
			defer func() { <-sem }()
			if r, ok := resp.(*cmpp.SubmitResp); ok && err == nil && r.Result == 0 {
				mu.Lock()
				acked[r.MsgID] = text
				mu.Unlock()
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	<-killed
	t.Logf("Guangzhou killed with %d MTs at its SMSC", gz.smsc.Stats().Accepted)
	gz.start(t)

	want := map[uint64]bool{}
	for id := range acked {
		want[id] = true
	}
	if len(want) != n {
		t.Fatalf("%d of %d SUBMITs acked (Beijing stayed up: all should be)", len(want), n)
	}
	for id, r := range c.waitReports(t, want) {
		if r.Stat != cmpp.StatDelivered {
			t.Fatalf("Msg_Id %d reported %s", id, r.Stat)
		}
	}
	count := map[string]int{}
	for _, s := range gz.smsc.Submitted() {
		count[string(s.ShortMessage)]++
	}
	dups := 0
	for _, text := range acked {
		switch c := count[text]; {
		case c == 0:
			t.Fatalf("acked MT %q never reached Guangzhou's SMSC", text)
		case c > 1:
			dups += c - 1
		}
	}
	resends := metric(t, gz.http, "ismg_smsc_resends_total")
	t.Logf("acked %d, Guangzhou SMSC duplicates %d (resends metric %v), FWD duplicates dropped %v",
		len(acked), dups, resends, metric(t, gz.http, "ismg_fwd_received_total", `outcome="duplicate"`))
	if bound := 2 * 2 * 32; dups > bound || float64(dups) > resends {
		t.Errorf("duplicates at the SMSC %d, resends counted %v: want dups <= resends <= %d", dups, resends, bound)
	}
}
