package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tandem-sms/tandem/gns/gnspb"
)

// store list shows who owns which ISMG store, with the fencing token;
// gateway list shows the holders as the nodes serving each gateway.
func TestStoreList(t *testing.T) {
	nodes := startCluster(t)
	cc, err := grpc.NewClient(follower(nodes).GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := gnspb.NewGNSClient(cc).AcquireStoreLease(ctx, &gnspb.AcquireStoreLeaseRequest{StoreId: "001001-b", Holder: "001001-a", Gateway: "001001", TtlMs: 60000})
	if err != nil {
		t.Fatal(err)
	}
	code, out, errs := ctlRun("--addr", addrs(nodes), "store", "list")
	if code != 0 || !strings.Contains(out, "STORE") || !strings.Contains(out, "001001-b") || !strings.Contains(out, "001001-a") || !strings.Contains(out, "held, ") {
		t.Fatalf("store list: exit %d\n%s\n%s", code, out, errs)
	}
	var ls []map[string]any
	code, out, _ = ctlRun("--addr", addrs(nodes), "store", "list", "-o", "json")
	if code != 0 || json.Unmarshal([]byte(out), &ls) != nil || len(ls) != 1 || ls[0]["holder"] != "001001-a" {
		t.Fatalf("store list -o json: exit %d %s", code, out)
	}
	if want := float64(l.GetLease().GetToken()); ls[0]["token"] != want || ls[0]["gateway"] != "001001" {
		t.Fatalf("token and gateway in %v, want %v and 001001", ls[0], want)
	}
	if _, err := gnspb.NewGNSClient(cc).AcquireStoreLease(ctx, &gnspb.AcquireStoreLeaseRequest{StoreId: "x", Holder: "y", Gateway: "1001", TtlMs: 60000}); err == nil || !strings.Contains(err.Error(), "gateway") {
		t.Fatalf("a bad gateway code: %v, want an error naming the field", err)
	}
	// Gateway 001001's row names the lease holder.
	if code, _, errs := ctlRun("--addr", addrs(nodes), "gateway", "add", "001001", "--region", "beijing", "--fwd-addr", "127.0.0.1:7930"); code != 0 {
		t.Fatalf("gateway add: exit %d: %s", code, errs)
	}
	code, out, errs = ctlRun("--addr", addrs(nodes), "gateway", "list")
	if code != 0 {
		t.Fatalf("gateway list: exit %d\n%s", code, errs)
	}
	seen := false
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "001001") {
			seen = true
			if !strings.HasSuffix(strings.TrimSpace(line), "001001-a") {
				t.Fatalf("gateway list row %q: want the node 001001-a in NODES", line)
			}
		}
	}
	if !seen {
		t.Fatalf("gateway list has no row for 001001:\n%s", out)
	}
}
