package federation_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/federation"
)

// TestPeerConfigValidate: every bad field is an error naming it.
func TestPeerConfigValidate(t *testing.T) {
	good := peerConfig(t, gwBJ)
	good.Peers = []federation.PeerSettings{{Code: gwGZ, Secret: "gz", AllowedIPs: []string{"10.1.0.0/16"}, Version: cmpp.V20}}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		field  string
		mutate func(*federation.PeerConfig)
	}{
		{"Gateway", func(c *federation.PeerConfig) { c.Gateway = "1001" }},
		{"Listen", func(c *federation.PeerConfig) { c.Listen = "7930" }},
		{"ServerTLS", func(c *federation.PeerConfig) { c.ServerTLS = &federation.ServerTLS{Cert: "c.pem"} }},
		{"Default.Code", func(c *federation.PeerConfig) { c.Default.Code = gwGZ }},
		{"Default.Window", func(c *federation.PeerConfig) { c.Default.Window = 0 }},
		{"Default.Version", func(c *federation.PeerConfig) { c.Default.Version = 0x40 }},
		{"Default.ResponseTimeout", func(c *federation.PeerConfig) { c.Default.ResponseTimeout = 0 }},
		{"Default.ActiveTest", func(c *federation.PeerConfig) { c.Default.ActiveTest = 0 }},
		{"Default.Sessions", func(c *federation.PeerConfig) { c.Default.Sessions = 0 }},
		{"Default.AllowedIPs[1]", func(c *federation.PeerConfig) { c.Default.AllowedIPs = []string{"::1", "10.0.0.0/33"} }},
		{"Default.TLS", func(c *federation.PeerConfig) { c.Default.TLS = &federation.ClientTLS{Cert: "c.pem"} }},
		{"Default.Secret", func(c *federation.PeerConfig) { c.Default.Secret = ""; c.Peers[0].Secret = "" }},
		{"Peers[0].Code", func(c *federation.PeerConfig) { c.Peers[0].Code = "GZ" }},
		{"Peers[0].Code", func(c *federation.PeerConfig) { c.Peers[0].Code = gwBJ }},
		{"Peers[1].Code", func(c *federation.PeerConfig) { c.Peers = append(c.Peers, c.Peers[0]) }},
		{"Peers[0].Window", func(c *federation.PeerConfig) { c.Peers[0].Window = -1 }},
		{"Peers[0].AllowedIPs[0]", func(c *federation.PeerConfig) { c.Peers[0].AllowedIPs = []string{"gz.example"} }},
		{"MaxPending", func(c *federation.PeerConfig) { c.MaxPending = -1 }},
		{"ConnectTimeout", func(c *federation.PeerConfig) { c.ConnectTimeout = 0 }},
		{"AuthFailures", func(c *federation.PeerConfig) { c.AuthFailures = 0 }},
		{"AuthFailuresPerIP", func(c *federation.PeerConfig) { c.AuthFailuresPerIP = 1; c.AuthFailures = 2 }},
		{"AuthFailWindow", func(c *federation.PeerConfig) { c.AuthFailWindow = 0 }},
		{"ReconnectMin", func(c *federation.PeerConfig) { c.ReconnectMin = 0 }},
		{"ReconnectMax", func(c *federation.PeerConfig) { c.ReconnectMax = c.ReconnectMin / 2 }},
		{"ShutdownTimeout", func(c *federation.PeerConfig) { c.ShutdownTimeout = 0 }},
	} {
		c := good
		c.Peers = append([]federation.PeerSettings(nil), good.Peers...)
		tc.mutate(&c)
		err := c.Validate()
		if !errors.Is(err, federation.ErrInvalidPeerConfig) || !strings.Contains(err.Error(), tc.field+" ") {
			t.Errorf("%s: %v", tc.field, err)
		}
	}
}

// TestNewFwdServerNamesBadTLSFile: files are read by the constructors,
// and a missing one is named.
func TestNewFwdServerNamesBadTLSFile(t *testing.T) {
	cfg := peerConfig(t, gwBJ)
	cfg.ServerTLS = &federation.ServerTLS{Cert: "/nonexistent/cert.pem", Key: "/nonexistent/key.pem"}
	if _, err := federation.NewFwdServer(cfg, newRecorder(answerOK), nil); err == nil || !strings.Contains(err.Error(), "/nonexistent/cert.pem") {
		t.Fatalf("%v", err)
	}
	cfg = peerConfig(t, gwBJ)
	cfg.Peers = []federation.PeerSettings{{Code: gwGZ, TLS: &federation.ClientTLS{CA: "/nonexistent/ca.pem"}}}
	if _, err := federation.NewPeers(cfg, nil); err == nil || !strings.Contains(err.Error(), "Peers[0].TLS") || !strings.Contains(err.Error(), "/nonexistent/ca.pem") {
		t.Fatalf("%v", err)
	}
}

func TestParseVersion(t *testing.T) {
	for s, want := range map[string]cmpp.Version{"2.0": cmpp.V20, "2.1": cmpp.V21, "3.0": cmpp.V30} {
		if v, err := federation.ParseVersion(s); err != nil || v != want {
			t.Fatalf("%s: %v %v", s, v, err)
		}
	}
	if _, err := federation.ParseVersion("3"); err == nil {
		t.Fatal("3 accepted")
	}
}
