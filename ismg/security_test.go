package ismg

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/cmpp/cmpptest"

	"github.com/tandem-sms/tandem/billing"
	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/internal/testcerts"
	"github.com/tandem-sms/tandem/internal/waitfor"
)

// secondSP adds SP 902000 (secret other) behind the same addresses.
var secondSP = replace("smsc:\n", `  - sp_id: "902000"
    name: Other
    secret: other
    allowed_ips: [127.0.0.1]
    service_codes: ["10658001"]
    window: 16
    max_connections: 2
smsc:
`)

func connectAs(t *testing.T, addr, spID, secret string) uint32 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := cmpp.Dial(ctx, addr, cmpp.ClientConfig{SourceAddr: spID, Secret: secret, Version: cmpp.V30})
	if err == nil {
		s.Close()
		return cmpp.ConnectOK
	}
	var ce *cmpp.ConnectError
	if !errors.As(err, &ce) {
		t.Fatalf("CONNECT as %s: %v", spID, err)
	}
	return ce.Status
}

// Failed logins lock out the (source IP, SP) pair, not every SP behind the
// address; a higher per-IP ceiling stops a spray over many SP_Ids.
func TestLoginLockoutPerSP(t *testing.T) {
	e := newEnv(t, nil, secondSP, replace("  auth_failures: 3\n", "  auth_failures: 3\n  auth_failures_per_ip: 6\n"))
	addr := e.node.CMPPAddr()
	for range 5 {
		if st := connectAs(t, addr, testSP, "wrong"); st != cmpp.ConnectAuthFailed && st != cmpp.ConnectOther {
			t.Fatalf("wrong secret: status %d", st)
		}
	}
	if st := connectAs(t, addr, testSP, testSecret); st != cmpp.ConnectOther {
		t.Fatalf("locked-out SP with the right secret: status %d, want 5", st)
	}
	// The other SP behind the same NAT is not locked out.
	if st := connectAs(t, addr, "902000", "other"); st != cmpp.ConnectOK {
		t.Fatalf("other SP from the same address: status %d, want 0", st)
	}
	// 3 failures on SP 901234 counted, 2 were refused before checking;
	// 3 more on unknown SP_Ids reach the per-IP ceiling of 6: now every
	// SP from this address is refused.
	for i := range 3 {
		connectAs(t, addr, fmt.Sprintf("90900%d", i), "guess")
	}
	if st := connectAs(t, addr, "902000", "other"); st != cmpp.ConnectOther {
		t.Fatalf("after the per-IP ceiling: status %d, want 5", st)
	}
	if got := metric(t, e.node.HTTPAddr(), "ismg_connect_rejected_total", `reason="blocked"`); got < 2 {
		t.Errorf("blocked metric %v, want >= 2", got)
	}
}

// The probe's bad SUBMITs are refused with the spec's Result, counted, and
// leave no CDR.
func TestBadSubmitsRefusedUnbilled(t *testing.T) {
	e := newEnv(t, nil)
	c := mustSP(t, e.node.CMPPAddr(), cmpp.V30)
	for _, tc := range []struct {
		name   string
		mod    func(p *cmpp.Submit)
		result uint32
	}{
		{"Msg_Fmt 3", func(p *cmpp.Submit) { p.MsgFmt = 3 }, cmpp.ResultBadStructure},
		{"Msg_Fmt 99", func(p *cmpp.Submit) { p.MsgFmt = 99 }, cmpp.ResultBadStructure},
		{"Msg_Fmt 255", func(p *cmpp.Submit) { p.MsgFmt = 255 }, cmpp.ResultBadStructure},
		{"ASCII 0xFF", func(p *cmpp.Submit) { p.MsgContent = "\xff" }, cmpp.ResultBadStructure},
		{"invalid GBK", func(p *cmpp.Submit) { p.MsgFmt, p.MsgContent = 15, "\x81\x20" }, cmpp.ResultBadStructure},
		{"udhi without header", func(p *cmpp.Submit) { p.TPUDHI, p.MsgContent = 1, "\x40abc" }, cmpp.ResultBadStructure},
		{"UCS2 odd", func(p *cmpp.Submit) { p.MsgFmt, p.MsgContent = 8, "\x00\x41\x00" }, cmpp.ResultBadStructure},
		{"FeeType ZZ", func(p *cmpp.Submit) { p.FeeType = "ZZ" }, cmpp.ResultBadFeeCode},
		{"FeeCode abcdef", func(p *cmpp.Submit) { p.FeeCode = "abcdef" }, cmpp.ResultBadFeeCode},
		{"At_Time after ValId_Time", func(p *cmpp.Submit) {
			p.AtTime, p.ValidTime = "000000020000000R", "000000010000000R"
		}, cmpp.ResultBadStructure},
	} {
		p := submitPDU(bjNumber, 0, []byte("probe"))
		tc.mod(p)
		if r := c.submit(t, p); r.Result != tc.result || r.MsgID != 0 {
			t.Errorf("%s: Result %d Msg_Id %d, want Result %d and no Msg_Id", tc.name, r.Result, r.MsgID, tc.result)
		}
	}
	if got := metric(t, e.node.HTTPAddr(), "ismg_sp_submits_total", `result="rejected"`); got != 10 {
		t.Errorf("rejected metric %v, want 10", got)
	}
	e.stop()
	files, _ := filepath.Glob(filepath.Join(e.cfg.Billing.Dir, "*.csv"))
	for _, f := range files {
		recs, err := billing.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			t.Errorf("%s: a refused SUBMIT was billed: %+v", f, r)
		}
	}
}

