package routing

import (
	"cmp"
	"fmt"
	"iter"
	"slices"
)

// Table is an immutable routing table at one revision. All methods are safe
// for concurrent use without locks; a new version is made with Apply or a
// Builder and shares most of its memory with the old one.
type Table struct {
	rev uint64

	gws      []gwRec // by gateway index; a deleted gateway leaves a hole (Code == "")
	gwByCode map[string]uint32

	attrs  []segAttr // interned segment attributes; segments point at them
	mt     mtrie     // prefix → mtVal(route id, attribute index)
	mtVec  pvec[segEnt]
	nextMT uint32
	nSeg   int

	ported portedSet

	sps    []*spRec // by sp index; holes are nil
	spByID map[string]uint32
	mo     *tnode // service code → MO route id + 1
	moVec  pvec[moEnt]
	nextMO uint32
	nMO    int
}

type gwRec struct {
	Gateway
	nSeg    int // segments homed here
	nPorted int // ported numbers homed here
}

// segAttr is what segments share; a table has few distinct ones, so segments
// store a 4-byte index instead of strings.
type segAttr struct {
	gw       uint32
	smsc     string
	area     string
	userType uint8
}

// segEnt is one segment in 8 bytes: digits in bits 0–36 (11 digits fit in
// 37 bits), digit count in bits 37–40, attribute index in bits 41–63.
// 0 means no segment, as every prefix has at least 3 digits.
type segEnt uint64

const (
	segLenShift  = 37
	segAttrShift = 41
	maxAttrs     = 1 << (64 - segAttrShift)
)

func newSegEnt(prefix string, attr uint32) segEnt {
	return segEnt(parseNumber(prefix) | uint64(len(prefix))<<segLenShift | uint64(attr)<<segAttrShift)
}

func (e segEnt) digits() uint64 { return uint64(e) & (1<<segLenShift - 1) }
func (e segEnt) length() int    { return int(uint64(e)>>segLenShift) & 15 }
func (e segEnt) attr() uint32   { return uint32(uint64(e) >> segAttrShift) }

func (e segEnt) withAttr(a uint32) segEnt {
	return segEnt(uint64(e)&(1<<segAttrShift-1) | uint64(a)<<segAttrShift)
}

