package routing

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// problem is one thing wrong with a Contents, located by section and index so
// the file loader can turn it into file:line.
type problem struct {
	section string // "gateways", "segments", "ported", "sps"
	index   int
	field   string
	err     error
	dupOf   int // index of the first occurrence when err is about a duplicate, else -1
}

// FromContents builds a table at revision 0. Segments get MT RouteIDs in
// prefix order and service codes get MO RouteIDs in SP_Id order, so the same
// contents always give the same ids whatever their order.
func FromContents(c *Contents) (*Table, error) {
	b := NewBuilder()
	if err := b.Replace(c); err != nil {
		return nil, err
	}
	return b.Table(0), nil
}

// Replace swaps the builder's whole table for c (a table push). Prefixes and
// service codes that already exist keep their RouteIDs; new ones get fresh
// ids, never reusing old ones. On error the builder is unchanged.
func (b *Builder) Replace(c *Contents) error {
	saved, savedFlags := b.t, [3]bool{b.gwsOwned, b.spsOwned, b.attrsOwned}
	old := b.t
	b.reset()
	var err error
	b.fill(c, &old, func(p problem) {
		if err == nil {
			err = ferr(fmt.Sprintf("%s[%d].%s", p.section, p.index, p.field), p.err)
		}
	})
	if err != nil {
		b.t = saved
		b.gwsOwned, b.spsOwned, b.attrsOwned = savedFlags[0], savedFlags[1], savedFlags[2]
		b.attrIdx = nil
	}
	return err
}

func (b *Builder) reset() {
	b.t = Table{
		rev:      b.t.rev,
		gwByCode: map[string]uint32{},
		spByID:   map[string]uint32{},
		nextMT:   b.t.nextMT,
		nextMO:   b.t.nextMO,
	}
	b.gwsOwned, b.spsOwned, b.attrsOwned = true, true, true
	b.attrIdx = nil
}

// fill loads c into an empty builder, reporting every problem and carrying
// on with the rest. old supplies the RouteIDs to keep.
func (b *Builder) fill(c *Contents, old *Table, report func(problem)) {
	rep := func(sec string, i int, errs []*fieldErr) {
		for _, e := range errs {
			report(problem{section: sec, index: i, field: e.field, err: e.err, dupOf: -1})
		}
	}

	firstGW := map[string]int{}
	for i := range c.Gateways {
		g := &c.Gateways[i]
		if errs := checkGateway(g); len(errs) > 0 {
			rep("gateways", i, errs)
			continue
		}
		if j, dup := firstGW[g.Code]; dup {
			report(problem{"gateways", i, "code", fmt.Errorf("%w: duplicate gateway code %s", ErrExists, g.Code), j})
			continue
		}
		firstGW[g.Code] = i
		_ = b.PutGateway(*g)
	}

	order := sortedIndexes(len(c.Segments), func(i, j int) int { return cmp.Compare(c.Segments[i].Prefix, c.Segments[j].Prefix) })
	firstSeg := -1
	for k, i := range order {
		s := &c.Segments[i]
		if k > 0 && c.Segments[order[k-1]].Prefix == s.Prefix && firstSeg >= 0 {
			report(problem{"segments", i, "prefix", fmt.Errorf("%w: duplicate prefix %s", ErrExists, s.Prefix), firstSeg})
			continue
		}
		firstSeg = i
		a, errs := b.checkSegment(s)
		if len(errs) > 0 {
			rep("segments", i, errs)
			continue
		}
		rid := noRouteID
		if v := old.mt.get(s.Prefix); v != 0 {
			rid = mtRID(v)
		}
		if err := b.putSegment(s.Prefix, a, rid); err != nil {
			rep("segments", i, []*fieldErr{asFieldErr(err)})
		}
	}

	firstPorted := map[string]int{}
	for i := range c.Ported {
		p := &c.Ported[i]
		gw, errs := b.checkPorted(p)
		if len(errs) > 0 {
			rep("ported", i, errs)
			continue
		}
		if j, dup := firstPorted[p.MSISDN]; dup {
			report(problem{"ported", i, "msisdn", fmt.Errorf("%w: duplicate ported number %s", ErrExists, p.MSISDN), j})
			continue
		}
		firstPorted[p.MSISDN] = i
		b.putPorted(parseNumber(p.MSISDN), gw)
	}

	order = sortedIndexes(len(c.SPs), func(i, j int) int { return cmp.Compare(c.SPs[i].ID, c.SPs[j].ID) })
	firstSP := map[string]int{}
	codeOwner := map[string]string{} // also holds codes of SPs refused above
	for _, i := range order {
		s := &c.SPs[i]
		if j, dup := firstSP[s.ID]; dup {
			report(problem{"sps", i, "id", fmt.Errorf("%w: duplicate sp id %s", ErrExists, s.ID), j})
			continue
		}
		firstSP[s.ID] = i
		for j, sc := range s.ServiceCodes {
			owner, taken := codeOwner[sc.Code]
			if taken && owner != s.ID && trieGet(b.t.mo, sc.Code) == 0 {
				report(problem{"sps", i, fmt.Sprintf("service_codes[%d]", j),
					fmt.Errorf("%w: service code %s already belongs to sp %s", ErrConflict, sc.Code, owner), -1})
			} else if !taken {
				codeOwner[sc.Code] = s.ID
			}
		}
		rec, errs := b.checkSP(s)
		if len(errs) > 0 {
			rep("sps", i, errs)
			continue
		}
		ids := map[string]uint32{}
		for _, sc := range s.ServiceCodes {
			if v := trieGet(old.mo, sc.Code); v != 0 {
				ids[sc.Code] = v - 1
			}
		}
		if err := b.putSP(*s, rec, ids); err != nil {
			rep("sps", i, []*fieldErr{asFieldErr(err)})
		}
	}
}

func asFieldErr(err error) *fieldErr {
	if fe, ok := err.(*fieldErr); ok {
		f := strings.TrimPrefix(strings.TrimPrefix(fe.field, "segment."), "sp.")
		return &fieldErr{field: f, err: fe.err}
	}
	return &fieldErr{field: "", err: err}
}

func sortedIndexes(n int, cmpf func(i, j int) int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, cmpf)
	return idx
}