// listen.pprof is off by default and must be a loopback address; the
// metrics port does not serve profiles.
func TestProfilerClosed(t *testing.T) {
	e := newEnv(t, nil)
	if code, err := httpGet(e.node.HTTPAddr(), "/debug/pprof/"); err != nil || code != 404 {
		t.Fatalf("/debug/pprof/ on the metrics port: %d %v, want 404", code, err)
	}
	dir := t.TempDir()
	_, err := ParseConfig("ismg.yaml", []byte(nodeYAML(t, dir, "127.0.0.1:1", replace("  http: 127.0.0.1:0\n", "  http: 127.0.0.1:0\n  pprof: 0.0.0.0:6060\n"))))
	if err == nil || !strings.Contains(err.Error(), "listen.pprof") || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("pprof on 0.0.0.0: err %v, want a listen.pprof loopback error", err)
	}
	e2 := newEnv(t, nil, replace("  http: 127.0.0.1:0\n", "  http: 127.0.0.1:0\n  pprof: 127.0.0.1:0\n"))
	if code, err := httpGet(e2.node.PProfAddr(), "/debug/pprof/"); err != nil || code != 200 {
		t.Fatalf("/debug/pprof/ on listen.pprof: %d %v", code, err)
	}
}

// An SP logs in on listen.cmpp_tls over TLS and submits; the node binds to
// an SMSC that only speaks TLS and delivers the message there.
func TestTLSLinks(t *testing.T) {
	ca := testcerts.NewCA(t, "tandem-test")
	nodeCert, smscCert := ca.Issue(t, "ismg"), ca.Issue(t, "smsc")

	// smscsim behind a TLS listener: a plaintext bind cannot reach it.
	smsc := startSMSC(t, nil)
	tl, err := tls.Listen("tcp", "127.0.0.1:0", testcerts.ServerConfig(smscCert, nil))
	if err != nil {
		t.Fatal(err)
	}
	go smsc.Serve(tl)

	dir := t.TempDir()
	y := nodeYAML(t, dir, tl.Addr().String(),
		replace("  http: 127.0.0.1:0\n", fmt.Sprintf("  http: 127.0.0.1:0\n  cmpp_tls: 127.0.0.1:0\n  tls: {cert: %s, key: %s}\n", nodeCert.CertFile, nodeCert.KeyFile)),
		replace("    default: true\n", fmt.Sprintf("    default: true\n    tls: {ca: %s, server_name: localhost}\n", ca.CAFile)))
	e := startNode(t, loadYAML(t, dir, y))

	conn, err := tls.Dial("tcp", e.node.CMPPTLSAddr(), testcerts.ClientConfig(ca, nil))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sess, err := cmpp.NewClient(ctx, conn, cmpp.ClientConfig{SourceAddr: testSP, Secret: testSecret, Version: cmpp.V30})
	if err != nil {
		t.Fatalf("login over TLS: %v", err)
	}
	defer sess.Close()
	resp, err := sess.SendWait(ctx, submitPDU(bjNumber, 0, []byte("over tls")))
	if err != nil || resp.(*cmpp.SubmitResp).Result != 0 {
		t.Fatalf("SUBMIT over TLS: %v %+v", err, resp)
	}
	waitfor.Cond(t, "the message at the TLS SMSC", func() bool { return smsc.Stats().Accepted == 1 })

	// Plaintext on the TLS port gets no CMPP session.
	if _, err := dialSP(t, e.node.CMPPTLSAddr(), cmpp.V30, testSecret); err == nil {
		t.Fatal("a plaintext login on the TLS port succeeded")
	}
}

