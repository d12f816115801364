package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/tandem-sms/tandem/gns"
	"github.com/tandem-sms/tandem/gns/gnspb"
	"github.com/tandem-sms/tandem/gns/gnstest"
	"github.com/tandem-sms/tandem/internal/waitfor"
	"github.com/tandem-sms/tandem/ismg"
	"github.com/tandem-sms/tandem/routing"
	"github.com/tandem-sms/tandem/sim/smscsim"
)

const gnsToken = "gns-t0ken"

// haYAML is node name of gateway 001001 with its store leased in the GNS
// at gnsAddrs and the store of sibling adoptable by hand only (manual: no
// automatic adoption races the commands under test).
func haYAML(dir, name, sibling, smsc string, gnsAddrs []string) string {
	return fmt.Sprintf(`
gateway: {code: "001001", region: beijing}
data_dir: %s
listen: {cmpp: "127.0.0.1:0", http: "127.0.0.1:0", admin: "127.0.0.1:0"}
admin: {token: %s}
routes: {gns: [%s], token: %s}
delivery: {shutdown_timeout: 5s}
sps:
  - {sp_id: "%s", secret: %s, allowed_ips: [127.0.0.1], service_codes: ["10657001"]}
smsc:
  - {name: north, address: "%s", system_id: ismg%s, password: pw, default: true, reconnect_min: 20ms, reconnect_max: 100ms}
ha:
  node: %s
  lease_ttl: 2s
  renew_interval: 200ms
  adopt_after: 1h
  poll_interval: 50ms
  adoptable:
    - {store_id: "001001-%s", config: %s.yaml, manual: true}
`, filepath.Join(dir, name), token, strings.Join(gnsAddrs, ", "), gnsToken, spID, secret, smsc, name, name, sibling, sibling)
}

// storeRow is a line of `ismgctl store list -o json`.
type storeRow struct {
	StoreID string `json:"store_id"`
	Role    string `json:"role"`
	State   string `json:"state"`
	Holder  string `json:"holder"`
	Token   uint64 `json:"token"`
}

func (nd *node) stores(t *testing.T) map[string]storeRow {
	t.Helper()
	var rows []storeRow
	if err := json.Unmarshal([]byte(nd.mustCtl(t, "-o", "json", "store", "list")), &rows); err != nil {
		t.Fatal(err)
	}
	m := map[string]storeRow{}
	for _, r := range rows {
		m[r.StoreID] = r
	}
	return m
}

