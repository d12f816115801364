package ismg

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/internal/waitfor"
	"github.com/tandem-sms/tandem/msgtrace"
)

// consoleFederation starts Beijing and Guangzhou with known HTTP ports,
// each naming the other's in federation.peers[].http_addr so a trace
// follows the hops, and extra YAML edits per node.
func consoleFederation(t *testing.T, mods ...func(code, y string) string) map[string]*fedSite {
	t.Helper()
	codes := []string{"001001", "020001"}
	httpAddr := map[string]string{}
	for _, c := range codes {
		httpAddr[c] = freeAddr(t)
	}
	withHTTP := func(code, y string) string {
		y = strings.Replace(y, "  http: 127.0.0.1:0\n", "  http: "+httpAddr[code]+"\n", 1)
		var peers strings.Builder
		peers.WriteString("federation:\n  peers:\n")
		for _, c := range codes {
			if c != code {
				fmt.Fprintf(&peers, "    - code: %q\n      http_addr: %s\n", c, httpAddr[c])
			}
		}
		return strings.Replace(y, "federation:\n", peers.String(), 1)
	}
	return startFederation(t, codes, append([]func(code, y string) string{withHTTP}, mods...)...)
}

func getJSON(t testing.TB, url, token string, v any) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
	}
	return resp.StatusCode
}

// crossRegionMT submits one MT at Beijing for a Guangzhou number and
// waits for its status report to reach the SP; it returns the Msg_Id.
func crossRegionMT(t *testing.T, sites map[string]*fedSite) uint64 {
	t.Helper()
	sp := mustSP(t, sites["001001"].env.node.CMPPAddr(), cmpp.V30)
	r := sp.submit(t, submitPDU(gzNumber, 0, []byte("where am I?")))
	if r.Result != 0 {
		t.Fatalf("SUBMIT: Result %d", r.Result)
	}
	sp.waitDelivers(t, 30*time.Second, func(ds []*cmpp.Deliver) bool { return len(reports(ds)) == 1 })
	return r.MsgID
}

// wantCrossRegionTrace checks the trace of an MT from Beijing delivered
// in Guangzhou, its report back in Beijing.
func wantCrossRegionTrace(t *testing.T, tr msgtrace.Trace, id uint64) {
	t.Helper()
	if tr.MsgID != fmt.Sprint(id) || tr.Origin != "001001" || len(tr.Hops) != 2 || tr.Hops[1].Gateway != "020001" {
		t.Fatalf("trace %+v", tr)
	}
	var got []string
	for _, s := range tr.Steps {
		got = append(got, s.Gateway+":"+string(s.Stage))
		if s.Pending {
			t.Errorf("step %+v pending", s)
		}
		if s.Stage != msgtrace.StageDelivered && s.Time == nil {
			t.Errorf("step %+v has no time", s)
		}
	}
	want := []string{"001001:accepted", "001001:forwarded", "020001:received", "020001:submitted", "020001:receipt",
		"020001:report_forwarded", "001001:report_received", "001001:report_queued", "001001:delivered"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("steps\n got %v\nwant %v", got, want)
	}
	for _, s := range tr.Steps {
		switch s.Stage {
		case msgtrace.StageForwarded:
			if s.Peer != "020001" {
				t.Errorf("forwarded to %q", s.Peer)
			}
		case msgtrace.StageSubmitted:
			if s.Link != "north" {
				t.Errorf("submitted on link %q, want north (Guangzhou's only link)", s.Link)
			}
		case msgtrace.StageReceipt:
			if s.Status != cmpp.StatDelivered {
				t.Errorf("receipt %q", s.Status)
			}
		}
	}
	if !tr.Complete {
		t.Errorf("trace not complete")
	}
}

