package ismg

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// TLSServerConfig turns TLS on for a listener (listen.tls covers
// listen.cmpp_tls). With ClientCA set the peer must present a certificate
// signed by it (mutual TLS); without, any client may connect and logs in
// with its CMPP secret as on the plaintext port.
type TLSServerConfig struct {
	Cert     string `yaml:"cert"`      // PEM certificate (chain) of this node
	Key      string `yaml:"key"`       // PEM private key of Cert
	ClientCA string `yaml:"client_ca"` // PEM CA bundle verifying client certificates; empty: none asked
}

// TLSClientConfig turns TLS on for an outgoing link (an SMSC's smsc[].tls).
type TLSClientConfig struct {
	CA         string `yaml:"ca"`          // PEM CA bundle verifying the server; empty: the system roots
	Cert       string `yaml:"cert"`        // PEM client certificate, if the server asks for one
	Key        string `yaml:"key"`         // PEM private key of Cert
	ServerName string `yaml:"server_name"` // name checked in the server's certificate; default the address's host
}

// load builds the tls.Config. Errors name the file.
func (c *TLSServerConfig) load() (*tls.Config, error) {
	if c.Cert == "" || c.Key == "" {
		return nil, errors.New("cert and key are required")
	}
	kp, err := tls.LoadX509KeyPair(c.Cert, c.Key)
	if err != nil {
		return nil, fmt.Errorf("cert %s, key %s: %w", c.Cert, c.Key, err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{kp}, MinVersion: tls.VersionTLS12}
	if c.ClientCA != "" {
		if tc.ClientCAs, err = loadPool(c.ClientCA); err != nil {
			return nil, err
		}
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

func (c *TLSClientConfig) load() (*tls.Config, error) {
	tc := &tls.Config{ServerName: c.ServerName, MinVersion: tls.VersionTLS12}
	if (c.Cert == "") != (c.Key == "") {
		return nil, errors.New("cert and key go together")
	}
	if c.Cert != "" {
		kp, err := tls.LoadX509KeyPair(c.Cert, c.Key)
		if err != nil {
			return nil, fmt.Errorf("cert %s, key %s: %w", c.Cert, c.Key, err)
		}
		tc.Certificates = []tls.Certificate{kp}
	}
	if c.CA != "" {
		var err error
		if tc.RootCAs, err = loadPool(c.CA); err != nil {
			return nil, err
		}
	}
	return tc, nil
}

func loadPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no PEM certificate in it", file)
	}
	return p, nil
}

// resolve makes the file names relative to the config file's directory.
func (c *TLSServerConfig) resolve(dir string) {
	for _, p := range []*string{&c.Cert, &c.Key, &c.ClientCA} {
		*p = relTo(dir, *p)
	}
}

func (c *TLSClientConfig) resolve(dir string) {
	for _, p := range []*string{&c.CA, &c.Cert, &c.Key} {
		*p = relTo(dir, *p)
	}
}

func relTo(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}
