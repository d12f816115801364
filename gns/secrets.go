package gns

import (
	"context"
	"errors"
	"net"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/tandem-sms/tandem/gns/gnspb"
	"github.com/tandem-sms/tandem/routing"
)

// SP account secrets cross the gRPC API only over a connection that does
// not show them to the network: TLS (gns -tls-cert), or loopback, where
// nothing leaves the host. A read asks for them (with_secrets) and is
// refused over any other connection; a read that does not ask gets each
// account with its secret withheld. A write that carries a secret is
// refused over any other connection too, since the secret has already
// crossed the network in clear, and the operator should change it.
//
// The bearer token is checked first for every call (authorize), so over
// loopback too a caller needs the token when the node has one. Between the
// nodes, secrets travel in Raft entries and snapshots (mutual TLS with
// -raft-tls-*) and in forwarded calls (gRPC with the node's TLS settings:
// a follower without TLS forwarding to a leader on another host is
// refused like any other plaintext caller).

// ErrSecretsNeedTLS refuses a call that would carry SP secrets over a
// plaintext connection from another host.
var ErrSecretsNeedTLS = errors.New("gns: SP account secrets travel only over TLS or loopback: run the node with -tls-cert/-tls-key, or call it from its own host")

// secretsAllowed reports whether the call's connection may carry secrets.
func secretsAllowed(ctx context.Context) bool {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return false
	}
	if _, tls := p.AuthInfo.(credentials.TLSInfo); tls {
		return true
	}
	if a, ok := p.Addr.(*net.TCPAddr); ok {
		return a.IP.IsLoopback()
	}
	return false
}

// checkSecretsRead refuses a read that asks for secrets over a connection
// that may not carry them.
func checkSecretsRead(ctx context.Context, asked bool) error {
	if asked && !secretsAllowed(ctx) {
		return ErrSecretsNeedTLS
	}
	return nil
}

// checkSecretsWrite refuses changes carrying a secret over a connection
// that may not carry them.
func checkSecretsWrite(ctx context.Context, changes []routing.Change) error {
	for i := range changes {
		c := &changes[i]
		if c.Op == routing.OpPutSP && c.SP.Account != nil && c.SP.Account.Secret != "" && !secretsAllowed(ctx) {
			return ErrSecretsNeedTLS
		}
	}
	return nil
}

// checkChunkSecrets refuses an import chunk carrying a secret over a
// connection that may not carry them.
func checkChunkSecrets(ctx context.Context, ch *gnspb.TableChunk) error {
	for _, s := range ch.GetSps() {
		if s.GetAccount().GetSecret() != "" && !secretsAllowed(ctx) {
			return ErrSecretsNeedTLS
		}
	}
	return nil
}
