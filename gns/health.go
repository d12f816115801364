package gns

import (
	"context"
	"strings"
	"sync"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/tandem-sms/tandem/gns/gnspb"
	"github.com/tandem-sms/tandem/raftstore"
)

// gRPC health checking (grpc.health.v1) and server reflection on the API
// port, so that load balancers, orchestrators and grpcurl work.
//
// Health answers for the server ("") and for the GNS service
// (tandem.gns.v1.GNS): SERVING while the node knows a Raft leader (itself
// or another member), NOT_SERVING during an election, without a quorum and
// from the start of shutdown on — /healthz's leader condition, pushed to
// Watch streams on every leadership change. It is served without the
// bearer token: a probe should not need a secret, and the answer tells no
// more than /healthz does.
//
// Reflection takes the token like every other method. The API it describes
// is public (gns/gnspb/gns.proto), but an open reflection port hands anyone
// who reaches it a map of the admin calls; grpcurl sends its -H headers
// with reflection requests too, so whoever can call the API can explore it.

// healthServices are the names health answers for.
var healthServices = []string{"", gnspb.GNS_ServiceDesc.ServiceName}

// nodeHealth is the node's health server and the lock that keeps its
// updates in order. stopped ends with the node's shutdown: health.Server's
// Watch returns only when its stream's context ends, and a balancer's
// Watch left open would hold the graceful stop for ShutdownTimeout.
type nodeHealth struct {
	mu      sync.Mutex
	srv     *health.Server
	stopped context.Context
	stop    context.CancelFunc
}

func newNodeHealth() *nodeHealth {
	h := &nodeHealth{srv: health.NewServer()}
	h.stopped, h.stop = context.WithCancel(context.Background())
	for _, s := range healthServices {
		h.srv.SetServingStatus(s, healthpb.HealthCheckResponse_NOT_SERVING)
	}
	return h
}

// follow sets the serving status from a view of leadership.
func (h *nodeHealth) follow(lc raftstore.LeaderChange) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if lc.LeaderID != "" && lc.State != raft.Shutdown {
		st = healthpb.HealthCheckResponse_SERVING
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range healthServices {
		h.srv.SetServingStatus(s, st)
	}
}

// shutdown reports NOT_SERVING from now on (later leadership changes are
// ignored) and ends the open Watch streams once each has sent it.
func (h *nodeHealth) shutdown() {
	h.srv.Shutdown()
	h.stop()
}

// stream wraps a health stream so that it ends at shutdown, after it sent
// NOT_SERVING (or at once if its last word was not SERVING).
func (h *nodeHealth) stream(ss grpc.ServerStream) (grpc.ServerStream, func()) {
	hs := &healthStream{ServerStream: ss}
	hs.ctx, hs.cancel = context.WithCancel(ss.Context())
	stop := context.AfterFunc(h.stopped, hs.stopping)
	return hs, func() { stop(); hs.cancel() }
}

type healthStream struct {
	grpc.ServerStream
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	serving bool // the last status sent was SERVING
	ending  bool // the node is shutting down
}

func (s *healthStream) Context() context.Context { return s.ctx }

func (s *healthStream) SendMsg(m any) error {
	err := s.ServerStream.SendMsg(m)
	r, _ := m.(*healthpb.HealthCheckResponse)
	s.mu.Lock()
	s.serving = r != nil && r.Status == healthpb.HealthCheckResponse_SERVING
	end := s.ending && !s.serving
	s.mu.Unlock()
	if end {
		s.cancel()
	}
	return err
}

func (s *healthStream) stopping() {
	s.mu.Lock()
	s.ending = true
	end := !s.serving
	s.mu.Unlock()
	if end {
		s.cancel()
	}
}

// register adds health and reflection to the node's gRPC server.
func (h *nodeHealth) register(s *grpc.Server) {
	healthpb.RegisterHealthServer(s, h.srv)
	reflection.Register(s)
}

// tokenFree reports whether a method is served without the bearer token:
// the health service's Check, Watch and List.
func tokenFree(fullMethod string) bool {
	return strings.HasPrefix(fullMethod, "/"+healthpb.Health_ServiceDesc.ServiceName+"/")
}