// TestConnectFlood runs ismg with 128 file descriptors and floods its SP
// port with 500 idle connects from one address: the node holds at most
// max_pending_per_ip of them, a valid SP from another address logs in and
// submits, and /healthz answers throughout.
func TestConnectFlood(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "ismg")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/tandem-sms/tandem/cmd/ismg").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	smsc := startSMSC(t, nil)
	cfgPath := filepath.Join(dir, "ismg.yaml")
	y := nodeYAML(t, dir, smsc.Addr(), replace("  auth_failures: 3\n", "  auth_failures: 3\n  connect_timeout: 1m\n"))
	if err := os.WriteFile(cfgPath, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	limited := filepath.Join(dir, "ismg-limited")
	script := fmt.Sprintf("#!/bin/sh\nulimit -n 128 || exit 1\nexec %s \"$@\"\n", bin)
	if err := os.WriteFile(limited, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	ch := startChild(t, limited, cfgPath, filepath.Join(dir, "ismg.log"))

	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	var flood []net.Conn
	for range 500 {
		c, err := d.Dial("tcp", ch.cmppAddr)
		if err != nil {
			t.Fatalf("flood connect: %v", err)
		}
		flood = append(flood, c)
	}
	defer func() {
		for _, c := range flood {
			c.Close()
		}
	}()
	waitfor.Cond(t, "the refusals counted", func() bool {
		return metric(t, ch.httpAddr, "ismg_connect_rejected_total", `reason="pending_cap_per_ip"`) >= 500-16
	})
	if code, err := httpGet(ch.httpAddr, "/healthz"); err != nil || code != 200 {
		t.Fatalf("/healthz during the flood: %d %v", code, err)
	}
	c := mustSP(t, ch.cmppAddr, cmpp.V30)
	if r := c.submit(t, submitPDU(bjNumber, 0, []byte("during the flood"))); r.Result != 0 {
		t.Fatalf("SUBMIT during the flood: Result %d", r.Result)
	}
	_ = ch.cmd.Process.Signal(syscall.SIGTERM)
}

// A SUBMIT whose DestUsr_tl contradicts its body (0, 100, 200) is framed
// but does not decode: the SP gets SUBMIT_RESP Result 1 with its
// Sequence_Id, the session lives on, and the next SUBMIT is accepted.
func TestBadDestCountAnswered(t *testing.T) {
	e := newEnv(t, nil)
	c := cmpptest.DialRaw(t, e.node.CMPPAddr())
	if r := c.Connect(testSP, testSecret, cmpp.V30); r.Status != 0 {
		t.Fatalf("CONNECT: status %d", r.Status)
	}
	good := cmpp.AppendPDU(nil, cmpp.V30, 0, submitPDU(bjNumber, 0, []byte("ok")))
	const destCount = cmpp.HeaderLen + 128 // DestUsr_tl in a 3.0 SUBMIT (protocols.md §1.6)
	for _, n := range []byte{0, 100, 200} {
		bad := append([]byte(nil), good...)
		bad[destCount] = n
		seq := c.NextSeq()
		binary.BigEndian.PutUint32(bad[8:], seq)
		c.WriteBytes(bad)
		h, p := c.MustReadPDU()
		r, ok := p.(*cmpp.SubmitResp)
		if !ok || h.Seq != seq || r.Result != cmpp.ResultBadStructure {
			t.Fatalf("DestUsr_tl %d: got %v %+v (seq %d), want SUBMIT_RESP Result 1 seq %d", n, h.Command, p, h.Seq, seq)
		}
	}
	seq := c.NextSeq()
	c.WritePDU(seq, submitPDU(bjNumber, 0, []byte("after")))
	if h, p := c.MustReadPDU(); h.Seq != seq || p.(*cmpp.SubmitResp).Result != 0 {
		t.Fatalf("SUBMIT after the bad ones: %+v", p)
	}
	if got := metric(t, e.node.HTTPAddr(), "ismg_sp_bad_pdus_total", `reason="bad_field"`); got != 3 {
		t.Errorf("bad PDU metric %v, want 3", got)
	}
}
