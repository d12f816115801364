package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/tandem-sms/tandem/gns/gnspb"
	"github.com/tandem-sms/tandem/routing"
)

// tableDiff is what a table push would change: entries keyed by kind and
// key (gateway code, segment prefix, ported MSISDN, SP_Id), each described
// by its attributes. Route ids are left out: the GNS keeps them for keys
// it already has.
type tableDiff []diffLine

type diffLine struct {
	op   byte // '+' added, '-' removed, '~' changed
	kind string
	key  string
	old  string
	new  string
}

// entries describes every entry of a table by kind and key.
func entries(c *routing.Contents) map[[2]string]string {
	m := map[[2]string]string{}
	for _, g := range c.Gateways {
		m[[2]string{"gateway", g.Code}] = fmt.Sprintf("name=%s region=%s fwd_addr=%s province=%s", g.Name, g.Region, g.FwdAddr, g.Province)
	}
	for _, s := range c.Segments {
		m[[2]string{"segment", s.Prefix}] = fmt.Sprintf("gateway=%s smsc=%s area_code=%s user_type=%d", s.Gateway, s.SMSC, s.AreaCode, s.UserType)
	}
	for _, p := range c.Ported {
		m[[2]string{"ported", p.MSISDN}] = "gateway=" + p.Gateway
	}
	for _, s := range c.SPs {
		r := spRow(gnspb.NewSP(s))
		m[[2]string{"sp", s.ID}] = fmt.Sprintf("name=%s codes=%s gateway=%s mirrors=%s default=%s partitions=%s account=%s",
			r[1], r[2], r[3], strings.Join(s.Mirrors, ","), s.DefaultGateway, r[4], accountLimits(gnspb.NewSP(s).GetAccount()))
	}
	return m
}

// diffTables says how to get from the live contents to the new ones.
func diffTables(live, next *routing.Contents) tableDiff {
	a, b := entries(live), entries(next)
	var d tableDiff
	for k, old := range a {
		switch nw, ok := b[k]; {
		case !ok:
			d = append(d, diffLine{op: '-', kind: k[0], key: k[1], old: old})
		case nw != old:
			d = append(d, diffLine{op: '~', kind: k[0], key: k[1], old: old, new: nw})
		}
	}
	for k, nw := range b {
		if _, ok := a[k]; !ok {
			d = append(d, diffLine{op: '+', kind: k[0], key: k[1], new: nw})
		}
	}
	order := map[string]int{"gateway": 0, "sp": 1, "segment": 2, "ported": 3}
	slices.SortFunc(d, func(x, y diffLine) int {
		return cmp.Or(cmp.Compare(order[x.kind], order[y.kind]), cmp.Compare(x.key, y.key))
	})
	return d
}

func (d tableDiff) print(w io.Writer) {
	var add, rm, chg int
	for _, l := range d {
		switch l.op {
		case '+':
			add++
			fmt.Fprintf(w, "+ %s %s %s\n", l.kind, l.key, l.new)
		case '-':
			rm++
			fmt.Fprintf(w, "- %s %s %s\n", l.kind, l.key, l.old)
		default:
			chg++
			fmt.Fprintf(w, "~ %s %s %s\n    was %s\n", l.kind, l.key, l.new, l.old)
		}
	}
	fmt.Fprintf(w, "%d to add, %d to change, %d to remove\n", add, chg, rm)
}

// list is the diff for -o json/yaml.
func (d tableDiff) list() []any {
	out := make([]any, 0, len(d))
	ops := map[byte]string{'+': "add", '-': "remove", '~': "change"}
	for _, l := range d {
		out = append(out, object{{Key: "op", Val: ops[l.op]}, {Key: "kind", Val: l.kind}, {Key: "key", Val: l.key}, {Key: "old", Val: l.old}, {Key: "new", Val: l.new}})
	}
	return out
}
