package ismg

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tandem-sms/tandem/gns/gnspb"
	"github.com/tandem-sms/tandem/gns/gnstest"
	"github.com/tandem-sms/tandem/internal/waitfor"
	"github.com/tandem-sms/tandem/msgtrace"
	"github.com/tandem-sms/tandem/routing"
)

var consoleShot = flag.String("console.screenshot", "", "write the browser test's screenshot of the console to this PNG file (the README's: $PWD/docs/console.png from the module root)")

// importTable pushes the table file at path into the GNS at addr.
func importTable(t *testing.T, addr, path string) uint64 {
	t.Helper()
	tbl, err := routing.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := gnspb.NewGNSClient(cc).ImportTable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := gnspb.TableChunks(tbl, 1000, st.Send); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	resp, err := st.CloseAndRecv()
	if err != nil {
		t.Fatal(err)
	}
	return resp.Revision
}

// TestConsoleBrowser loads the console of Beijing in a real headless
// Chromium, with Beijing and Guangzhou following a real three-node GNS:
// it shows the live cluster (the GNS members and leader, the peer link
// up, the SMSC binds, the SP logged in), a route look-up answers
// Guangzhou with the segment that matched, and the trace of a
// cross-region MT shows every hop of the message and of its report.
func TestConsoleBrowser(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("no chromium on PATH: make test installs it (Debian's chromium package)")
	}
	gc := gnstest.Start(t, 3, nil)
	gnsAddr := gc.GRPCAddrs()[gc.WaitLeader()]
	var once sync.Once
	var rev uint64
	fileLine := regexp.MustCompile(`(?m)^  file: (.*)$`)
	sites := consoleFederation(t, func(code, y string) string {
		// The table startFederation wrote, with the FWD addresses, goes
		// into the GNS once; the nodes follow the GNS instead of the file.
		path := fileLine.FindStringSubmatch(y)[1]
		once.Do(func() { rev = importTable(t, gnsAddr, path) })
		y = fileLine.ReplaceAllString(y, "  gns: ["+strings.Join(gc.GRPCAddrs(), ", ")+"]")
		return y
	})
	bj := sites["001001"]
	for _, s := range sites {
		waitfor.Cond(t, "route cache at the imported revision", func() bool { return s.env.node.table().Revision() >= rev })
	}
	id := crossRegionMT(t, sites)
	waitfor.Cond(t, "a complete trace", func() bool {
		tr, err := bj.env.node.Trace(context.Background(), id)
		return err == nil && tr.Complete
	})

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1500, 1250))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	defer cancel()
	if err := chromedp.Do(bctx); err != nil { // starts the browser: no timeout on this first call
		t.Fatalf("start chromium: %v", err)
	}
	ctx, cancel := context.WithTimeout(bctx, 90*time.Second)
	defer cancel()
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	attr := func(sel, name string) string {
		t.Helper()
		r, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(sel), name))
		if err != nil {
			t.Fatalf("%s of %s: %v", name, sel, err)
		}
		return r.Value
	}

	// The live cluster: each of these appears once /status rendered.
	do("cluster view", chromedp.Navigate("http://"+bj.env.node.HTTPAddr()+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#gns-members tbody tr[data-key="gns3"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#gateways tbody tr[data-key="020001"] td.up`)),
		chromedp.WaitVisible(chromedp.CSS(`#smsc tbody tr[data-key="north"] td.up`)),
		chromedp.WaitVisible(chromedp.CSS(`#sps tbody tr[data-key="901234"]`)))
	gw, leader := text(`#node-gateway`), text(fmt.Sprintf(`#gns-members tbody tr[data-key="gns%d"] td:nth-child(4)`, gc.Leader()+1))
	link, bind := text(`#gateways tbody tr[data-key="020001"] td:nth-child(5)`), text(`#smsc tbody tr[data-key="north"] td:nth-child(3)`)
	spSessions := text(`#sps tbody tr[data-key="901234"] td:nth-child(3)`)
	if gw != "001001" || !strings.Contains(leader, "leader") || link != "up" || bind != "2/2" || spSessions != "1" {
		t.Errorf("cluster view: gateway %q, GNS leader %q, link to 020001 %q, north binds %q, Sina sessions %q", gw, leader, link, bind, spSessions)
	}

	do("route look-up", chromedp.SetValue(chromedp.CSS(`#route-input`), gzNumber),
		chromedp.Click(chromedp.CSS(`#route-go`)),
		chromedp.WaitVisible(chromedp.CSS(`#route-answer`)))
	routeGW, rule, desc := attr(`#route-answer`, "data-gateway"), attr(`#route-answer`, "data-rule"), text(`#route-result p`)
	if routeGW != "020001" || rule != "segment" || !strings.Contains(desc, "1380200") {
		t.Errorf("route look-up of %s: gateway %q, rule %q, %q", gzNumber, routeGW, rule, desc)
	}

	do("trace", chromedp.SetValue(chromedp.CSS(`#trace-input`), fmt.Sprint(id)),
		chromedp.Click(chromedp.CSS(`#trace-go`)),
		chromedp.WaitVisible(chromedp.CSS(`#trace-summary[data-complete="true"]`)))
	summary := text(`#trace-summary`)
	steps, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#trace-steps tr.step")].map(r => r.dataset.gateway + ":" + r.dataset.stage)`))
	if err != nil {
		t.Fatalf("trace steps: %v", err)
	}
	want := []string{"001001:" + string(msgtrace.StageAccepted), "001001:forwarded", "020001:received", "020001:submitted", "020001:receipt",
		"020001:report_forwarded", "001001:report_received", "001001:report_queued", "001001:delivered"}
	if strings.Join(steps, " ") != strings.Join(want, " ") || !strings.Contains(summary, "001001 → 020001") {
		t.Errorf("trace in the page: %q\nsteps %v\nwant  %v", summary, steps, want)
	}

	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	out := filepath.Join(t.TempDir(), "console.png")
	if *consoleShot != "" {
		out = *consoleShot
	}
	if err := os.WriteFile(out, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", out, len(png))
}
