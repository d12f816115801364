package gns

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/tandem-sms/tandem/gns/gnspb"
	"github.com/tandem-sms/tandem/raftstore"
)

// forwardedKey marks a call one node forwarded to another. A node that gets
// a forwarded call it cannot serve answers UNAVAILABLE instead of forwarding
// again, so a stale view of the leader cannot make calls loop.
const forwardedKey = "x-gns-forwarded-by"

// maxMsgSize bounds gRPC messages both ways: import and export chunks of
// tens of thousands of segments are a few MB.
const maxMsgSize = 64 << 20

// connPool keeps one client connection per peer gRPC address.
type connPool struct {
	opts []grpc.DialOption

	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

func newConnPool(cfg Config) (*connPool, error) {
	creds := insecure.NewCredentials()
	if cfg.TLSCert != "" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.TLSCA != "" {
			pem, err := os.ReadFile(cfg.TLSCA)
			if err != nil {
				return nil, fmt.Errorf("gns: read TLS CA: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("gns: TLS CA %s holds no certificate", cfg.TLSCA)
			}
		}
		creds = credentials.NewTLS(tc)
	}
	return &connPool{
		opts: []grpc.DialOption{
			grpc.WithTransportCredentials(creds),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMsgSize), grpc.MaxCallSendMsgSize(maxMsgSize)),
		},
		conns: map[string]*grpc.ClientConn{},
	}, nil
}

func (p *connPool) client(addr string) (gnspb.GNSClient, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		return nil, raftstore.ErrClosed
	}
	cc, ok := p.conns[addr]
	if !ok {
		var err error
		if cc, err = grpc.NewClient(addr, p.opts...); err != nil {
			return nil, fmt.Errorf("gns: dial %s: %w", addr, err)
		}
		p.conns[addr] = cc
	}
	return gnspb.NewGNSClient(cc), nil
}

func (p *connPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, cc := range p.conns {
		cc.Close()
	}
	p.conns = nil
}

// outgoing returns ctx carrying this node's credentials for a call to
// another node, marked as forwarded when it relays a client's call.
func (n *Node) outgoing(ctx context.Context, forwarded bool) context.Context {
	kv := []string{}
	if n.cfg.Token != "" {
		kv = append(kv, "authorization", "Bearer "+n.cfg.Token)
	}
	if forwarded {
		kv = append(kv, forwardedKey, n.cfg.NodeID)
	}
	// The client's incoming metadata must not leak into our call.
	return metadata.NewOutgoingContext(ctx, metadata.Pairs(kv...))
}

func isForwarded(ctx context.Context) bool {
	md, _ := metadata.FromIncomingContext(ctx)
	return len(md.Get(forwardedKey)) > 0
}

// errLeaderIsSelf tells a caller that asked for the leader's client that
// this node has become leader meanwhile: retry locally.
var errLeaderIsSelf = errors.New("gns: this node is the leader")

// leaderClient returns a client for the current leader, waiting a little for
// an election in progress. It refuses to forward a call that was forwarded
// to us already.
func (n *Node) leaderClient(ctx context.Context) (gnspb.GNSClient, error) {
	if isForwarded(ctx) {
		id, _ := n.store.Leader()
		return nil, &raftstore.NotLeaderError{LeaderID: id}
	}
	id, _ := n.store.Leader()
	if id == "" {
		wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		var err error
		id, _, err = n.store.WaitLeader(wctx)
		cancel()
		if err != nil {
			return nil, &raftstore.NotLeaderError{}
		}
	}
	if id == n.cfg.NodeID {
		return nil, errLeaderIsSelf
	}
	addr := n.fsm.member(id)
	if addr == "" {
		return nil, fmt.Errorf("%w (leader %s has not published its gRPC address yet)", &raftstore.NotLeaderError{LeaderID: id}, id)
	}
	return n.conns.client(addr)
}

// forward runs call against the leader, or reports errLeaderIsSelf. A
// forwarded unary call gets ForwardTimeout when the caller set no deadline.
func forward[T any](n *Node, ctx context.Context, call func(context.Context, gnspb.GNSClient) (T, error)) (T, error) {
	var zero T
	c, err := n.leaderClient(ctx)
	if err != nil {
		return zero, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.cfg.ForwardTimeout)
		defer cancel()
	}
	v, err := call(n.outgoing(ctx, true), c)
	if st, ok := status.FromError(err); ok && st.Code() == codes.Unavailable && strings.HasPrefix(st.Message(), "connection error") {
		// gRPC could not connect: the call never reached the leader, which
		// has probably just died. Say so, rather than pass on a
		// transport message that reads as if this node were down.
		id, _ := n.store.Leader()
		return v, status.Errorf(codes.Unavailable, "gns: forward to the leader %s at %s: %s: %s", id, n.fsm.member(id), errLeaderUnreachable, st.Message())
	}
	return v, err
}

// errLeaderUnreachable is the text of a forward that could not connect to
// the leader; nothing was sent, so nothing was applied.
const errLeaderUnreachable = "leader unreachable"

// leaderOrForward runs local when this node leads and forwards otherwise.
// local must fail with raftstore.ErrNotLeader before it changes anything,
// so falling back to forwarding is safe; leadership moving back to us in
// between is retried locally.
func leaderOrForward[T any](n *Node, ctx context.Context, local func() (T, error), call func(context.Context, gnspb.GNSClient) (T, error)) (T, error) {
	for attempt := 0; ; attempt++ {
		v, err := local()
		if !errors.Is(err, raftstore.ErrNotLeader) {
			return v, err
		}
		v, err = forward(n, ctx, call)
		if !errors.Is(err, errLeaderIsSelf) || attempt == 2 {
			return v, err
		}
	}
}
