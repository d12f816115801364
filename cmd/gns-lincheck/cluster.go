package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/tandem-sms/tandem/gns/gnspb"
	"github.com/tandem-sms/tandem/sim/lincheck"
)

// The GNS seen as lincheck's register store: a key is a number segment's
// prefix, a write puts the segment (Write, put_segment) with the value's
// choice as its gateway and its tag as its SMSC link name, and a read
// resolves the prefix itself as a number (ResolveMT, linearizable unless
// stale): a longer prefix cannot match it, so the answer is the key's own
// segment, or a shorter one or none when the key is empty. This lives
// here, not in sim/lincheck, because packages under sim/ must not import
// gRPC (deps_test.go).

// tlsOptions are gnsctl's -tls and -tls-ca, plus the client certificate
// the ISMG route cache can present (federation's TLSCert and TLSKey).
type tlsOptions struct {
	on        bool
	ca        string
	cert, key string
}

func (o tlsOptions) credentials() (credentials.TransportCredentials, error) {
	if !o.on && o.ca == "" && o.cert == "" {
		return insecure.NewCredentials(), nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.ca != "" {
		pem, err := os.ReadFile(o.ca)
		if err != nil {
			return nil, fmt.Errorf("-tls-ca: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("-tls-ca %s: no PEM certificate in it", o.ca)
		}
	}
	if o.cert != "" {
		cert, err := tls.LoadX509KeyPair(o.cert, o.key)
		if err != nil {
			return nil, fmt.Errorf("-tls-cert/-tls-key %s, %s: %w", o.cert, o.key, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return credentials.NewTLS(tc), nil
}

// cluster is one client connection per GNS address.
type cluster struct {
	addrs   []string
	token   string
	conns   []*grpc.ClientConn
	clients []gnspb.GNSClient
}

// reconnect is how fast a connection comes back once its node does. gRPC's
// default backoff grows to two minutes, so a node restarted after a long
// outage would go unasked for most of a run.
var reconnect = grpc.ConnectParams{
	Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
	MinConnectTimeout: 2 * time.Second,
}

// dialCluster makes the connections; gRPC connects lazily, so nothing is
// known about the nodes yet.
func dialCluster(addrs []string, token string, creds credentials.TransportCredentials) (*cluster, error) {
	c := &cluster{addrs: addrs, token: token}
	for _, a := range addrs {
		cc, err := grpc.NewClient(a, grpc.WithTransportCredentials(creds), grpc.WithConnectParams(reconnect),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
		if err != nil {
			c.close()
			return nil, fmt.Errorf("dial %s: %w", a, err)
		}
		c.conns = append(c.conns, cc)
		c.clients = append(c.clients, gnspb.NewGNSClient(cc))
	}
	return c, nil
}

func (c *cluster) close() {
	for _, cc := range c.conns {
		cc.Close()
	}
}

func (c *cluster) outgoing(ctx context.Context) context.Context {
	if c.token == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.token)
}

func (c *cluster) Write(ctx context.Context, node int, key string, v lincheck.Value) error {
	seg := &gnspb.Segment{Prefix: key, Gateway: v.Choice, SmscLink: v.Tag}
	_, err := c.clients[node].Write(c.outgoing(ctx), &gnspb.WriteRequest{Changes: []*gnspb.Change{{Op: &gnspb.Change_PutSegment{PutSegment: seg}}}})
	return classify(err)
}

func (c *cluster) Read(ctx context.Context, node int, key string, stale bool) (lincheck.Value, error) {
	resp, err := c.clients[node].ResolveMT(c.outgoing(ctx), &gnspb.ResolveMTRequest{Msisdn: key, Stale: stale})
	if status.Code(err) == codes.NotFound {
		return lincheck.Value{}, nil // no segment, not even a shorter one
	}
	if err != nil {
		return lincheck.Value{}, classify(err)
	}
	seg := resp.GetSegment()
	if resp.GetPorted() || seg.GetPrefix() != key {
		return lincheck.Value{}, nil // a shorter segment answered: the key's own is absent
	}
	return lincheck.Value{Choice: seg.GetGateway(), Tag: seg.GetSmscLink()}, nil
}

// notSent lists what a failed call's status says when the request cannot
// have reached the leader's log: gRPC never connected (to this node, or,
// quoted in a follower's forward failure, to the leader), the TLS
// handshake never completed, or a node said it is not the leader
// (raftstore.NotLeaderError: nothing was written).
//
// Narrower than gnsctl's mayHaveApplied on purpose: only words that prove
// the request never left count. A connection that broke after it left (a
// leader killed mid-call: "error reading from server: EOF", "connection
// reset by peer") leaves the outcome unknown. Calling an applied write
// not applied would make a correct cluster fail the check; calling a
// refused one unknown only weakens the check a little.
var notSent = []string{"Error while dialing", "authentication handshake failed", "not leader"}

// classify maps a GNS call's error to what lincheck may conclude from it.
func classify(err error) error {
	if err == nil {
		return nil
	}
	st := status.Convert(err)
	msg := fmt.Sprintf("%s: %s", st.Code(), st.Message())
	switch st.Code() {
	case codes.Unauthenticated, codes.PermissionDenied, codes.InvalidArgument, codes.Unimplemented:
		return fmt.Errorf("%w: %s", lincheck.ErrMisconfigured, msg)
	case codes.Unavailable:
		for _, s := range notSent {
			if strings.Contains(st.Message(), s) {
				return fmt.Errorf("%w: %s", lincheck.ErrNotApplied, msg)
			}
		}
	}
	return errors.New(msg)
}
