package gns

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/gns/gnspb"
	"github.com/tandem-sms/tandem/internal/waitfor"
)

func cmppClient(t *testing.T, addr, source string) *cmpp.Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := cmpp.Dial(ctx, addr, cmpp.ClientConfig{SourceAddr: source, Secret: "s3cret", Version: cmpp.V30})
	if err != nil {
		t.Fatalf("cmpp dial: %v", err)
	}
	t.Cleanup(func() { s.Close(); <-s.Done() })
	return s
}

func send[T cmpp.PDU](t *testing.T, s *cmpp.Session, p cmpp.PDU) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := s.Send(ctx, p)
	if err != nil {
		t.Fatalf("%s: %v", p.Command(), err)
	}
	r, ok := resp.(T)
	if !ok {
		t.Fatalf("%s answered with %T", p.Command(), resp)
	}
	return r
}

func TestCMPPRoutePDUs(t *testing.T) {
	n, c, ctx := singleNode(t, nil)
	s := cmppClient(t, n.CMPPAddr(), "022001")

	mt := send[*cmpp.MTRouteResp](t, s, &cmpp.MTRoute{SourceID: "022001", TerminalID: "13800101234"})
	if mt.Result != cmpp.GNSOK || mt.DestinationID != "001001" || mt.GatewayIP != "127.0.0.1" || mt.GatewayPort != 7931 ||
		mt.StartID != "1380010" || mt.EndID != "1380010" || mt.AreaCode != "010" || len(mt.TimeStamp) != 14 {
		t.Fatalf("MT_ROUTE_RESP %+v", mt)
	}
	if r := send[*cmpp.MTRouteResp](t, s, &cmpp.MTRoute{SourceID: "022001", TerminalID: "17700000000"}); r.Result != cmpp.GNSNoRoute {
		t.Fatalf("unknown number: result %d", r.Result)
	}
	if r := send[*cmpp.MTRouteResp](t, s, &cmpp.MTRoute{SourceID: "123456", TerminalID: "13800101234"}); r.Result != cmpp.GNSBadSourceID {
		t.Fatalf("unknown source: result %d", r.Result)
	}

	mo := send[*cmpp.MORouteResp](t, s, &cmpp.MORoute{SourceID: "022001", SPCode: "10657001"})
	if mo.Result != cmpp.GNSOK || mo.DestinationID != "001001" || mo.SPID != "901234" || mo.SPCode != "10657001" || mo.SPAccessType != 0 {
		t.Fatalf("MO_ROUTE_RESP tianjin %+v", mo)
	}
	mo = send[*cmpp.MORouteResp](t, s, &cmpp.MORoute{SourceID: "077101", SPCode: "10657001"})
	if mo.Result != cmpp.GNSOK || mo.DestinationID != "020001" || mo.SPAccessType != 1 || mo.GatewayPort != 7933 {
		t.Fatalf("MO_ROUTE_RESP guangxi %+v", mo)
	}

	// GET_MT_ROUTE pages through every route, one per response.
	total := uint32(n.fsm.table.Load().NumSegments())
	last := int32(-1)
	seen := map[string]bool{}
	for k := uint32(1); ; k++ {
		r := send[*cmpp.GetMTRouteResp](t, s, &cmpp.GetMTRoute{SourceID: "022001", RouteType: cmpp.RouteTypeMT, LastRouteID: last})
		if r.Result != cmpp.GNSOK || r.RouteTotal != total || r.RouteNumber != k {
			t.Fatalf("GET_MT_ROUTE page %d: %+v", k, r)
		}
		if seen[r.StartID] {
			t.Fatalf("segment %s twice", r.StartID)
		}
		seen[r.StartID] = true
		last = int32(r.RouteID)
		if r.RouteNumber == r.RouteTotal {
			break
		}
	}
	if uint32(len(seen)) != total {
		t.Fatalf("paged %d routes, table has %d", len(seen), total)
	}
	if r := send[*cmpp.GetMTRouteResp](t, s, &cmpp.GetMTRoute{SourceID: "022001", RouteType: cmpp.RouteTypeMT, LastRouteID: last}); r.Result != cmpp.GNSNoRoute {
		t.Fatalf("past the last route: %+v", r)
	}
	if r := send[*cmpp.GetMTRouteResp](t, s, &cmpp.GetMTRoute{SourceID: "022001", RouteType: "XX", LastRouteID: -1}); r.Result != cmpp.GNSBadRouteType {
		t.Fatalf("bad route type: %+v", r)
	}
	// A page asked out of sequence still gets the right Route_number.
	r3 := send[*cmpp.GetMTRouteResp](t, s, &cmpp.GetMTRoute{SourceID: "022001", RouteType: cmpp.RouteTypeMT, LastRouteID: 1})
	if r3.Result != cmpp.GNSOK || r3.RouteNumber != 3 {
		t.Fatalf("page after route 1: %+v", r3)
	}
	mos := 0
	for last := int32(-1); ; mos++ {
		r := send[*cmpp.GetMORouteResp](t, s, &cmpp.GetMORoute{SourceID: "022001", RouteType: cmpp.RouteTypeMO, LastRouteID: last})
		if r.Result != cmpp.GNSOK {
			break
		}
		last = int32(r.RouteID)
	}
	if mos != n.fsm.table.Load().NumMORoutes() {
		t.Fatalf("GET_MO_ROUTE paged %d routes, want %d", mos, n.fsm.table.Load().NumMORoutes())
	}

	// MT_ROUTE_UPDATE add goes through Raft and is visible to ResolveMT.
	up := send[*cmpp.MTRouteUpdateResp](t, s, &cmpp.MTRouteUpdate{UpdateType: cmpp.RouteAdd, DestinationID: "020001",
		GatewayIP: "127.0.0.1", GatewayPort: 7933, StartID: "1599000", EndID: "1599000", AreaCode: "020"})
	if up.Result != cmpp.GNSOK {
		t.Fatalf("MT_ROUTE_UPDATE add: result %d", up.Result)
	}
	res, err := c.ResolveMT(ctx, &gnspb.ResolveMTRequest{Msisdn: "15990001234"})
	if err != nil || res.Gateway.Code != "020001" || res.Segment.RouteId != up.RouteID {
		t.Fatalf("after MT_ROUTE_UPDATE: %+v, %v (route id %d)", res, err, up.RouteID)
	}
	for _, tc := range []struct {
		name string
		p    *cmpp.MTRouteUpdate
		want uint8
	}{
		{"add existing", &cmpp.MTRouteUpdate{UpdateType: cmpp.RouteAdd, DestinationID: "020001", StartID: "1599000"}, cmpp.GNSBadStartID},
		{"unknown gateway", &cmpp.MTRouteUpdate{UpdateType: cmpp.RouteAdd, DestinationID: "099999", StartID: "1599001"}, cmpp.GNSBadDestinationID},
		{"bad update type", &cmpp.MTRouteUpdate{UpdateType: 7}, cmpp.GNSBadUpdateType},
		{"unknown route id", &cmpp.MTRouteUpdate{UpdateType: cmpp.RouteDelete, RouteID: 99999}, cmpp.GNSBadRouteID},
		{"end differs", &cmpp.MTRouteUpdate{UpdateType: cmpp.RouteAdd, DestinationID: "020001", StartID: "1599002", EndID: "1599003"}, cmpp.GNSBadEndID},
		{"bad digits", &cmpp.MTRouteUpdate{UpdateType: cmpp.RouteAdd, DestinationID: "020001", StartID: "15x9"}, cmpp.GNSBadStartID},
		{"bad ip", &cmpp.MTRouteUpdate{UpdateType: cmpp.RouteAdd, DestinationID: "020001", StartID: "1599004", GatewayIP: "not-ip"}, cmpp.GNSBadGatewayIP},
	} {
		if r := send[*cmpp.MTRouteUpdateResp](t, s, tc.p); r.Result != tc.want {
			t.Errorf("%s: result %d, want %d", tc.name, r.Result, tc.want)
		}
	}
	// Update moves the route to another gateway, delete removes it.
	if r := send[*cmpp.MTRouteUpdateResp](t, s, &cmpp.MTRouteUpdate{UpdateType: cmpp.RouteUpdate, RouteID: up.RouteID, DestinationID: "021001", StartID: "1599000"}); r.Result != cmpp.GNSOK || r.RouteID != up.RouteID {
		t.Fatalf("update: %+v", r)
	}
	if g := n.fsm.table.Load(); func() string { s, _ := g.Segment("1599000"); return s.Gateway }() != "021001" {
		t.Fatal("update not applied")
	}
	if r := send[*cmpp.MTRouteUpdateResp](t, s, &cmpp.MTRouteUpdate{UpdateType: cmpp.RouteDelete, RouteID: up.RouteID}); r.Result != cmpp.GNSOK {
		t.Fatalf("delete: %+v", r)
	}
	if _, ok := n.fsm.table.Load().Segment("1599000"); ok {
		t.Fatal("delete not applied")
	}

	// MO_ROUTE_UPDATE adds a service code to a new SP.
	mu := send[*cmpp.MORouteUpdateResp](t, s, &cmpp.MORouteUpdate{UpdateType: cmpp.RouteAdd, DestinationID: "022001", SPID: "905555", SPCode: "10658888"})
	if mu.Result != cmpp.GNSOK {
		t.Fatalf("MO_ROUTE_UPDATE add: %+v", mu)
	}
	mo = send[*cmpp.MORouteResp](t, s, &cmpp.MORoute{SourceID: "001001", SPCode: "1065888801"})
	if mo.Result != cmpp.GNSOK || mo.SPID != "905555" || mo.DestinationID != "022001" || mo.RouteID != mu.RouteID {
		t.Fatalf("MO route after update: %+v (update route id %d)", mo, mu.RouteID)
	}
	if r := send[*cmpp.MORouteUpdateResp](t, s, &cmpp.MORouteUpdate{UpdateType: cmpp.RouteDelete, RouteID: mu.RouteID}); r.Result != cmpp.GNSOK {
		t.Fatalf("MO delete: %+v", r)
	}
	if _, ok := n.fsm.table.Load().SP("905555"); ok {
		t.Fatal("SP with no codes left should be gone")
	}
}

