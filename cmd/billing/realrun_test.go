package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/billing"
	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/internal/waitfor"
	"github.com/tandem-sms/tandem/sim/smscsim"
	"github.com/tandem-sms/tandem/smpp"
)

// TestReportOfARealRun runs two real gateways — the ismg and billing
// binaries built from cmd/, each ISMG with an SMSC simulator on loopback —
// sends Sina's MTs to Beijing, local ones (two refused by the handset,
// UNDELIV) and some for Guangzhou numbers that Beijing forwards, and waits
// for every status report. Then, while both gateways still run (so the
// hour's CDR file is an open .part), `billing report` over both CDR
// directories must count every message with its outcome, the forwarding
// both ways, and a latency per message; the HTML page must carry the
// same totals.
func TestReportOfARealRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the ismg binary")
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+string(filepath.Separator),
		"github.com/tandem-sms/tandem/cmd/ismg", "github.com/tandem-sms/tandem/cmd/billing")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	root := t.TempDir()
	bj := newRunGateway(t, root, "001001", "beijing", "north", func(s *smscsim.Submission) string {
		if strings.HasSuffix(s.DestAddr.Addr, "9") {
			return smpp.StatUndeliverable
		}
		return ""
	})
	gz := newRunGateway(t, root, "020001", "guangdong", "south", nil)
	routes := runRouteTable(t, root, bj, gz)
	for _, g := range []*runGateway{bj, gz} {
		g.start(t, bin, routes)
	}

	sp := dialSina(t, bj.cmpp)
	const local, forwarded, refused = 8, 5, 2
	var dests []string
	for i := range local {
		dests = append(dests, fmt.Sprintf("1380010%04d", i*10+boolInt(i < refused)*9)) // 2 end in 9: UNDELIV
	}
	for i := range forwarded {
		dests = append(dests, fmt.Sprintf("1390220%04d", i*10))
	}
	want := map[uint64]bool{}
	for _, d := range dests {
		want[sp.submit(t, d)] = true
	}
	sp.waitReports(t, want)

	// The gateways run on: their files lag the traffic by billing's
	// move_interval, so wait for the report to hold every outcome.
	var tr billing.Traffic
	var stderr string
	report := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(filepath.Join(bin, "billing"), append([]string{"report", "-dir", bj.cdr, "-dir", gz.cdr}, args...)...)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			t.Fatalf("billing report %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
		}
		stderr = errOut.String()
		return out.Bytes()
	}
	waitfor.Cond(t, "the CDRs of every message and outcome in the report", func() bool {
		tr = billing.Traffic{}
		if err := json.Unmarshal(report("-view", "traffic", "-by", "gateway", "-o", "json"), &tr); err != nil {
			t.Fatal(err)
		}
		return tr.Total.Submitted == local+forwarded && tr.Total.Pending == 0 && tr.Total.FwdIn == forwarded
	})
	t.Logf("report during operation:\n%s", report("-by", "gateway,hour"))
	if !strings.Contains(stderr, ".csv.part is open") {
		t.Errorf("the report did not read an open file while the gateways ran: %q", stderr)
	}
	tot := tr.Total
	if tot.Delivered != local+forwarded-refused || tot.Failed != refused || tot.FailedBy[smpp.StatUndeliverable] != refused ||
		tot.Expired != 0 || tot.FwdOut != forwarded || tot.Latency.Samples != local+forwarded {
		t.Errorf("total %+v: want %d delivered, %d UNDELIV, %d forwarded, a latency per message", tot, local+forwarded-refused, refused, forwarded)
	}
	// done_time is when the gateway learned the outcome, to the
	// millisecond: never before the submit, and a receipt takes time.
	if tot.Latency.P99ms < tot.Latency.P50ms || tot.Latency.MaxMs > time.Hour.Milliseconds() ||
		tot.Latency.Negative != 0 || tot.Latency.MaxMs <= 0 {
		t.Errorf("latency %+v", tot.Latency)
	}
	if len(tr.Rows) != 2 {
		t.Fatalf("rows %+v: want Beijing and Guangzhou", tr.Rows)
	}
	b, g := tr.Rows[0], tr.Rows[1]
	if b.Gateway != bj.code || b.Submitted != local+forwarded || b.FwdOut != forwarded ||
		!hasPeer(b.Peers, billing.GatewayCount{Gateway: gz.code, Direction: billing.DirFwdOut, MT: forwarded, Delivered: forwarded}) {
		t.Errorf("Beijing %+v", b)
	}
	if g.Gateway != gz.code || g.Submitted != 0 || g.FwdIn != forwarded ||
		!hasPeer(g.Peers, billing.GatewayCount{Gateway: bj.code, Direction: billing.DirFwdIn, MT: forwarded, Delivered: forwarded}) {
		t.Errorf("Guangzhou %+v", g)
	}

	// By region, from the route table the gateways route by.
	csvOut := string(report("-by", "region", "-routes", routes, "-o", "csv"))
	if !strings.Contains(csvOut, "\nbeijing,13,11,2,") || !strings.Contains(csvOut, "\nguangdong,0,0,0,") {
		t.Errorf("by region:\n%s", csvOut)
	}
	// The page: parsed, its totals the report's.
	doc := parseXML(t, report("-by", "gateway,hour", "-o", "html"))
	if got := doc.byID("total-submitted").text(); got != fmt.Sprint(local+forwarded) {
		t.Errorf("page: submitted %q", got)
	}
	if n := len(doc.byID("chart-hourly").all("rect")); n < 3 {
		t.Errorf("page: %d bars", n)
	}
	for _, g := range []*runGateway{bj, gz} {
		g.stop(t)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func hasPeer(ps []billing.GatewayCount, want billing.GatewayCount) bool {
	for _, p := range ps {
		if p.Gateway == want.Gateway && p.Direction == want.Direction {
			return p.MT == want.MT && p.Delivered == want.Delivered
		}
	}
	return false
}

// runGateway is one ISMG process with its in-process SMSC simulator.
type runGateway struct {
	code, region, link string
	dir, cdr           string
	cmpp, http, fwd    string
	smsc               *smscsim.SMSC
	cmd                *exec.Cmd
	done               chan struct{}
	log                string
}

func loopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func newRunGateway(t *testing.T, root, code, region, link string, statusFor func(*smscsim.Submission) string) *runGateway {
	t.Helper()
	c := smscsim.DefaultConfig()
	c.ReceiptDelay, c.StatusFor = 5*time.Millisecond, statusFor
	s, err := smscsim.New(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	g := &runGateway{code: code, region: region, link: link, dir: filepath.Join(root, region), smsc: s,
		cmpp: loopbackAddr(t), http: loopbackAddr(t), fwd: loopbackAddr(t)}
	g.cdr = filepath.Join(g.dir, "data", "cdr")
	return g
}

// runRouteTable writes the sample route table with the gateways' FWD
// addresses (and its segment file beside it).
func runRouteTable(t *testing.T, dir string, gws ...*runGateway) string {
	t.Helper()
	src, err := os.ReadFile("../../testdata/routes/sample.yaml")
	if err != nil {
		t.Fatal(err)
	}
	y := string(src)
	for _, g := range gws {
		re := regexp.MustCompile(`(?m)(  - code: "` + g.code + `"\n(?:    .*\n)*?    fwd_addr: )\S+`)
		y = re.ReplaceAllString(y, "${1}"+g.fwd)
	}
	p := filepath.Join(dir, "routes.yaml")
	seg, err := os.ReadFile("../../testdata/routes/segments.csv")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "segments.csv"), seg, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// start writes the gateway's config from the demo's region template,
// routing from the table file, starts it and waits for /healthz.
func (g *runGateway) start(t *testing.T, bin, routes string) {
	t.Helper()
	tmpl, err := os.ReadFile("../../testdata/ismg/region.yaml.in")
	if err != nil {
		t.Fatal(err)
	}
	y := strings.NewReplacer("@CODE@", g.code, "@NAME@", g.region, "@REGION@", g.region, "@LINK@", g.link,
		"@DATA@", filepath.Join(g.dir, "data"), "@CMPP@", g.cmpp, "@HTTP@", g.http, "@FWD@", g.fwd,
		"@SMSC@", g.smsc.Addr()).Replace(string(tmpl))
	y = regexp.MustCompile(`(?m)^  gns: \[@GNS@\].*$`).ReplaceAllString(y, "  file: "+routes)
	if err := os.MkdirAll(g.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(g.dir, "ismg.yaml")
	if err := os.WriteFile(cfg, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	g.log = filepath.Join(g.dir, "ismg.log")
	f, err := os.Create(g.log)
	if err != nil {
		t.Fatal(err)
	}
	g.cmd = exec.Command(filepath.Join(bin, "ismg"), "-config", cfg, "-log-level", "warn")
	g.cmd.Stdout, g.cmd.Stderr = f, f
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	g.done = make(chan struct{})
	go func() {
		_ = g.cmd.Wait()
		f.Close()
		close(g.done)
	}()
	t.Cleanup(func() {
		_ = g.cmd.Process.Kill()
		<-g.done
	})
	waitfor.Cond(t, g.region+"'s /healthz", func() bool {
		select {
		case <-g.done:
			b, _ := os.ReadFile(g.log)
			t.Fatalf("ismg %s exited:\n%s", g.region, b)
		default:
		}
		resp, err := http.Get("http://" + g.http + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// stop ends the gateway with SIGTERM and waits for it.
func (g *runGateway) stop(t *testing.T) {
	t.Helper()
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.done:
	case <-time.After(waitfor.Timeout):
		t.Errorf("ismg %s did not stop on SIGTERM", g.region)
	}
}

// sina is the SP Sina logged in to a gateway, collecting status reports.
type sina struct {
	s       *cmpp.Session
	reports chan cmpp.Report
}

func dialSina(t *testing.T, addr string) *sina {
	t.Helper()
	c := &sina{reports: make(chan cmpp.Report, 1000)}
	ctx, cancel := context.WithTimeout(context.Background(), waitfor.Timeout)
	defer cancel()
	s, err := cmpp.Dial(ctx, addr, cmpp.ClientConfig{
		SourceAddr: "901234", Secret: "sina-secret", Version: cmpp.V30,
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

// submit sends one MT asking for a status report; Result must be 0.
func (c *sina) submit(t *testing.T, dest string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitfor.Timeout)
	defer cancel()
	resp, err := c.s.SendWait(ctx, &cmpp.Submit{
		PkTotal: 1, PkNumber: 1, RegisteredDelivery: 1, ServiceID: "NEWS", FeeType: "02", FeeCode: "10",
		MsgSrc: "901234", SrcID: "10657001", DestTerminalIDs: []string{dest}, MsgContent: "report me",
	})
	if err != nil {
		t.Fatalf("SUBMIT to %s: %v", dest, err)
	}
	if r := resp.(*cmpp.SubmitResp); r.Result != 0 {
		t.Fatalf("SUBMIT to %s: Result %d", dest, r.Result)
	} else {
		return r.MsgID
	}
	return 0
}

// waitReports takes status reports until every Msg_Id in want has one.
func (c *sina) waitReports(t *testing.T, want map[uint64]bool) {
	t.Helper()
	deadline := time.After(waitfor.Timeout)
	for got := map[uint64]bool{}; len(got) < len(want); {
		select {
		case r := <-c.reports:
			if want[r.MsgID] {
				got[r.MsgID] = true
			}
		case <-deadline:
			t.Fatalf("status reports: %d of %d", len(got), len(want))
		}
	}
}
