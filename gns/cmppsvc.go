package gns

import (
	"context"
	"iter"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/routing"
)

// The CMPP route-PDU service (protocols.md §1.12): ISMGs CONNECT with their
// gateway code and the secret configured for it, then ask MT_ROUTE,
// MO_ROUTE, page through GET_*_ROUTE, or change routes with *_ROUTE_UPDATE,
// which commit through Raft like a gRPC Write. Lookups are served from this
// node's table (like a stale gRPC read): an ISMG asking a follower gets an
// answer at most a replication delay old.
//
// The port is state-changing, so it is guarded like a login port: the
// CMPPAllow networks only (others are closed unread), at most
// CMPPMaxPending connections not yet logged in (CMPPMaxPendingPerIP per
// address) for at most CMPPConnectTimeout, and failed logins locked out per
// (source IP, gateway code) and, with a higher ceiling, per source IP
// (CMPPLockout). Every refusal is counted in gns_cmpp_connect_rejected_total
// by reason; a lock is logged once, when it engages, and cmpp.Server
// rate-limits its own lines about failed connects.

// cmppTimeLayout is the 14-digit Time_stamp of the route PDUs.
const cmppTimeLayout = "20060102150405"

func (n *Node) newCMPPServer() *cmpp.Server {
	n.lock = newLockout(n.cfg.CMPPLockout)
	if len(n.cfg.CMPPAllow) > 0 {
		n.cmppLn = &allowListener{Listener: n.cmppLn, allow: n.cfg.CMPPAllow,
			refused: func(net.Addr) { n.metrics.CMPPRejected.WithLabelValues(rejectNotAllowed).Inc() }}
	}
	return &cmpp.Server{
		Config:          n.cfg.CMPPSession,
		Auth:            cmpp.AuthenticatorFunc(n.authenticateCMPP),
		Handler:         cmpp.HandlerFunc(n.serveCMPP),
		Logger:          n.log,
		ConnectTimeout:  n.cfg.CMPPConnectTimeout,
		MaxPending:      n.cfg.CMPPMaxPending,
		MaxPendingPerIP: n.cfg.CMPPMaxPendingPerIP,
		OnRefuse:        func(_ net.Addr, reason string) { n.metrics.CMPPRejected.WithLabelValues(reason).Inc() },
		OnClose:         func(s *cmpp.Session, _ error) { n.cursors.Delete(s) },
	}
}

// authenticateCMPP decides a gateway's CONNECT: refused while its (IP,
// gateway code) or its IP is locked out (status 5), for an unknown code
// (2) or a wrong secret (3); the last two count as failures.
func (n *Node) authenticateCMPP(_ context.Context, remote net.Addr, c *cmpp.Connect) (string, uint32) {
	now := time.Now()
	ip := addrIP(remote)
	refuse := func(reason string, status uint32) (string, uint32) {
		n.metrics.CMPPRejected.WithLabelValues(reason).Inc()
		return "", status
	}
	if why := n.lock.locked(ip, c.SourceAddr, now); why != "" {
		return refuse(why, cmpp.ConnectOther)
	}
	failed := func(reason string, status uint32) (string, uint32) {
		if lock := n.lock.fail(ip, c.SourceAddr, now); lock != "" {
			n.log.Warn("cmpp route port: login locked out after repeated failures", "lock", lock,
				LogKeyPeer, remote.String(), "gateway", c.SourceAddr, "window", n.cfg.CMPPLockout.Window)
		}
		return refuse(reason, status)
	}
	secret, ok := n.cfg.CMPPSecrets[c.SourceAddr]
	if !ok {
		return failed(rejectUnknownGateway, cmpp.ConnectBadSource)
	}
	if !c.VerifySource(secret) {
		return failed(rejectAuth, cmpp.ConnectAuthFailed)
	}
	n.lock.succeeded(ip, c.SourceAddr)
	return secret, cmpp.ConnectOK
}