// TestStoreListAndAdopt runs `ismgctl store list` and `ismgctl adopt`
// against a real node of a one-node GNS: the node's own store and the
// sibling's it may adopt are listed with their owners; adopting a store
// another node holds is refused, naming the holder; once that lease lapsed
// `adopt --force` takes it (a new fencing token), drains it and releases
// it; an unknown store and a missing token are refused.
func TestStoreListAndAdopt(t *testing.T) {
	cl := gnstest.Start(t, 1, func(c *gns.Config) { c.Token, c.InsecureRaft = gnsToken, true })
	cl.Write(gnstest.Gateway("001001"), routing.Change{Op: routing.OpPutSegment, Segment: routing.Segment{Prefix: "1380010", Gateway: "001001"}})
	smsc, err := smscsim.New(smscsim.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := smsc.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { smsc.Close() })
	dir := t.TempDir()
	for _, p := range [][2]string{{"a", "b"}, {"b", "a"}} {
		if err := os.WriteFile(filepath.Join(dir, p[0]+".yaml"), []byte(haYAML(dir, p[0], p[1], smsc.Addr(), cl.GRPCAddrs())), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	nd := startNode(t, filepath.Join(dir, "a.yaml"))

	// Node b, as the GNS sees it: holding its store's lease for a moment
	// (its own node is not run; its store is the empty data dir of b.yaml).
	cc, err := grpc.NewClient(cl.GRPCAddrs()[0], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	gc := gnspb.NewGNSClient(cc)
	ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+gnsToken)
	bLease, err := gc.AcquireStoreLease(ctx, &gnspb.AcquireStoreLeaseRequest{StoreId: "001001-b", Holder: "b", TtlMs: 300})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("list", func(t *testing.T) {
		var s map[string]storeRow
		waitfor.Within(t, 10*time.Second, "the node's view of both leases", func() bool {
			s = nd.stores(t)
			return s["001001-b"].Holder == "b"
		})
		if own := s["001001-a"]; own.Role != "own" || own.State != "held" || own.Holder != "a" || own.Token == 0 {
			t.Fatalf("own store: %+v", own)
		}
		if sib := s["001001-b"]; sib.Role != "adoptable" || sib.State != "watching" || sib.Token != bLease.GetLease().GetToken() {
			t.Fatalf("sibling's store: %+v (b's token %d)", sib, bLease.GetLease().GetToken())
		}
		out := nd.mustCtl(t, "store", "list")
		for _, want := range []string{"STORE", "OWNER", "001001-a", "001001-b", "own", "adoptable", "watching"} {
			if !strings.Contains(out, want) {
				t.Errorf("store list lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("refused", func(t *testing.T) {
		// b's lease is live, or lapsed less than adopt_after (1h) ago:
		// without --force the node must not take it.
		code, out, errs := nd.ctl(t, "adopt", "001001-b")
		if code == 0 {
			t.Fatalf("adopt of a live (or just lapsed) lease without --force: exit 0: %s", out)
		}
		if !strings.Contains(errs, "001001-b") {
			t.Errorf("refusal does not name the store: %s", errs)
		}
		if code, _, errs := nd.ctl(t, "adopt", "001001-zz", "--force"); code == 0 || !strings.Contains(errs, "adoptable") {
			t.Errorf("adopt of a store not in ha.adoptable: exit %d: %s", code, errs)
		}
		var out2, errb strings.Builder
		if code := run(context.Background(), []string{"--addr", nd.n.AdminAddr(), "adopt", "001001-b", "--force"}, &out2, &errb); code == 0 {
			t.Fatalf("adopt without the admin token: exit 0: %s", out2.String())
		}
		if h := nd.stores(t)["001001-b"]; h.State != "watching" {
			t.Fatalf("after the refusals the store is %+v, want watching", h)
		}
	})

	t.Run("adopt", func(t *testing.T) {
		// b's lease (300 ms) lapses; --force skips adopt_after.
		var out string
		waitfor.Within(t, 10*time.Second, "adopt --force once b's lease lapsed", func() bool {
			code, o, _ := nd.ctl(t, "-o", "json", "adopt", "001001-b", "--force")
			out = o
			return code == 0
		})
		var rows []storeRow
		if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 1 {
			t.Fatalf("adopt output %q: %v", out, err)
		}
		if r := rows[0]; r.StoreID != "001001-b" || r.Holder != "a" || r.Token <= bLease.GetLease().GetToken() {
			t.Fatalf("adopted: %+v; want holder a with a token above b's %d", r, bLease.GetLease().GetToken())
		}
		// The sibling's store is empty: drained at once, lease released.
		waitfor.Within(t, 20*time.Second, "the adopted store drained and released", func() bool {
			return nd.stores(t)["001001-b"].State == "released"
		})
		ls, err := gc.ListStoreLeases(ctx, &gnspb.ListStoreLeasesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range ls.GetLeases() {
			if l.GetStoreId() == "001001-b" {
				t.Fatalf("the released store still has a lease: %+v", l)
			}
		}
	})
}

// The example configuration's commented ha: block (testdata/ismg/beijing.yaml)
// is one the node accepts once uncommented, with routes from a GNS as it
// says: the keys and values it shows pass validation.
func TestExampleHABlock(t *testing.T) {
	b, err := os.ReadFile("../../testdata/ismg/beijing.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	i := strings.Index(text, "\n# ha:\n")
	if i < 0 {
		t.Fatal("testdata/ismg/beijing.yaml has no commented ha: block")
	}
	var block strings.Builder
	for _, line := range strings.Split(text[i+1:], "\n") {
		if line == "" {
			continue
		}
		if !strings.HasPrefix(line, "# ") {
			t.Fatalf("the ha: block must end the file, commented: %q", line)
		}
		block.WriteString(strings.TrimPrefix(line, "# ") + "\n")
	}
	routes := "routes:\n  file: ../routes/sample.yaml\n"
	if !strings.Contains(text, routes) {
		t.Fatal("the example's routes are no longer routes.file")
	}
	cfg := strings.Replace(text[:i+1], routes, "routes:\n  gns: [127.0.0.1:7100]\n", 1) + block.String()
	dir := filepath.Join(t.TempDir(), "testdata", "ismg")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "beijing.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := ismg.LoadConfig(path)
	if err != nil {
		t.Fatalf("the example with its ha: block uncommented: %v", err)
	}
	if c.HA == nil || c.HA.Node != "bj-a" || len(c.HA.Adoptable) != 1 || c.HA.Adoptable[0].StoreID != "001001-bj-b" {
		t.Fatalf("ha block read as %+v", c.HA)
	}
}
