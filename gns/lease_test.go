package gns

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tandem-sms/tandem/gns/gnspb"
	"github.com/tandem-sms/tandem/internal/waitfor"
)

// TestLeaseApplyStampedTime drives the FSM with explicit leader stamps: the
// decisions depend on the stamps only (no replica clock), a stamp behind
// the FSM's clock cannot make a lapsed lease live again, and every grant's
// token is its Raft index.
func TestLeaseApplyStampedTime(t *testing.T) {
	f := newFSM(slog.New(slog.DiscardHandler), newHub(16, 16, nil))
	idx := uint64(0)
	apply := func(c leaseCmd) any {
		idx++
		return f.Apply(&raft.Log{Index: idx, Data: encodeLease(c)})
	}
	const s = int64(time.Second)
	ttl := 10 * time.Second
	l := apply(leaseCmd{op: leaseAcquire, store: "001001-a", holder: "a", ttl: ttl, now: 100 * s}).(storeLease)
	if l.Token != 1 || l.Expires != 110*s {
		t.Fatalf("grant: %+v", l)
	}
	// Another holder is refused while the lease lives, and also when it
	// has lapsed for less than min_expired.
	if err, _ := apply(leaseCmd{op: leaseAcquire, store: "001001-a", holder: "b", ttl: ttl, now: 105 * s}).(error); !errors.Is(err, ErrLeaseHeld) {
		t.Fatalf("acquire of a live lease: %v", err)
	}
	if err, _ := apply(leaseCmd{op: leaseAcquire, store: "001001-a", holder: "b", ttl: ttl, minExpired: 5 * time.Second, now: 112 * s}).(error); !errors.Is(err, ErrLeaseHeld) {
		t.Fatalf("acquire before min_expired: %v", err)
	}
	// The holder renews before expiry; a stale stamp (a new leader whose
	// clock is behind) counts as the FSM's clock.
	r := apply(leaseCmd{op: leaseRenew, store: "001001-a", holder: "a", token: 1, ttl: ttl, now: 109 * s})
	if err, ok := r.(error); !ok || !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("renew at a stamp behind the clock (112s) after expiry (110s): %v", r)
	}
	// Lapsed long enough: b adopts with a higher token.
	l2 := apply(leaseCmd{op: leaseAcquire, store: "001001-a", holder: "b", ttl: ttl, minExpired: 5 * time.Second, now: 116 * s}).(storeLease)
	if l2.Holder != "b" || l2.Token <= l.Token {
		t.Fatalf("adoption: %+v after %+v", l2, l)
	}
	// Fencing: the old holder's token is refused, for renew and release.
	for _, op := range []leaseOp{leaseRenew, leaseRelease} {
		if err, _ := apply(leaseCmd{op: op, store: "001001-a", holder: "a", token: 1, ttl: ttl, now: 117 * s}).(error); !errors.Is(err, ErrLeaseLost) {
			t.Fatalf("op %d by the fenced holder: %v", op, err)
		}
	}
	// The old holder asking again is refused while b's lease lives.
	if err, _ := apply(leaseCmd{op: leaseAcquire, store: "001001-a", holder: "a", ttl: ttl, now: 118 * s}).(error); !errors.Is(err, ErrLeaseHeld) {
		t.Fatalf("old holder re-acquire: %v", err)
	}
	if apply(leaseCmd{op: leaseRelease, store: "001001-a", holder: "b", token: l2.Token, now: 119 * s}) != nil {
		t.Fatal("release by the holder failed")
	}
	if len(f.leases.Load().leases) != 0 {
		t.Fatalf("leases after release: %v", f.leases.Load().leases)
	}

	// The snapshot carries the leases, their gateways and the clock; a
	// renewal keeps the gateway of the grant.
	apply(leaseCmd{op: leaseAcquire, store: "001001-b", holder: "b", gateway: "001001", ttl: ttl, now: 120 * s})
	if l := apply(leaseCmd{op: leaseRenew, store: "001001-b", holder: "b", token: idx, ttl: ttl, now: 121 * s}).(storeLease); l.Gateway != "001001" {
		t.Fatalf("renewed lease %+v lost its gateway", l)
	}
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := snap.(*fsmSnap).write(&buf); err != nil {
		t.Fatal(err)
	}
	s2, err := readFSMSnap(bufio.NewReader(&buf))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s2.leases, f.leases.Load()) {
		t.Fatalf("restored leases %+v, want %+v", s2.leases, f.leases.Load())
	}
}

