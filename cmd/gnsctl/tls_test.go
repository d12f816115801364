package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/gns"
	"github.com/tandem-sms/tandem/internal/waitfor"
)

// writeCert writes a self-signed certificate for 127.0.0.1 and its key.
func writeCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "gns test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// A node serving TLS with a token: gnsctl needs both the CA and the token.
func TestGnsctlTLSAndToken(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeCert(t, dir)
	cfg := gns.DefaultConfig()
	cfg.NodeID, cfg.DataDir = "tls1", filepath.Join(dir, "data")
	cfg.RaftAddr, cfg.GRPCAddr, cfg.CMPPAddr, cfg.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0", "", ""
	cfg.Bootstrap, cfg.Token, cfg.TLSCert, cfg.TLSKey, cfg.TLSCA = true, "sesame", cert, key, cert
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

	code, out, errOut := ctlRun("-addr", addr, "-tls-ca", cert, "-token", "sesame", "table", "push", sample)
	if code != exitOK {
		t.Fatalf("push over TLS with token: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, _ := ctlRun("-addr", addr, "-tls-ca", cert, "-token", "sesame", "route", "mt", "13800100001"); code != exitOK || !strings.Contains(out, "001001") {
		t.Fatalf("route mt over TLS: exit %d\n%s", code, out)
	}
	if code, _, errOut := ctlRun("-addr", addr, "-tls-ca", cert, "route", "mt", "13800100001"); code != exitError || !strings.Contains(strings.ToLower(errOut), "unauthenticated") {
		t.Errorf("no token: exit %d, stderr %q; want exit 1 naming Unauthenticated", code, errOut)
	}
	if code, _, _ := ctlRun("-addr", addr, "-token", "sesame", "-timeout", "2s", "route", "mt", "13800100001"); code == exitOK {
		t.Error("plaintext client against a TLS server succeeded")
	}
	if code, _, errOut := ctlRun("-addr", addr, "-tls-ca", filepath.Join(dir, "missing.pem"), "route", "mt", "1"); code != exitError || !strings.Contains(errOut, "-tls-ca") {
		t.Errorf("missing CA file: exit %d, %q", code, errOut)
	}
}
