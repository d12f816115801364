package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/tandem-sms/tandem/gns"
	"github.com/tandem-sms/tandem/gns/gnspb"
	"github.com/tandem-sms/tandem/internal/waitfor"
)

// The documented way to a cluster on mutual-TLS Raft: gns cert makes the
// CA and node certificates, two nodes run with -token and the -raft-tls-*
// flags, and the second joins the first.
func TestCertAndTLSRaftCluster(t *testing.T) {
	dir := t.TempDir()
	caDir, certDir := filepath.Join(dir, "ca"), filepath.Join(dir, "certs")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"cert", "ca", "-out", caDir}, &out, io.Discard); err != nil {
		t.Fatalf("gns cert ca: %v", err)
	}
	for _, id := range []string{"a", "b"} {
		if err := run(context.Background(), []string{"cert", "node", "-ca", caDir, "-id", id, "-host", "127.0.0.1,localhost", "-out", certDir}, &out, io.Discard); err != nil {
			t.Fatalf("gns cert node %s: %v", id, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(certDir, "a.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("node key file: %v %v", fi, err)
	}
	if err := run(context.Background(), []string{"cert", "ca", "-out", caDir}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "not overwriting") {
		t.Fatalf("gns cert ca over an existing CA = %v", err)
	}

	tlsArgs := func(id string) []string {
		return []string{"-token", "sesame", "-raft-tls-ca", filepath.Join(caDir, "ca.pem"),
			"-raft-tls-cert", filepath.Join(certDir, id+".pem"), "-raft-tls-key", filepath.Join(certDir, id+".key")}
	}
	addr1, _, _ := start(t, append([]string{"-id", "a", "-data", filepath.Join(dir, "a"), "-raft", "127.0.0.1:0",
		"-grpc", "127.0.0.1:0", "-cmpp", "", "-http", "", "-bootstrap", "-log-level", "error"}, tlsArgs("a")...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer sesame")
	c := client(t, addr1)
	waitLeader(t, ctx, c)
	start(t, append([]string{"-id", "b", "-data", filepath.Join(dir, "b"), "-raft", "127.0.0.1:0",
		"-grpc", "127.0.0.1:0", "-cmpp", "", "-http", "", "-join", addr1, "-log-level", "error"}, tlsArgs("b")...)...)
	waitfor.Cond(t, "b joined over TLS Raft", func() bool {
		cs, err := c.ClusterStatus(ctx, &gnspb.ClusterStatusRequest{})
		if err != nil || len(cs.Members) != 2 {
			return false
		}
		for _, m := range cs.Members {
			if m.Status == nil || m.Status.TableDigest != cs.TableDigest {
				return false
			}
		}
		return true
	})
}

func TestRunRefusesTokenWithPlaintextRaft(t *testing.T) {
	base := []string{"-id", "x", "-data", t.TempDir(), "-raft", "127.0.0.1:0", "-grpc", "127.0.0.1:0", "-cmpp", "", "-http", "", "-token", "t"}
	err := run(context.Background(), base, io.Discard, io.Discard)
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "-insecure-raft") || !strings.Contains(err.Error(), "-raft-tls-cert") {
		t.Fatalf("run with -token and plaintext Raft = %v", err)
	}
	for _, args := range [][]string{
		{"-id", "x", "-data", t.TempDir(), "-raft", "127.0.0.1:0", "-cmpp-allow", "10.0.0.0/33"},
		{"-id", "x", "-data", t.TempDir(), "-raft", "127.0.0.1:0", "-raft-tls-cert", "a.pem"},
		{"-id", "x", "-data", t.TempDir(), "-raft", "127.0.0.1:0", "-cmpp-lockout-window", "0s"},
		{"cert"},
		{"cert", "node", "-out", t.TempDir()},
		{"cert", "bogus", "-out", t.TempDir()},
	} {
		if err := run(context.Background(), args, io.Discard, io.Discard); !errors.Is(err, errUsage) {
			t.Errorf("run %q = %v, want a usage error", args, err)
		}
	}
}

func TestConfigFileSecurityKeys(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "gns.yaml")
	conf := "raft_tls_cert: c.pem\nraft_tls_key: k.pem\nraft_tls_ca: ca.pem\ninsecure_raft: true\n" +
		"cmpp_allow: [10.1.0.0/16, 10.2.0.7]\ncmpp_connect_timeout: 2s\ncmpp_max_pending: 10\ncmpp_max_pending_per_ip: 2\n" +
		"cmpp_lockout_failures: 3\ncmpp_lockout_ip_failures: 30\ncmpp_lockout_window: 1m\n"
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := gns.DefaultConfig()
	var level string
	if err := loadFile(file, &cfg, &level); err != nil {
		t.Fatal(err)
	}
	if cfg.RaftTLSCert != "c.pem" || cfg.RaftTLSKey != "k.pem" || cfg.RaftTLSCA != "ca.pem" || !cfg.InsecureRaft ||
		len(cfg.CMPPAllow) != 2 || cfg.CMPPAllow[1].String() != "10.2.0.7/32" || cfg.CMPPConnectTimeout != 2*time.Second ||
		cfg.CMPPMaxPending != 10 || cfg.CMPPMaxPendingPerIP != 2 || cfg.CMPPLockout.Failures != 3 ||
		cfg.CMPPLockout.IPFailures != 30 || cfg.CMPPLockout.Window != time.Minute {
		t.Fatalf("config from file: %+v", cfg)
	}
	if err := os.WriteFile(file, []byte("cmpp_allow: [nonsense]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := loadFile(file, &cfg, &level); err == nil || !strings.Contains(err.Error(), "cmpp_allow") {
		t.Fatalf("bad cmpp_allow = %v", err)
	}
}
