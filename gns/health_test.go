package gns

import (
	"context"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/tandem-sms/tandem/gns/gnspb"
	"github.com/tandem-sms/tandem/internal/waitfor"
)

func dialConn(tb testing.TB, addr string) *grpc.ClientConn {
	tb.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cc.Close() })
	return cc
}

// watchHealth opens a Watch for service and returns the statuses it sends;
// the channel closes when the stream ends.
func watchHealth(t *testing.T, ctx context.Context, cc *grpc.ClientConn, service string) <-chan healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	w, err := healthpb.NewHealthClient(cc).Watch(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan healthpb.HealthCheckResponse_ServingStatus, 16)
	go func() {
		defer close(ch)
		for {
			r, err := w.Recv()
			if err != nil {
				return
			}
			ch <- r.Status
		}
	}()
	return ch
}

// waitStatus reads statuses from a Watch until want arrives.
func waitStatus(t *testing.T, what string, ch <-chan healthpb.HealthCheckResponse_ServingStatus, want healthpb.HealthCheckResponse_ServingStatus) {
	t.Helper()
	deadline := time.After(waitfor.Timeout)
	for {
		select {
		case st, ok := <-ch:
			if !ok {
				t.Fatalf("%s: the Watch ended before %v", what, want)
			}
			if st == want {
				return
			}
		case <-deadline:
			t.Fatalf("%s: no %v within %v", what, want, waitfor.Timeout)
		}
	}
}

// TestGRPCHealth: grpc.health.v1 answers without the bearer token, on a
// real client over loopback: SERVING on every node of a cluster with a
// leader, NOT_SERVING on the survivor once the other two are gone (no
// quorum, no leader), pushed to an open Watch. The GNS methods still need
// the token.
func TestGRPCHealth(t *testing.T) {
	nodes := startCluster(t, 3, func(c *Config) { c.Token, c.InsecureRaft = "t0ken", true })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, n := range nodes {
		hc := healthpb.NewHealthClient(dialConn(t, n.GRPCAddr()))
		for _, svc := range []string{"", gnspb.GNS_ServiceDesc.ServiceName} {
			waitfor.Cond(t, n.ID()+" serving "+svc, func() bool {
				r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
				if err != nil {
					t.Fatalf("%s: Check(%q) without a token: %v", n.ID(), svc, err)
				}
				return r.Status == healthpb.HealthCheckResponse_SERVING
			})
		}
		if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "nope"}); status.Code(err) != codes.NotFound {
			t.Errorf("Check(nope): %v, want NotFound", err)
		}
	}
	survivor := followerOf(nodes)
	cc := dialConn(t, survivor.GRPCAddr())
	if _, err := gnspb.NewGNSClient(cc).ResolveMT(ctx, &gnspb.ResolveMTRequest{Msisdn: "13800101234"}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("ResolveMT without the token: %v, want Unauthenticated", err)
	}
	watch := watchHealth(t, ctx, cc, "")
	waitStatus(t, "a follower of a healthy cluster", watch, healthpb.HealthCheckResponse_SERVING)
	for _, n := range nodes {
		if n != survivor {
			n.kill()
		}
	}
	waitStatus(t, "the survivor without a quorum", watch, healthpb.HealthCheckResponse_NOT_SERVING)
}

// TestGRPCHealthShutdown: a graceful stop says NOT_SERVING to an open Watch
// and ends it, rather than waiting ShutdownTimeout for the watcher to go.
func TestGRPCHealthShutdown(t *testing.T) {
	n, _, _ := singleNode(t, func(c *Config) { c.ShutdownTimeout = 10 * time.Minute })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	watch := watchHealth(t, ctx, dialConn(t, n.GRPCAddr()), gnspb.GNS_ServiceDesc.ServiceName)
	waitStatus(t, "the leader", watch, healthpb.HealthCheckResponse_SERVING)
	n.stop()
	waitStatus(t, "a node stopping", watch, healthpb.HealthCheckResponse_NOT_SERVING)
	select {
	case err := <-n.done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(waitfor.Timeout):
		t.Fatal("the open health Watch held the graceful stop")
	}
	if _, ok := <-watch; ok {
		t.Fatal("the Watch goes on after the node stopped")
	}
}

// TestReflection: the reflection service (what grpcurl lists and
// describes with) takes the token like the API, and with it lists the GNS
// and health services and serves the GNS service's descriptor.
func TestReflection(t *testing.T) {
	n, _, ctx := singleNode(t, func(c *Config) { c.Token, c.InsecureRaft = "t0ken", true })
	rc := reflectpb.NewServerReflectionClient(dialConn(t, n.GRPCAddr()))
	ask := func(ctx context.Context, req *reflectpb.ServerReflectionRequest) (*reflectpb.ServerReflectionResponse, error) {
		s, err := rc.ServerReflectionInfo(ctx)
		if err != nil {
			return nil, err
		}
		defer s.CloseSend()
		if err := s.Send(req); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		return s.Recv() // after io.EOF from Send, Recv has the status

	}
	listReq := &reflectpb.ServerReflectionRequest{MessageRequest: &reflectpb.ServerReflectionRequest_ListServices{ListServices: "*"}}
	noToken, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := ask(noToken, listReq); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("reflection without the token: %v, want Unauthenticated", err)
	}
	r, err := ask(ctx, listReq)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range r.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	for _, want := range []string{gnspb.GNS_ServiceDesc.ServiceName, healthpb.Health_ServiceDesc.ServiceName} {
		if !slices.Contains(names, want) {
			t.Errorf("reflection lists %v, without %s", names, want)
		}
	}
	r, err = ask(ctx, &reflectpb.ServerReflectionRequest{MessageRequest: &reflectpb.ServerReflectionRequest_FileContainingSymbol{
		FileContainingSymbol: gnspb.GNS_ServiceDesc.ServiceName}})
	if err != nil || len(r.GetFileDescriptorResponse().GetFileDescriptorProto()) == 0 {
		t.Fatalf("descriptor of %s: %v %v", gnspb.GNS_ServiceDesc.ServiceName, r, err)
	}
}
