package ismg

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/cmpp/cmpptest"
	"github.com/tandem-sms/tandem/internal/waitfor"
	"github.com/tandem-sms/tandem/routing"
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
	t    *testing.T
	code string
	cfg  Config
	env  *testEnv
	smsc *smscsim.SMSC
}

// restart stops the site's node gracefully and starts it again on the
// same data directory and addresses.
func (s *fedSite) restart() {
	s.t.Helper()
	s.env.stop()
	s.start()
}

func (s *fedSite) start() {
	s.t.Helper()
	e := startNode(s.t, s.cfg)
	e.smsc = s.smsc
	s.env = e
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
	addrs := map[string]string{}
	for _, c := range codes {
		addrs[c] = freeAddr(t)
	}
	return startFederationAt(t, codes, addrs, addrs, mods...)
}

// startFederationAt is startFederation with the FWD addresses the nodes
// listen on (listen) and the ones the route table gives their peers
// (table): a proxy in between sees their traffic.
func startFederationAt(t *testing.T, codes []string, listen, tableAddrs map[string]string, mods ...func(code, y string) string) map[string]*fedSite {
	t.Helper()
	root := t.TempDir()
	addrs := listen
	table := fedTable(t, root, tableAddrs)
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
		site := &fedSite{t: t, code: c, cfg: loadYAML(t, dir, y), smsc: smsc}
		site.start()
		sites[c] = site
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

// submitN submits n MTs to numbers starting with prefix and returns their
// Msg_Ids; every one must be acked.
func submitN(t *testing.T, c *sp, prefix string, n int) []uint64 {
	t.Helper()
	ids := make([]uint64, 0, n)
	for i := range n {
		r := c.submit(t, submitPDU(fmt.Sprintf("%s%04d", prefix, i), 0, []byte(fmt.Sprintf("msg %d", i))))
		if r.Result != 0 {
			t.Fatalf("SUBMIT %d: Result %d", i, r.Result)
		}
		ids = append(ids, r.MsgID)
	}
	return ids
}

// onceEach checks that the SMSC got every text "msg 0".."msg n-1" exactly
// once.
func onceEach(t *testing.T, s *smscsim.SMSC, n int) {
	t.Helper()
	count := map[string]int{}
	for _, sub := range s.Submitted() {
		count[string(sub.ShortMessage)]++
	}
	for i := range n {
		if c := count[fmt.Sprintf("msg %d", i)]; c != 1 {
			t.Fatalf("message %d reached the SMSC %d times", i, c)
		}
	}
}

// allReported waits until every id has its status report at the SP.
func allReported(t *testing.T, c *sp, ids []uint64) {
	t.Helper()
	ds := c.waitDelivers(t, 60*time.Second, func(ds []*cmpp.Deliver) bool {
		reps := reports(ds)
		for _, id := range ids {
			if _, ok := reps[id]; !ok {
				return false
			}
		}
		return true
	})
	for _, id := range ids {
		if st := reports(ds)[id].Stat; st != cmpp.StatDelivered {
			t.Fatalf("Msg_Id %d reported %q", id, st)
		}
	}
}

// TestFederationPeerOutage: Guangzhou is down while Beijing accepts MTs for
// it; they wait in Beijing's fwd:020001 and, once Guangzhou is back, each
// reaches Guangzhou's SMSC once and its report reaches the SP.
func TestFederationPeerOutage(t *testing.T) {
	sites := startFederation(t, []string{"001001", "020001"})
	bj, gz := sites["001001"], sites["020001"]
	c := mustSP(t, bj.env.node.CMPPAddr(), cmpp.V30)
	gz.env.stop()
	const n = 50
	ids := submitN(t, c, "1380200", n)
	if d := bj.env.node.Store().Len(qFwdPrefix + "020001"); d != n {
		t.Fatalf("fwd:020001 holds %d, want all %d while Guangzhou is down", d, n)
	}
	gz.start()
	allReported(t, c, ids)
	onceEach(t, gz.smsc, n)
}

// fwdProxy relays TCP to target PDU by PDU; each FWD_RESP coming back is
// passed on only if pass says so (pass may block: the response is held).
func fwdProxy(t *testing.T, listen, target string, pass func() bool) {
	t.Helper()
	l, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			go func() { io.Copy(out, in); out.Close() }()
			go func() {
				defer in.Close()
				// Relay PDU by PDU (Total_Length framing).
				hdr := make([]byte, cmpp.HeaderLen)
				for {
					if _, err := io.ReadFull(out, hdr); err != nil {
						return
					}
					size := binary.BigEndian.Uint32(hdr)
					body := make([]byte, int(size)-cmpp.HeaderLen)
					if _, err := io.ReadFull(out, body); err != nil {
						return
					}
					if cmpp.CommandID(binary.BigEndian.Uint32(hdr[4:])) == cmpp.CmdFwdResp && !pass() {
						continue
					}
					if _, err := in.Write(append(hdr[:cmpp.HeaderLen:cmpp.HeaderLen], body...)); err != nil {
						return
					}
				}
			}()
		}
	}()
}