// TestStoreLeasesCluster runs the lease API on a real three-node Raft
// cluster: writes through a follower are forwarded and need the token, a
// second holder is refused while the lease lives, the lease lapses on the
// leader's time, adoption after it gets a larger fencing token, the old
// holder is fenced, and every replica holds the same lease table.
func TestStoreLeasesCluster(t *testing.T) {
	const token = "lease-token"
	nodes := startCluster(t, 3, func(c *Config) { c.Token, c.InsecureRaft = token, true })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	auth := withToken(ctx, token)
	c := dial(t, followerOf(nodes).GRPCAddr())

	if _, err := c.AcquireStoreLease(ctx, &gnspb.AcquireStoreLeaseRequest{StoreId: "001001-a", Holder: "a", TtlMs: 60000}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("acquire without the token: %v", err)
	}
	for _, bad := range []*gnspb.AcquireStoreLeaseRequest{
		{Holder: "a", TtlMs: 1000}, {StoreId: "x", TtlMs: 1000}, {StoreId: "x", Holder: "a", TtlMs: 1}, {StoreId: "x y", Holder: "a", TtlMs: 1000},
	} {
		if _, err := c.AcquireStoreLease(auth, bad); status.Code(err) != codes.InvalidArgument {
			t.Fatalf("acquire %v: %v, want InvalidArgument", bad, err)
		}
	}

	a, err := c.AcquireStoreLease(auth, &gnspb.AcquireStoreLeaseRequest{StoreId: "001001-a", Holder: "a", TtlMs: 60000})
	if err != nil {
		t.Fatal(err)
	}
	tokA := a.GetLease().GetToken()
	if _, err := c.AcquireStoreLease(auth, &gnspb.AcquireStoreLeaseRequest{StoreId: "001001-a", Holder: "b", TtlMs: 60000}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("second holder: %v, want FailedPrecondition", err)
	}
	if _, err := c.RenewStoreLease(auth, &gnspb.RenewStoreLeaseRequest{StoreId: "001001-a", Holder: "a", Token: tokA, TtlMs: 200}); err != nil {
		t.Fatalf("renew: %v", err)
	}
	// The renewal shortened the lease to 200ms: b gets it once it lapsed
	// (and stayed lapsed 100ms), by the leader's clock.
	var b *gnspb.StoreLeaseResponse
	waitfor.Within(t, 20*time.Second, "adoption after expiry", func() bool {
		b, err = c.AcquireStoreLease(auth, &gnspb.AcquireStoreLeaseRequest{StoreId: "001001-a", Holder: "b", TtlMs: 60000, MinExpiredMs: 100})
		if err != nil && status.Code(err) != codes.FailedPrecondition {
			t.Fatalf("adopt: %v", err)
		}
		return err == nil
	})
	if b.GetLease().GetToken() <= tokA || b.GetLease().GetHolder() != "b" {
		t.Fatalf("adopted lease %v after token %d", b.GetLease(), tokA)
	}
	if b.GetLease().GetGrantedUnixNano() < a.GetLease().GetGrantedUnixNano()+int64(300*time.Millisecond) {
		t.Fatalf("granted at %d, before the old lease (renewed at %d) lapsed 100ms",
			b.GetLease().GetGrantedUnixNano(), a.GetLease().GetGrantedUnixNano())
	}
	// The old holder is fenced: its renewal and release fail.
	if _, err := c.RenewStoreLease(auth, &gnspb.RenewStoreLeaseRequest{StoreId: "001001-a", Holder: "a", Token: tokA, TtlMs: 60000}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("renew by the fenced holder: %v", err)
	}
	if _, err := c.ReleaseStoreLease(auth, &gnspb.ReleaseStoreLeaseRequest{StoreId: "001001-a", Holder: "a", Token: tokA}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("release by the fenced holder: %v", err)
	}

	// Tokens grow with every grant, through a leader change.
	last := b.GetLease().GetToken()
	for i := range 3 {
		if i == 1 {
			if err := leaderOf(nodes).store.Raft().LeadershipTransfer().Error(); err != nil {
				t.Fatalf("leadership transfer: %v", err)
			}
			waitfor.Within(t, 10*time.Second, "new leader", func() bool { return leaderOf(nodes) != nil })
		}
		var r *gnspb.StoreLeaseResponse
		waitfor.Within(t, 10*time.Second, "acquire", func() bool {
			r, err = c.AcquireStoreLease(auth, &gnspb.AcquireStoreLeaseRequest{StoreId: "001001-c", Holder: "c", TtlMs: 60000})
			return err == nil
		})
		if r.GetLease().GetToken() <= last {
			t.Fatalf("grant %d: token %d after %d", i, r.GetLease().GetToken(), last)
		}
		last = r.GetLease().GetToken()
	}

	list, err := c.ListStoreLeases(auth, &gnspb.ListStoreLeasesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Leases) != 2 || list.Leases[0].StoreId != "001001-a" || list.Leases[0].Holder != "b" || list.Leases[1].Token != last {
		t.Fatalf("list: %v", list.Leases)
	}
	// Every replica applied the same lease table.
	waitfor.Within(t, 10*time.Second, "replicas agree", func() bool {
		want := nodes[0].fsm.leases.Load()
		for _, n := range nodes[1:] {
			if !reflect.DeepEqual(n.fsm.leases.Load().leases, want.leases) {
				return false
			}
		}
		return len(want.leases) == 2
	})
}
