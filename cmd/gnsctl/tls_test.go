package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandem-sms/tandem/gns"
	"github.com/tandem-sms/tandem/internal/testcerts"
	"github.com/tandem-sms/tandem/internal/waitfor"
)

// A node serving TLS with a token: gnsctl needs both the CA and the token.
func TestGnsctlTLSAndToken(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA(t, "gnsctl test")
	leaf := ca.Issue(t, "gns")
	cert, key, caFile := leaf.CertFile, leaf.KeyFile, ca.CAFile
	cfg := gns.DefaultConfig()
	cfg.NodeID, cfg.DataDir = "tls1", filepath.Join(dir, "data")
	cfg.RaftAddr, cfg.GRPCAddr, cfg.CMPPAddr, cfg.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0", "", ""
	cfg.Bootstrap, cfg.Token, cfg.TLSCert, cfg.TLSKey, cfg.TLSCA = true, "sesame", cert, key, caFile
	cfg.InsecureRaft = true // one node: nothing to reach its Raft port
	n, err := gns.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitfor.Cond(t, "leader", n.IsLeader)
	addr := n.GRPCAddr()

	code, out, errOut := ctlRun("-addr", addr, "-tls-ca", caFile, "-token", "sesame", "table", "push", sample)
	if code != exitOK {
		t.Fatalf("push over TLS with token: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, _ := ctlRun("-addr", addr, "-tls-ca", caFile, "-token", "sesame", "route", "mt", "13800100001"); code != exitOK || !strings.Contains(out, "001001") {
		t.Fatalf("route mt over TLS: exit %d\n%s", code, out)
	}
	if code, _, errOut := ctlRun("-addr", addr, "-tls-ca", caFile, "route", "mt", "13800100001"); code != exitError || !strings.Contains(errOut, "refused the token") {
		t.Errorf("no token: exit %d, stderr %q; want exit 1 saying the token was refused", code, errOut)
	}
	if code, _, _ := ctlRun("-addr", addr, "-token", "sesame", "-timeout", "2s", "route", "mt", "13800100001"); code == exitOK {
		t.Error("plaintext client against a TLS server succeeded")
	}
	if code, _, errOut := ctlRun("-addr", addr, "-tls-ca", filepath.Join(dir, "missing.pem"), "route", "mt", "1"); code != exitError || !strings.Contains(errOut, "-tls-ca") {
		t.Errorf("missing CA file: exit %d, %q", code, errOut)
	}
}