// TestFederationLostFwdResp: FWD_RESPs from Guangzhou are lost on the way
// back; Beijing resends (counted) and Guangzhou's SMSC still gets each
// message once, with every report back at the SP.
func TestFederationLostFwdResp(t *testing.T) {
	listen := map[string]string{"001001": freeAddr(t), "020001": freeAddr(t)}
	table := map[string]string{"001001": listen["001001"], "020001": freeAddr(t)}
	var dropped atomic.Int32 // the first 5 FWD_RESPs are lost
	fwdProxy(t, table["020001"], listen["020001"], func() bool {
		return dropped.Load() >= 5 || dropped.Add(1) > 5
	})
	sites := startFederationAt(t, []string{"001001", "020001"}, listen, table, func(code, y string) string {
		return strings.Replace(y, "response_timeout: 2s", "response_timeout: 300ms", 1)
	})
	bj, gz := sites["001001"], sites["020001"]
	c := mustSP(t, bj.env.node.CMPPAddr(), cmpp.V30)
	const n = 20
	ids := submitN(t, c, "1380200", n)
	allReported(t, c, ids)
	onceEach(t, gz.smsc, n)
	if d := dropped.Load(); d != 5 {
		t.Fatalf("the proxy dropped %d FWD_RESPs, want 5", d)
	}
	if got := metric(t, bj.env.node.HTTPAddr(), "ismg_fwd_sent_total", `type="mt"`, `result="retry"`); got < 5 {
		t.Errorf("resends counted %v, want >= 5", got)
	}
	if got := metric(t, gz.env.node.HTTPAddr(), "ismg_fwd_received_total", `type="mt"`, `outcome="duplicate"`); got < 5 {
		t.Errorf("duplicates dropped %v, want >= 5", got)
	}
}

// TestFederationReportBeforeFwdResp: Guangzhou's report of an MT comes
// back before Beijing has Guangzhou's FWD_RESP (held here on the wire), so
// the MT is still in fwd:020001, not in await. Beijing refuses the report
// with Result 8 (outcome "early"), Guangzhou resends it after its backoff,
// and once the FWD_RESP is let through every report reaches the SP, each
// message delivered once.
func TestFederationReportBeforeFwdResp(t *testing.T) {
	listen := map[string]string{"001001": freeAddr(t), "020001": freeAddr(t)}
	table := map[string]string{"001001": listen["001001"], "020001": freeAddr(t)}
	release := make(chan struct{})
	fwdProxy(t, table["020001"], listen["020001"], func() bool {
		<-release
		return true
	})
	sites := startFederationAt(t, []string{"001001", "020001"}, listen, table, func(code, y string) string {
		return strings.Replace(y, "response_timeout: 2s", "response_timeout: 30s", 1)
	})
	let := sync.OnceFunc(func() { close(release) })
	t.Cleanup(let) // before the nodes stop, should the test end early
	bj, gz := sites["001001"], sites["020001"]
	c := mustSP(t, bj.env.node.CMPPAddr(), cmpp.V30)
	const n = 5
	ids := submitN(t, c, "1380200", n)
	waitfor.Cond(t, "Beijing refusing a report ahead of its FWD_RESP", func() bool {
		return metric(t, bj.env.node.HTTPAddr(), "ismg_fwd_received_total", `type="mt_report"`, `outcome="early"`) >= 1
	})
	if got := metric(t, bj.env.node.HTTPAddr(), "ismg_fwd_reports_unknown_total"); got != 0 {
		t.Fatalf("%v reports dropped as unknown while their MTs were in fwd:020001", got)
	}
	let()
	allReported(t, c, ids)
	onceEach(t, gz.smsc, n)
}

