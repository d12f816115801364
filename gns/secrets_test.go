package gns

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/gns/gnspb"
	"github.com/tandem-sms/tandem/internal/testcerts"
	"github.com/tandem-sms/tandem/internal/waitfor"
)

func sinaWithAccount(secret string, window uint32) *gnspb.Change {
	return &gnspb.Change{Op: &gnspb.Change_PutSp{PutSp: &gnspb.SP{
		SpId: "901234", Name: "Sina", PrimaryGateway: "001001", MirrorGateways: []string{"020001"},
		ServiceCodes: []*gnspb.ServiceCode{{Code: "10657001"}},
		Account:      &gnspb.SPAccount{Secret: secret, AllowedIps: []string{"127.0.0.1"}, Window: window, SubmitRate: 50},
	}}}
}

func exportSPs(t *testing.T, ctx context.Context, c gnspb.GNSClient, withSecrets bool) map[string]*gnspb.SP {
	t.Helper()
	st, err := c.ExportTable(ctx, &gnspb.ExportRequest{WithSecrets: withSecrets})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*gnspb.SP{}
	for {
		ch, err := st.Recv()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range ch.Sps {
			out[s.SpId] = s
		}
	}
}

// firstWatchSP reads a watch stream from 0 until it has seen sp_id's put.
func firstWatchSP(t *testing.T, ctx context.Context, c gnspb.GNSClient, withSecrets bool) *gnspb.SP {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := c.Watch(ctx, &gnspb.WatchRequest{WithSecrets: withSecrets})
	if err != nil {
		t.Fatal(err)
	}
	for {
		ev, err := st.Recv()
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		for _, ch := range ev.Changes {
			if sp := ch.GetPutSp(); sp.GetSpId() == "901234" {
				return sp
			}
		}
	}
}

// TestSPAccountSecrets: an account written through the API is served with
// its secret only to readers that ask for it, every reader sees the other
// fields, and a write without a secret keeps the current one.
func TestSPAccountSecrets(t *testing.T) {
	_, c, ctx := singleNode(t, nil)
	if _, err := c.Write(ctx, &gnspb.WriteRequest{Changes: []*gnspb.Change{sinaWithAccount("first", 8)}}); err != nil {
		t.Fatal(err)
	}
	check := func(what string, sp *gnspb.SP, wantSecret string) {
		t.Helper()
		a := sp.GetAccount()
		if a == nil || a.Window != 8 || a.SubmitRate != 50 || len(a.AllowedIps) != 1 {
			t.Fatalf("%s: account %+v", what, a)
		}
		if a.Secret != wantSecret || a.SecretWithheld != (wantSecret == "") {
			t.Fatalf("%s: secret %q withheld %v, want %q", what, a.Secret, a.SecretWithheld, wantSecret)
		}
	}
	sp, err := c.GetSP(ctx, &gnspb.GetSPRequest{SpId: "901234"})
	if err != nil {
		t.Fatal(err)
	}
	check("GetSP", sp, "")
	sp, err = c.GetSP(ctx, &gnspb.GetSPRequest{SpId: "901234", WithSecrets: true})
	if err != nil {
		t.Fatal(err)
	}
	check("GetSP with_secrets", sp, "first")
	check("ExportTable", exportSPs(t, ctx, c, false)["901234"], "")
	check("ExportTable with_secrets", exportSPs(t, ctx, c, true)["901234"], "first")
	check("Watch", firstWatchSP(t, ctx, c, false), "")
	check("Watch with_secrets", firstWatchSP(t, ctx, c, true), "first")
	mo, err := c.ResolveMO(ctx, &gnspb.ResolveMORequest{ServiceCode: "10657001", AskingGateway: "001001"})
	if err != nil {
		t.Fatal(err)
	}
	check("ResolveMO", mo.Sp, "")

	// The limits alone: the secret stays, the delta a watcher gets carries it.
	w := startWatchSecrets(t, ctx, c)
	if _, err := c.Write(ctx, &gnspb.WriteRequest{Changes: []*gnspb.Change{sinaWithAccount("", 8)}}); err != nil {
		t.Fatal(err)
	}
	sp, _ = c.GetSP(ctx, &gnspb.GetSPRequest{SpId: "901234", WithSecrets: true})
	check("after a write without a secret", sp, "first")
	waitfor.Within(t, 10*time.Second, "the delta", func() bool {
		for _, ev := range w.snapshot() {
			if !ev.Snapshot && len(ev.Changes) == 1 && ev.Changes[0].GetPutSp().GetAccount().GetSecret() == "first" {
				return true
			}
		}
		return false
	})

	// A new account must bring its secret.
	lottery := &gnspb.Change{Op: &gnspb.Change_PutSp{PutSp: &gnspb.SP{SpId: "902001", PrimaryGateway: "020001",
		ServiceCodes: []*gnspb.ServiceCode{{Code: "10658002"}}, Account: &gnspb.SPAccount{Window: 4}}}}
	_, err = c.Write(ctx, &gnspb.WriteRequest{Changes: []*gnspb.Change{lottery}})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("account without a secret: %v", err)
	}
}

