package gns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tandem-sms/tandem/gns/gnspb"
	"github.com/tandem-sms/tandem/raftstore"
	"github.com/tandem-sms/tandem/routing"
)

// service implements gnspb.GNSServer. Handlers return domain errors; the
// interceptors translate them (Node.toStatus).
type service struct {
	gnspb.UnimplementedGNSServer
	n *Node
}

// apply commits cmd on this node, which must lead, and returns its index.
// An error the FSM answered with (a rejected batch) is returned as is.
func (n *Node) apply(ctx context.Context, cmd []byte) (any, uint64, error) {
	resp, idx, err := n.store.Apply(ctx, cmd)
	if err != nil {
		return nil, idx, err
	}
	if err, ok := resp.(error); ok {
		return nil, idx, err
	}
	return resp, idx, nil
}

// WriteChanges commits a change batch through the leader (forwarding from a
// follower) and returns its revision. Once it returns, this node's table
// includes the batch, so a read that follows sees it.
func (n *Node) WriteChanges(ctx context.Context, changes []routing.Change) (uint64, error) {
	req := &gnspb.WriteRequest{Changes: gnspb.NewChanges(changes, nil)}
	resp, err := n.write(ctx, changes, req)
	if err != nil {
		return 0, err
	}
	if err := n.fsm.waitApplied(ctx, resp.Revision); err != nil {
		return resp.Revision, err
	}
	return resp.Revision, nil
}

func (n *Node) write(ctx context.Context, changes []routing.Change, req *gnspb.WriteRequest) (*gnspb.WriteResponse, error) {
	cmd := encodeChanges(changes)
	return leaderOrForward(n, ctx,
		func() (*gnspb.WriteResponse, error) {
			_, idx, err := n.apply(ctx, cmd)
			if err != nil {
				return nil, err
			}
			return &gnspb.WriteResponse{Revision: idx}, nil
		},
		func(ctx context.Context, c gnspb.GNSClient) (*gnspb.WriteResponse, error) { return c.Write(ctx, req) })
}

func (s *service) Write(ctx context.Context, req *gnspb.WriteRequest) (*gnspb.WriteResponse, error) {
	changes, err := gnspb.ChangesToRouting(req.GetChanges())
	if err != nil {
		return nil, err
	}
	if err := checkSecretsWrite(ctx, changes); err != nil {
		return nil, err
	}
	return s.n.write(ctx, changes, req)
}

// readFence makes a read that follows it linearizable, on the leader only.
//
// Every write is acknowledged only after the leader's FSM applied it, so
// once this node has applied all entries of earlier terms (one Barrier per
// term) and a quorum confirms it still leads (VerifyLeader: no newer leader
// can have acknowledged anything), its table holds every acknowledged write.
// Waiting for the FSM to reach the raft commit index would not work as a
// fence here: no-op and configuration entries advance the commit index but
// never reach the FSM.
func (n *Node) readFence(ctx context.Context) error {
	if !n.store.IsLeader() {
		id, addr := n.store.Leader()
		return &raftstore.NotLeaderError{LeaderID: id, LeaderAddr: addr}
	}
	if err := n.ensureBarrier(ctx); err != nil {
		return err
	}
	return n.store.VerifyLeader(ctx)
}

// readTable returns the table to answer a read from: this node's own when
// stale, else the leader's after the fence (raftstore.ErrNotLeader on a
// follower, whose handler then forwards).
func (n *Node) readTable(ctx context.Context, stale bool) (*routing.Table, error) {
	if !stale {
		if err := n.readFence(ctx); err != nil {
			return nil, err
		}
	}
	return n.fsm.table.Load(), nil
}

// read answers from this node (stale, or leader after the fence) or forwards
// to the leader.
func read[T any](n *Node, ctx context.Context, stale bool, local func(*routing.Table) (T, error), call func(context.Context, gnspb.GNSClient) (T, error)) (T, error) {
	return leaderOrForward(n, ctx, func() (T, error) {
		t, err := n.readTable(ctx, stale)
		if err != nil {
			var zero T
			return zero, err
		}
		return local(t)
	}, call)
}

func (s *service) ResolveMT(ctx context.Context, req *gnspb.ResolveMTRequest) (*gnspb.ResolveMTResponse, error) {
	return read(s.n, ctx, req.GetStale(), func(t *routing.Table) (*gnspb.ResolveMTResponse, error) {
		num, err := routing.NormalizeMSISDN(req.GetMsisdn())
		if err != nil {
			return nil, err
		}
		r, err := t.ResolveMT(num)
		if err != nil {
			return nil, err
		}
		out := &gnspb.ResolveMTResponse{Gateway: gnspb.NewGateway(r.Gateway), Ported: r.Ported, Revision: t.Revision()}
		if !r.Ported {
			out.Segment = gnspb.NewSegment(r.Segment)
		}
		return out, nil
	}, func(ctx context.Context, c gnspb.GNSClient) (*gnspb.ResolveMTResponse, error) {
		return c.ResolveMT(ctx, req)
	})
}