// TestFederationInteropFwd: a peer that is not Tandem — its FWD written
// here byte by byte from protocols.md §1.11, not with package cmpp — logs
// in, sends an MT in the 2.0 and in the 3.0 layout, gets FWD_RESP Result 0
// (1-byte Result in 2.0, 4-byte in 3.0), and Guangzhou's SMSC delivers
// both.
func TestFederationInteropFwd(t *testing.T) {
	sites := startFederation(t, []string{"001001", "020001"})
	gz := sites["020001"]
	for _, v := range []byte{0x20, 0x30} {
		conn, err := net.Dial("tcp", gz.env.node.FWDAddr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(20 * time.Second))
		// CMPP_CONNECT (§1.5): Source_Addr 6, AuthenticatorSource 16 =
		// MD5(Source_Addr + 9 NULs + secret + timestamp "MMDDHHMMSS"),
		// Version 1, Timestamp 4.
		ts := uint32(1207120000)
		auth := md5.Sum(fmt.Appendf(append(append([]byte("001001"), make([]byte, 9)...), fedPeerSecret...), "%010d", ts))
		body := append([]byte("001001"), auth[:]...)
		body = append(body, v)
		body = binary.BigEndian.AppendUint32(body, ts)
		writeRaw(t, conn, 0x00000001, 1, body)
		// CONNECT_RESP: Status 1 byte (2.0) / 4 bytes (3.0), then
		// AuthenticatorISMG 16 and Version 1.
		cmd, resp := readRaw(t, conn)
		status := uint32(resp[0])
		if v == 0x30 {
			status = binary.BigEndian.Uint32(resp)
		}
		if cmd != 0x80000001 || status != 0 {
			t.Fatalf("CONNECT_RESP %#x % x", cmd, resp)
		}
		text := fmt.Sprintf("interop v%x", v)
		id := uint64(0x0123456789ABCDEF) + uint64(v)
		writeRaw(t, conn, 0x00000009, 2, handFwd(v, id, gzNumber, text))
		cmd, resp = readRaw(t, conn)
		// FWD_RESP: Msg_Id 8, Pk_total 1, Pk_number 1, Result 1 (2.0) / 4 (3.0).
		want := 11
		if v == 0x30 {
			want = 14
		}
		if cmd != 0x80000009 || len(resp) != want || binary.BigEndian.Uint64(resp) != id || resp[8] != 1 || resp[9] != 1 {
			t.Fatalf("v%x FWD_RESP %#x % x", v, cmd, resp)
		}
		for _, b := range resp[10:] {
			if b != 0 {
				t.Fatalf("v%x FWD_RESP Result % x, want 0", v, resp[10:])
			}
		}
		waitfor.Cond(t, "the interop message at the SMSC", func() bool {
			for _, s := range gz.smsc.Submitted() {
				if string(s.ShortMessage) == text {
					return true
				}
			}
			return false
		})
	}
}