// startWatchSecrets is startWatch asking for secrets.
func startWatchSecrets(t *testing.T, ctx context.Context, c gnspb.GNSClient) *watchLog {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	w := &watchLog{done: make(chan struct{}), cancel: cancel}
	st, err := c.Watch(ctx, &gnspb.WatchRequest{WithSecrets: true})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() {
		defer close(w.done)
		for {
			ev, err := st.Recv()
			w.mu.Lock()
			if err != nil {
				w.err = err
				w.mu.Unlock()
				return
			}
			w.events = append(w.events, ev)
			w.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); <-w.done })
	return w
}

// TestSecretsNeedTLSOrLoopback checks the decision on each kind of
// connection. Every address this machine can test from is loopback, so the
// plaintext remote caller is a peer in the call's context, as gRPC puts it
// there.
func TestSecretsNeedTLSOrLoopback(t *testing.T) {
	remote := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 40000}
	for _, tc := range []struct {
		name string
		p    *peer.Peer
		ok   bool
	}{
		{"plaintext from another host", &peer.Peer{Addr: remote}, false},
		{"plaintext loopback", &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}}, true},
		{"plaintext ::1", &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv6loopback, Port: 1}}, true},
		{"TLS from another host", &peer.Peer{Addr: remote, AuthInfo: credentials.TLSInfo{State: tls.ConnectionState{}}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := peer.NewContext(context.Background(), tc.p)
			if got := secretsAllowed(ctx); got != tc.ok {
				t.Fatalf("allowed = %v, want %v", got, tc.ok)
			}
			err := checkSecretsRead(ctx, true)
			if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrSecretsNeedTLS)) {
				t.Fatalf("read with secrets: %v", err)
			}
			if err := checkSecretsRead(ctx, false); err != nil {
				t.Fatalf("read without secrets: %v", err)
			}
			if err := checkChunkSecrets(ctx, &gnspb.TableChunk{Sps: []*gnspb.SP{sinaWithAccount("s", 1).GetPutSp()}}); tc.ok != (err == nil) {
				t.Fatalf("import chunk with a secret: %v", err)
			}
		})
	}
	var n Node
	if code := status.Code(n.toStatus(ErrSecretsNeedTLS)); code != codes.FailedPrecondition {
		t.Fatalf("code %v", code)
	}
}

// TestSecretsOverTLS: a node serving TLS sends the secret to a TLS client
// that asks, and takes one written over TLS.
func TestSecretsOverTLS(t *testing.T) {
	ca := testcerts.NewCA(t, "gns")
	leaf := ca.Issue(t, "solo")
	cfg := testConfig(t, "solo")
	cfg.Bootstrap = true
	cfg.TLSCert, cfg.TLSKey, cfg.TLSCA = leaf.CertFile, leaf.KeyFile, ca.CAFile
	n := startNode(t, cfg)
	waitfor.Within(t, 10*time.Second, "leader", n.IsLeader)
	cc, err := grpc.NewClient(n.GRPCAddr(), grpc.WithTransportCredentials(credentials.NewTLS(testcerts.ClientConfig(ca, nil))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	c := gnspb.NewGNSClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := importFile(ctx, c, loadSample(t), 1000); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(ctx, &gnspb.WriteRequest{Changes: []*gnspb.Change{sinaWithAccount("over-tls", 8)}}); err != nil {
		t.Fatal(err)
	}
	if sp := firstWatchSP(t, ctx, c, true); sp.GetAccount().GetSecret() != "over-tls" {
		t.Fatalf("watch over TLS: %+v", sp.GetAccount())
	}
}

// TestRoutePDUTimezone: the route PDUs' Time_stamp is written in the
// node's Timezone, not the host's: read back in that zone it is the
// instant of the request.
func TestRoutePDUTimezone(t *testing.T) {
	for _, tz := range []string{"Etc/GMT-14", "Etc/GMT+12", "Asia/Shanghai"} {
		t.Run(tz, func(t *testing.T) {
			n, _, _ := singleNode(t, func(c *Config) { c.Timezone = tz })
			s := cmppClient(t, n.CMPPAddr(), "022001")
			before := time.Now().Truncate(time.Second)
			r := send[*cmpp.MTRouteResp](t, s, &cmpp.MTRoute{SourceID: "022001", TerminalID: "13800101234"})
			after := time.Now()
			loc, _ := time.LoadLocation(tz)
			got, err := time.ParseInLocation(cmppTimeLayout, r.TimeStamp, loc)
			if err != nil {
				t.Fatal(err)
			}
			if got.Before(before) || got.After(after) {
				t.Fatalf("Time_stamp %s read in %s is %v, not between %v and %v", r.TimeStamp, tz, got, before, after)
			}
		})
	}
	cfg := testConfig(t, "bad")
	cfg.Timezone = "Asia/Shanghia"
	if err := cfg.Validate(); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("bad zone: %v", err)
	}
}
