package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/internal/waitfor"
	"github.com/tandem-sms/tandem/ismg"
	"github.com/tandem-sms/tandem/msgtrace"
	"github.com/tandem-sms/tandem/sim/smscsim"
)

const (
	token    = "t0ken"
	spID     = "901234"
	secret   = "s3cret"
	bjNumber = "13800100001"
)

// node is a real ISMG with its admin API on loopback.
type node struct {
	n      *ismg.Node
	path   string
	cancel context.CancelFunc
	done   chan error
}

func configYAML(t *testing.T, dir, smsc string, spWindow, linkWindow int) string {
	routes, _ := filepath.Abs("../../testdata/routes/sample.yaml")
	return fmt.Sprintf(`
gateway: {code: "001001", region: beijing}
data_dir: %s
listen: {cmpp: "127.0.0.1:0", http: "127.0.0.1:0", admin: "127.0.0.1:0"}
admin: {token: %s, tokens: {alice: alice-token}}
routes: {file: %s}
billing: {move_interval: 20ms}
delivery: {shutdown_timeout: 5s}
sps:
  - {sp_id: "%s", secret: %s, allowed_ips: [127.0.0.1], service_codes: ["10657001"], window: %d}
smsc:
  - {name: north, address: "%s", system_id: ismg, password: pw, window: %d, default: true, reconnect_min: 20ms, reconnect_max: 100ms}
`, filepath.Join(dir, "data"), token, routes, spID, secret, spWindow, smsc, linkWindow)
}

func startNode(t *testing.T, path string) *node {
	t.Helper()
	cfg, err := ismg.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := ismg.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	nd := &node{n: n, path: path, cancel: cancel, done: make(chan error, 1)}
	go func() { nd.done <- n.Run(ctx) }()
	t.Cleanup(nd.stop)
	return nd
}

func (nd *node) stop() {
	if nd.cancel == nil {
		return
	}
	nd.cancel()
	nd.cancel = nil
	if err := <-nd.done; err != nil {
		panic(err)
	}
}

// ctl runs ismgctl against nd and returns its exit code and output.
func (nd *node) ctl(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"--addr", nd.n.AdminAddr(), "--token", token}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func (nd *node) mustCtl(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errs := nd.ctl(t, args...)
	if code != 0 {
		t.Fatalf("ismgctl %v: exit %d: %s%s", args, code, out, errs)
	}
	return out
}

func dial(addr, id, sec string) (*cmpp.Session, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return cmpp.Dial(ctx, addr, cmpp.ClientConfig{SourceAddr: id, Secret: sec, Version: cmpp.V30,
		Handler: cmpp.HandlerFunc(func(s *cmpp.Session, h cmpp.Header, req cmpp.PDU) {
			if d, ok := req.(*cmpp.Deliver); ok {
				_ = s.Reply(h, &cmpp.DeliverResp{MsgID: d.MsgID})
			}
		})})
}

func connectStatus(err error) uint32 {
	var ce *cmpp.ConnectError
	if errors.As(err, &ce) {
		return ce.Status
	}
	return 999
}

func submit(t *testing.T, s *cmpp.Session, id, dest string) *cmpp.SubmitResp {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := s.SendWait(ctx, &cmpp.Submit{PkTotal: 1, PkNumber: 1, RegisteredDelivery: 1, ServiceID: "TEST", FeeType: "02", FeeCode: "10",
		MsgSrc: id, SrcID: "10657001", DestTerminalIDs: []string{dest}, MsgContent: "hi"})
	if err != nil {
		t.Fatalf("SUBMIT: %v", err)
	}
	return resp.(*cmpp.SubmitResp)
}