// handFwd builds a CMPP_FWD body, type 0 MT from gateway 001001 to 020001,
// field by field from protocols.md §1.11.
func handFwd(v byte, id uint64, dest, text string) []byte {
	fixed := func(b []byte, s string, n int) []byte {
		return append(b, append([]byte(s), make([]byte, n-len(s))...)...)
	}
	v3 := v >= 0x30
	b := fixed(nil, "001001", 6) // Source_Id
	b = fixed(b, "020001", 6)    // Destination_Id
	b = append(b, 1, 0)          // NodesCount, Msg_Fwd_Type 0 (MT)
	b = binary.BigEndian.AppendUint64(b, id)
	b = append(b, 1, 1, 1, 0) // Pk_total, Pk_number, Registered_Delivery, Msg_level
	b = fixed(b, "TEST", 10)  // Service_Id
	b = append(b, 0)          // Fee_UserType
	b = fixed(b, "", 21)      // Fee_terminal_Id (21 in both versions)
	if v3 {
		b = fixed(b, "", 32) // Fee_terminal_Pseudo
		b = append(b, 0)     // Fee_terminal_UserType
	}
	b = append(b, 0, 0, 0)       // TP_pid, TP_udhi, Msg_Fmt 0 (ASCII)
	b = fixed(b, "901234", 6)    // Msg_src
	b = fixed(b, "01", 2)        // FeeType
	b = fixed(b, "000000", 6)    // FeeCode
	b = fixed(b, "", 17)         // Valid_Time
	b = fixed(b, "", 17)         // At_Time
	b = fixed(b, "10657001", 21) // Src_Id: the SP's service code
	if v3 {
		b = fixed(b, "", 32) // Src_Pseudo
		b = append(b, 0, 0)  // Src_UserType, Src_type
	}
	b = append(b, 1)       // DestUsr_tl: must be 1
	b = fixed(b, dest, 21) // Dest_Id (21 in both versions)
	if v3 {
		b = fixed(b, "", 32) // Dest_Pseudo
		b = append(b, 0)     // Dest_UserType
	}
	b = append(b, byte(len(text))) // Msg_Length
	b = append(b, text...)         // Msg_Content
	if v3 {
		return fixed(b, "", 20) // LinkID
	}
	return fixed(b, "", 8) // Reserve
}

func writeRaw(t *testing.T, c net.Conn, cmd, seq uint32, body []byte) {
	t.Helper()
	h := binary.BigEndian.AppendUint32(nil, uint32(12+len(body)))
	h = binary.BigEndian.AppendUint32(h, cmd)
	h = binary.BigEndian.AppendUint32(h, seq)
	if _, err := c.Write(append(h, body...)); err != nil {
		t.Fatal(err)
	}
}

func readRaw(t *testing.T, c net.Conn) (uint32, []byte) {
	t.Helper()
	h := make([]byte, 12)
	if _, err := io.ReadFull(c, h); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, binary.BigEndian.Uint32(h)-12)
	if _, err := io.ReadFull(c, body); err != nil {
		t.Fatal(err)
	}
	return binary.BigEndian.Uint32(h[4:]), body
}

// TestFederationMembership: with gossip on (a shared key), each gateway
// sees the other's node alive, forwards to it, and sees it leave when it
// stops.
func TestFederationMembership(t *testing.T) {
	gossip := map[string]string{"001001": freeAddr(t), "020001": freeAddr(t)}
	key := "dGFuZGVtLWdvc3NpcC0xNg==" // base64 of 16 bytes
	sites := startFederation(t, []string{"001001", "020001"}, func(code, y string) string {
		seed := gossip["001001"]
		return strings.Replace(y, "federation:\n", fmt.Sprintf(`federation:
  membership:
    bind: %s
    seeds: [%s]
    key: %s
`, gossip[code], seed, key), 1)
	})
	bj, gz := sites["001001"], sites["020001"]
	waitfor.Cond(t, "Beijing to see Guangzhou's node alive", func() bool {
		return metric(t, bj.env.node.HTTPAddr(), "federation_members_alive", `gateway="020001"`) == 1
	})
	c := mustSP(t, bj.env.node.CMPPAddr(), cmpp.V30)
	ids := submitN(t, c, "1380200", 5)
	allReported(t, c, ids)
	gz.env.stop()
	waitfor.Cond(t, "Beijing to see Guangzhou's node leave", func() bool {
		return metric(t, bj.env.node.HTTPAddr(), "federation_members_alive", `gateway="020001"`) == 0
	})
}

