package ismg

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/tandem-sms/tandem/gns/gnspb"
)

// leaseConn is the node's gRPC client of the GNS store-lease API: the GNS
// nodes of routes.gns, with its TLS settings and token. A call goes to the
// node that answered last and moves on to the next on UNAVAILABLE (a
// follower forwards lease writes to the leader itself).
type leaseConn struct {
	token string

	mu    sync.Mutex
	conns []*grpc.ClientConn
	next  int // the node to try first
}

// errLeaseRefused wraps a FAILED_PRECONDITION answer: the lease is held by
// another node, or lost.
var errLeaseRefused = errors.New("ismg: store lease refused")

func newLeaseConn(rc RoutesConfig) (*leaseConn, error) {
	creds := insecure.NewCredentials()
	if rc.TLS || rc.TLSCA != "" || rc.TLSCert != "" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if rc.TLSCA != "" {
			pem, err := os.ReadFile(rc.TLSCA)
			if err != nil {
				return nil, fmt.Errorf("ismg: routes.tls_ca: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("ismg: routes.tls_ca %s: no PEM certificate in it", rc.TLSCA)
			}
		}
		if rc.TLSCert != "" {
			cert, err := tls.LoadX509KeyPair(rc.TLSCert, rc.TLSKey)
			if err != nil {
				return nil, fmt.Errorf("ismg: routes.tls_cert: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		creds = credentials.NewTLS(tc)
	}
	lc := &leaseConn{token: rc.Token}
	for _, addr := range rc.GNS {
		cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
		if err != nil {
			lc.close()
			return nil, fmt.Errorf("ismg: routes.gns %s: %w", addr, err)
		}
		lc.conns = append(lc.conns, cc)
	}
	return lc, nil
}

func (lc *leaseConn) close() {
	for _, cc := range lc.conns {
		cc.Close()
	}
}

// call runs f against the GNS nodes in turn until one answers other than
// UNAVAILABLE. FAILED_PRECONDITION comes back wrapping errLeaseRefused.
func (lc *leaseConn) call(ctx context.Context, f func(context.Context, gnspb.GNSClient) error) error {
	if lc.token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+lc.token)
	}
	lc.mu.Lock()
	start := lc.next
	lc.mu.Unlock()
	var err error
	for i := range lc.conns {
		k := (start + i) % len(lc.conns)
		err = f(ctx, gnspb.NewGNSClient(lc.conns[k]))
		switch status.Code(err) {
		case codes.OK:
			lc.mu.Lock()
			lc.next = k
			lc.mu.Unlock()
			return nil
		case codes.FailedPrecondition:
			return fmt.Errorf("%w: %s", errLeaseRefused, status.Convert(err).Message())
		case codes.Unavailable, codes.DeadlineExceeded:
			if ctx.Err() != nil {
				return err
			}
			continue
		}
		return err
	}
	return err
}

func (lc *leaseConn) acquire(ctx context.Context, req *gnspb.AcquireStoreLeaseRequest) (*gnspb.StoreLeaseResponse, error) {
	var r *gnspb.StoreLeaseResponse
	err := lc.call(ctx, func(ctx context.Context, c gnspb.GNSClient) (err error) {
		r, err = c.AcquireStoreLease(ctx, req)
		return err
	})
	return r, err
}

func (lc *leaseConn) renew(ctx context.Context, req *gnspb.RenewStoreLeaseRequest) (*gnspb.StoreLeaseResponse, error) {
	var r *gnspb.StoreLeaseResponse
	err := lc.call(ctx, func(ctx context.Context, c gnspb.GNSClient) (err error) {
		r, err = c.RenewStoreLease(ctx, req)
		return err
	})
	return r, err
}

func (lc *leaseConn) release(ctx context.Context, req *gnspb.ReleaseStoreLeaseRequest) error {
	return lc.call(ctx, func(ctx context.Context, c gnspb.GNSClient) error {
		_, err := c.ReleaseStoreLease(ctx, req)
		return err
	})
}

func (lc *leaseConn) list(ctx context.Context) (*gnspb.ListStoreLeasesResponse, error) {
	var r *gnspb.ListStoreLeasesResponse
	err := lc.call(ctx, func(ctx context.Context, c gnspb.GNSClient) (err error) {
		r, err = c.ListStoreLeases(ctx, &gnspb.ListStoreLeasesRequest{})
		return err
	})
	return r, err
}