func metric(t *testing.T, addr, name string, filters ...string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
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

// cdrsWith reads the node's CDR files for lines containing every part.
func cdrsWith(dir string, parts ...string) int {
	files, _ := filepath.Glob(filepath.Join(dir, "data", "cdr", "cdr-*"))
	n := 0
	for _, f := range files {
		b, _ := os.ReadFile(f)
	lines:
		for _, l := range strings.Split(string(b), "\n") {
			for _, p := range parts {
				if !strings.Contains(l, p) {
					continue lines
				}
			}
			n++
		}
	}
	return n
}

// TestVerbs runs every ismgctl verb against a running node over loopback.
func TestVerbs(t *testing.T) {
	smsc, err := smscsim.New(smscsim.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := smsc.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { smsc.Close() })
	dir := t.TempDir()
	path := filepath.Join(dir, "ismg.yaml")
	if err := os.WriteFile(path, []byte(configYAML(t, dir, smsc.Addr(), 64, 10)), 0o644); err != nil {
		t.Fatal(err)
	}
	nd := startNode(t, path)
	httpAddr := nd.n.HTTPAddr()

	t.Run("token refused", func(t *testing.T) {
		var out, errb bytes.Buffer
		code := run(context.Background(), []string{"--addr", nd.n.AdminAddr(), "--token", "wrong", "sp", "list"}, &out, &errb)
		if code != exitError || !strings.Contains(errb.String(), "refused the token") {
			t.Fatalf("exit %d, stderr %q", code, errb.String())
		}
		code = run(context.Background(), []string{"--addr", nd.n.AdminAddr(), "sp", "list"}, &out, &errb)
		if code != exitError {
			t.Fatalf("no token: exit %d", code)
		}
	})
	t.Run("health without token", func(t *testing.T) {
		cc, err := grpc.NewClient(nd.n.AdminAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		r, err := healthpb.NewHealthClient(cc).Check(context.Background(), &healthpb.HealthCheckRequest{Service: "tandem.ismg.admin.v1.Admin"})
		if err != nil || r.Status != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health: %v %v", r, err)
		}
	})

	sess, err := dial(nd.n.CMPPAddr(), spID, secret)
	if err != nil {
		t.Fatal(err)
	}
	first := submit(t, sess, spID, bjNumber)
	if first.Result != 0 {
		t.Fatalf("first SUBMIT: Result %d", first.Result)
	}

	t.Run("trace", func(t *testing.T) {
		id := strconv.FormatUint(first.MsgID, 10)
		// The MT is accepted, submitted to the SMSC and its receipt comes
		// back; the trace (from the HTTP port) shows the steps in order.
		var tr msgtrace.Trace
		waitfor.Cond(t, "the trace of the first MT through its receipt", func() bool {
			code, out, _ := nd.ctl(t, "--http", httpAddr, "trace", id, "-o", "json")
			if code != 0 || json.Unmarshal([]byte(out), &tr) != nil {
				return false
			}
			stages := map[msgtrace.Stage]bool{}
			for _, st := range tr.Steps {
				stages[st.Stage] = !st.Pending
			}
			return tr.MsgID == id && stages[msgtrace.StageAccepted] && stages[msgtrace.StageReceipt]
		})
		if out := nd.mustCtl(t, "--http", httpAddr, "trace", id); !strings.Contains(out, "accepted") || !strings.Contains(out, "receipt") {
			t.Fatalf("trace table:\n%s", out)
		}
		if out := nd.mustCtl(t, "--http", httpAddr, "trace", "--dest", bjNumber); !strings.Contains(out, id) {
			t.Fatalf("trace --dest %s does not list %s:\n%s", bjNumber, id, out)
		}
		if code, _, errs := nd.ctl(t, "--http", httpAddr, "trace", "not-a-number"); code != exitUsage {
			t.Fatalf("trace not-a-number: exit %d, %s", code, errs)
		}
	})

	t.Run("sp list and show", func(t *testing.T) {
		var sps []map[string]any
		if err := json.Unmarshal([]byte(nd.mustCtl(t, "sp", "list", "-o", "json")), &sps); err != nil {
			t.Fatal(err)
		}
		if len(sps) != 1 || sps[0]["sp_id"] != spID || sps[0]["sessions"] != float64(1) || sps[0]["secret"] != "" || sps[0]["source"] != "config" {
			t.Fatalf("sp list: %v", sps)
		}
		if out := nd.mustCtl(t, "sp", "show", spID); !strings.Contains(out, "active") {
			t.Fatalf("sp show: %s", out)
		}
		if code, _, _ := nd.ctl(t, "sp", "show", "999999"); code != exitNotFound {
			t.Fatalf("sp show unknown: exit %d, want 3", code)
		}
	})

	t.Run("blacklisted destination", func(t *testing.T) {
		nd.mustCtl(t, "dest", "add", "black", "1380010", "--sp", spID)
		nd.mustCtl(t, "dest", "add", "white", "138")
		r := submit(t, sess, spID, bjNumber)
		if r.Result != cmpp.ResultBadDestTerminal || r.MsgID == 0 {
			t.Fatalf("blacklisted SUBMIT: Result %d Msg_Id %d, want 13 and the CDR's id", r.Result, r.MsgID)
		}
		if got := metric(t, httpAddr, "ismg_dest_refused_total", `list="black"`, `sp="901234"`); got != 1 {
			t.Fatalf("ismg_dest_refused_total = %v", got)
		}
		if got := metric(t, httpAddr, "ismg_sp_submits_total", `reason="dest_blocked"`); got != 1 {
			t.Fatalf("submits dest_blocked = %v", got)
		}
		waitfor.Cond(t, "the REJECTD CDR filed", func() bool { return cdrsWith(dir, "MT,LOCAL,", bjNumber, "REJECTD") == 1 })
		// The global white list admits 138… only.
		if r := submit(t, sess, spID, "13900100001"); r.Result != cmpp.ResultBadDestTerminal {
			t.Fatalf("off the white list: Result %d", r.Result)
		}
		out := nd.mustCtl(t, "dest", "list")
		if !strings.Contains(out, "global") || !strings.Contains(out, "1380010") {
			t.Fatalf("dest list: %s", out)
		}
		nd.mustCtl(t, "dest", "rm", "black", "1380010", "--sp", spID)
		nd.mustCtl(t, "dest", "rm", "white", "138")
		if r := submit(t, sess, spID, bjNumber); r.Result != 0 {
			t.Fatalf("after dest rm: Result %d", r.Result)
		}
		if code, _, _ := nd.ctl(t, "dest", "add", "grey", "1"); code != exitUsage {
			t.Fatalf("dest add grey: exit %d", code)
		}
	})

	t.Run("modify", func(t *testing.T) {
		var sp map[string]any
		if err := json.Unmarshal([]byte(nd.mustCtl(t, "sp", "modify", spID, "--window", "8", "--submit-rate", "50", "-o", "json")), &sp); err != nil {
			t.Fatal(err)
		}
		if sp["window"] != float64(8) || sp["submit_rate"] != float64(50) || sp["source"] != "config+admin" {
			t.Fatalf("modified: %v", sp)
		}
		if code, _, errs := nd.ctl(t, "sp", "modify", spID, "--window", "5000"); code != exitError || !strings.Contains(errs, "window") {
			t.Fatalf("bad window: exit %d %s", code, errs)
		}
	})

	t.Run("suspend mid-session", func(t *testing.T) {
		nd.mustCtl(t, "sp", "suspend", spID)
		select {
		case <-sess.Done():
		case <-time.After(waitfor.Timeout):
			t.Fatal("the session did not end")
		}
		if !errors.Is(sess.Err(), cmpp.ErrTerminated) {
			t.Logf("session ended with %v", sess.Err())
		}
		if _, err := dial(nd.n.CMPPAddr(), spID, secret); connectStatus(err) != cmpp.ConnectOther {
			t.Fatalf("login while suspended: %v, want status 5", err)
		}
		nd.mustCtl(t, "sp", "resume", spID)
		if sess, err = dial(nd.n.CMPPAddr(), spID, secret); err != nil {
			t.Fatalf("login after resume: %v", err)
		}
	})

	t.Run("create and delete", func(t *testing.T) {
		nd.mustCtl(t, "sp", "create", "901235", "--secret", "new", "--allowed-ips", "127.0.0.1", "--service-codes", "10657002", "--name", "Lottery")
		if code, _, _ := nd.ctl(t, "sp", "create", "901235", "--secret", "x"); code != exitError {
			t.Fatalf("create twice: exit %d", code)
		}
		s2, err := dial(nd.n.CMPPAddr(), "901235", "new")
		if err != nil {
			t.Fatalf("login as the created SP: %v", err)
		}
		out := nd.mustCtl(t, "sp", "delete", "901235")
		if !strings.Contains(out, "1 sessions closed") {
			t.Fatalf("delete: %s", out)
		}
		<-s2.Done()
		if _, err := dial(nd.n.CMPPAddr(), "901235", "new"); connectStatus(err) != cmpp.ConnectBadSource {
			t.Fatalf("login after delete: %v, want status 2", err)
		}
	})

	t.Run("link stop and start", func(t *testing.T) {
		nd.mustCtl(t, "link", "stop", "north")
		waitfor.Cond(t, "north unbound", func() bool {
			return strings.Contains(nd.mustCtl(t, "link", "list", "-o", "json"), `"stopped": true,
    "binds_up": 0`)
		})
		nd.mustCtl(t, "link", "start", "north")
		waitfor.Cond(t, "north bound again", func() bool {
			return strings.Contains(nd.mustCtl(t, "link", "list", "-o", "json"), `"stopped": false,
    "binds_up": 1`)
		})
	})

	t.Run("log level", func(t *testing.T) {
		// The node was built without WithLogLevel: the level is fixed.
		if code, _, errs := nd.ctl(t, "log-level", "debug"); code != exitError || !strings.Contains(errs, "fixed") {
			t.Fatalf("log-level debug: exit %d %s", code, errs)
		}
		if out := nd.mustCtl(t, "log-level"); strings.TrimSpace(out) != "info" {
			t.Fatalf("log-level: %q", out)
		}
	})

	t.Run("drain", func(t *testing.T) {
		nd.mustCtl(t, "drain")
		if r := submit(t, sess, spID, bjNumber); r.Result != cmpp.ResultFlowControl {
			t.Fatalf("SUBMIT while draining: Result %d, want 8", r.Result)
		}
		var d map[string]any
		if err := json.Unmarshal([]byte(nd.mustCtl(t, "drain", "--wait", "20s", "-o", "json")), &d); err != nil {
			t.Fatal(err)
		}
		if d["draining"] != true || d["empty"] != true {
			t.Fatalf("drain --wait: %v", d)
		}
		nd.mustCtl(t, "drain", "--off")
		if r := submit(t, sess, spID, bjNumber); r.Result != 0 {
			t.Fatalf("SUBMIT after drain --off: Result %d", r.Result)
		}
	})

	t.Run("reload", func(t *testing.T) {
		if err := os.WriteFile(path, []byte(configYAML(t, dir, smsc.Addr(), 32, 20)), 0o644); err != nil {
			t.Fatal(err)
		}
		out := nd.mustCtl(t, "reload")
		if !strings.Contains(out, "NEEDS RESTART: smsc[north]: window: 10 -> 20") || !strings.Contains(out, "applied: sps[901234].window: 64 -> 32") {
			t.Fatalf("reload: %s", out)
		}
		if got := metric(t, httpAddr, "ismg_config_last_reload_successful"); got != 1 {
			t.Fatalf("last reload successful = %v", got)
		}
		// The admin's window (8) wins over the file's.
		if out := nd.mustCtl(t, "sp", "show", spID, "-o", "json"); !strings.Contains(out, `"window": 8`) {
			t.Fatalf("after reload: %s", out)
		}
		if err := os.WriteFile(path, []byte("gateway: {code: nope}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if code, _, errs := nd.ctl(t, "reload"); code != exitError || !strings.Contains(errs, "reload failed") {
			t.Fatalf("bad reload: exit %d %s", code, errs)
		}
		if got := metric(t, httpAddr, "ismg_config_last_reload_successful"); got != 0 {
			t.Fatalf("last reload successful = %v after a failure", got)
		}
		if err := os.WriteFile(path, []byte(configYAML(t, dir, smsc.Addr(), 32, 10)), 0o644); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("audit", func(t *testing.T) {
		var es []map[string]any
		if err := json.Unmarshal([]byte(nd.mustCtl(t, "audit", "--limit", "100", "-o", "json")), &es); err != nil {
			t.Fatal(err)
		}
		actions := map[string]bool{}
		for _, e := range es {
			actions[e["action"].(string)] = true
			if e["who"] != "admin" || !strings.HasPrefix(e["peer"].(string), "127.0.0.1:") {
				t.Fatalf("audit entry %v", e)
			}
		}
		for _, a := range []string{"sp.create", "sp.modify", "sp.suspend", "sp.resume", "sp.delete", "dest.add", "dest.remove", "link.stop", "link.start", "drain.on", "drain.off", "reload"} {
			if !actions[a] {
				t.Errorf("no %s in the audit log: %v", a, actions)
			}
		}
		// A named token is recorded by its name.
		var out, errb bytes.Buffer
		if code := run(context.Background(), []string{"--addr", nd.n.AdminAddr(), "--token", "alice-token", "sp", "suspend", spID}, &out, &errb); code != 0 {
			t.Fatalf("alice: %s", errb.String())
		}
		nd.mustCtl(t, "sp", "resume", spID)
		if o := nd.mustCtl(t, "audit", "--limit", "2"); !strings.Contains(o, "alice") {
			t.Fatalf("audit: %s", o)
		}
	})

	t.Run("persisted across a restart", func(t *testing.T) {
		nd.stop()
		nd = startNode(t, path)
		var sps []map[string]any
		if err := json.Unmarshal([]byte(nd.mustCtl(t, "sp", "list", "-o", "json")), &sps); err != nil {
			t.Fatal(err)
		}
		if len(sps) != 1 || sps[0]["window"] != float64(8) {
			t.Fatalf("after restart: %v", sps)
		}
	})
}

func TestUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"--version"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "ismgctl ") {
		t.Fatalf("--version: %d %q", code, out.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"completion", "bash"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "ismgctl") {
		t.Fatalf("completion: %d", code)
	}
	if code := run(context.Background(), []string{"sp", "frob"}, &out, &errb); code != exitUsage {
		t.Fatalf("sp frob: %d", code)
	}
	if code := run(context.Background(), []string{"sp", "list", "-o", "xml"}, &out, &errb); code != exitUsage {
		t.Fatalf("-o xml: %d", code)
	}
	if code := run(context.Background(), []string{"--addr", "127.0.0.1:1", "sp", "list"}, &out, &errb); code != exitError || !strings.Contains(errb.String(), "no ISMG admin API answered") {
		t.Fatalf("nothing there: %d %s", code, errb.String())
	}
}
