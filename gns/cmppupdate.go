package gns

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/raftstore"
	"github.com/tandem-sms/tandem/routing"
)

func trimField(s string) string { return strings.TrimRight(s, "\x00 ") }

// checkGatewayFields validates Destination_Id and Gateway_IP of an update;
// the address itself is not stored (the gateway's FwdAddr is).
func checkGatewayFields(t *routing.Table, dest, ip string) uint8 {
	if _, ok := t.Gateway(dest); !ok {
		return cmpp.GNSBadDestinationID
	}
	if ip = trimField(ip); ip != "" && net.ParseIP(ip) == nil {
		return cmpp.GNSBadGatewayIP
	}
	return cmpp.GNSOK
}

// mtRouteUpdate applies MT_ROUTE_UPDATE through Raft: add a segment, or
// update or delete the segment holding Route_Id.
func (n *Node) mtRouteUpdate(ctx context.Context, p *cmpp.MTRouteUpdate) *cmpp.MTRouteUpdateResp {
	out := &cmpp.MTRouteUpdateResp{TimeStamp: n.now14(), RouteID: p.RouteID}
	t := n.fsm.table.Load()
	start, end, dest := trimField(p.StartID), trimField(p.EndID), trimField(p.DestinationID)
	seg := routing.Segment{Prefix: start, Gateway: dest, AreaCode: trimField(p.AreaCode), UserType: p.UserType}
	var changes []routing.Change
	switch p.UpdateType {
	case cmpp.RouteAdd, cmpp.RouteUpdate:
		switch {
		case start == "":
			out.Result = cmpp.GNSBadStartID
		case end != "" && end != start: // §1.12: start and end are equal for now
			out.Result = cmpp.GNSBadEndID
		default:
			out.Result = checkGatewayFields(t, dest, p.GatewayIP)
		}
		if out.Result != cmpp.GNSOK {
			return out
		}
		if p.UpdateType == cmpp.RouteAdd {
			if _, exists := t.Segment(start); exists {
				out.Result = cmpp.GNSBadStartID
				return out
			}
		} else {
			old, ok := t.SegmentByRouteID(p.RouteID)
			if !ok {
				out.Result = cmpp.GNSBadRouteID
				return out
			}
			if old.Prefix != start {
				changes = append(changes, routing.Change{Op: routing.OpDeleteSegment, Key: old.Prefix})
			}
			if seg.SMSC == "" {
				seg.SMSC = old.SMSC
			}
		}
		changes = append(changes, routing.Change{Op: routing.OpPutSegment, Segment: seg})
	case cmpp.RouteDelete:
		old, ok := t.SegmentByRouteID(p.RouteID)
		if !ok {
			out.Result = cmpp.GNSBadRouteID
			return out
		}
		changes = []routing.Change{{Op: routing.OpDeleteSegment, Key: old.Prefix}}
	default:
		out.Result = cmpp.GNSBadUpdateType
		return out
	}
	if _, err := n.WriteChanges(ctx, changes); err != nil {
		n.log.Info("MT_ROUTE_UPDATE refused", "err", err)
		out.Result = updateResult(err, "segment")
		return out
	}
	if p.UpdateType != cmpp.RouteDelete {
		if s, ok := n.fsm.table.Load().Segment(start); ok {
			out.RouteID = s.RouteID
		}
	}
	return out
}

// moEntry finds the MO route holding rid.
func moEntry(t *routing.Table, rid uint32) (routing.MOEntry, bool) {
	for e := range t.MORoutesByRouteID(int64(rid) - 1) {
		return e, e.RouteID == rid
	}
	return routing.MOEntry{}, false
}

func cloneSP(s routing.SP) routing.SP {
	s.ServiceCodes = slices.Clone(s.ServiceCodes)
	s.Mirrors = slices.Clone(s.Mirrors)
	s.Partitions = slices.Clone(s.Partitions)
	return s
}

