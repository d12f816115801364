package routing

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
)

// Builder edits a private copy-on-write version of a table. Edits write in
// place into nodes the builder already copied, so a batch of many changes
// copies each shared node at most once. A Builder is not safe for concurrent use.
type Builder struct {
	t Table
	e *editor

	// The small per-table slices and maps are cloned on the first write after
	// the builder starts or publishes a table.
	gwsOwned   bool
	spsOwned   bool
	attrsOwned bool
	attrIdx    map[segAttr]uint32
}

// NewBuilder starts an empty table.
func NewBuilder() *Builder { return Empty().Builder() }

// Builder starts editing a copy of t; t itself never changes.
func (t *Table) Builder() *Builder {
	return &Builder{t: *t, e: newEditor()}
}

// Table publishes the builder's current state as an immutable table at rev.
// The builder stays usable: later edits copy before writing again.
func (b *Builder) Table(rev uint64) *Table {
	t := b.t
	t.rev = rev
	b.e.release()
	b.gwsOwned, b.spsOwned, b.attrsOwned = false, false, false
	return &t
}

func (b *Builder) ownGateways() {
	if !b.gwsOwned {
		b.t.gws = slices.Clone(b.t.gws)
		b.t.gwByCode = maps.Clone(b.t.gwByCode)
		if b.t.gwByCode == nil {
			b.t.gwByCode = map[string]uint32{}
		}
		b.gwsOwned = true
	}
}

func (b *Builder) ownSPs() {
	if !b.spsOwned {
		b.t.sps = slices.Clone(b.t.sps)
		b.t.spByID = maps.Clone(b.t.spByID)
		if b.t.spByID == nil {
			b.t.spByID = map[string]uint32{}
		}
		b.spsOwned = true
	}
}

func (b *Builder) intern(a segAttr) (uint32, error) {
	// attrs only grow and never hold duplicates, so an index of the right
	// length is current.
	if b.attrIdx == nil || len(b.attrIdx) != len(b.t.attrs) {
		b.attrIdx = make(map[segAttr]uint32, len(b.t.attrs))
		for i, x := range b.t.attrs {
			b.attrIdx[x] = uint32(i)
		}
	}
	if i, ok := b.attrIdx[a]; ok {
		return i, nil
	}
	if len(b.t.attrs) >= maxAttrs {
		return 0, ferr("segment", fmt.Errorf("%w: more than %d distinct gateway/smsc/area/user type combinations", ErrIDSpace, maxAttrs))
	}
	if !b.attrsOwned {
		// Appending into an array a published table shares would race with
		// a second builder of the same table.
		b.t.attrs = slices.Clip(slices.Clone(b.t.attrs))
		b.attrsOwned = true
	}
	i := uint32(len(b.t.attrs))
	b.t.attrs = append(b.t.attrs, a)
	b.attrIdx[a] = i
	return i, nil
}

func first(errs []*fieldErr, prefix string) error {
	if len(errs) == 0 {
		return nil
	}
	return &fieldErr{field: prefix + errs[0].field, err: errs[0].err}
}

// ---- gateways ----

func checkGateway(g *Gateway) []*fieldErr {
	var errs []*fieldErr
	add := func(f string, err error) { errs = append(errs, &fieldErr{f, err}) }
	if err := checkDigits(g.Code, GatewayCodeLen, GatewayCodeLen); err != nil {
		add("code", err)
	}
	if err := checkText(g.Name, maxNameLen); err != nil {
		add("name", err)
	}
	if g.Region == "" {
		add("region", fmt.Errorf("%w: missing", ErrBadValue))
	} else if err := checkText(g.Region, maxNameLen); err != nil {
		add("region", err)
	}
	if err := checkAddr(g.FwdAddr); err != nil {
		add("fwd_addr", err)
	}
	if g.Province != "" {
		if err := checkDigits(g.Province, 2, maxAreaCodeLen); err != nil {
			add("province", err)
		}
	}
	return errs
}

