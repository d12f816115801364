package raftstore

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/internal/waitfor"
	"github.com/tandem-sms/tandem/raftstore/rafttest"
)

// clusterTLS is a cluster CA and one node certificate for 127.0.0.1, which
// every test node shares (they all listen on loopback), as files and as
// the Config.TLS that LoadTLS builds from them.
type clusterTLS struct {
	ca                      *CA
	certFile, keyFile, file string // file: the CA certificate
	cfg                     *tls.Config
}

func newClusterTLS(t testing.TB, hosts ...string) *clusterTLS {
	t.Helper()
	if len(hosts) == 0 {
		hosts = []string{"127.0.0.1"}
	}
	ca, err := NewCA("test cluster CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.IssueNode("node", hosts, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := &clusterTLS{ca: ca, certFile: filepath.Join(dir, "node.pem"), keyFile: filepath.Join(dir, "node.key"), file: filepath.Join(dir, "ca.pem")}
	for name, b := range map[string][]byte{c.certFile: certPEM, c.keyFile: keyPEM, c.file: ca.CertPEM} {
		if err := os.WriteFile(name, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if c.cfg, err = LoadTLS(c.certFile, c.keyFile, c.file); err != nil {
		t.Fatal(err)
	}
	return c
}

// failures records OnTLSFailure calls.
type failures struct {
	mu  sync.Mutex
	got []TLSFailure
}

func (f *failures) add(x TLSFailure) { f.mu.Lock(); f.got = append(f.got, x); f.mu.Unlock() }

func (f *failures) inbound(reason string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.ContainsFunc(f.got, func(x TLSFailure) bool { return x.Inbound && x.Reason == reason })
}

func followerOf(t testing.TB, nodes []*node) *node {
	leader := liveLeader(t, nodes)
	for _, n := range nodes {
		if n != leader {
			return n
		}
	}
	return nil
}

// The issue's attack, against a cluster on mutual TLS: an intruder sends a
// follower an AppendEntries claiming the next term with a made-up entry.
// In plaintext, with no certificate, and with a certificate from another
// CA, it is refused at the handshake; each refusal is reported with its
// reason; and every node's log stays the cluster's own.
func TestTLSRefusesIntruders(t *testing.T) {
	ct := newClusterTLS(t)
	var fails failures
	nodes := newCluster(t, 3, func(c *Config) {
		c.TLS = ct.cfg
		c.OnTLSFailure = fails.add
	})
	apply(t, nodes, "before")
	victim := followerOf(t, nodes)

	foreign := newClusterTLS(t) // a CA the cluster does not trust
	foreignCert := &foreign.cfg.Certificates[0]
	for _, tc := range []struct {
		name   string
		tls    *tls.Config
		reason string
	}{
		{"plaintext", nil, TLSReasonPlaintext},
		{"TLS without a certificate", &tls.Config{InsecureSkipVerify: true}, TLSReasonNoCertificate},
		{"certificate of another CA", &tls.Config{InsecureSkipVerify: true,
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return foreignCert, nil }}, TLSReasonBadCertificate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, err := rafttest.NewIntruder(tc.tls, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close()
			resp, err := in.ForgeNext(victim.addr, 1, []byte("forged"))
			if err == nil {
				t.Fatalf("forged AppendEntries answered %+v, want the connection refused", resp)
			}
			waitfor.Cond(t, "the refusal reported as "+tc.reason, func() bool { return fails.inbound(tc.reason) })
		})
	}

	// The cluster is undisturbed: a write commits everywhere, and every
	// node holds the same log, without the forged entry.
	apply(t, nodes, "after")
	for _, n := range nodes {
		waitFSM(t, n, []string{"before", "after"})
	}
	want := liveLeader(t, nodes).fsm.list()
	for _, n := range nodes {
		if got := n.fsm.list(); !slices.Equal(got, want) || slices.Contains(got, "forged") {
			t.Errorf("%s holds %q, leader %q", n.id, got, want)
		}
	}
}

// The same attack on a plaintext cluster succeeds, which is what the TLS
// test above guards against: the follower applies the forged entry, and as
// it sits at the index and term of the leader's next real entry, log
// matching never repairs it.
func TestPlaintextAcceptsForgery(t *testing.T) {
	nodes := newCluster(t, 3, nil)
	apply(t, nodes, "before")
	victim := followerOf(t, nodes)
	in, err := rafttest.NewIntruder(nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	resp, err := in.ForgeNext(victim.addr, 0, []byte("forged"))
	if err != nil || !resp.Success {
		t.Fatalf("forgery on a plaintext node: %+v, %v; want it accepted", resp, err)
	}
	waitFSM(t, victim, []string{"forged"})
	apply(t, nodes, "real")
	apply(t, nodes, "later")
	waitFSM(t, victim, []string{"later"})
	leader := liveLeader(t, nodes)
	waitFSM(t, leader, []string{"real", "later"})
	if got := victim.fsm.list(); slices.Contains(got, "real") || !slices.Contains(got, "forged") {
		t.Fatalf("victim holds %q; want the forged entry in place of the real one", got)
	}
}

// A snapshot install, the transport's longest stream, works over TLS.
func TestTLSJoinInstallsSnapshot(t *testing.T) {
	ct := newClusterTLS(t)
	joinInstallsSnapshot(t, func(c *Config) { c.TLS = ct.cfg })
}

// A TLS node refuses a connection that never completes its handshake once
// HandshakeTimeout passes, and reports it.
func TestTLSHandshakeTimeout(t *testing.T) {
	ct := newClusterTLS(t)
	var fails failures
	n := newNode(t, testLogger(t), "slow", true, func(c *Config) {
		c.TLS, c.OnTLSFailure, c.HandshakeTimeout = ct.cfg, fails.add, 50*time.Millisecond
	})
	conn, err := net.Dial("tcp", n.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// raft's per-connection reader starts the handshake; the peer is mute.
	waitfor.Cond(t, "a handshake timeout reported", func() bool { return fails.inbound(TLSReasonTimeout) })
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Fatal("mute connection still open after the handshake timeout")
	}
}

func TestTLSConfigChecks(t *testing.T) {
	ct := newClusterTLS(t)
	valid := func() Config {
		c := DefaultConfig()
		c.NodeID, c.BindAddr, c.DataDir, c.TLS = "n1", "127.0.0.1:0", t.TempDir(), ct.cfg
		return c
	}
	for _, tc := range []struct {
		field  string
		mutate func(*Config)
	}{
		{"TLS", func(c *Config) { c.TLS = &tls.Config{RootCAs: ct.cfg.RootCAs} }},
		{"TLS", func(c *Config) { c.TLS = &tls.Config{Certificates: ct.cfg.Certificates} }},
		{"TLS", func(c *Config) { c.TLS = ct.cfg.Clone(); c.TLS.InsecureSkipVerify = true }},
		{"HandshakeTimeout", func(c *Config) { c.HandshakeTimeout = 0 }},
	} {
		c := valid()
		tc.mutate(&c)
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.field+" ") {
			t.Errorf("%s: Validate() = %v", tc.field, err)
		}
	}

	// A certificate that does not name the node's address would be refused
	// by every peer: Open says so instead.
	other := newClusterTLS(t, "10.9.9.9", "gns9.example")
	c := valid()
	c.TLS = other.cfg
	if _, err := Open(c, newListFSM()); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Errorf("Open with a certificate for another host = %v", err)
	}

	// LoadTLS checks the files against each other.
	if _, err := LoadTLS(ct.certFile, ct.keyFile, other.file); err == nil || !strings.Contains(err.Error(), "not valid under the cluster CA") {
		t.Errorf("LoadTLS with another CA = %v", err)
	}
	if _, err := LoadTLS(ct.certFile, ct.keyFile, ""); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("LoadTLS without a CA = %v", err)
	}
	if _, err := LoadTLS(ct.certFile, ct.keyFile, filepath.Join(t.TempDir(), "missing.pem")); err == nil {
		t.Error("LoadTLS with a missing CA file succeeded")
	}
	if _, err := LoadTLS(ct.certFile, ct.keyFile, ct.keyFile); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("LoadTLS with a key as CA = %v", err)
	}
	serverOnly := writeServerOnlyCert(t, ct.ca)
	if _, err := LoadTLS(serverOnly, serverOnly, ct.file); err == nil || !strings.Contains(err.Error(), "clientAuth") {
		t.Errorf("LoadTLS with a server-only certificate = %v", err)
	}

	// LoadCA reads back what NewCA wrote and refuses a node certificate.
	caKey := filepath.Join(t.TempDir(), "ca.key")
	if err := os.WriteFile(caKey, ct.ca.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if ca, err := LoadCA(ct.file, caKey); err != nil || !ca.Cert.Equal(ct.ca.Cert) {
		t.Errorf("LoadCA = %v", err)
	}
	if _, err := LoadCA(ct.certFile, ct.keyFile); err == nil || !strings.Contains(err.Error(), "not a CA") {
		t.Errorf("LoadCA of a node certificate = %v", err)
	}
}

// writeServerOnlyCert writes a certificate signed by ca that allows
// serverAuth only, followed by its key, to one file.
func writeServerOnlyCert(t *testing.T, ca *CA) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7),
		Subject:      pkix.Name{CommonName: "server only"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile := filepath.Join(dir, "server.pem")
	if err := os.WriteFile(certFile, append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb})...), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile
}
