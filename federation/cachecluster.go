package federation

import (
	"context"
	"errors"

	"github.com/tandem-sms/tandem/gns/gnspb"
)

// ErrNotConnected is returned by ClusterStatus while the cache follows no
// GNS node.
var ErrNotConnected = errors.New("federation: route cache follows no GNS node")

// ClusterStatus asks the GNS node the cache follows now for the cluster's
// status (members, leader, each member's table digest), with the cache's
// credentials and token, on a connection of its own closed on return: an
// operator's view (the ISMG console), not a hot path.
func (c *RouteCache) ClusterStatus(ctx context.Context) (*gnspb.ClusterStatusResponse, error) {
	addr := c.ConnectedAddr()
	if addr == "" {
		return nil, ErrNotConnected
	}
	cc, cl, err := c.dial(addr)
	if err != nil {
		return nil, err
	}
	defer cc.Close()
	return cl.ClusterStatus(c.outgoing(ctx), &gnspb.ClusterStatusRequest{})
}

// SecondsSinceEvent is how long ago the cache last heard from the GNS (a
// watch event, or the persisted file's write at start).
func (c *RouteCache) SecondsSinceEvent() float64 { return c.eventAge() }
