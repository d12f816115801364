package federation

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/tandem-sms/tandem/gns/gnspb"
)

// maxCacheMsgSize bounds the gRPC messages the cache receives, as gnsctl
// and the GNS bound theirs: a snapshot part carries up to 10,000 entries,
// and the first one every gateway and SP.
const maxCacheMsgSize = 64 << 20

var (
	// errProbeFailed ends a stream whose node stopped answering probes.
	errProbeFailed = errors.New("federation: GNS node does not answer probes")
	// errLeaderless ends a stream whose node has had no Raft leader for
	// LeaderlessTimeout: cut off from the cluster, it may fall behind.
	errLeaderless = errors.New("federation: GNS node has no Raft leader")
)

// cacheCredentials builds the transport credentials the way gnsctl does
// (-tls, -tls-ca), plus an optional client certificate. Errors name the
// config field and the file.
func cacheCredentials(cfg RouteCacheConfig) (credentials.TransportCredentials, error) {
	if !cfg.useTLS() {
		return insecure.NewCredentials(), nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLSCA != "" {
		pem, err := os.ReadFile(cfg.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("federation: TLSCA: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("federation: TLSCA %s: no PEM certificate in it", cfg.TLSCA)
		}
	}
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("federation: TLSCert/TLSKey %s, %s: %w", cfg.TLSCert, cfg.TLSKey, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return credentials.NewTLS(tc), nil
}

// dial makes a client connection to one GNS node. Each stream gets a fresh
// connection, closed when the stream ends, so nothing of a failed node's
// connection state (or gRPC's own reconnect backoff) carries over.
func (c *RouteCache) dial(addr string) (*grpc.ClientConn, gnspb.GNSClient, error) {
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(c.creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxCacheMsgSize)))
	if err != nil {
		return nil, nil, fmt.Errorf("dial: %w", err)
	}
	return cc, gnspb.NewGNSClient(cc), nil
}

// asksSecrets reports whether the watch of addr asks for the SP accounts'
// secrets: only over TLS, or to a GNS node on this host (loopback), which
// is where the GNS serves them; elsewhere the table's accounts arrive with
// their secrets withheld and the gateway does not log those SPs in.
func (c *RouteCache) asksSecrets(addr string) bool {
	if c.cfg.useTLS() {
		return true
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// outgoing adds the bearer token to a call's context.
func (c *RouteCache) outgoing(ctx context.Context) context.Context {
	if c.cfg.Token == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.cfg.Token)
}

// probe asks a node for its own status (NodeStatus: answered by the node
// alone, never forwarded, unlike ClusterStatus, which asks every member)
// within ProbeTimeout.
func (c *RouteCache) probe(ctx context.Context, cl gnspb.GNSClient) (*gnspb.NodeStatusResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ProbeTimeout)
	defer cancel()
	return cl.NodeStatus(c.outgoing(ctx), &gnspb.NodeStatusRequest{})
}

// reconnectReason maps why a stream ended to a bounded metric label.
func reconnectReason(err error) string {
	switch {
	case errors.Is(err, errProbeFailed):
		return ReconnectProbe
	case errors.Is(err, errLeaderless):
		return ReconnectLeaderless
	case errors.Is(err, errDiverged):
		return ReconnectDiverged
	case errors.Is(err, errWatchProtocol):
		return ReconnectProtocol
	case errors.Is(err, io.EOF):
		return ReconnectClosed
	case errors.Is(err, context.DeadlineExceeded):
		return ReconnectTimeout
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.Canceled:
		return ReconnectUnavailable
	case codes.DeadlineExceeded:
		return ReconnectTimeout
	case codes.ResourceExhausted:
		return ReconnectSlow
	case codes.Unauthenticated, codes.PermissionDenied:
		return ReconnectAuth
	}
	return ReconnectError
}
