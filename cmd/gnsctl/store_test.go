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

// store list shows who owns which ISMG store, with the fencing token.
func TestStoreList(t *testing.T) {
	nodes := startCluster(t)
	cc, err := grpc.NewClient(follower(nodes).GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := gnspb.NewGNSClient(cc).AcquireStoreLease(ctx, &gnspb.AcquireStoreLeaseRequest{StoreId: "001001-b", Holder: "001001-a", TtlMs: 60000})
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
	if want := float64(l.GetLease().GetToken()); ls[0]["token"] != want {
		t.Fatalf("token in %v, want %v", ls[0], want)
	}
}
