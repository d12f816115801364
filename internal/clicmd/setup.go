package clicmd

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// Credentials are the gRPC transport credentials of --tls and --tls-ca: a
// CA file implies TLS; without either the connection is plaintext.
func Credentials(useTLS bool, caFile string) (credentials.TransportCredentials, error) {
	if !useTLS && caFile == "" {
		return insecure.NewCredentials(), nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, &CmdError{Err: fmt.Errorf("--tls-ca: %w", err)}
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, &CmdError{Err: fmt.Errorf("--tls-ca %s: no PEM certificate in it", caFile)}
		}
	}
	return credentials.NewTLS(tc), nil
}

// CheckOutput refuses an -o the CLIs do not write.
func CheckOutput(o string) error {
	switch o {
	case "table", "json", "yaml":
		return nil
	}
	return Usagef("-o %q: want table, json or yaml", o)
}
