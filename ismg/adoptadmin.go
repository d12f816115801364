package ismg

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tandem-sms/tandem/ismg/adminpb"
)

// StoreView is one store this node owns or may adopt, as ismgctl store
// list and the console show it.
type StoreView struct {
	StoreID string `json:"store_id"`
	Role    string `json:"role"`  // "own" or "adoptable"
	State   string `json:"state"` // own: held, fenced; adoptable: see adopt.go
	Holder  string `json:"holder"`
	Token   uint64 `json:"token"`
	Expires int64  `json:"expires_unix_nano"`
	Pending int64  `json:"pending"`
	Drained int64  `json:"drained"`
}

// Stores lists this node's own store and its adoptable ones, with the
// holders the GNS named at the last poll (adoptable stores) or this node's
// lease (its own).
func (n *Node) Stores() []StoreView {
	ha := &n.ha
	if ha.cfg == nil {
		return nil
	}
	st := "held"
	if !ha.own.valid(time.Now()) {
		st = "fenced"
	}
	out := []StoreView{{StoreID: ha.cfg.StoreID, Role: "own", State: st, Holder: ha.cfg.Node,
		Token: ha.own.token.Load(), Expires: ha.own.expires.Load(), Pending: n.pendingHA()}}
	last := ha.last.Load()
	for _, id := range slices.Sorted(maps.Keys(ha.adoptions)) {
		a := ha.adoptions[id]
		v := StoreView{StoreID: id, Role: "adoptable", State: a.getState(), Pending: a.pending.Load(), Drained: a.drained.Load()}
		for _, l := range last.GetLeases() {
			if l.GetStoreId() == id {
				v.Holder, v.Token, v.Expires = l.GetHolder(), l.GetToken(), l.GetExpiresUnixNano()
			}
		}
		if l := a.lease.Load(); l != nil && v.State == adoptDraining {
			v.Holder, v.Token, v.Expires = l.holder, l.token.Load(), l.expires.Load()
		}
		out = append(out, v)
	}
	return out
}

func storeProto(v StoreView) *adminpb.Store {
	return &adminpb.Store{StoreId: v.StoreID, Role: v.Role, State: v.State, Holder: v.Holder, Token: v.Token,
		ExpiresUnixNano: v.Expires, Pending: v.Pending, Drained: v.Drained}
}

func (s *adminService) ListStores(context.Context, *adminpb.ListStoresRequest) (*adminpb.ListStoresResponse, error) {
	out := &adminpb.ListStoresResponse{}
	for _, v := range s.n.Stores() {
		out.Stores = append(out.Stores, storeProto(v))
	}
	return out, nil
}

// Adopt takes a sibling's store now (ismgctl adopt), audited.
func (s *adminService) Adopt(ctx context.Context, r *adminpb.AdoptRequest) (*adminpb.Store, error) {
	if r.GetStoreId() == "" {
		return nil, status.Error(codes.InvalidArgument, "store_id is required")
	}
	var view *adminpb.Store
	err := s.n.audited(ctx, "store.adopt", r.GetStoreId(), "force="+strconv.FormatBool(r.GetForce()), func() error {
		_, err := s.n.adopt(ctx, r.GetStoreId(), r.GetForce())
		return err
	})
	switch {
	case errors.Is(err, errNoSuchStore):
		return nil, status.Error(codes.NotFound, err.Error())
	case errors.Is(err, errLeaseRefused), errors.Is(err, errAdopting), errors.Is(err, errHAOff):
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	case err != nil:
		return nil, err
	}
	for _, v := range s.n.Stores() {
		if v.StoreID == r.GetStoreId() {
			view = storeProto(v)
		}
	}
	return view, nil
}