func checkAddr(a string) error {
	if a == "" {
		return fmt.Errorf("%w: missing", ErrBadValue)
	}
	if len(a) > maxAddrLen {
		return fmt.Errorf("%w: address too long", ErrBadValue)
	}
	_, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("%w: %q is not host:port", ErrBadValue, a)
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		return fmt.Errorf("%w: bad port in %q", ErrBadValue, a)
	}
	return nil
}

// PutGateway adds a gateway or updates the one with the same code.
func (b *Builder) PutGateway(g Gateway) error {
	if err := first(checkGateway(&g), "gateway."); err != nil {
		return err
	}
	b.ownGateways()
	if i, ok := b.t.gwByCode[g.Code]; ok {
		b.t.gws[i].Gateway = g
		return nil
	}
	i := slices.IndexFunc(b.t.gws, func(r gwRec) bool { return r.Code == "" })
	if i < 0 {
		i = len(b.t.gws)
		b.t.gws = append(b.t.gws, gwRec{})
	}
	b.t.gws[i] = gwRec{Gateway: g}
	b.t.gwByCode[g.Code] = uint32(i)
	return nil
}

// DeleteGateway removes a gateway that nothing refers to any more.
func (b *Builder) DeleteGateway(code string) error {
	i, ok := b.t.gwByCode[code]
	if !ok {
		return ferr("key", fmt.Errorf("%w: gateway %q", ErrNotFound, code))
	}
	if who := b.t.gatewayUser(i); who != "" {
		return ferr("key", fmt.Errorf("%w: gateway %s is used by %s", ErrInUse, code, who))
	}
	b.ownGateways()
	b.t.gws[i] = gwRec{}
	delete(b.t.gwByCode, code)
	return nil
}

// gatewayUser names one thing that refers to gateway i, "" if none. The
// scans only run when the counters say there is something to find.
func (t *Table) gatewayUser(i uint32) string {
	who := ""
	if t.gws[i].nSeg > 0 {
		t.mtVec.scan(0, func(_ uint32, e segEnt) bool {
			if t.attrs[e.attr()].gw == i {
				who = "segment " + e.prefix()
				return false
			}
			return true
		})
		if who != "" {
			return who
		}
	}
	if t.gws[i].nPorted > 0 {
		t.ported.each(func(num uint64, gw uint32) bool {
			if gw == i {
				who = "ported number " + formatMSISDN(num)
				return false
			}
			return true
		})
		if who != "" {
			return who
		}
	}
	for _, s := range t.sps {
		if s == nil {
			continue
		}
		if s.gw == i || s.defGW == i {
			return "sp " + s.sp.ID
		}
		for _, m := range s.sp.Mirrors {
			if t.gwByCode[m] == i {
				return "sp " + s.sp.ID + " (mirror)"
			}
		}
		for _, p := range s.sp.Partitions {
			if t.gwByCode[p.Gateway] == i {
				return "sp " + s.sp.ID + " partition " + p.Name
			}
		}
	}
	return ""
}

func (b *Builder) gatewayIndex(code string) (uint32, error) {
	i, ok := b.t.gwByCode[code]
	if !ok {
		if code == "" {
			return 0, fmt.Errorf("%w: missing", ErrUnknownGateway)
		}
		return 0, fmt.Errorf("%w %q", ErrUnknownGateway, code)
	}
	return i, nil
}

// ---- segments ----

func (b *Builder) checkSegment(s *Segment) (segAttr, []*fieldErr) {
	var errs []*fieldErr
	add := func(f string, err error) { errs = append(errs, &fieldErr{f, err}) }
	if err := checkDigits(s.Prefix, MinPrefixLen, MaxPrefixLen); err != nil {
		add("prefix", err)
	} else if len(s.Prefix) == MSISDNLen {
		if _, ok := b.t.ported.get(parseNumber(s.Prefix)); ok {
			add("prefix", fmt.Errorf("%w: %s is also a ported number", ErrConflict, s.Prefix))
		}
	}
	gw, err := b.gatewayIndex(s.Gateway)
	if err != nil {
		add("gateway", err)
	}
	if err := checkText(s.SMSC, maxNameLen); err != nil {
		add("smsc", err)
	}
	if s.AreaCode != "" {
		if err := checkDigits(s.AreaCode, 2, maxAreaCodeLen); err != nil {
			add("area_code", err)
		}
	}
	return segAttr{gw: gw, smsc: s.SMSC, area: s.AreaCode, userType: s.UserType}, errs
}

