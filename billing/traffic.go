package billing

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Dim is a key a traffic report groups by.
type Dim uint8

// Dims.
const (
	DimSP      Dim = iota + 1 // sp_id
	DimGateway                // handling_gateway: the gateway that wrote the record
	DimRegion                 // the region of handling_gateway (TrafficConfig.Regions)
	DimHour                   // the hour of the record's MessageTime, in TrafficConfig.Loc
	DimDay                    // the calendar day of MessageTime, in TrafficConfig.Loc
)

var dimNames = [...]string{DimSP: "sp", DimGateway: "gateway", DimRegion: "region", DimHour: "hour", DimDay: "day"}

func (d Dim) String() string {
	if d >= DimSP && d <= DimDay {
		return dimNames[d]
	}
	return fmt.Sprintf("Dim(%d)", d)
}

// MarshalText implements encoding.TextMarshaler: JSON reports spell the
// keys ("sp", "hour").
func (d Dim) MarshalText() ([]byte, error) {
	if d < DimSP || d > DimDay {
		return nil, fmt.Errorf("billing: invalid grouping %d", d)
	}
	return []byte(dimNames[d]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Dim) UnmarshalText(b []byte) error {
	ds, err := ParseDims(string(b))
	if err != nil || len(ds) != 1 {
		return fmt.Errorf("billing: unknown grouping %q", b)
	}
	*d = ds[0]
	return nil
}

// ParseDims parses a comma-separated list of sp, gateway, region, hour and
// day. An empty list groups nothing: the report has its total only.
func ParseDims(s string) ([]Dim, error) {
	var out []Dim
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		i := slices.Index(dimNames[:], f)
		if i < int(DimSP) {
			return nil, fmt.Errorf("billing: unknown grouping %q (want sp, gateway, region, hour or day)", f)
		}
		if slices.Contains(out, Dim(i)) {
			return nil, fmt.Errorf("billing: grouping %q named twice", f)
		}
		out = append(out, Dim(i))
	}
	return out, nil
}

// ErrNoRegions is TrafficConfig.Validate's error for grouping by region
// without a gateway → region map.
var ErrNoRegions = errors.New("billing: grouping by region needs the gateways' regions (a route table)")

// TrafficConfig says how Traffic groups and which records it counts.
type TrafficConfig struct {
	By []Dim // row keys, in order (rows sort by them in this order); none: the total only
	// From and To bound the records' MessageTime to [From, To); a zero
	// bound is open.
	From, To time.Time
	// Loc is the zone of the hours and days; nil means UTC, the zone of
	// the CDR files.
	Loc *time.Location
	// Regions maps a gateway code to its region; required for DimRegion.
	// A gateway it lacks is in region RegionUnknown.
	Regions map[string]string
	// SkipBad: see ReadOptions.
	SkipBad func(*ParseError)
}

// RegionUnknown is the region of a gateway TrafficConfig.Regions lacks.
const RegionUnknown = "unknown"

// Validate checks c.
func (c TrafficConfig) Validate() error {
	if slices.Contains(c.By, DimRegion) && c.Regions == nil {
		return ErrNoRegions
	}
	for _, d := range c.By {
		if d < DimSP || d > DimDay {
			return fmt.Errorf("billing: invalid grouping %v", d)
		}
	}
	if !c.From.IsZero() && !c.To.IsZero() && !c.From.Before(c.To) {
		return fmt.Errorf("billing: window from %v is not before to %v", c.From, c.To)
	}
	return nil
}

// MessageTime is the instant a traffic report places a record at: its
// SubmitTime, when the gateway accepted the message (a REPORT record
// carries the one of its MT), else DoneTime. Everything about one message
// — its MT, its outcome, its latency — thus falls in the hour it was
// submitted.
func (r *Record) MessageTime() time.Time {
	if !r.SubmitTime.IsZero() {
		return r.SubmitTime
	}
	return r.DoneTime
}

// TrafficRow is one group of a traffic report: the keys it groups by
// (the others empty) and its counts. See Traffic for what they count.
type TrafficRow struct {
	SPID    string `json:"sp_id,omitempty"`
	Gateway string `json:"gateway,omitempty"`
	Region  string `json:"region,omitempty"`
	Hour    string `json:"hour,omitempty"` // start, RFC 3339 to the minute: 2026-11-22T14:00Z
	Day     string `json:"day,omitempty"`  // YYYY-MM-DD

	Submitted int64 `json:"submitted"`
	Delivered int64 `json:"delivered"`
	Failed    int64 `json:"failed"`
	Expired   int64 `json:"expired"`
	Pending   int64 `json:"pending"`
	// FailedBy splits Failed by final_status (UNDELIV, REJECTD, MA:0001...).
	FailedBy map[string]int64 `json:"failed_by"`
	MO       int64            `json:"mo"`
	FwdIn    int64            `json:"fwd_in"`  // MT records received from peers
	FwdOut   int64            `json:"fwd_out"` // MT records passed to peers
	// Peers are the records exchanged with each peer gateway, per
	// direction (as in Summary.Gateways), sorted by gateway, direction.
	Peers   []GatewayCount `json:"peers"`
	Latency Latency        `json:"latency"`

	start time.Time // of Hour or Day
	sk    latencySketch
}