func (n *Node) serveCMPP(s *cmpp.Session, h cmpp.Header, req cmpp.PDU) {
	var resp cmpp.PDU
	var result uint8
	switch p := req.(type) {
	case *cmpp.MTRoute:
		r := n.mtRoute(p)
		resp, result = r, r.Result
	case *cmpp.MORoute:
		r := n.moRoute(p)
		resp, result = r, r.Result
	case *cmpp.GetMTRoute:
		r := n.getMTRoute(s, p)
		resp, result = r, r.Result
	case *cmpp.GetMORoute:
		r := n.getMORoute(s, p)
		resp, result = r, r.Result
	case *cmpp.MTRouteUpdate:
		r := n.mtRouteUpdate(s.Context(), p)
		resp, result = r, r.Result
	case *cmpp.MORouteUpdate:
		r := n.moRouteUpdate(s.Context(), p)
		resp, result = r, r.Result
	default:
		if er, ok := req.(cmpp.ErrorResponder); ok {
			resp, result = er.ErrorResponse(uint32(cmpp.GNSBadRouteType)), cmpp.GNSBadRouteType
		} else {
			n.log.Warn("cmpp request not served by the GNS", "command", h.Command)
			return
		}
	}
	n.metrics.CMPPRequests.WithLabelValues(h.Command.String(), strconv.Itoa(int(result))).Inc()
	if err := s.Reply(h, resp); err != nil {
		n.log.Debug("cmpp reply failed", "err", err)
	}
}

// now14 is a route PDU's Time_stamp: now in the node's zone (Timezone),
// not the host's, since CMPP times carry no zone.
func (n *Node) now14() string { return time.Now().In(n.loc).Format(cmppTimeLayout) }

// splitFwdAddr turns a gateway's FwdAddr into Gateway_IP and Gateway_port.
func splitFwdAddr(a string) (string, uint16) {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return "", 0
	}
	p, _ := strconv.ParseUint(port, 10, 16)
	return host, uint16(p)
}

func (n *Node) knownSource(t *routing.Table, src string) bool {
	_, ok := t.Gateway(strings.TrimRight(src, "\x00"))
	return ok
}

func (n *Node) mtRoute(p *cmpp.MTRoute) *cmpp.MTRouteResp {
	t := n.fsm.table.Load()
	out := &cmpp.MTRouteResp{TimeStamp: n.now14()}
	if !n.knownSource(t, p.SourceID) {
		out.Result = cmpp.GNSBadSourceID
		return out
	}
	num, err := routing.NormalizeMSISDN(p.TerminalID)
	if err != nil {
		out.Result = cmpp.GNSNoRoute
		return out
	}
	r, err := t.ResolveMT(num)
	if err != nil {
		out.Result = cmpp.GNSNoRoute
		return out
	}
	out.DestinationID = r.Gateway.Code
	out.GatewayIP, out.GatewayPort = splitFwdAddr(r.Gateway.FwdAddr)
	seg := r.Segment
	if r.Ported {
		// A ported number is its own one-number segment.
		seg = routing.Segment{Prefix: num, AreaCode: r.Gateway.Province}
	}
	out.RouteID = seg.RouteID
	out.StartID, out.EndID = seg.Prefix, seg.Prefix
	out.AreaCode = seg.AreaCode
	if out.AreaCode == "" {
		out.AreaCode = r.Gateway.Province
	}
	out.UserType = seg.UserType
	return out
}

// accessType is SP_AcessType for gw: 1 for a mirror access point, else 0.
func accessType(sp *routing.SP, gw string) uint8 {
	for _, m := range sp.Mirrors {
		if m == gw && gw != sp.Gateway {
			return 1
		}
	}
	return 0
}

func (n *Node) moRoute(p *cmpp.MORoute) *cmpp.MORouteResp {
	t := n.fsm.table.Load()
	out := &cmpp.MORouteResp{TimeStamp: n.now14()}
	if !n.knownSource(t, p.SourceID) {
		out.Result = cmpp.GNSBadSourceID
		return out
	}
	r, err := t.ResolveMO(p.SPCode, p.SourceID)
	if err != nil {
		out.Result = cmpp.GNSNoRoute
		return out
	}
	out.RouteID = r.RouteID
	out.DestinationID = r.Gateway.Code
	out.GatewayIP, out.GatewayPort = splitFwdAddr(r.Gateway.FwdAddr)
	out.SPID = r.SP.ID
	out.SPCode = r.ServiceCode
	out.SPAccessType = accessType(r.SP, r.Gateway.Code)
	return out
}

// routeCursor remembers where a session's GET_*_ROUTE paging stands, so the
// next page costs O(1) instead of counting the routes before it.
type routeCursor struct {
	mu     sync.Mutex
	table  *routing.Table
	kind   string // cmpp.RouteTypeMT or RouteTypeMO
	last   int64  // Route_Id last sent
	number uint32 // its Route_number
}