// PutSegment adds a segment or updates the one with the same prefix, which
// keeps its RouteID.
func (b *Builder) PutSegment(s Segment) error {
	a, errs := b.checkSegment(&s)
	if err := first(errs, "segment."); err != nil {
		return err
	}
	return b.putSegment(s.Prefix, a, noRouteID)
}

const noRouteID = ^uint32(0)

// putSegment stores a checked segment; rid forces the route id of a new
// prefix (snapshots, replace) and must not be in use.
func (b *Builder) putSegment(prefix string, a segAttr, rid uint32) error {
	if v := b.t.mt.get(prefix); v != 0 {
		if rid != noRouteID && rid != mtRID(v) {
			return ferr("segment.prefix", fmt.Errorf("%w: duplicate prefix %s", ErrExists, prefix))
		}
		rid = mtRID(v)
		e := b.t.mtVec.get(rid)
		old := b.t.attrs[e.attr()]
		ai, err := b.intern(a)
		if err != nil {
			return err
		}
		if ai == e.attr() {
			return nil
		}
		b.ownGateways()
		b.t.gws[old.gw].nSeg--
		b.t.gws[a.gw].nSeg++
		b.t.mtVec.set(b.e, rid, e.withAttr(ai))
		b.e.mtPut(&b.t.mt, prefix, mtVal(rid, ai))
		return nil
	}
	if rid == noRouteID {
		if b.t.nextMT > MaxRouteID {
			return ferr("segment.prefix", fmt.Errorf("%w: mt", ErrIDSpace))
		}
		rid = b.t.nextMT
		b.t.nextMT++
	} else if b.t.mtVec.get(rid) != 0 {
		return ferr("segment.route_id", fmt.Errorf("%w: mt route id %d used twice", ErrConflict, rid))
	}
	ai, err := b.intern(a)
	if err != nil {
		return err
	}
	b.e.mtPut(&b.t.mt, prefix, mtVal(rid, ai))
	b.t.mtVec.set(b.e, rid, newSegEnt(prefix, ai))
	b.ownGateways()
	b.t.gws[a.gw].nSeg++
	b.t.nSeg++
	return nil
}

// DeleteSegment removes the segment with exactly this prefix.
func (b *Builder) DeleteSegment(prefix string) error {
	if err := checkDigits(prefix, MinPrefixLen, MaxPrefixLen); err != nil {
		return ferr("key", err)
	}
	v := b.e.mtDelete(&b.t.mt, prefix)
	if v == 0 {
		return ferr("key", fmt.Errorf("%w: segment %s", ErrNotFound, prefix))
	}
	e := b.t.mtVec.get(mtRID(v))
	b.t.mtVec.set(b.e, mtRID(v), 0)
	b.ownGateways()
	b.t.gws[b.t.attrs[e.attr()].gw].nSeg--
	b.t.nSeg--
	return nil
}

// ---- ported numbers ----

func (b *Builder) checkPorted(p *Ported) (uint32, []*fieldErr) {
	var errs []*fieldErr
	if err := checkDigits(p.MSISDN, MSISDNLen, MSISDNLen); err != nil {
		errs = append(errs, &fieldErr{"msisdn", err})
	} else if b.t.mt.get(p.MSISDN) != 0 {
		errs = append(errs, &fieldErr{"msisdn", fmt.Errorf("%w: %s is also an 11-digit segment", ErrConflict, p.MSISDN)})
	}
	gw, err := b.gatewayIndex(p.Gateway)
	if err != nil {
		errs = append(errs, &fieldErr{"gateway", err})
	}
	return gw, errs
}

