package gns

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/tandem-sms/tandem/gns/gnspb"
	"github.com/tandem-sms/tandem/raftstore"
	"github.com/tandem-sms/tandem/routing"
)

// toStatus is the one translation of the node's errors into gRPC status
// codes, applied by the interceptors to whatever a handler returns. Errors
// that already are statuses (from a forwarded call) pass through.
func (n *Node) toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var nl *raftstore.NotLeaderError
	var ve *routing.ValidationError
	var code codes.Code
	msg := err.Error()
	switch {
	case errors.As(err, &nl):
		code = codes.Unavailable
		if addr := n.fsm.member(nl.LeaderID); addr != "" {
			msg = fmt.Sprintf("%s; %s%s (id %s)", msg, gnspb.LeaderHintPrefix, addr, nl.LeaderID)
		} else if nl.LeaderID == "" {
			msg += "; no leader elected yet, retry"
		}
	case errors.Is(err, errLeaderIsSelf), errors.Is(err, raftstore.ErrOutcomeUnknown),
		errors.Is(err, raftstore.ErrClosed), errors.Is(err, ErrShuttingDown):
		code = codes.Unavailable
	case errors.Is(err, ErrWatchSlow):
		code = codes.ResourceExhausted
	case errors.Is(err, ErrImportAborted):
		code = codes.Aborted
	case errors.Is(err, ErrLeaseHeld), errors.Is(err, ErrLeaseLost):
		code = codes.FailedPrecondition
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	case errors.Is(err, routing.ErrRouteNotFound), errors.Is(err, routing.ErrNotFound), errors.Is(err, routing.ErrUnknownSP):
		code = codes.NotFound
	case errors.Is(err, routing.ErrExists):
		code = codes.AlreadyExists
	case errors.Is(err, routing.ErrInUse), errors.Is(err, ErrSecretsNeedTLS):
		code = codes.FailedPrecondition
	case errors.Is(err, routing.ErrIDSpace):
		code = codes.ResourceExhausted
	case errors.As(err, &ve), errors.Is(err, routing.ErrBadChange), errors.Is(err, routing.ErrBadDigits),
		errors.Is(err, routing.ErrBadNumber), errors.Is(err, routing.ErrBadValue), errors.Is(err, routing.ErrConflict),
		errors.Is(err, routing.ErrUnknownGateway), errors.Is(err, routing.ErrBadEncoding), errors.Is(err, errInvalid):
		code = codes.InvalidArgument
	default:
		code = codes.Internal
	}
	return status.Error(code, msg)
}

// errInvalid marks a request the API refuses before touching the table.
var errInvalid = errors.New("gns: invalid request")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errInvalid, fmt.Sprintf(format, args...))
}

// authorize checks the bearer token when one is configured and the method
// needs it (all but health, see health.go).
func (n *Node) authorize(ctx context.Context, method string) error {
	if n.cfg.Token == "" || tokenFree(method) {
		return nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	want := "Bearer " + n.cfg.Token
	for _, v := range md.Get("authorization") {
		if subtle.ConstantTimeCompare([]byte(v), []byte(want)) == 1 {
			return nil
		}
	}
	return status.Error(codes.Unauthenticated, "gns: missing or wrong bearer token")
}

// methodName trims "/tandem.gns.v1.GNS/Write" to "Write" for a bounded label.
func methodName(full string) string {
	return full[strings.LastIndexByte(full, '/')+1:]
}

func (n *Node) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	method := methodName(info.FullMethod)
	err := n.authorize(ctx, info.FullMethod)
	var resp any
	if err == nil {
		resp, err = handler(ctx, req)
		err = n.toStatus(err)
	}
	n.metrics.GRPCRequests.WithLabelValues(method, status.Code(err).String()).Inc()
	n.metrics.GRPCDurations.WithLabelValues(method).Observe(time.Since(start).Seconds())
	return resp, err
}

func (n *Node) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	err := n.authorize(ss.Context(), info.FullMethod)
	if err == nil && tokenFree(info.FullMethod) {
		hs, done := n.health.stream(ss)
		defer done()
		ss = hs
	}
	if err == nil {
		err = n.toStatus(handler(srv, ss))
	}
	n.metrics.GRPCRequests.WithLabelValues(methodName(info.FullMethod), status.Code(err).String()).Inc()
	return err
}

func (n *Node) newGRPCServer() (*grpc.Server, error) {
	opts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(n.unaryInterceptor),
		grpc.ChainStreamInterceptor(n.streamInterceptor),
		grpc.MaxRecvMsgSize(maxMsgSize),
		grpc.MaxSendMsgSize(maxMsgSize),
	}
	if n.cfg.TLSCert != "" {
		creds, err := credentials.NewServerTLSFromFile(n.cfg.TLSCert, n.cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("gns: load TLS key pair: %w", err)
		}
		opts = append(opts, grpc.Creds(creds))
	}
	s := grpc.NewServer(opts...)
	gnspb.RegisterGNSServer(s, &service{n: n})
	n.health.register(s)
	return s, nil
}