func (n *Node) cursor(s *cmpp.Session) *routeCursor {
	c, _ := n.cursors.LoadOrStore(s, &routeCursor{})
	return c.(*routeCursor)
}

// position returns the Route_number of the route after last: continuing the
// cursor when it matches, else counting from the start.
func (c *routeCursor) position(t *routing.Table, kind string, last int64, count func() uint32) uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.table == t && c.kind == kind && c.last == last && last >= 0 {
		return c.number + 1
	}
	if last < 0 {
		return 1
	}
	return count() + 1
}

func (c *routeCursor) advance(t *routing.Table, kind string, rid uint32, number uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.table, c.kind, c.last, c.number = t, kind, int64(rid), number
}

// pageRoutes answers one GET_*_ROUTE step: the route after last in Route_Id
// order (from routes(last)), its Route_number, and whether there is one.
// MT segments and MO service codes page the same way.
func pageRoutes[T any](cur *routeCursor, t *routing.Table, kind string, last int64,
	routes func(int64) iter.Seq[T], id func(T) uint32) (T, uint32, bool) {
	var next T
	found := false
	for r := range routes(last) {
		next, found = r, true
		break
	}
	if !found {
		return next, 0, false
	}
	num := cur.position(t, kind, last, func() uint32 {
		var k uint32
		for r := range routes(-1) {
			if int64(id(r)) > last {
				break
			}
			k++
		}
		return k
	})
	cur.advance(t, kind, id(next), num)
	return next, num, true
}

func (n *Node) getMTRoute(s *cmpp.Session, p *cmpp.GetMTRoute) *cmpp.GetMTRouteResp {
	t := n.fsm.table.Load()
	out := &cmpp.GetMTRouteResp{TimeStamp: n.now14(), RouteTotal: uint32(t.NumSegments())}
	switch {
	case !n.knownSource(t, p.SourceID):
		out.Result = cmpp.GNSBadSourceID
		return out
	case strings.TrimRight(p.RouteType, "\x00 ") != cmpp.RouteTypeMT:
		out.Result = cmpp.GNSBadRouteType
		return out
	}
	seg, num, found := pageRoutes(n.cursor(s), t, cmpp.RouteTypeMT, int64(p.LastRouteID), t.SegmentsByRouteID,
		func(sg routing.Segment) uint32 { return sg.RouteID })
	if !found {
		out.Result = cmpp.GNSNoRoute
		return out
	}
	gw, _ := t.Gateway(seg.Gateway)
	out.RouteID = seg.RouteID
	out.DestinationID = seg.Gateway
	out.GatewayIP, out.GatewayPort = splitFwdAddr(gw.FwdAddr)
	out.StartID, out.EndID = seg.Prefix, seg.Prefix
	out.AreaCode = seg.AreaCode
	out.UserType = seg.UserType
	out.RouteNumber = num
	return out
}

func (n *Node) getMORoute(s *cmpp.Session, p *cmpp.GetMORoute) *cmpp.GetMORouteResp {
	t := n.fsm.table.Load()
	out := &cmpp.GetMORouteResp{TimeStamp: n.now14(), RouteTotal: uint32(t.NumMORoutes())}
	switch {
	case !n.knownSource(t, p.SourceID):
		out.Result = cmpp.GNSBadSourceID
		return out
	case strings.TrimRight(p.RouteType, "\x00 ") != cmpp.RouteTypeMO:
		out.Result = cmpp.GNSBadRouteType
		return out
	}
	e, num, found := pageRoutes(n.cursor(s), t, cmpp.RouteTypeMO, int64(p.LastRouteID), t.MORoutesByRouteID,
		func(me routing.MOEntry) uint32 { return me.RouteID })
	if !found {
		out.Result = cmpp.GNSNoRoute
		return out
	}
	gwCode := e.SP.Gateway
	gw, _ := t.Gateway(gwCode)
	out.RouteID = e.RouteID
	out.DestinationID = gwCode
	out.GatewayIP, out.GatewayPort = splitFwdAddr(gw.FwdAddr)
	out.SPID = e.SP.ID
	out.SPCode = e.ServiceCode
	out.RouteNumber = num
	return out
}
