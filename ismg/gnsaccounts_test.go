package ismg

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/gns"
	"github.com/tandem-sms/tandem/gns/gnspb"
	"github.com/tandem-sms/tandem/gns/gnstest"
	"github.com/tandem-sms/tandem/internal/testcerts"
	"github.com/tandem-sms/tandem/internal/waitfor"
	"github.com/tandem-sms/tandem/sim/smscsim"
)

const gnsTestToken = "gns-token"

// gnsAdmin is a gnsctl-like client of the test's GNS: TLS verified with
// the test CA, the bearer token on every call.
func gnsAdmin(t *testing.T, addr string, ca *testcerts.CA) gnspb.GNSClient {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(testcerts.ClientConfig(ca, nil))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return gnspb.NewGNSClient(cc)
}

func gnsWrite(t *testing.T, c gnspb.GNSClient, changes ...*gnspb.Change) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+gnsTestToken)
	resp, err := c.Write(ctx, &gnspb.WriteRequest{Changes: changes})
	if err != nil {
		t.Fatalf("GNS write: %v", err)
	}
	return resp.Revision
}

func putSina(account *gnspb.SPAccount) *gnspb.Change {
	return &gnspb.Change{Op: &gnspb.Change_PutSp{PutSp: &gnspb.SP{SpId: testSP, Name: "Sina", PrimaryGateway: "001001",
		ServiceCodes: []*gnspb.ServiceCode{{Code: testSrc}}, Account: account}}}
}

// TestGNSAccountLogin: an SP whose account is in the GNS table logs in to
// the gateway its record names with the GNS's secret, not the one of the
// gateway's YAML (a conflict, reported); a new secret written to the GNS
// applies without a restart (the old one is refused, the new one
// accepted); the admin API refuses to modify the GNS's account; removing
// the account from the GNS gives the SP back to the YAML.
func TestGNSAccountLogin(t *testing.T) {
	ca := testcerts.NewCA(t, "gns")
	gc := gnstest.Start(t, 1, func(c *gns.Config) {
		leaf := ca.Issue(t, c.NodeID)
		c.TLSCert, c.TLSKey, c.TLSCA = leaf.CertFile, leaf.KeyFile, ca.CAFile
		c.Token, c.InsecureRaft = gnsTestToken, true
	})
	addr := gc.GRPCAddrs()[gc.WaitLeader()]
	admin := gnsAdmin(t, addr, ca)
	gnsWrite(t, admin,
		&gnspb.Change{Op: &gnspb.Change_PutGateway{PutGateway: &gnspb.Gateway{Code: "001001", Name: "Beijing", Region: "beijing", FwdAddr: "127.0.0.1:7931"}}},
		&gnspb.Change{Op: &gnspb.Change_PutSegment{PutSegment: &gnspb.Segment{Prefix: "1380010", Gateway: "001001", SmscLink: "north"}}})
	rev := gnsWrite(t, admin, putSina(&gnspb.SPAccount{Secret: "gns-secret-1", AllowedIps: []string{"127.0.0.1"}, Window: 16, SubmitRate: 1000, Burst: 100}))

	// The gateway's YAML defines 901234 too, with secret s3cret.
	s := startSMSC(t, nil)
	dir := t.TempDir()
	routes := fmt.Sprintf("routes:\n  gns: [%s]\n  tls_ca: %s\n  token: %s\n", addr, ca.CAFile, gnsTestToken)
	cfg := loadYAML(t, dir, nodeYAML(t, dir, s.Addr(), replace("routes:\n  file: "+routesFile(t)+"\n", routes)))
	e := startNode(t, cfg)
	n := e.node
	waitfor.Cond(t, "route cache at the SP's revision", func() bool { return n.table().Revision() >= rev })
	source := func() string {
		v, err := n.AdminSP(testSP)
		if err != nil {
			return err.Error()
		}
		return v.Source
	}
	waitfor.Cond(t, "the GNS account applied", func() bool { return source() == sourceGNS })
	if got := metric(t, n.HTTPAddr(), "ismg_sp_account_conflicts"); got != 1 {
		t.Fatalf("ismg_sp_account_conflicts = %v, want 1 (the YAML defines %s too)", got, testSP)
	}
	if got := metric(t, n.HTTPAddr(), "ismg_sp_gns_accounts", `state="applied"`); got != 1 {
		t.Fatalf("ismg_sp_gns_accounts{applied} = %v", got)
	}

	login := func(secret string) (*sp, error) { return dialSP(t, n.CMPPAddr(), cmpp.V30, secret) }
	if _, err := login(testSecret); err == nil {
		t.Fatal("the YAML's secret logged in; the GNS's account should win")
	}
	c, err := login("gns-secret-1")
	if err != nil {
		t.Fatalf("login with the GNS secret: %v", err)
	}
	if r := c.submit(t, submitPDU(bjNumber, 0, []byte("hello"))); r.Result != 0 {
		t.Fatalf("SUBMIT result %d", r.Result)
	}
	waitSMSC(t, s, func(st smscsim.Stats) bool { return st.Submits >= 1 })

	// The admin API does not change a GNS account.
	if _, err := n.ModifySP(context.Background(), SPAccount{SPID: testSP, Window: 4}, []string{"window"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("ModifySP of a GNS account: %v", err)
	}

	// A new secret through the GNS API, applied live.
	rev = gnsWrite(t, admin, putSina(&gnspb.SPAccount{Secret: "gns-secret-2", AllowedIps: []string{"127.0.0.1"}, Window: 8}))
	waitfor.Cond(t, "the new secret applied", func() bool {
		v, err := n.AdminSP(testSP)
		return err == nil && v.Secret == "gns-secret-2" && v.Window == 8
	})
	if _, err := login("gns-secret-1"); err == nil {
		t.Fatal("the old secret still logs in")
	}
	c2, err := login("gns-secret-2")
	if err != nil {
		t.Fatalf("login with the new secret: %v", err)
	}
	if r := c2.submit(t, submitPDU(bjNumber, 0, []byte("again"))); r.Result != 0 {
		t.Fatalf("SUBMIT after the secret change: result %d", r.Result)
	}

	// Without its account in the GNS, the SP is the YAML's again.
	gnsWrite(t, admin, putSina(nil))
	waitfor.Cond(t, "back to the YAML account", func() bool { return source() == "config" })
	if got := metric(t, n.HTTPAddr(), "ismg_sp_account_conflicts"); got != 0 {
		t.Fatalf("ismg_sp_account_conflicts = %v after the GNS account went", got)
	}
	if _, err := login(testSecret); err != nil {
		t.Fatalf("the YAML secret after the GNS account went: %v", err)
	}
}
