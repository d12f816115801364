package ismg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/tandem-sms/tandem/gns/gnspb"
)

// Store leases (region HA). A node serves from a store only while it holds
// the store's lease in the GNS (gns/lease.go): its own store from before
// the store is opened, an adopted one from before adoption opens it. The
// lease is renewed every ha.renew_interval. Locally it is trusted until
// the send time of the last successful grant or renewal plus the ttl — a
// bound that ends no later than the GNS's own expiry as long as the clocks
// of this node and the GNS leader agree to well within ha.adopt_after,
// which a sibling waits on top of the expiry before it adopts. Past that
// bound, or when the GNS answers that the lease is lost, the holder is
// fenced: it stops dispatching from the store (dispatch checks valid
// before every batch) and the node stops (Run returns errFenced, so the
// process exits non-zero).

// errFenced ends a node (or an adoption) whose store lease is gone.
var errFenced = errors.New("ismg: store lease lost; fenced")

// heldLease is one store lease this node holds.
type heldLease struct {
	store, holder string
	ttl, every    time.Duration
	conn          *leaseConn
	log           *slog.Logger
	onState       func(held bool) // metrics; may be nil

	token    atomic.Uint64
	deadline atomic.Int64 // local unix nanos the lease is trusted until
	expires  atomic.Int64 // the GNS's expiry (leader time), for display
	lost     atomic.Bool
}

// acquireLease takes the lease of store for holder. minExpired > 0 asks
// for a store whose lease lapsed at least that long ago (adoption).
// gateway, the code of the gateway the store serves, goes with the grant
// so that the leases say which nodes serve each gateway.
func acquireLease(ctx context.Context, conn *leaseConn, h *HAConfig, gateway, store string, minExpired time.Duration, log *slog.Logger) (*heldLease, error) {
	l := &heldLease{store: store, holder: h.Node, ttl: h.LeaseTTL, every: h.RenewInterval, conn: conn, log: log.With("store", store)}
	sent := time.Now()
	r, err := conn.acquire(ctx, &gnspb.AcquireStoreLeaseRequest{
		StoreId: store, Holder: h.Node, Gateway: gateway, TtlMs: h.LeaseTTL.Milliseconds(), MinExpiredMs: minExpired.Milliseconds(),
	})
	if err != nil {
		return nil, err
	}
	l.granted(sent, r)
	l.log.Info("store lease acquired", "token", l.token.Load(), "holder", h.Node)
	return l, nil
}

func (l *heldLease) granted(sent time.Time, r *gnspb.StoreLeaseResponse) {
	l.token.Store(r.GetLease().GetToken())
	l.expires.Store(r.GetLease().GetExpiresUnixNano())
	l.deadline.Store(sent.Add(l.ttl).UnixNano())
}

// valid reports whether the lease may still be served from at now. A nil
// lease (HA off) is always valid.
func (l *heldLease) valid(now time.Time) bool {
	return l == nil || (!l.lost.Load() && now.UnixNano() < l.deadline.Load())
}

// run renews the lease until ctx ends (nil) or the lease is lost
// (errFenced, after the log line).
func (l *heldLease) run(ctx context.Context) error {
	if l.onState != nil {
		l.onState(true)
	}
	t := time.NewTimer(l.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if !l.valid(time.Now()) {
			return l.fence(errors.New("no renewal succeeded within the lease ttl"))
		}
		sent := time.Now()
		rctx, cancel := context.WithDeadline(ctx, time.Unix(0, l.deadline.Load()))
		r, err := l.conn.renew(rctx, &gnspb.RenewStoreLeaseRequest{
			StoreId: l.store, Holder: l.holder, Token: l.token.Load(), TtlMs: l.ttl.Milliseconds(),
		})
		cancel()
		switch {
		case err == nil:
			l.granted(sent, r)
			t.Reset(l.every)
		case errors.Is(err, errLeaseRefused):
			return l.fence(err)
		case ctx.Err() != nil:
			return nil
		default:
			// The GNS did not answer: try again soon, until the
			// deadline says the lease can no longer be trusted.
			l.log.Warn("store lease renewal failed; retrying", LogKeyErr, err)
			t.Reset(min(l.every, 200*time.Millisecond))
		}
	}
}

func (l *heldLease) fence(cause error) error {
	l.lost.Store(true)
	if l.onState != nil {
		l.onState(false)
	}
	l.log.Error("STORE LEASE LOST: fenced, nothing more is sent from this store", "token", l.token.Load(), LogKeyErr, cause)
	return fmt.Errorf("%w: store %s (token %d): %w", errFenced, l.store, l.token.Load(), cause)
}

// release gives the lease back (a drained adopted store).
func (l *heldLease) release(ctx context.Context) error {
	l.lost.Store(true)
	if l.onState != nil {
		l.onState(false)
	}
	return l.conn.release(ctx, &gnspb.ReleaseStoreLeaseRequest{StoreId: l.store, Holder: l.holder, Token: l.token.Load()})
}