// moRouteUpdate applies MO_ROUTE_UPDATE: a route is one service code of an
// SP. Adding creates the SP when it is new; the destination becomes its
// primary gateway (SP_AcessType 0) or a mirror (1). Deleting an SP's last
// code deletes the SP.
func (n *Node) moRouteUpdate(ctx context.Context, p *cmpp.MORouteUpdate) *cmpp.MORouteUpdateResp {
	out := &cmpp.MORouteUpdateResp{TimeStamp: n.now14(), RouteID: p.RouteID}
	t := n.fsm.table.Load()
	spID, code, dest := trimField(p.SPID), trimField(p.SPCode), trimField(p.DestinationID)
	if p.SPAccessType > 1 {
		out.Result = cmpp.GNSBadSPAccessType
		return out
	}
	setGateway := func(sp *routing.SP) {
		if p.SPAccessType == 0 {
			sp.Gateway = dest
		} else if !slices.Contains(sp.Mirrors, dest) {
			sp.Mirrors = append(sp.Mirrors, dest)
		}
	}
	var change routing.Change
	switch p.UpdateType {
	case cmpp.RouteAdd:
		switch {
		case spID == "":
			out.Result = cmpp.GNSBadSPID
		case code == "":
			out.Result = cmpp.GNSBadSPCode
		default:
			out.Result = checkGatewayFields(t, dest, p.GatewayIP)
		}
		if out.Result != cmpp.GNSOK {
			return out
		}
		sp, ok := t.SP(spID)
		if ok {
			sp = cloneSP(sp)
		} else {
			sp = routing.SP{ID: spID, Name: spID, Gateway: dest}
		}
		for _, c := range sp.ServiceCodes {
			if c.Code == code {
				out.Result = cmpp.GNSBadSPCode
				return out
			}
		}
		sp.ServiceCodes = append(sp.ServiceCodes, routing.ServiceCode{Code: code})
		setGateway(&sp)
		change = routing.Change{Op: routing.OpPutSP, SP: sp}
	case cmpp.RouteUpdate, cmpp.RouteDelete:
		e, ok := moEntry(t, p.RouteID)
		if !ok {
			out.Result = cmpp.GNSBadRouteID
			return out
		}
		sp := cloneSP(*e.SP)
		i := slices.IndexFunc(sp.ServiceCodes, func(c routing.ServiceCode) bool { return c.Code == e.ServiceCode })
		if p.UpdateType == cmpp.RouteDelete {
			sp.ServiceCodes = slices.Delete(sp.ServiceCodes, i, i+1)
			if len(sp.ServiceCodes) == 0 {
				change = routing.Change{Op: routing.OpDeleteSP, Key: sp.ID}
			} else {
				change = routing.Change{Op: routing.OpPutSP, SP: sp}
			}
			break
		}
		if spID != "" && spID != sp.ID {
			out.Result = cmpp.GNSBadSPID // a route cannot move to another SP
			return out
		}
		if dest != "" {
			if out.Result = checkGatewayFields(t, dest, p.GatewayIP); out.Result != cmpp.GNSOK {
				return out
			}
			setGateway(&sp)
		}
		if code != "" {
			sp.ServiceCodes[i] = routing.ServiceCode{Code: code}
		} else {
			code = e.ServiceCode
		}
		change = routing.Change{Op: routing.OpPutSP, SP: sp}
	default:
		out.Result = cmpp.GNSBadUpdateType
		return out
	}
	if _, err := n.WriteChanges(ctx, []routing.Change{change}); err != nil {
		n.log.Info("MO_ROUTE_UPDATE refused", "err", err)
		out.Result = updateResult(err, "sp")
		return out
	}
	if p.UpdateType != cmpp.RouteDelete {
		if sp, ok := n.fsm.table.Load().SP(spIDOr(spID, change.SP.ID)); ok {
			for _, c := range sp.ServiceCodes {
				if c.Code == code {
					out.RouteID = c.RouteID
				}
			}
		}
	}
	return out
}

func spIDOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// updateResult maps a failed route update onto the §1.12 result codes. A
// forwarded write comes back as a gRPC status, whose message still names
// the field.
func updateResult(err error, field string) uint8 {
	var ce *routing.ChangeError
	if errors.As(err, &ce) {
		field = ce.Field
	}
	if st, ok := status.FromError(err); ok {
		switch st.Code() {
		case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted:
			return cmpp.GNSBusy
		case codes.NotFound:
			return cmpp.GNSBadRouteID
		}
		field = st.Message()
	}
	switch {
	case errors.Is(err, raftstore.ErrNotLeader), errors.Is(err, raftstore.ErrOutcomeUnknown),
		errors.Is(err, raftstore.ErrClosed), errors.Is(err, context.DeadlineExceeded):
		return cmpp.GNSBusy
	case errors.Is(err, routing.ErrUnknownGateway), strings.Contains(field, "gateway"):
		return cmpp.GNSBadDestinationID
	case errors.Is(err, routing.ErrNotFound), errors.Is(err, routing.ErrUnknownSP):
		return cmpp.GNSBadRouteID
	case strings.Contains(field, "prefix"):
		return cmpp.GNSBadStartID
	case strings.Contains(field, "area_code"):
		return cmpp.GNSBadAreaCode
	case strings.Contains(field, "user_type"):
		return cmpp.GNSBadUserType
	case strings.Contains(field, "service_code"):
		return cmpp.GNSBadSPCode
	case strings.Contains(field, "sp.id"), strings.Contains(field, "id"):
		return cmpp.GNSBadSPID
	}
	return cmpp.GNSUpdateFailed
}
