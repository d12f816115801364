package gns

import (
	"context"
	"time"

	"github.com/tandem-sms/tandem/gns/gnspb"
)

// The store-lease API (lease.go). Writes go to the leader, which stamps its
// clock into the command; a follower forwards them unchanged, so the stamp
// is always the leader's. The interceptors check the token like every
// other write.

// checkLeaseID validates a store id or holder name.
func checkLeaseID(field, v string) error {
	if v == "" {
		return invalid("%s is required", field)
	}
	if len(v) > maxLeaseField {
		return invalid("%s: longer than %d bytes", field, maxLeaseField)
	}
	for _, r := range v {
		if r <= ' ' || r == 0x7f {
			return invalid("%s: %q has a space or control character", field, v)
		}
	}
	return nil
}

func sixDigits(s string) bool {
	if len(s) != 6 {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func checkLeaseTTL(ms int64) (time.Duration, error) {
	d := time.Duration(ms) * time.Millisecond
	if d < minLeaseTTL || d > maxLeaseTTL {
		return 0, invalid("ttl_ms: want %v..%v, got %dms", minLeaseTTL, maxLeaseTTL, ms)
	}
	return d, nil
}

// applyLeaseCmd stamps the leader's time into c and commits it here, on
// the leader (raftstore.ErrNotLeader otherwise, before anything changed).
func (n *Node) applyLeaseCmd(ctx context.Context, c leaseCmd) (*gnspb.StoreLeaseResponse, error) {
	c.now = time.Now().UnixNano()
	resp, _, err := n.apply(ctx, encodeLease(c))
	if err != nil {
		return nil, err
	}
	out := &gnspb.StoreLeaseResponse{NowUnixNano: n.fsm.leases.Load().clock}
	if l, ok := resp.(storeLease); ok {
		out.Lease = leaseToPB(l)
	}
	return out, nil
}

func leaseToPB(l storeLease) *gnspb.StoreLease {
	return &gnspb.StoreLease{
		StoreId: l.Store, Holder: l.Holder, Gateway: l.Gateway, Token: l.Token,
		GrantedUnixNano: l.Granted, RenewedUnixNano: l.Renewed, ExpiresUnixNano: l.Expires,
		TtlMs: l.TTL.Milliseconds(),
	}
}

func (s *service) AcquireStoreLease(ctx context.Context, req *gnspb.AcquireStoreLeaseRequest) (*gnspb.StoreLeaseResponse, error) {
	if err := checkLeaseID("store_id", req.GetStoreId()); err != nil {
		return nil, err
	}
	if err := checkLeaseID("holder", req.GetHolder()); err != nil {
		return nil, err
	}
	ttl, err := checkLeaseTTL(req.GetTtlMs())
	if err != nil {
		return nil, err
	}
	if req.GetMinExpiredMs() < 0 {
		return nil, invalid("min_expired_ms: negative")
	}
	if g := req.GetGateway(); g != "" && !sixDigits(g) {
		return nil, invalid("gateway: want a 6-digit gateway code, got %q", g)
	}
	c := leaseCmd{op: leaseAcquire, store: req.GetStoreId(), holder: req.GetHolder(), gateway: req.GetGateway(), ttl: ttl,
		minExpired: time.Duration(req.GetMinExpiredMs()) * time.Millisecond}
	return leaderOrForward(s.n, ctx, func() (*gnspb.StoreLeaseResponse, error) { return s.n.applyLeaseCmd(ctx, c) },
		func(ctx context.Context, cl gnspb.GNSClient) (*gnspb.StoreLeaseResponse, error) {
			return cl.AcquireStoreLease(ctx, req)
		})
}

func (s *service) RenewStoreLease(ctx context.Context, req *gnspb.RenewStoreLeaseRequest) (*gnspb.StoreLeaseResponse, error) {
	if err := checkLeaseID("store_id", req.GetStoreId()); err != nil {
		return nil, err
	}
	if err := checkLeaseID("holder", req.GetHolder()); err != nil {
		return nil, err
	}
	if req.GetToken() == 0 {
		return nil, invalid("token is required")
	}
	ttl, err := checkLeaseTTL(req.GetTtlMs())
	if err != nil {
		return nil, err
	}
	c := leaseCmd{op: leaseRenew, store: req.GetStoreId(), holder: req.GetHolder(), token: req.GetToken(), ttl: ttl}
	return leaderOrForward(s.n, ctx, func() (*gnspb.StoreLeaseResponse, error) { return s.n.applyLeaseCmd(ctx, c) },
		func(ctx context.Context, cl gnspb.GNSClient) (*gnspb.StoreLeaseResponse, error) {
			return cl.RenewStoreLease(ctx, req)
		})
}

func (s *service) ReleaseStoreLease(ctx context.Context, req *gnspb.ReleaseStoreLeaseRequest) (*gnspb.ReleaseStoreLeaseResponse, error) {
	if err := checkLeaseID("store_id", req.GetStoreId()); err != nil {
		return nil, err
	}
	if err := checkLeaseID("holder", req.GetHolder()); err != nil {
		return nil, err
	}
	if req.GetToken() == 0 {
		return nil, invalid("token is required")
	}
	c := leaseCmd{op: leaseRelease, store: req.GetStoreId(), holder: req.GetHolder(), token: req.GetToken()}
	return leaderOrForward(s.n, ctx, func() (*gnspb.ReleaseStoreLeaseResponse, error) {
		if _, err := s.n.applyLeaseCmd(ctx, c); err != nil {
			return nil, err
		}
		return &gnspb.ReleaseStoreLeaseResponse{}, nil
	}, func(ctx context.Context, cl gnspb.GNSClient) (*gnspb.ReleaseStoreLeaseResponse, error) {
		return cl.ReleaseStoreLease(ctx, req)
	})
}

// ListStoreLeases answers from the leader after the read fence (or from
// this node when stale). now is the answering node's clock, never earlier
// than the last stamp it applied.
func (s *service) ListStoreLeases(ctx context.Context, req *gnspb.ListStoreLeasesRequest) (*gnspb.ListStoreLeasesResponse, error) {
	n := s.n
	return leaderOrForward(n, ctx, func() (*gnspb.ListStoreLeasesResponse, error) {
		if !req.GetStale() {
			if err := n.readFence(ctx); err != nil {
				return nil, err
			}
		}
		t := n.fsm.leases.Load()
		out := &gnspb.ListStoreLeasesResponse{NowUnixNano: max(time.Now().UnixNano(), t.clock)}
		for _, l := range t.sorted() {
			out.Leases = append(out.Leases, leaseToPB(l))
		}
		return out, nil
	}, func(ctx context.Context, cl gnspb.GNSClient) (*gnspb.ListStoreLeasesResponse, error) {
		return cl.ListStoreLeases(ctx, req)
	})
}
