package gns

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/gns/gnspb"
)

// errLostLeadership stops the push loop's watch when this node stops leading.
var errLostLeadership = errors.New("gns: no longer leader")

// pushLoop notifies the configured vendor ISMGs of route changes with
// CMPP_PUSH_MT_ROUTE_UPDATE / PUSH_MO_ROUTE_UPDATE while this node leads.
// It follows the node's own watch stream, so it never slows Apply; it is
// best effort: a peer that fails is logged and counted, not retried. Whole
// table replacements are not pushed (peers re-read with GET_*_ROUTE).
func (n *Node) pushLoop(ctx context.Context) {
	var last uint64
	for ctx.Err() == nil {
		if !n.store.IsLeader() {
			// Polling keeps leaderEv single-consumer (leaderLoop's); pushes
			// are best effort, so starting a moment late is fine.
			t := time.NewTimer(100 * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		if last == 0 {
			last = n.Revision()
		}
		err := n.hub.watch(ctx, last, func(ev *gnspb.WatchEvent) error {
			if !n.store.IsLeader() {
				return errLostLeadership
			}
			if ev.Snapshot {
				if ev.SnapshotDone {
					last = ev.Revision
				}
				return nil
			}
			n.pushEvent(ctx, ev)
			last = ev.Revision
			return nil
		})
		if err != nil && ctx.Err() == nil && !errors.Is(err, errLostLeadership) {
			n.log.Warn("push watch ended", "err", err)
		}
		if errors.Is(err, errLostLeadership) {
			last = 0
		}
	}
}

// pushPDUs turns a committed batch into route-update pushes. Gateways and
// ported numbers have no route PDU.
func pushPDUs(ev *gnspb.WatchEvent, ts string) []cmpp.PDU {
	var out []cmpp.PDU
	for _, c := range ev.Changes {
		switch op := c.Op.(type) {
		case *gnspb.Change_PutSegment:
			s := op.PutSegment
			out = append(out, &cmpp.PushMTRouteUpdate{TimeStamp: ts, MTRouteUpdate: cmpp.MTRouteUpdate{
				UpdateType: cmpp.RouteUpdate, RouteID: s.RouteId, DestinationID: s.Gateway,
				StartID: s.Prefix, EndID: s.Prefix, AreaCode: s.AreaCode, UserType: uint8(s.UserType),
			}})
		case *gnspb.Change_DeleteSegment:
			out = append(out, &cmpp.PushMTRouteUpdate{TimeStamp: ts, MTRouteUpdate: cmpp.MTRouteUpdate{
				UpdateType: cmpp.RouteDelete, StartID: op.DeleteSegment, EndID: op.DeleteSegment,
			}})
		case *gnspb.Change_PutSp:
			sp := op.PutSp
			for _, sc := range sp.ServiceCodes {
				out = append(out, &cmpp.PushMORouteUpdate{TimeStamp: ts, MORouteUpdate: cmpp.MORouteUpdate{
					UpdateType: cmpp.RouteUpdate, RouteID: sc.RouteId, DestinationID: sp.PrimaryGateway,
					SPID: sp.SpId, SPCode: sc.Code,
				}})
			}
		case *gnspb.Change_DeleteSp:
			out = append(out, &cmpp.PushMORouteUpdate{TimeStamp: ts, MORouteUpdate: cmpp.MORouteUpdate{
				UpdateType: cmpp.RouteDelete, SPID: op.DeleteSp,
			}})
		}
	}
	return out
}

func (n *Node) pushEvent(ctx context.Context, ev *gnspb.WatchEvent) {
	pdus := pushPDUs(ev, n.now14())
	if len(pdus) == 0 {
		return
	}
	for _, peer := range n.cfg.PushPeers {
		if err := n.pushTo(ctx, peer, pdus); err != nil {
			n.metrics.Pushes.WithLabelValues("error").Inc()
			n.log.Warn("route push failed", LogKeyPeer, peer.Addr, "revision", ev.Revision, "err", err)
			continue
		}
		n.metrics.Pushes.WithLabelValues("ok").Inc()
	}
}

// pushTo sends pdus over one short connection, as §1.12 has it.
func (n *Node) pushTo(ctx context.Context, peer PushPeer, pdus []cmpp.PDU) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := cmpp.Dial(ctx, peer.Addr, cmpp.ClientConfig{
		SourceAddr: n.cfg.GatewayCode, Secret: peer.Secret, Version: cmpp.V30, Session: n.cfg.CMPPSession,
	})
	if err != nil {
		return err
	}
	defer func() { _ = s.Terminate(ctx) }()
	for _, p := range pdus {
		resp, err := s.SendWait(ctx, p)
		if err != nil {
			return err
		}
		var result uint8
		switch r := resp.(type) {
		case *cmpp.PushMTRouteUpdateResp:
			result = r.Result
		case *cmpp.PushMORouteUpdateResp:
			result = r.Result
		}
		if result != cmpp.GNSOK {
			return fmt.Errorf("%s refused with result %d", p.Command(), result)
		}
	}
	return nil
}