// gatewayOfRegion picks the gateway with the lowest code in region.
func gatewayOfRegion(t *routing.Table, region string) (string, error) {
	for _, g := range t.Gateways() {
		if g.Region == region {
			return g.Code, nil
		}
	}
	return "", fmt.Errorf("%w: no gateway in region %q", routing.ErrUnknownGateway, region)
}

func (s *service) ResolveMO(ctx context.Context, req *gnspb.ResolveMORequest) (*gnspb.ResolveMOResponse, error) {
	return read(s.n, ctx, req.GetStale(), func(t *routing.Table) (*gnspb.ResolveMOResponse, error) {
		asking := req.GetAskingGateway()
		if asking == "" {
			if req.GetAskingRegion() == "" {
				return nil, invalid("asking_gateway or asking_region is required")
			}
			var err error
			if asking, err = gatewayOfRegion(t, req.GetAskingRegion()); err != nil {
				return nil, err
			}
		}
		r, err := t.ResolveMO(req.GetServiceCode(), asking)
		if err != nil {
			return nil, err
		}
		return &gnspb.ResolveMOResponse{Sp: gnspb.NewSP(*r.SP).WithoutSecret(), Partition: r.Partition, Gateway: gnspb.NewGateway(r.Gateway), Revision: t.Revision()}, nil
	}, func(ctx context.Context, c gnspb.GNSClient) (*gnspb.ResolveMOResponse, error) {
		return c.ResolveMO(ctx, req)
	})
}

func (s *service) GetSP(ctx context.Context, req *gnspb.GetSPRequest) (*gnspb.SP, error) {
	if err := checkSecretsRead(ctx, req.GetWithSecrets()); err != nil {
		return nil, err
	}
	sp, err := read(s.n, ctx, req.GetStale(), func(t *routing.Table) (*gnspb.SP, error) {
		sp, ok := t.SP(req.GetSpId())
		if !ok {
			return nil, fmt.Errorf("%w: sp %q", routing.ErrNotFound, req.GetSpId())
		}
		return gnspb.NewSP(sp), nil
	}, func(ctx context.Context, c gnspb.GNSClient) (*gnspb.SP, error) { return c.GetSP(ctx, req) })
	if err != nil || req.GetWithSecrets() {
		return sp, err
	}
	return sp.WithoutSecret(), nil
}

func (s *service) Watch(req *gnspb.WatchRequest, stream grpc.ServerStreamingServer[gnspb.WatchEvent]) error {
	if err := checkSecretsRead(stream.Context(), req.GetWithSecrets()); err != nil {
		return err
	}
	secrets := req.GetWithSecrets()
	return s.n.hub.watch(stream.Context(), req.GetFromRevision(), func(ev *gnspb.WatchEvent) error {
		if !secrets {
			ev = ev.WithoutSecrets()
		}
		if err := stream.Send(ev); err != nil {
			return err
		}
		s.n.metrics.WatchEvents.Inc()
		return nil
	})
}

func (s *service) ExportTable(req *gnspb.ExportRequest, stream grpc.ServerStreamingServer[gnspb.TableChunk]) error {
	n := s.n
	ctx := stream.Context()
	if err := checkSecretsRead(ctx, req.GetWithSecrets()); err != nil {
		return err
	}
	t, err := n.readTable(ctx, req.GetStale())
	if errors.Is(err, raftstore.ErrNotLeader) {
		return n.forwardExport(ctx, req, stream)
	}
	if err != nil {
		return err
	}
	send := stream.Send
	if !req.GetWithSecrets() {
		send = func(ch *gnspb.TableChunk) error { return stream.Send(ch.WithoutSecrets()) }
	}
	return gnspb.TableChunks(t, n.cfg.ImportChunk, send)
}

func (n *Node) forwardExport(ctx context.Context, req *gnspb.ExportRequest, stream grpc.ServerStreamingServer[gnspb.TableChunk]) error {
	c, err := n.leaderClient(ctx)
	if err != nil {
		return err
	}
	up, err := c.ExportTable(n.outgoing(ctx, true), req)
	if err != nil {
		return err
	}
	for {
		ch, err := up.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(ch); err != nil {
			return err
		}
	}
}

// memberStatusTimeout bounds ClusterStatus's question to each member.
const memberStatusTimeout = 2 * time.Second