// Latency is the distribution of the submit-to-final-state times of a
// group's submitted MTs: done_time minus submit_time (see Traffic).
type Latency struct {
	Samples int64 `json:"samples"`
	P50ms   int64 `json:"p50_ms"`
	P99ms   int64 `json:"p99_ms"`
	MaxMs   int64 `json:"max_ms"`
	// Negative counts the samples whose done_time is before submit_time
	// (counted as 0): CDRs of older ISMGs hold the receipt's done date,
	// which has minutes only.
	Negative int64 `json:"negative"`
}

// Start is the beginning of the row's hour or day (zero without one).
func (t *TrafficRow) Start() time.Time { return t.start }

func (t *TrafficRow) addPeer(g GatewayCount) { t.Peers = addGateway(t.Peers, &g) }

func (t *TrafficRow) outcome(stat string) {
	switch stat {
	case StatDelivered:
		t.Delivered++
	case "", "ACCEPTD":
		t.Pending++
	case "EXPIRED":
		t.Expired++
	default:
		t.Failed++
		if t.FailedBy == nil {
			t.FailedBy = map[string]int64{}
		}
		t.FailedBy[stat]++
	}
}

func (t *TrafficRow) latency(submit, done time.Time) {
	if submit.IsZero() || done.IsZero() {
		return
	}
	d := done.Sub(submit).Milliseconds()
	if d < 0 {
		t.Latency.Negative++
	}
	t.sk.add(d)
}

// add merges o's counts into t (keys are left alone).
func (t *TrafficRow) add(o *TrafficRow) {
	t.Submitted += o.Submitted
	t.Delivered += o.Delivered
	t.Failed += o.Failed
	t.Expired += o.Expired
	t.Pending += o.Pending
	for k, v := range o.FailedBy {
		if t.FailedBy == nil {
			t.FailedBy = map[string]int64{}
		}
		t.FailedBy[k] += v
	}
	t.MO += o.MO
	t.FwdIn += o.FwdIn
	t.FwdOut += o.FwdOut
	for _, g := range o.Peers {
		t.addPeer(g)
	}
	t.Latency.Negative += o.Latency.Negative
	t.sk.merge(&o.sk)
}

func (t *TrafficRow) finish() {
	if t.FailedBy == nil {
		t.FailedBy = map[string]int64{}
	}
	if t.Peers == nil {
		t.Peers = []GatewayCount{}
	}
	t.Latency.Samples = t.sk.n
	t.Latency.P50ms = t.sk.quantile(0.50)
	t.Latency.P99ms = t.sk.quantile(0.99)
	t.Latency.MaxMs = t.sk.max
}

// Traffic is a traffic report: rows grouped by TrafficConfig.By, their
// total, and the total of each hour (for charts), each row sorted by its
// keys.
//
// What the columns count, per group, over the records whose MessageTime is
// in the window:
//   - Submitted: MT records (segments) an SP submitted at the handling
//     gateway (direction LOCAL or FWD_OUT). A forwarded MT is submitted at
//     the SP's gateway only, so totals over several gateways count each
//     segment once.
//   - Delivered, Failed, Expired, Pending: the final states of those MTs
//     (the MT record's own, else that of the REPORT record with the same
//     handling_gateway, sp_id and msg_id): DELIVRD; EXPIRED; none yet (or
//     ACCEPTD); anything else, split by final_status in FailedBy. They add
//     up to Submitted.
//   - MO: MO records delivered to an SP at the handling gateway (LOCAL or
//     FWD_IN).
//   - FwdIn, FwdOut: MT records received from, and passed to, peer
//     gateways; Peers has them per peer with their delivered count, MO
//     and REPORT records, as the settlement (Summary.Gateways) does.
//   - Latency: for each submitted MT with a final state, done_time minus
//     submit_time (of the REPORT record, or of the MT when it holds the
//     final state): from when the SP's gateway accepted the segment to when
//     it learned the final state (receipt or peer's report received), both
//     by its clock to the millisecond. Older ISMGs wrote the receipt's done
//     date (minutes only) there; a segment settled within the minute it
//     was submitted can then come out negative, and counts as 0
//     (Latency.Negative).
type Traffic struct {
	By    []Dim        `json:"by"`
	Rows  []TrafficRow `json:"rows"`
	Total TrafficRow   `json:"total"`
	Hours []TrafficRow `json:"hours"` // the total per hour, Hour set, in time order
}