// PutPorted adds or moves a ported number.
func (b *Builder) PutPorted(p Ported) error {
	gw, errs := b.checkPorted(&p)
	if err := first(errs, "ported."); err != nil {
		return err
	}
	b.putPorted(parseNumber(p.MSISDN), gw)
	return nil
}

func (b *Builder) putPorted(num uint64, gw uint32) {
	old, existed := b.t.ported.put(b.e, num, gw)
	b.ownGateways()
	if existed {
		b.t.gws[old].nPorted--
	}
	b.t.gws[gw].nPorted++
}

// DeletePorted removes a ported number; the number's segment applies again.
func (b *Builder) DeletePorted(msisdn string) error {
	if err := checkDigits(msisdn, MSISDNLen, MSISDNLen); err != nil {
		return ferr("key", err)
	}
	gw, ok := b.t.ported.remove(b.e, parseNumber(msisdn))
	if !ok {
		return ferr("key", fmt.Errorf("%w: ported number %s", ErrNotFound, msisdn))
	}
	b.ownGateways()
	b.t.gws[gw].nPorted--
	return nil
}

// ---- SPs ----

func (b *Builder) checkSP(s *SP) (*spRec, []*fieldErr) {
	var errs []*fieldErr
	add := func(f string, err error) { errs = append(errs, &fieldErr{f, err}) }
	if err := checkDigits(s.ID, SPIDLen, SPIDLen); err != nil {
		add("id", err)
	}
	if err := checkText(s.Name, maxNameLen); err != nil {
		add("name", err)
	}
	rec := &spRec{byRegion: map[string]partTarget{}}
	var err error
	if rec.gw, err = b.gatewayIndex(s.Gateway); err != nil {
		add("gateway", err)
	}
	if len(s.Mirrors) > maxListElements || len(s.Partitions) > maxListElements || len(s.ServiceCodes) > maxListElements {
		add("id", fmt.Errorf("%w: too many list elements", ErrBadValue))
		return nil, errs
	}
	for i, m := range s.Mirrors {
		if _, err := b.gatewayIndex(m); err != nil {
			add(fmt.Sprintf("mirrors[%d]", i), err)
		} else if m == s.Gateway || slices.Index(s.Mirrors[:i], m) >= 0 {
			add(fmt.Sprintf("mirrors[%d]", i), fmt.Errorf("%w: gateway %s listed twice", ErrConflict, m))
		}
	}
	def := s.DefaultGateway
	if def == "" {
		def = s.Gateway
	}
	if s.DefaultGateway != "" {
		if rec.defGW, err = b.gatewayIndex(def); err != nil {
			add("default_gateway", err)
		}
	} else {
		rec.defGW = rec.gw
	}
	for i, p := range s.Partitions {
		f := fmt.Sprintf("partitions[%d]", i)
		if p.Name == "" {
			add(f+".name", fmt.Errorf("%w: missing", ErrBadValue))
		} else if err := checkText(p.Name, maxNameLen); err != nil {
			add(f+".name", err)
		} else if slices.IndexFunc(s.Partitions[:i], func(q Partition) bool { return q.Name == p.Name }) >= 0 {
			add(f+".name", fmt.Errorf("%w: partition %q defined twice", ErrConflict, p.Name))
		}
		gw, err := b.gatewayIndex(p.Gateway)
		if err != nil {
			add(f+".gateway", err)
		}
		if len(p.Regions) == 0 || len(p.Regions) > maxListElements {
			add(f+".regions", fmt.Errorf("%w: want 1 to %d regions", ErrBadValue, maxListElements))
		}
		for j, r := range p.Regions {
			rf := fmt.Sprintf("%s.regions[%d]", f, j)
			if r == "" {
				add(rf, fmt.Errorf("%w: empty region", ErrBadValue))
			} else if err := checkText(r, maxNameLen); err != nil {
				add(rf, err)
			} else if prev, dup := rec.byRegion[r]; dup {
				add(rf, fmt.Errorf("%w: region %q already in partition %q", ErrConflict, r, prev.name))
			} else {
				rec.byRegion[r] = partTarget{gw: gw, name: p.Name}
			}
		}
	}
	for i, sc := range s.ServiceCodes {
		f := fmt.Sprintf("service_codes[%d]", i)
		if err := checkDigits(sc.Code, 4, MaxServiceCode); err != nil {
			add(f, err)
			continue
		}
		if slices.IndexFunc(s.ServiceCodes[:i], func(x ServiceCode) bool { return x.Code == sc.Code }) >= 0 {
			add(f, fmt.Errorf("%w: service code %s listed twice", ErrConflict, sc.Code))
			continue
		}
		if v := trieGet(b.t.mo, sc.Code); v != 0 {
			owner := b.t.sps[b.t.moVec.get(v-1).sp-1]
			if owner.sp.ID != s.ID {
				add(f, fmt.Errorf("%w: service code %s already belongs to sp %s", ErrConflict, sc.Code, owner.sp.ID))
			}
		}
	}
	if s.Account != nil {
		checkAccount(s.Account, add)
	}
	return rec, errs
}

