package ismg

import (
	"crypto/tls"
	"errors"
	"path/filepath"

	"github.com/tandem-sms/tandem/federation"
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

// load builds the tls.Config (federation.ServerTLS's). Errors name the
// file.
func (c *TLSServerConfig) load() (*tls.Config, error) {
	if c.Cert == "" || c.Key == "" {
		return nil, errors.New("cert and key are required")
	}
	return (&federation.ServerTLS{Cert: c.Cert, Key: c.Key, ClientCA: c.ClientCA}).Load()
}

func (c *TLSClientConfig) load() (*tls.Config, error) {
	if (c.Cert == "") != (c.Key == "") {
		return nil, errors.New("cert and key go together")
	}
	return (&federation.ClientTLS{CA: c.CA, Cert: c.Cert, Key: c.Key, ServerName: c.ServerName}).Load()
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
