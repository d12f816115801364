package ismg

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/tandem-sms/tandem/ismg/adminpb"
)

// The admin gRPC API on listen.admin, as the GNS serves its own: TLS with
// listen.admin_tls (mutual with its client_ca), the bearer token of
// admin.token (or a named one of admin.tokens) on every call but the
// health service, gRPC health (grpc.health.v1: SERVING while the node
// runs) and reflection (which takes the token). Errors are translated to
// gRPC codes once, here.

// listenAdmin opens listen.admin and builds the server.
func (n *Node) listenAdmin() error {
	if n.cfg.Listen.Admin == "" {
		return nil
	}
	opts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(n.adminUnary),
		grpc.ChainStreamInterceptor(n.adminStream),
	}
	if t := n.cfg.Listen.AdminTLS; t != nil {
		tc, err := t.load()
		if err != nil {
			return fmt.Errorf("ismg: listen.admin_tls: %w", err)
		}
		opts = append(opts, grpc.Creds(credentials.NewTLS(tc)))
	}
	ln, err := net.Listen("tcp", n.cfg.Listen.Admin)
	if err != nil {
		return fmt.Errorf("ismg: listen.admin: %w", err)
	}
	n.adm.ln = ln
	n.adm.srv = grpc.NewServer(opts...)
	adminpb.RegisterAdminServer(n.adm.srv, &adminService{n: n})
	n.adm.health = health.NewServer()
	for _, s := range []string{"", adminpb.Admin_ServiceDesc.ServiceName} {
		n.adm.health.SetServingStatus(s, healthpb.HealthCheckResponse_SERVING)
	}
	healthpb.RegisterHealthServer(n.adm.srv, n.adm.health)
	reflection.Register(n.adm.srv)
	return nil
}

// AdminAddr is the admin API's address, or "" without listen.admin.
func (n *Node) AdminAddr() string {
	if n.adm.ln == nil {
		return ""
	}
	return n.adm.ln.Addr().String()
}

// serveAdmin serves the admin API until stopAdmin.
func (n *Node) serveAdmin() error {
	if n.adm.srv == nil {
		return nil
	}
	err := n.adm.srv.Serve(n.adm.ln)
	if errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}

// stopAdmin reports NOT_SERVING and stops the admin API: calls in
// progress finish (health watches are cut after a second).
func (n *Node) stopAdmin() {
	if n.adm.srv == nil {
		return
	}
	n.adm.health.Shutdown()
	t := time.AfterFunc(time.Second, n.adm.srv.Stop)
	n.adm.srv.GracefulStop()
	t.Stop()
}

func (n *Node) closeAdmin() {
	if n.adm.ln != nil && n.adm.srv == nil {
		n.adm.ln.Close()
	}
	if n.adm.srv != nil {
		n.adm.srv.Stop()
	}
	_ = n.adm.audit.close()
}

// caller is who makes an admin call, for the audit log.
type caller struct{ who, peer string }

type callerKey struct{}

// authorizeAdmin checks the bearer token (all but health need it) and
// names the caller: the token's name, the client certificate's CN when
// there is one, and the peer address.
func (n *Node) authorizeAdmin(ctx context.Context, method string) (context.Context, error) {
	c := caller{who: "anonymous"}
	if p, ok := peer.FromContext(ctx); ok {
		c.peer = p.Addr.String()
		if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(ti.State.PeerCertificates) > 0 {
			c.who = "cn:" + ti.State.PeerCertificates[0].Subject.CommonName
		}
	}
	if strings.HasPrefix(method, "/"+healthpb.Health_ServiceDesc.ServiceName+"/") {
		return ctx, nil
	}
	if toks := n.cfg.Admin.tokens(); len(toks) > 0 {
		md, _ := metadata.FromIncomingContext(ctx)
		name := ""
		for _, v := range md.Get("authorization") {
			for _, t := range toks {
				if subtle.ConstantTimeCompare([]byte(v), []byte("Bearer "+t.token)) == 1 {
					name = t.name
				}
			}
		}
		if name == "" {
			n.connLog.Do(func() {
				n.log.Warn("admin call refused: missing or wrong token", LogKeyPeer, c.peer, "method", method)
			})
			return ctx, status.Error(codes.Unauthenticated, "ismg: missing or wrong admin token")
		}
		if strings.HasPrefix(c.who, "cn:") {
			c.who = name + " (" + c.who + ")"
		} else {
			c.who = name
		}
	}
	return context.WithValue(ctx, callerKey{}, c), nil
}

func callerOf(ctx context.Context) caller {
	c, _ := ctx.Value(callerKey{}).(caller)
	return c
}

func (n *Node) adminUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	ctx, err := n.authorizeAdmin(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	resp, err := h(ctx, req)
	return resp, adminStatus(err)
}

func (n *Node) adminStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if _, err := n.authorizeAdmin(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return h(srv, ss)
}

// adminStatus is the one translation of the node's errors to gRPC codes.
func adminStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	switch {
	case errors.Is(err, ErrNoSuchSP), errors.Is(err, ErrNoSuchLink):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, ErrSPExists):
		return status.Error(codes.AlreadyExists, err.Error())
	case errors.Is(err, ErrInvalid):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	}
	return status.Error(codes.Internal, err.Error())
}

// audited runs a change and records it in the audit log.
func (n *Node) audited(ctx context.Context, action, target, detail string, f func() error) error {
	err := f()
	c := callerOf(ctx)
	res := "ok"
	if err != nil {
		res = err.Error()
	}
	n.adm.audit.record(AuditEntry{Time: time.Now(), Who: c.who, Peer: c.peer, Action: action, Target: target, Detail: detail, Result: res})
	return err
}