// TestConsoleTraceCrossRegion: a cross-region MT traced from either
// gateway shows every hop with its time, both from the CDR outbox (before
// the mover filed them) and from the files; a search by destination finds
// it.
func TestConsoleTraceCrossRegion(t *testing.T) {
	sites := consoleFederation(t)
	bj, gz := sites["001001"], sites["020001"]
	id := crossRegionMT(t, sites)
	var tr msgtrace.Trace
	waitfor.Cond(t, "a complete trace", func() bool {
		tr = msgtrace.Trace{}
		getJSON(t, "http://"+bj.env.node.HTTPAddr()+"/trace?msg_id="+fmt.Sprint(id), "", &tr)
		return tr.Complete
	})
	wantCrossRegionTrace(t, tr, id)

	// From Guangzhou, after the CDRs reached the files.
	waitFiled(t, bj.env.node)
	waitFiled(t, gz.env.node)
	c := &msgtrace.Client{Addr: func(gw string) (string, bool) {
		return map[string]string{"001001": bj.env.node.HTTPAddr(), "020001": gz.env.node.HTTPAddr()}[gw], true
	}}
	tr2, err := c.Follow(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	wantCrossRegionTrace(t, tr2, id)
	var viaGZ msgtrace.Trace
	getJSON(t, "http://"+gz.env.node.HTTPAddr()+"/trace?msg_id="+fmt.Sprint(id), "", &viaGZ)
	wantCrossRegionTrace(t, viaGZ, id)

	res, err := c.Search(context.Background(), bj.env.node.HTTPAddr(), gzNumber, time.Now().Add(-time.Hour), time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Matches) != 2 || res.Matches[0].MsgID != fmt.Sprint(id) || res.Matches[0].NextGateway != "020001" {
		t.Fatalf("search: %+v", res)
	}
}

// TestConsoleStatusAndRoute: /status describes the node from its own
// state, /route answers with the rule that matched.
func TestConsoleStatusAndRoute(t *testing.T) {
	sites := consoleFederation(t)
	bj := sites["001001"]
	sp := mustSP(t, bj.env.node.CMPPAddr(), cmpp.V30)
	_ = sp
	var st Status
	waitfor.Cond(t, "the peer link up in /status", func() bool {
		st = Status{}
		getJSON(t, "http://"+bj.env.node.HTTPAddr()+"/status", "", &st)
		return len(st.Peers) > 0 && st.Peers[0].Up && len(st.SPs) == 1 && st.SPs[0].Sessions == 1
	})
	if st.Node.Gateway != "001001" || st.Node.Region != "beijing" || st.Routes.Source != "file" || st.Routes.Gateways == 0 {
		t.Errorf("status: %+v", st)
	}
	if len(st.SMSCLinks) != 1 || st.SMSCLinks[0].Name != "north" || st.SMSCLinks[0].Ready == 0 {
		t.Errorf("smsc links: %+v", st.SMSCLinks)
	}
	if st.SPs[0].SPID != "901234" || st.SPs[0].Name != "Sina" {
		t.Errorf("sps: %+v", st.SPs)
	}
	var self, gz bool
	for _, g := range st.Gateways {
		self = self || (g.Code == "001001" && g.Self)
		gz = gz || (g.Code == "020001" && g.Link == "up")
	}
	if !self || !gz {
		t.Errorf("gateways: %+v", st.Gateways)
	}

	var a RouteAnswer
	if code := getJSON(t, "http://"+bj.env.node.HTTPAddr()+"/route?number="+gzNumber, "", &a); code != 200 {
		t.Fatalf("route: %d", code)
	}
	if a.Gateway.Code != "020001" || a.Rule != "segment" || a.Prefix != "1380200" || a.Queue != "fwd:020001" {
		t.Errorf("route %s: %+v", gzNumber, a)
	}
	a = RouteAnswer{}
	getJSON(t, "http://"+bj.env.node.HTTPAddr()+"/route?service_code=10657001&gateway=020001", "", &a)
	if a.SPID != "901234" || a.Rule != "partition" || a.Partition != "south" || a.Gateway.Code != "020001" {
		t.Errorf("route MO: %+v", a)
	}
	if code := getJSON(t, "http://"+bj.env.node.HTTPAddr()+"/route?number=99", "", &a); code != http.StatusNotFound {
		t.Errorf("route of a bad number: %d", code)
	}
}

// TestConsoleToken: with listen.http_token the API wants it; /healthz
// and the page do not.
func TestConsoleToken(t *testing.T) {
	e := newEnv(t, nil, replace("  http: 127.0.0.1:0\n", "  http: 127.0.0.1:0\n  http_token: sesame\n"))
	base := "http://" + e.node.HTTPAddr()
	var st Status
	if code := getJSON(t, base+"/status", "", &st); code != http.StatusUnauthorized {
		t.Errorf("/status without the token: %d", code)
	}
	if code := getJSON(t, base+"/status", "sesame", &st); code != http.StatusOK || st.Node.Gateway != "001001" {
		t.Errorf("/status with the token: %d %+v", code, st.Node)
	}
	// /healthz is 503 until the SMSC link's first bind is up.
	waitfor.Cond(t, "the SMSC bind", func() bool { return e.node.links["north"].link.Status().Ready > 0 })
	for _, p := range []string{"/healthz", "/", "/console.js"} {
		if code, err := httpGet(e.node.HTTPAddr(), p); err != nil || code != http.StatusOK {
			t.Errorf("GET %s: %d %v", p, code, err)
		}
	}
}

// TestConsoleTraceInFlight: an MT for a gateway that is down waits in
// fwd:<gw>; its trace says so, and the hop it cannot ask is named.
func TestConsoleTraceInFlight(t *testing.T) {
	sites := startFederation(t, []string{"001001"}) // Guangzhou is not running
	bj := sites["001001"]
	sp := mustSP(t, bj.env.node.CMPPAddr(), cmpp.V30)
	r := sp.submit(t, submitPDU(gzNumber, 0, []byte("still here")))
	if r.Result != 0 {
		t.Fatalf("SUBMIT: Result %d", r.Result)
	}
	var tr msgtrace.Trace
	getJSON(t, "http://"+bj.env.node.HTTPAddr()+"/trace?msg_id="+fmt.Sprint(r.MsgID), "", &tr)
	if len(tr.Hops) != 2 || tr.Hops[1].Gateway != "020001" || !strings.Contains(tr.Hops[1].Error, "http_addr") || tr.Complete {
		t.Fatalf("hops %+v", tr.Hops)
	}
	var fwd *msgtrace.Step
	for i, s := range tr.Steps {
		if s.Stage == msgtrace.StageForwarded {
			fwd = &tr.Steps[i]
		}
	}
	if fwd == nil || !fwd.Pending || fwd.Queue != "fwd:020001" || fwd.Peer != "020001" {
		t.Fatalf("forwarded step %+v in %+v", fwd, tr.Steps)
	}
}