// PutSP adds an SP or replaces the one with the same SP_Id. Service codes it
// keeps keep their MO RouteIDs; new ones get new ids.
func (b *Builder) PutSP(s SP) error {
	rec, errs := b.checkSP(&s)
	if err := first(errs, "sp."); err != nil {
		return err
	}
	return b.putSP(s, rec, nil)
}

// putSP stores a checked SP. ids, when set, forces the MO route ids of new
// codes (snapshots, replace): code → id.
func (b *Builder) putSP(s SP, rec *spRec, ids map[string]uint32) error {
	s = cloneSP(s)
	b.ownSPs()
	idx, exists := b.t.spByID[s.ID]
	if !exists {
		hole := slices.Index(b.t.sps, nil)
		if hole < 0 {
			hole = len(b.t.sps)
			b.t.sps = append(b.t.sps, nil)
		}
		idx = uint32(hole)
	} else {
		// Drop the codes the new version no longer has.
		for _, old := range b.t.sps[idx].sp.ServiceCodes {
			if slices.IndexFunc(s.ServiceCodes, func(x ServiceCode) bool { return x.Code == old.Code }) < 0 {
				b.e.trieDelete(&b.t.mo, old.Code)
				b.t.moVec.set(b.e, old.RouteID, moEnt{})
				b.t.nMO--
			}
		}
	}
	for i := range s.ServiceCodes {
		sc := &s.ServiceCodes[i]
		if v := trieGet(b.t.mo, sc.Code); v != 0 {
			sc.RouteID = v - 1
			continue
		}
		rid, forced := ids[sc.Code]
		switch {
		case forced && b.t.moVec.get(rid).sp != 0:
			return ferr(fmt.Sprintf("sp.service_codes[%d]", i), fmt.Errorf("%w: mo route id %d used twice", ErrConflict, rid))
		case !forced:
			if b.t.nextMO > MaxRouteID {
				return ferr("sp.service_codes", fmt.Errorf("%w: mo", ErrIDSpace))
			}
			rid = b.t.nextMO
			b.t.nextMO++
		}
		sc.RouteID = rid
		b.e.triePut(&b.t.mo, sc.Code, rid+1)
		b.t.moVec.set(b.e, rid, moEnt{sp: idx + 1})
		b.t.nMO++
	}
	rec.sp = s
	b.t.sps[idx] = rec
	b.t.spByID[s.ID] = idx
	return nil
}

// DeleteSP removes an SP and its service codes.
func (b *Builder) DeleteSP(id string) error {
	idx, ok := b.t.spByID[id]
	if !ok {
		return ferr("key", fmt.Errorf("%w: sp %q", ErrNotFound, id))
	}
	b.ownSPs()
	for _, sc := range b.t.sps[idx].sp.ServiceCodes {
		b.e.trieDelete(&b.t.mo, sc.Code)
		b.t.moVec.set(b.e, sc.RouteID, moEnt{})
		b.t.nMO--
	}
	b.t.sps[idx] = nil
	delete(b.t.spByID, id)
	return nil
}