// trafficer accumulates a Traffic. MTs without a final state wait in open
// until their REPORT; REPORTs read before their MT wait in done.
//
// Memory: per group (and per hour of the hourly series) a TrafficRow of a
// few hundred bytes plus its latency sketch (at most 4 KB while exact, at
// most 8.7 KB bucketed), plus about 120 bytes for each MT whose REPORT is
// not yet read: REPORTs come in a later file, or never (pending). Files
// are read in name order per directory (by hour), so that set is the MTs
// in flight at an hour's end plus those still pending — not the
// records read.
type trafficer struct {
	c      TrafficConfig
	loc    *time.Location
	groups map[groupKey]*TrafficRow
	hours  map[int64]*TrafficRow
	open   map[openKey]openTraffic
	done   map[openKey]doneTraffic
	intern map[string]string
}

type groupKey struct {
	sp, gw, region string
	start          int64 // unix seconds of the hour or day
}

type openTraffic struct {
	row, hour *TrafficRow
	submit    time.Time
	peer      string // FWD_OUT or FWD_IN: the peer gateway
	dir       Direction
}

type doneTraffic struct {
	stat string
	done time.Time
}

func newTrafficer(c TrafficConfig) *trafficer {
	loc := c.Loc
	if loc == nil {
		loc = time.UTC
	}
	return &trafficer{c: c, loc: loc, groups: map[groupKey]*TrafficRow{}, hours: map[int64]*TrafficRow{},
		open: map[openKey]openTraffic{}, done: map[openKey]doneTraffic{}, intern: map[string]string{}}
}

// str interns s: records are parsed from one string per line, and a kept
// substring would keep the whole line.
func (z *trafficer) str(s string) string {
	if v, ok := z.intern[s]; ok {
		return v
	}
	s = strings.Clone(s)
	z.intern[s] = s
	return s
}

func (z *trafficer) hourOf(t time.Time) time.Time {
	t = t.In(z.loc)
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), 0, 0, 0, z.loc)
}

func (z *trafficer) rows(r *Record) (row, hour *TrafficRow) {
	t := r.MessageTime()
	h := z.hourOf(t)
	hour = z.hours[h.Unix()]
	if hour == nil {
		hour = &TrafficRow{Hour: formatHour(h), start: h}
		z.hours[h.Unix()] = hour
	}
	var k groupKey
	var start time.Time
	for _, d := range z.c.By {
		switch d {
		case DimSP:
			k.sp = r.SPID
		case DimGateway:
			k.gw = r.HandlingGateway
		case DimRegion:
			k.region = z.c.Regions[r.HandlingGateway]
			if k.region == "" {
				k.region = RegionUnknown
			}
		case DimHour:
			start = h
		case DimDay:
			lt := t.In(z.loc)
			start = time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, z.loc)
		}
	}
	if !start.IsZero() {
		k.start = start.Unix()
	}
	row = z.groups[k]
	if row == nil {
		row = &TrafficRow{start: start}
		for _, d := range z.c.By {
			switch d {
			case DimSP:
				row.SPID = z.str(k.sp)
			case DimGateway:
				row.Gateway = z.str(k.gw)
			case DimRegion:
				row.Region = k.region
			case DimHour:
				row.Hour = formatHour(start)
			case DimDay:
				row.Day = start.Format(time.DateOnly)
			}
		}
		z.groups[k] = row
	}
	return row, hour
}

func formatHour(t time.Time) string { return t.Format("2006-01-02T15:04Z07:00") }

func (z *trafficer) addIn(r *Record) {
	t := r.MessageTime()
	if (!z.c.From.IsZero() && t.Before(z.c.From)) || (!z.c.To.IsZero() && !t.Before(z.c.To)) {
		return
	}
	z.add(r)
}

func final(stat string) bool { return stat != "" && stat != "ACCEPTD" }

