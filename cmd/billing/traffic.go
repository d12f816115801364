package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tandem-sms/tandem/billing"
	"github.com/tandem-sms/tandem/routing"
)

// runTraffic prints the traffic view: billing.TrafficDirs over c.dirs.
func runTraffic(c reportConfig, skip func(*billing.ParseError), stdout, stderr io.Writer) error {
	tc := billing.TrafficConfig{By: c.dims, From: c.from, To: c.to, Loc: c.loc, SkipBad: skip}
	if c.routes != "" {
		t, err := routing.LoadFile(c.routes)
		if err != nil {
			return fmt.Errorf("billing: -routes: %w", err)
		}
		tc.Regions = map[string]string{}
		for _, g := range t.Gateways() {
			tc.Regions[g.Code] = g.Region
		}
	}
	tr, info, err := billing.TrafficDirs(c.dirs, tc)
	if err != nil {
		return err
	}
	noteRead(stderr, info)
	if slices.Contains(c.dims, billing.DimRegion) {
		for _, gw := range unknownRegions(tr, tc.Regions) {
			fmt.Fprintf(stderr, "billing: note: gateway %s is not in %s: its region is %q\n", gw, c.routes, billing.RegionUnknown)
		}
	}
	switch c.out {
	case "json":
		return writeJSON(stdout, trafficJSON{Period: periodOf(c), Traffic: tr})
	case "csv":
		return writeTrafficCSV(stdout, tr)
	case "html":
		return writeTrafficHTML(stdout, c, tr, info)
	}
	return writeTrafficTable(stdout, c, tr)
}

func unknownRegions(tr *billing.Traffic, regions map[string]string) []string {
	var out []string
	for _, r := range tr.Rows {
		if r.Gateway != "" && regions[r.Gateway] == "" && !slices.Contains(out, r.Gateway) {
			out = append(out, r.Gateway)
		}
	}
	return out
}

// period is the report's window as JSON gives it.
type period struct {
	From string `json:"from"` // RFC 3339, empty if open
	To   string `json:"to"`   // exclusive
	Zone string `json:"zone"` // of the hours and days
}

func periodOf(c reportConfig) period {
	p := period{Zone: c.loc.String()}
	if !c.from.IsZero() {
		p.From = c.from.In(c.loc).Format(time.RFC3339)
	}
	if !c.to.IsZero() {
		p.To = c.to.In(c.loc).Format(time.RFC3339)
	}
	return p
}

type trafficJSON struct {
	Period period `json:"period"`
	*billing.Traffic
}

// trafficColumns are the columns of the table and CSV views: the keys, the
// fixed counts, one per failure reason and one per peer and direction
// (MT records forwarded), then the latency.
type trafficColumns struct {
	keys    []billing.Dim
	reasons []string
	in, out []string // peers
}

func columnsOf(tr *billing.Traffic) trafficColumns {
	c := trafficColumns{keys: tr.By}
	c.reasons = slices.Sorted(maps.Keys(tr.Total.FailedBy))
	for _, p := range tr.Total.Peers {
		if p.MT == 0 {
			continue
		}
		switch p.Direction {
		case billing.DirFwdIn:
			c.in = append(c.in, p.Gateway)
		case billing.DirFwdOut:
			c.out = append(c.out, p.Gateway)
		}
	}
	return c
}

// header is the column names; csv ones are lower case with prefixes
// failed_, fwd_in_, fwd_out_; table ones are short and upper case.
func (c trafficColumns) header(table bool) []string {
	var h []string
	for _, d := range c.keys {
		h = append(h, d.String())
	}
	h = append(h, "submitted", "delivered", "failed", "expired", "pending")
	for _, r := range c.reasons {
		h = append(h, "failed_"+r)
	}
	h = append(h, "mo", "fwd_in", "fwd_out")
	for _, g := range c.in {
		h = append(h, "fwd_in_"+g)
	}
	for _, g := range c.out {
		h = append(h, "fwd_out_"+g)
	}
	h = append(h, "latency_samples", "latency_p50_ms", "latency_p99_ms")
	if table {
		for i, s := range h {
			s = strings.TrimPrefix(s, "failed_")
			s = strings.Replace(s, "fwd_in_", "in:", 1)
			s = strings.Replace(s, "fwd_out_", "out:", 1)
			s = strings.TrimSuffix(strings.TrimPrefix(s, "latency_"), "_ms")
			h[i] = strings.ToUpper(s)
		}
	}
	return h
}