func (s *service) ClusterStatus(ctx context.Context, _ *gnspb.ClusterStatusRequest) (*gnspb.ClusterStatusResponse, error) {
	n := s.n
	servers, err := n.store.Servers()
	if err != nil {
		return nil, err
	}
	st := n.store.Status()
	digest, digestRev := n.Digest()
	out := &gnspb.ClusterStatusResponse{
		LeaderId:            st.LeaderID,
		AppliedIndex:        n.fsm.appliedIndex(),
		Revision:            n.Revision(),
		State:               strings.ToLower(st.State.String()),
		NodeId:              n.cfg.NodeID,
		TableDigest:         digest,
		TableDigestRevision: digestRev,
	}
	var wg sync.WaitGroup
	for _, sv := range servers {
		m := &gnspb.Member{
			Id: sv.ID, RaftAddr: sv.Addr, GrpcAddr: n.fsm.member(sv.ID),
			Suffrage: strings.ToLower(sv.Suffrage.String()), Leader: sv.ID == st.LeaderID,
		}
		out.Members = append(out.Members, m)
		switch {
		case sv.ID == n.cfg.NodeID:
			m.Status = n.nodeStatus()
		case m.GrpcAddr == "":
			m.StatusError = "its gRPC address is not known yet"
		default:
			wg.Go(func() { m.Status, m.StatusError = n.askNodeStatus(ctx, m.GrpcAddr) })
		}
	}
	wg.Wait()
	return out, nil
}

// askNodeStatus asks the member at addr for its own status.
func (n *Node) askNodeStatus(ctx context.Context, addr string) (*gnspb.NodeStatusResponse, string) {
	c, err := n.conns.client(addr)
	if err != nil {
		return nil, err.Error()
	}
	// Leave the caller half its time: a member that does not answer must
	// not make the whole status miss the caller's deadline.
	timeout := memberStatusTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl)/2)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := c.NodeStatus(n.outgoing(ctx, false), &gnspb.NodeStatusRequest{})
	if err != nil {
		msg := status.Convert(err).Message()
		if status.Code(err) == codes.Unavailable {
			// gRPC's transport text ends with the cause: keep that.
			if i := strings.LastIndex(msg, ": "); i >= 0 {
				msg = strings.TrimRight(msg[i+2:], `"`)
			}
		}
		return nil, "did not answer: " + msg
	}
	return resp, ""
}

func (n *Node) nodeStatus() *gnspb.NodeStatusResponse {
	st := n.store.Status()
	digest, rev := n.Digest()
	return &gnspb.NodeStatusResponse{
		NodeId:              n.cfg.NodeID,
		State:               strings.ToLower(st.State.String()),
		Term:                st.Term,
		CommitIndex:         st.CommitIndex,
		AppliedIndex:        n.fsm.appliedIndex(),
		LeaderId:            st.LeaderID,
		TableDigest:         digest,
		TableDigestRevision: rev,
	}
}

func (s *service) NodeStatus(context.Context, *gnspb.NodeStatusRequest) (*gnspb.NodeStatusResponse, error) {
	return s.n.nodeStatus(), nil
}

func (s *service) Join(ctx context.Context, req *gnspb.JoinRequest) (*gnspb.JoinResponse, error) {
	n := s.n
	if req.GetId() == "" || req.GetRaftAddr() == "" || req.GetGrpcAddr() == "" {
		return nil, invalid("join needs id, raft_addr and grpc_addr")
	}
	return leaderOrForward(n, ctx, func() (*gnspb.JoinResponse, error) {
		if err := n.store.Join(ctx, req.GetId(), req.GetRaftAddr()); err != nil {
			return nil, err
		}
		// The address record follows the configuration change; a failure
		// here leaves a member that cannot be forwarded to until it joins
		// again, which its join loop keeps doing until it succeeds.
		if n.fsm.member(req.GetId()) != req.GetGrpcAddr() {
			if _, _, err := n.apply(ctx, encodeMember(req.GetId(), req.GetGrpcAddr())); err != nil {
				return nil, fmt.Errorf("record member %s: %w", req.GetId(), err)
			}
		}
		n.log.Info("member joined", "id", req.GetId(), "raft", req.GetRaftAddr(), "grpc", req.GetGrpcAddr())
		return &gnspb.JoinResponse{}, nil
	}, func(ctx context.Context, c gnspb.GNSClient) (*gnspb.JoinResponse, error) { return c.Join(ctx, req) })
}

func (s *service) Remove(ctx context.Context, req *gnspb.RemoveRequest) (*gnspb.RemoveResponse, error) {
	n := s.n
	if req.GetId() == "" {
		return nil, invalid("remove needs an id")
	}
	return leaderOrForward(n, ctx, func() (*gnspb.RemoveResponse, error) {
		if err := n.store.Remove(ctx, req.GetId()); err != nil {
			return nil, err
		}
		if req.GetId() != n.cfg.NodeID && n.fsm.member(req.GetId()) != "" {
			if _, _, err := n.apply(ctx, encodeMember(req.GetId(), "")); err != nil {
				return nil, fmt.Errorf("forget member %s: %w", req.GetId(), err)
			}
		}
		n.log.Info("member removed", "id", req.GetId())
		return &gnspb.RemoveResponse{}, nil
	}, func(ctx context.Context, c gnspb.GNSClient) (*gnspb.RemoveResponse, error) { return c.Remove(ctx, req) })
}