func TestCMPPLoginRefused(t *testing.T) {
	n, _, _ := singleNode(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := cmpp.Dial(ctx, n.CMPPAddr(), cmpp.ClientConfig{SourceAddr: "022001", Secret: "wrong", Version: cmpp.V30})
	var ce *cmpp.ConnectError
	if !errors.As(err, &ce) {
		t.Fatalf("wrong secret: %v, want a ConnectError", err)
	}
	_, err = cmpp.Dial(ctx, n.CMPPAddr(), cmpp.ClientConfig{SourceAddr: "033001", Secret: "s3cret", Version: cmpp.V30})
	if !errors.As(err, &ce) {
		t.Fatalf("unknown gateway: %v, want a ConnectError", err)
	}
}

// TestPush: the leader pushes committed segment and SP changes to a vendor
// ISMG over CMPP.
func TestPush(t *testing.T) {
	var mu sync.Mutex
	var got []cmpp.PDU
	ismg := &cmpp.Server{
		Auth: cmpp.AuthenticatorFunc(func(context.Context, net.Addr, *cmpp.Connect) (string, uint32) {
			return "push-secret", cmpp.ConnectOK
		}),
		Handler: cmpp.HandlerFunc(func(s *cmpp.Session, h cmpp.Header, req cmpp.PDU) {
			mu.Lock()
			got = append(got, req)
			mu.Unlock()
			switch req.(type) {
			case *cmpp.PushMTRouteUpdate:
				_ = s.Reply(h, &cmpp.PushMTRouteUpdateResp{})
			case *cmpp.PushMORouteUpdate:
				_ = s.Reply(h, &cmpp.PushMORouteUpdateResp{})
			}
		}),
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = ismg.Serve(l) }()
	t.Cleanup(func() { _ = ismg.Close() })

	n, c, ctx := singleNode(t, func(cfg *Config) { cfg.PushPeers = []PushPeer{{Addr: l.Addr().String(), Secret: "push-secret"}} })
	waitfor.Within(t, 10*time.Second, "push loop following the hub", func() bool {
		n.hub.mu.Lock()
		defer n.hub.mu.Unlock()
		return len(n.hub.subs) > 0
	})
	if _, err := c.Write(ctx, &gnspb.WriteRequest{Changes: []*gnspb.Change{putSegment("1598000", "020001")}}); err != nil {
		t.Fatal(err)
	}
	waitfor.Within(t, 10*time.Second, "push received", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range got {
			if u, ok := p.(*cmpp.PushMTRouteUpdate); ok && u.StartID == "1598000" && u.DestinationID == "020001" {
				return true
			}
		}
		return false
	})
}
