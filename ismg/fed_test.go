package ismg

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/cmpp/cmpptest"
	"github.com/tandem-sms/tandem/internal/waitfor"
	"github.com/tandem-sms/tandem/sim/smscsim"
	"github.com/tandem-sms/tandem/smstext"
)

// The documents' regions, as in testdata/routes/sample.yaml.
var fedRegions = map[string]string{"001001": "beijing", "020001": "guangdong", "022001": "tianjin"}

const (
	tjNumber      = "13802200001" // segment 1380220 → 022001
	fedPeerSecret = "peer-secret"
)

// fedSite is one gateway of a test federation: its node and its SMSC.
type fedSite struct {
	code string
	env  *testEnv
	smsc *smscsim.SMSC
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// fedTable writes the sample route table with the gateways' fwd_addr set
// to addrs (code → address) and returns its path.
func fedTable(t testing.TB, dir string, addrs map[string]string) string {
	t.Helper()
	src, err := os.ReadFile(routesFile(t))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^(  - code: "(\d{6})"\n(?:    .*\n)*?    fwd_addr: )\S+`)
	out := re.ReplaceAllStringFunc(string(src), func(m string) string {
		sub := re.FindStringSubmatch(m)
		a, ok := addrs[sub[2]]
		if !ok {
			a = "127.0.0.1:1" // a gateway not running in this test
		}
		return sub[1] + a
	})
	p := filepath.Join(dir, "routes.yaml")
	if err := os.WriteFile(p, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	// The CSV of segments is found next to the table.
	csv, err := os.ReadFile(filepath.Join(filepath.Dir(routesFile(t)), "segments.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "segments.csv"), csv, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// startFederation starts a node per gateway code, each with its own
// smscsim, all peers of each other over CMPP_FWD on loopback.
func startFederation(t *testing.T, codes []string, mods ...func(code, y string) string) map[string]*fedSite {
	t.Helper()
	root := t.TempDir()
	addrs := map[string]string{}
	for _, c := range codes {
		addrs[c] = freeAddr(t)
	}
	table := fedTable(t, root, addrs)
	sites := map[string]*fedSite{}
	for _, c := range codes {
		smsc := startSMSC(t, nil)
		dir := filepath.Join(root, c)
		y := nodeYAML(t, dir, smsc.Addr(),
			replace(`code: "001001"`, fmt.Sprintf("code: %q", c)),
			replace("region: beijing", "region: "+fedRegions[c]),
			replace("  http: 127.0.0.1:0\n", "  http: 127.0.0.1:0\n  fwd: "+addrs[c]+"\n"),
			replace("delivery:\n", fmt.Sprintf(`federation:
  secret: %s
  allowed_ips: [127.0.0.1]
  retry_min: 50ms
  retry_max: 500ms
  response_timeout: 2s
delivery:
`, fedPeerSecret)))
		y = regexp.MustCompile(`(?m)^  file: .*$`).ReplaceAllString(y, "  file: "+table)
		for _, m := range mods {
			y = m(c, y)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		e := startNode(t, loadYAML(t, dir, y))
		e.smsc = smsc
		sites[c] = &fedSite{code: c, env: e, smsc: smsc}
	}
	return sites
}

// TestFederationMTAcrossRegions: Sina submits at Beijing for a Guangzhou
// number; Beijing forwards it (type 0), Guangzhou's SMSC delivers it, the
// status report travels back (type 2) and reaches Sina at Beijing with the
// Msg_Id Sina was given and the destination number.
func TestFederationMTAcrossRegions(t *testing.T) {
	sites := startFederation(t, []string{"001001", "020001"})
	bj, gz := sites["001001"], sites["020001"]
	sp := mustSP(t, bj.env.node.CMPPAddr(), cmpp.V30)

	content := "to the south"
	r := sp.submit(t, submitPDU(gzNumber, 0, []byte(content)))
	if r.Result != 0 {
		t.Fatalf("SUBMIT: Result %d", r.Result)
	}
	waitSMSC(t, gz.smsc, func(s smscsim.Stats) bool { return s.Accepted == 1 })
	subs := gz.smsc.Submitted()
	if len(subs) != 1 || string(subs[0].ShortMessage) != content || subs[0].DestAddr.Addr != gzNumber {
		t.Fatalf("Guangzhou's SMSC got %+v", subs)
	}
	if n := bj.smsc.Stats().Accepted; n != 0 {
		t.Fatalf("Beijing's SMSC got %d messages for a Guangzhou number", n)
	}
	ds := sp.waitDelivers(t, 30*time.Second, func(ds []*cmpp.Deliver) bool { return len(reports(ds)) == 1 })
	rep := reports(ds)[r.MsgID]
	if rep.Stat != cmpp.StatDelivered || rep.DestTerminalID != gzNumber {
		t.Fatalf("report at Beijing: %+v (reports %+v), want DELIVRD for Msg_Id %d to %s", rep, reports(ds), r.MsgID, gzNumber)
	}
	if got := metric(t, bj.env.node.HTTPAddr(), "ismg_fwd_sent_total", `type="mt"`, `result="ok"`); got != 1 {
		t.Errorf("Beijing MT FWDs sent: %v", got)
	}
	if got := metric(t, gz.env.node.HTTPAddr(), "ismg_fwd_sent_total", `type="mt_report"`, `result="ok"`); got != 1 {
		t.Errorf("Guangzhou reports sent back: %v", got)
	}
}

// TestFederationMOToPartition: a Tianjin user's MO to Sina's code goes to
// Beijing (the north partition) as a type 1 FWD and reaches Sina there; a
// Guangdong user's MO stays in Guangzhou (south). Sina's answer sends an MO
// report (type 3) back to Tianjin.
func TestFederationMOToPartition(t *testing.T) {
	sites := startFederation(t, []string{"001001", "020001", "022001"})
	bj, gz, tj := sites["001001"], sites["020001"], sites["022001"]
	north := mustSP(t, bj.env.node.CMPPAddr(), cmpp.V30)
	south := mustSP(t, gz.env.node.CMPPAddr(), cmpp.V30)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := tj.smsc.InjectMO(ctx, tjNumber, "10657001", "from tianjin", smstext.ASCII); err != nil {
		t.Fatal(err)
	}
	if err := gz.smsc.InjectMO(ctx, gzNumber, "10657001", "from guangdong", smstext.ASCII); err != nil {
		t.Fatal(err)
	}
	mo := func(c *sp, text string) {
		t.Helper()
		c.waitDelivers(t, 30*time.Second, func(ds []*cmpp.Deliver) bool {
			for _, d := range ds {
				if d.RegisteredDelivery == 0 && d.MsgContent == text {
					return true
				}
			}
			return false
		})
	}
	mo(north, "from tianjin")
	mo(south, "from guangdong")
	for _, d := range north.delivers {
		if d.MsgContent == "from guangdong" {
			t.Fatal("the Guangdong user's MO reached the north partition")
		}
	}
	waitfor.Cond(t, "the MO report back at Tianjin", func() bool {
		return metric(t, tj.env.node.HTTPAddr(), "ismg_fwd_mo_reports_total") == 1
	})
}

// A FWD resent after its FWD_RESP was lost is answered and dropped: the
// far SMSC gets the message once.
func TestFederationDuplicateFwdDropped(t *testing.T) {
	sites := startFederation(t, []string{"001001", "020001"})
	gz := sites["020001"]
	c := cmpptest.DialRaw(t, gz.env.node.FWDAddr())
	if r := c.Connect("001001", fedPeerSecret, cmpp.V30); r.Status != 0 {
		t.Fatalf("peer CONNECT: status %d", r.Status)
	}
	f := &cmpp.Fwd{
		SourceID: "001001", DestinationID: "020001", NodesCount: 1, MsgFwdType: cmpp.FwdMT,
		MsgID: cmpp.MakeMsgID(time.Now(), 1001, 7), PkTotal: 1, PkNumber: 1, RegisteredDelivery: 0,
		FeeType: "01", MsgSrc: testSP, SrcID: testSrc, DestID: gzNumber, MsgContent: "once",
	}
	for range 3 {
		seq := c.NextSeq()
		c.WritePDU(seq, f)
		h, p := c.MustReadPDU()
		if r, ok := p.(*cmpp.FwdResp); !ok || h.Seq != seq || r.Result != 0 || r.MsgID != f.MsgID {
			t.Fatalf("FWD_RESP %+v (seq %d), want Result 0 for Msg_Id %d", p, h.Seq, f.MsgID)
		}
	}
	waitSMSC(t, gz.smsc, func(s smscsim.Stats) bool { return s.Accepted >= 1 })
	if got := metric(t, gz.env.node.HTTPAddr(), "ismg_fwd_received_total", `outcome="duplicate"`); got != 2 {
		t.Errorf("duplicates counted %v, want 2", got)
	}
	if n := gz.smsc.Stats().Accepted; n != 1 {
		t.Fatalf("the SMSC got the message %d times", n)
	}
}