// TestFederationLongMessage: a long message — three SUBMITs with a
// concatenation header, one Msg_Id each — crosses the hop segment by
// segment: Guangzhou's SMSC gets the three segments with their UDH, and
// each Msg_Id gets its report at Beijing.
func TestFederationLongMessage(t *testing.T) {
	sites := startFederation(t, []string{"001001", "020001"})
	bj, gz := sites["001001"], sites["020001"]
	c := mustSP(t, bj.env.node.CMPPAddr(), cmpp.V30)
	segs, err := smstext.SplitText(strings.Repeat("Tandem crosses gateways. ", 12), smstext.UCS2, smstext.SplitOptions{Ref: 42})
	if err != nil || len(segs) < 2 {
		t.Fatalf("split: %d segments, %v", len(segs), err)
	}
	var ids []uint64
	for i, s := range segs {
		p := submitPDU(gzNumber, 8, s.Bytes())
		p.TPUDHI, p.PkTotal, p.PkNumber = 1, uint8(len(segs)), uint8(i+1)
		r := c.submit(t, p)
		if r.Result != 0 {
			t.Fatalf("segment %d: Result %d", i+1, r.Result)
		}
		ids = append(ids, r.MsgID)
	}
	waitSMSC(t, gz.smsc, func(s smscsim.Stats) bool { return s.Accepted == uint64(len(segs)) })
	for i, sub := range gz.smsc.Submitted() {
		h, _, err := smstext.ParseUDH(sub.ShortMessage)
		if err != nil || h.Concat.Total != uint8(len(segs)) || h.Concat.Ref != 42 {
			t.Fatalf("submit_sm %d at Guangzhou: UDH %+v, %v", i, h.Concat, err)
		}
	}
	allReported(t, c, ids)
}

// TestFederationFwdUnreachable: Guangzhou runs, but its FWD port cannot be
// reached (the route table sends peers to an address nothing listens on);
// Beijing accepts MTs for Guangzhou meanwhile. Once the address answers
// (a relay to Guangzhou's FWD port starts there), every one is delivered
// once and reported.
func TestFederationFwdUnreachable(t *testing.T) {
	listen := map[string]string{"001001": freeAddr(t), "020001": freeAddr(t)}
	table := map[string]string{"001001": listen["001001"], "020001": freeAddr(t)}
	sites := startFederationAt(t, []string{"001001", "020001"}, listen, table)
	bj, gz := sites["001001"], sites["020001"]
	c := mustSP(t, bj.env.node.CMPPAddr(), cmpp.V30)
	const n = 30
	ids := submitN(t, c, "1380200", n)
	if d := bj.env.node.Store().Len(qFwdPrefix + "020001"); d != n {
		t.Fatalf("fwd:020001 holds %d, want all %d while the peer is unreachable", d, n)
	}
	if got := gz.smsc.Stats().Accepted; got != 0 {
		t.Fatalf("Guangzhou's SMSC got %d messages through an unreachable port", got)
	}
	fwdProxy(t, table["020001"], listen["020001"], func() bool { return true })
	allReported(t, c, ids)
	onceEach(t, gz.smsc, n)
}