func keyOf(r *billing.TrafficRow, d billing.Dim) string {
	switch d {
	case billing.DimSP:
		return r.SPID
	case billing.DimGateway:
		return r.Gateway
	case billing.DimRegion:
		return r.Region
	case billing.DimHour:
		return r.Hour
	case billing.DimDay:
		return r.Day
	}
	return ""
}

// counts is a row's values after its keys; the latency ones as ms, or as
// durations in a table.
func (c trafficColumns) counts(r *billing.TrafficRow, table bool) []string {
	n := func(v int64) string { return strconv.FormatInt(v, 10) }
	v := []string{n(r.Submitted), n(r.Delivered), n(r.Failed), n(r.Expired), n(r.Pending)}
	for _, s := range c.reasons {
		v = append(v, n(r.FailedBy[s]))
	}
	v = append(v, n(r.MO), n(r.FwdIn), n(r.FwdOut))
	peer := func(gw string, dir billing.Direction) string {
		for _, p := range r.Peers {
			if p.Gateway == gw && p.Direction == dir {
				return n(p.MT)
			}
		}
		return "0"
	}
	for _, g := range c.in {
		v = append(v, peer(g, billing.DirFwdIn))
	}
	for _, g := range c.out {
		v = append(v, peer(g, billing.DirFwdOut))
	}
	l := r.Latency
	switch {
	case !table:
		v = append(v, n(l.Samples), n(l.P50ms), n(l.P99ms))
	case l.Samples == 0:
		v = append(v, "0", "-", "-")
	default:
		v = append(v, n(l.Samples), msText(l.P50ms), msText(l.P99ms))
	}
	return v
}

// msText prints milliseconds as a duration: 0s, 850ms, 55s, 2m0s.
func msText(ms int64) string { return (time.Duration(ms) * time.Millisecond).String() }

func writeTrafficCSV(w io.Writer, tr *billing.Traffic) error {
	cols := columnsOf(tr)
	cw := csv.NewWriter(w)
	_ = cw.Write(cols.header(false))
	for i := range tr.Rows {
		var row []string
		for _, d := range cols.keys {
			row = append(row, keyOf(&tr.Rows[i], d))
		}
		_ = cw.Write(append(row, cols.counts(&tr.Rows[i], false)...))
	}
	cw.Flush()
	return cw.Error()
}

func writeTrafficTable(w io.Writer, c reportConfig, tr *billing.Traffic) error {
	cols := columnsOf(tr)
	fmt.Fprintf(w, "CDR traffic report, %s\n\n", periodText(c))
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', tabwriter.AlignRight)
	head := cols.header(true)
	if len(cols.keys) == 0 {
		head = append([]string{""}, head...)
	}
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	line := func(keys []string, r *billing.TrafficRow) {
		fmt.Fprintln(tw, strings.Join(append(keys, cols.counts(r, true)...), "\t")+"\t")
	}
	if len(cols.keys) > 0 {
		for i := range tr.Rows {
			var keys []string
			for _, d := range cols.keys {
				keys = append(keys, keyOf(&tr.Rows[i], d))
			}
			line(keys, &tr.Rows[i])
		}
	}
	keys := make([]string, max(len(cols.keys), 1))
	keys[0] = "TOTAL"
	line(keys, &tr.Total)
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprint(w, "\nlatency: submit_time to done_time of each submitted MT with a final state (done_time to the minute: see billing/FORMAT.md)\n")
	return err
}