func (z *trafficer) add(r *Record) {
	row, hour := z.rows(r)
	both := func(f func(*TrafficRow)) { f(row); f(hour) }
	var peer string
	switch r.Direction {
	case DirFwdOut:
		peer = r.NextGateway
	case DirFwdIn:
		peer = r.PrevGateway
	}
	g := GatewayCount{Gateway: peer, Direction: r.Direction}
	switch r.Kind {
	case KindMT:
		g.MT = 1
		switch r.Direction {
		case DirFwdIn:
			both(func(t *TrafficRow) { t.FwdIn++ })
		case DirFwdOut:
			both(func(t *TrafficRow) { t.FwdOut++ })
		}
		if r.Direction != DirFwdIn {
			both(func(t *TrafficRow) { t.Submitted++ })
		}
		key := openKey{z.str(r.HandlingGateway), z.str(r.SPID), r.MsgID}
		o := openTraffic{row: row, hour: hour, submit: r.SubmitTime, peer: z.str(peer), dir: r.Direction}
		switch {
		case final(r.FinalStatus):
			z.settle(&o, r.FinalStatus, r.DoneTime)
		default:
			if d, ok := z.done[key]; ok {
				delete(z.done, key)
				z.settle(&o, d.stat, d.done)
			} else {
				if r.Direction != DirFwdIn {
					both(func(t *TrafficRow) { t.Pending++ })
				}
				z.open[key] = o
			}
		}
	case KindMO:
		g.MO = 1
		if r.Direction != DirFwdOut {
			both(func(t *TrafficRow) { t.MO++ })
		}
	case KindReport:
		g.Reports = 1
		if final(r.FinalStatus) {
			key := openKey{z.str(r.HandlingGateway), z.str(r.SPID), r.MsgID}
			if o, ok := z.open[key]; ok {
				delete(z.open, key)
				if o.dir != DirFwdIn {
					o.row.Pending--
					o.hour.Pending--
				}
				z.settle(&o, r.FinalStatus, r.DoneTime)
			} else if _, dup := z.done[key]; !dup {
				z.done[key] = doneTraffic{z.str(r.FinalStatus), r.DoneTime}
			}
		}
	}
	if peer != "" {
		g.Gateway = z.str(peer)
		both(func(t *TrafficRow) { t.addPeer(g) })
	}
}

// settle counts the final state of an MT.
func (z *trafficer) settle(o *openTraffic, stat string, done time.Time) {
	for _, t := range []*TrafficRow{o.row, o.hour} {
		if o.dir != DirFwdIn {
			t.outcome(z.str(stat))
			if final(stat) {
				t.latency(o.submit, done)
			}
		}
		if o.peer != "" && stat == StatDelivered {
			t.addPeer(GatewayCount{Gateway: o.peer, Direction: o.dir, Delivered: 1})
		}
	}
}

func (z *trafficer) result() *Traffic {
	tr := &Traffic{By: slices.Clone(z.c.By), Rows: make([]TrafficRow, 0, len(z.groups)), Hours: make([]TrafficRow, 0, len(z.hours))}
	if tr.By == nil {
		tr.By = []Dim{}
	}
	for _, g := range z.groups {
		tr.Total.add(g)
		g.finish()
		tr.Rows = append(tr.Rows, *g)
	}
	tr.Total.finish()
	slices.SortFunc(tr.Rows, func(a, b TrafficRow) int {
		for _, d := range z.c.By {
			var c int
			switch d {
			case DimSP:
				c = strings.Compare(a.SPID, b.SPID)
			case DimGateway:
				c = strings.Compare(a.Gateway, b.Gateway)
			case DimRegion:
				c = strings.Compare(a.Region, b.Region)
			case DimHour, DimDay:
				c = a.start.Compare(b.start)
			}
			if c != 0 {
				return c
			}
		}
		return 0
	})
	for _, k := range slices.Sorted(maps.Keys(z.hours)) {
		h := z.hours[k]
		h.finish()
		tr.Hours = append(tr.Hours, *h)
	}
	return tr
}

// TrafficOf is the traffic report of records (in the order given; see
// Traffic).
func TrafficOf(records []Record, c TrafficConfig) (*Traffic, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	z := newTrafficer(c)
	for i := range records {
		z.addIn(&records[i])
	}
	return z.result(), nil
}

// TrafficDirs is the traffic report of the CDR files in dirs — one or more
// gateways' billing directories, their open .part files included (read as
// SummarizeDirInfo reads them). The records are streamed: memory is what
// Traffic's groups and unsettled MTs need, not the files' size.
func TrafficDirs(dirs []string, c TrafficConfig) (*Traffic, DirInfo, error) {
	if err := c.Validate(); err != nil {
		return nil, DirInfo{}, err
	}
	z := newTrafficer(c)
	info, err := readDirs(dirs, ReadOptions{From: c.From, To: c.To, SkipBad: c.SkipBad}, z.addIn)
	if err != nil {
		return nil, info, err
	}
	return z.result(), info, nil
}