// withSegment loads the table at path with one more segment, prefix →
// gateway (its SMSC link north), as a route change pushed to a node.
func withSegment(t *testing.T, path, prefix, gateway string) *routing.Table {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	seg := fmt.Sprintf("segments:\n  - prefix: %q\n    gateway: %q\n    smsc: north\n    area_code: \"010\"\n", prefix, gateway)
	p := filepath.Join(t.TempDir(), "routes.yaml")
	if err := os.WriteFile(p, bytes.Replace(b, []byte("segments:\n"), []byte(seg), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, csv := range []string{"segments.csv"} {
		if c, err := os.ReadFile(filepath.Join(filepath.Dir(path), csv)); err == nil {
			if err := os.WriteFile(filepath.Join(filepath.Dir(p), csv), c, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	tb, err := routing.LoadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// TestFederationRerouteAtSend: MTs wait in fwd:020001 while Guangzhou's
// FWD port is unreachable; meanwhile their numbers move home to Beijing
// itself. When Guangzhou is reachable again they are not sent there: the
// forwarder decides the route when it sends, so Beijing's own SMSC gets
// them, each once, and every report reaches the SP.
func TestFederationRerouteAtSend(t *testing.T) {
	listen := map[string]string{"001001": freeAddr(t), "020001": freeAddr(t)}
	table := map[string]string{"001001": listen["001001"], "020001": freeAddr(t)}
	sites := startFederationAt(t, []string{"001001", "020001"}, listen, table)
	bj, gz := sites["001001"], sites["020001"]
	c := mustSP(t, bj.env.node.CMPPAddr(), cmpp.V30)
	const n = 10
	ids := submitN(t, c, "1380200", n)
	if d := bj.env.node.Store().Len(qFwdPrefix + "020001"); d != n {
		t.Fatalf("fwd:020001 holds %d, want all %d while the peer is unreachable", d, n)
	}
	bj.env.node.routes.Store(withSegment(t, bj.cfg.Routes.File, "13802000", "001001"))
	fwdProxy(t, table["020001"], listen["020001"], func() bool { return true })
	allReported(t, c, ids)
	onceEach(t, bj.smsc, n)
	if got := gz.smsc.Stats().Accepted; got != 0 {
		t.Errorf("Guangzhou's SMSC got %d messages whose home moved to Beijing", got)
	}
	if got := metric(t, bj.env.node.HTTPAddr(), "ismg_fwd_rerouted_total"); got != n {
		t.Errorf("ismg_fwd_rerouted_total = %v, want %d", got, n)
	}
}

// TestFederationBounceRefused: Beijing's table sends a number to
// Guangzhou, whose table (for a moment) says it is Beijing's. Guangzhou
// passes it back; Beijing, which forwarded it, refuses it with Result 8
// rather than run it in a circle. Once Guangzhou's table agrees, its
// resend decides the route again and delivers it there: every message at
// Guangzhou's SMSC once, every report back at the SP.
func TestFederationBounceRefused(t *testing.T) {
	sites := startFederation(t, []string{"001001", "020001"})
	bj, gz := sites["001001"], sites["020001"]
	gzWas := gz.env.node.routes.Load()
	gz.env.node.routes.Store(withSegment(t, gz.cfg.Routes.File, "13802000", "001001"))
	c := mustSP(t, bj.env.node.CMPPAddr(), cmpp.V30)
	const n = 5
	ids := submitN(t, c, "1380200", n)
	waitfor.Cond(t, "Beijing refusing a bounced MT", func() bool {
		return metric(t, bj.env.node.HTTPAddr(), "ismg_fwd_received_total", `type="mt"`, `outcome="bounce"`) >= 1
	})
	gz.env.node.routes.Store(gzWas)
	allReported(t, c, ids)
	onceEach(t, gz.smsc, n)
	if got := bj.smsc.Stats().Accepted; got != 0 {
		t.Errorf("Beijing's SMSC got %d messages homed at Guangzhou", got)
	}
}

// TestFederationBounceReclaimed: Beijing forwards to Guangzhou, whose
// table says the numbers are Beijing's, so Guangzhou sends them back and
// Beijing refuses them (Result 8). Then Beijing's table changes too: the
// numbers are its own. Guangzhou's next resend is not refused but
// reclaimed — Beijing moves its waiting record to its own SMSC link and
// answers Result 9, ending Guangzhou's copy — so each message is delivered
// once, at Beijing, and reported DELIVRD, where refusing again would have
// left both gateways waiting on each other.
func TestFederationBounceReclaimed(t *testing.T) {
	sites := startFederation(t, []string{"001001", "020001"})
	bj, gz := sites["001001"], sites["020001"]
	gz.env.node.routes.Store(withSegment(t, gz.cfg.Routes.File, "13802000", "001001"))
	c := mustSP(t, bj.env.node.CMPPAddr(), cmpp.V30)
	const n = 5
	ids := submitN(t, c, "1380200", n)
	waitfor.Cond(t, "Beijing refusing a bounced MT", func() bool {
		return metric(t, bj.env.node.HTTPAddr(), "ismg_fwd_received_total", `type="mt"`, `outcome="bounce"`) >= 1
	})
	bj.env.node.routes.Store(withSegment(t, bj.cfg.Routes.File, "13802000", "001001"))
	allReported(t, c, ids)
	onceEach(t, bj.smsc, n)
	if got := gz.smsc.Stats().Accepted; got != 0 {
		t.Errorf("Guangzhou's SMSC got %d messages", got)
	}
	if got := metric(t, bj.env.node.HTTPAddr(), "ismg_fwd_received_total", `type="mt"`, `outcome="reclaimed"`); got < 1 {
		t.Errorf("reclaimed bounces %v, want >= 1", got)
	}
}