func (e segEnt) prefix() string {
	var buf [MaxPrefixLen]byte
	n, v := e.length(), e.digits()
	for i := n - 1; i >= 0; i-- {
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	return string(buf[:n])
}

type moEnt struct {
	sp uint32 // sp index + 1; 0 = no route
}

type spRec struct {
	sp       SP
	gw       uint32 // primary
	defGW    uint32
	byRegion map[string]partTarget
}

type partTarget struct {
	gw   uint32
	name string
}

// Empty returns a table with nothing in it at revision 0.
func Empty() *Table {
	return &Table{gwByCode: map[string]uint32{}, spByID: map[string]uint32{}}
}

// Revision is the Raft index that produced this table (0 for a table built locally).
func (t *Table) Revision() uint64 { return t.rev }

// NumGateways, NumSegments, NumPorted, NumSPs and NumMORoutes count entries
// (Route_total for the GNS GET_*_ROUTE replies).
func (t *Table) NumGateways() int { return len(t.gwByCode) }
func (t *Table) NumSegments() int { return t.nSeg }
func (t *Table) NumPorted() int   { return t.ported.n }
func (t *Table) NumSPs() int      { return len(t.spByID) }
func (t *Table) NumMORoutes() int { return t.nMO }

// ResolveMT finds the home gateway of a destination number: an exact ported
// entry first, else the longest matching segment. It does not allocate
// unless it fails.
func (t *Table) ResolveMT(msisdn string) (r MTRoute, err error) {
	// A bare 11-digit number is what NormalizeMSISDN would return unchanged.
	num := msisdn
	key, is11 := parseMSISDN11(num)
	if !is11 {
		if num, err = NormalizeMSISDN(msisdn); err != nil {
			return MTRoute{}, fmt.Errorf("routing: resolve mt: %w", err)
		}
		key, is11 = parseMSISDN11(num)
	}
	// The ported lookup and the trie walk touch unrelated memory; starting
	// the ported probe first lets the CPU overlap their cache misses.
	var pgw uint32
	ported := false
	if is11 && t.ported.n > 0 {
		pgw, ported = t.ported.get(key)
	}
	v, n := t.mt.longest(num)
	// Fields are set one by one on the result: building a Segment value and
	// copying it costs more than the lookup when the table is in cache.
	if ported {
		r.Gateway = t.gws[pgw].Gateway
		r.Ported = true
	}
	if v == 0 {
		if ported {
			return r, nil
		}
		return MTRoute{}, fmt.Errorf("routing: resolve mt %s: %w", num, ErrRouteNotFound)
	}
	a := &t.attrs[mtAttr(v)]
	g := &t.gws[a.gw].Gateway
	if !ported {
		r.Gateway = *g
	}
	r.Segment.Prefix = num[:n]
	r.Segment.Gateway = g.Code
	r.Segment.SMSC = a.smsc
	r.Segment.AreaCode = a.area
	r.Segment.UserType = a.userType
	r.Segment.RouteID = mtRID(v)
	return r, nil
}

// ResolveMO finds where MO traffic for serviceCode goes when asked by the
// gateway askingGateway: the SP owning the longest matching service code,
// then the SP partition containing the asking gateway's region, else the
// SP's default gateway.
func (t *Table) ResolveMO(serviceCode, askingGateway string) (MORoute, error) {
	if len(serviceCode) == 0 || len(serviceCode) > MaxTerminalLen || !isDigits(serviceCode) {
		return MORoute{}, fmt.Errorf("routing: resolve mo %q: %w", serviceCode, ErrBadDigits)
	}
	ask, ok := t.gwByCode[askingGateway]
	if !ok {
		return MORoute{}, fmt.Errorf("routing: resolve mo: asking gateway %q: %w", askingGateway, ErrUnknownGateway)
	}
	v, n := trieLongest(t.mo, serviceCode)
	if v == 0 {
		return MORoute{}, fmt.Errorf("routing: resolve mo %s: %w", serviceCode, ErrRouteNotFound)
	}
	rid := v - 1
	sp := t.sps[t.moVec.get(rid).sp-1]
	r := MORoute{SP: &sp.sp, ServiceCode: serviceCode[:n], RouteID: rid}
	if pt, ok := sp.byRegion[t.gws[ask].Region]; ok {
		r.Gateway = t.gws[pt.gw].Gateway
		r.Partition = pt.name
	} else {
		r.Gateway = t.gws[sp.defGW].Gateway
	}
	return r, nil
}

// Gateway returns the gateway with the given code.
func (t *Table) Gateway(code string) (Gateway, bool) {
	i, ok := t.gwByCode[code]
	if !ok {
		return Gateway{}, false
	}
	return t.gws[i].Gateway, true
}

// Gateways returns every gateway ordered by code.
func (t *Table) Gateways() []Gateway {
	out := make([]Gateway, 0, len(t.gwByCode))
	for _, g := range t.gws {
		if g.Code != "" {
			out = append(out, g.Gateway)
		}
	}
	slices.SortFunc(out, func(a, b Gateway) int { return cmp.Compare(a.Code, b.Code) })
	return out
}

// SP returns the SP with the given SP_Id; the value shares the table's slices.
func (t *Table) SP(id string) (SP, bool) {
	i, ok := t.spByID[id]
	if !ok {
		return SP{}, false
	}
	return t.sps[i].sp, true
}

// SPs returns every SP ordered by SP_Id; the values share the table's slices.
func (t *Table) SPs() []SP {
	out := make([]SP, 0, len(t.spByID))
	for _, s := range t.sps {
		if s != nil {
			out = append(out, s.sp)
		}
	}
	slices.SortFunc(out, func(a, b SP) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Segment returns the segment with exactly this prefix.
func (t *Table) Segment(prefix string) (Segment, bool) {
	if !isDigits(prefix) || len(prefix) > MaxPrefixLen {
		return Segment{}, false
	}
	v := t.mt.get(prefix)
	if v == 0 {
		return Segment{}, false
	}
	return t.segmentOf(prefix, v), true
}

// segmentOf builds a segment from its trie value, without the route array.
func (t *Table) segmentOf(prefix string, v uint64) Segment {
	a := &t.attrs[mtAttr(v)]
	return Segment{
		Prefix:   prefix,
		Gateway:  t.gws[a.gw].Code,
		SMSC:     a.smsc,
		AreaCode: a.area,
		UserType: a.userType,
		RouteID:  mtRID(v),
	}
}

func (t *Table) segment(rid uint32, e segEnt) Segment {
	a := &t.attrs[e.attr()]
	return Segment{
		Prefix:   e.prefix(),
		Gateway:  t.gws[a.gw].Code,
		SMSC:     a.smsc,
		AreaCode: a.area,
		UserType: a.userType,
		RouteID:  rid,
	}
}

// Segments yields every segment in prefix order ("138" < "1380" < "1381").
func (t *Table) Segments() iter.Seq[Segment] {
	return func(yield func(Segment) bool) {
		t.mt.walk(func(key []byte, v uint64) bool {
			return yield(t.segmentOf(string(key), v))
		})
	}
}

// SegmentsByRouteID yields segments in MT Route_Id order starting after
// lastRouteID; pass -1 to start at the first, as CMPP_GET_MT_ROUTE does.
func (t *Table) SegmentsByRouteID(lastRouteID int64) iter.Seq[Segment] {
	return func(yield func(Segment) bool) {
		from, ok := routeFrom(lastRouteID)
		if !ok {
			return
		}
		t.mtVec.scan(from, func(rid uint32, e segEnt) bool { return yield(t.segment(rid, e)) })
	}
}

// SegmentByRouteID returns the segment holding an MT Route_Id.
func (t *Table) SegmentByRouteID(rid uint32) (Segment, bool) {
	e := t.mtVec.get(rid)
	if e == 0 {
		return Segment{}, false
	}
	return t.segment(rid, e), true
}

func routeFrom(last int64) (uint32, bool) {
	if last < -1 {
		last = -1
	}
	if last >= MaxRouteID {
		return 0, false
	}
	return uint32(last + 1), true
}

// MOEntry is one MO route: a service code of an SP.
type MOEntry struct {
	RouteID     uint32
	ServiceCode string
	SP          *SP // shared with the table, do not modify
}

// MORoutesByRouteID yields MO routes in Route_Id order after lastRouteID (-1 = from the first).
func (t *Table) MORoutesByRouteID(lastRouteID int64) iter.Seq[MOEntry] {
	return func(yield func(MOEntry) bool) {
		from, ok := routeFrom(lastRouteID)
		if !ok {
			return
		}
		t.moVec.scan(from, func(rid uint32, e moEnt) bool {
			sp := t.sps[e.sp-1]
			for _, sc := range sp.sp.ServiceCodes {
				if sc.RouteID == rid {
					return yield(MOEntry{RouteID: rid, ServiceCode: sc.Code, SP: &sp.sp})
				}
			}
			return true
		})
	}
}

// PortedNumbers returns every ported number ordered by MSISDN.
func (t *Table) PortedNumbers() []Ported {
	type kv struct {
		num uint64
		gw  uint32
	}
	all := make([]kv, 0, t.ported.n)
	t.ported.each(func(num uint64, gw uint32) bool {
		all = append(all, kv{num, gw})
		return true
	})
	slices.SortFunc(all, func(a, b kv) int { return cmp.Compare(a.num, b.num) })
	out := make([]Ported, len(all))
	for i, x := range all {
		out[i] = Ported{MSISDN: formatMSISDN(x.num), Gateway: t.gws[x.gw].Code}
	}
	return out
}

// PortedGateway returns the gateway of a ported number.
func (t *Table) PortedGateway(msisdn string) (string, bool) {
	if len(msisdn) != MSISDNLen || !isDigits(msisdn) {
		return "", false
	}
	gw, ok := t.ported.get(parseNumber(msisdn))
	if !ok {
		return "", false
	}
	return t.gws[gw].Code, true
}

// Contents returns the whole table as plain values, in export order:
// gateways by code, segments by prefix, ported numbers by MSISDN, SPs by id.
func (t *Table) Contents() *Contents {
	c := &Contents{Gateways: t.Gateways(), Ported: t.PortedNumbers(), SPs: t.SPs()}
	c.Segments = make([]Segment, 0, t.nSeg)
	for s := range t.Segments() {
		c.Segments = append(c.Segments, s)
	}
	for i := range c.SPs {
		c.SPs[i] = cloneSP(c.SPs[i])
	}
	return c
}

func cloneSP(s SP) SP {
	s.ServiceCodes = slices.Clone(s.ServiceCodes)
	s.Mirrors = slices.Clone(s.Mirrors)
	s.Partitions = slices.Clone(s.Partitions)
	for i := range s.Partitions {
		s.Partitions[i].Regions = slices.Clone(s.Partitions[i].Regions)
	}
	s.Account = cloneAccount(s.Account)
	return s
}
