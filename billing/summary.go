package billing

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// StatDelivered is the final state that makes a message billable.
const StatDelivered = "DELIVRD"

// Summary totals the records of one SP on one calendar day. Rollups (BySP,
// Total) leave Day and/or SPID empty.
//
// Delivered, Failed and Pending count MT records: DELIVRD; any other final
// state (UNDELIV, EXPIRED, REJECTD, MA:0001, ...); no final state yet (empty
// or the intermediate ACCEPTD). An MT written without a final state takes
// the one of the REPORT record with the same SP and Msg_Id, if the period
// holds it: the ISMG writes the MT at submit and the REPORT at the outcome.
//
// The fee rule (all amounts in fen, 0.01 CNY): only a delivered MT billed at
// this gateway (Direction LOCAL or FWD_OUT; a FWD_IN MT is billed by the
// gateway the SP submitted to) is charged, per record, i.e. per segment:
//   - FeeType "02" (per message): FeeCode fen. A FeeCode that is not decimal
//     digits (spaces around are allowed) adds 0 and counts in FeeErrors.
//   - FeeType "01" (free): 0.
//   - FeeType "03" (monthly): 0 per message, counted in Monthly; the monthly
//     fee is charged by subscription, not by these records.
//   - any other FeeType (04 capped, 05 SP-billed, 06 ...): 0.
type Summary struct {
	Day        string `json:"day,omitempty"`   // YYYY-MM-DD in the report's location
	SPID       string `json:"sp_id,omitempty"` // Record.SPID
	MT         int64  `json:"mt"`              // MT records (one per segment)
	MTMessages int64  `json:"mt_messages"`     // MT records with SegmentNo <= 1
	MO         int64  `json:"mo"`
	Reports    int64  `json:"reports"`
	Delivered  int64  `json:"delivered"`
	Failed     int64  `json:"failed"`
	Pending    int64  `json:"pending"`
	Charged    int64  `json:"charged"` // delivered per-message MTs billed here
	Monthly    int64  `json:"monthly"` // delivered monthly MTs billed here
	FeeFen     int64  `json:"fee_fen"`
	FeeErrors  int64  `json:"fee_errors"`
	// Gateways counts the traffic exchanged with each peer ISMG, for
	// settlement; sorted by Gateway, then Direction.
	Gateways []GatewayCount `json:"gateways,omitempty"`
}

// GatewayCount is the traffic exchanged with one peer in one direction:
// records with Direction FWD_OUT are counted under NextGateway, FWD_IN under
// PrevGateway.
type GatewayCount struct {
	Gateway   string    `json:"gateway"`
	Direction Direction `json:"direction"`
	MT        int64     `json:"mt"`
	Delivered int64     `json:"delivered"` // MT records with DELIVRD
	MO        int64     `json:"mo"`
	Reports   int64     `json:"reports"`
}

func (g *GatewayCount) add(o *GatewayCount) {
	g.MT += o.MT
	g.Delivered += o.Delivered
	g.MO += o.MO
	g.Reports += o.Reports
}

// Add adds o's counts to s (Day and SPID are left alone).
func (s *Summary) Add(o *Summary) {
	s.MT += o.MT
	s.MTMessages += o.MTMessages
	s.MO += o.MO
	s.Reports += o.Reports
	s.Delivered += o.Delivered
	s.Failed += o.Failed
	s.Pending += o.Pending
	s.Charged += o.Charged
	s.Monthly += o.Monthly
	s.FeeFen += o.FeeFen
	s.FeeErrors += o.FeeErrors
	for i := range o.Gateways {
		s.Gateways = addGateway(s.Gateways, &o.Gateways[i])
	}
}

func gwLess(a, b GatewayCount) int {
	return cmp.Or(strings.Compare(a.Gateway, b.Gateway), cmp.Compare(a.Direction, b.Direction))
}

// addGateway merges g into the sorted slice gs.
func addGateway(gs []GatewayCount, g *GatewayCount) []GatewayCount {
	i, found := slices.BinarySearchFunc(gs, *g, gwLess)
	if found {
		gs[i].add(g)
		return gs
	}
	return slices.Insert(gs, i, *g)
}

// addRecord counts r into s. An MT without a final state yet is counted
// as pending; settle moves it once its REPORT is known.
func (s *Summary) addRecord(r *Record) {
	var g GatewayCount
	switch r.Kind {
	case KindMT:
		s.MT++
		g.MT = 1
		if r.SegmentNo <= 1 {
			s.MTMessages++
		}
		g.Delivered = s.final(r, r.FinalStatus, 1)
	case KindMO:
		s.MO++
		g.MO = 1
	case KindReport:
		s.Reports++
		g.Reports = 1
	}
	s.addPeer(r, &g)
}

// final counts an MT's final state (n = 1 to add, -1 to take back a
// pending count) and returns 1 when it is DELIVRD.
func (s *Summary) final(r *Record, stat string, n int64) int64 {
	switch stat {
	case StatDelivered:
		s.Delivered += n
		if r.Direction != DirFwdIn {
			s.charge(r)
		}
		return 1
	case "", "ACCEPTD":
		s.Pending += n
	default:
		s.Failed += n
	}
	return 0
}

// settle records the final state a REPORT gave to an MT that was written
// without one (the ISMG bills the MT at submit and learns its fate later).
func (s *Summary) settle(r *Record, stat string) {
	s.Pending--
	d := s.final(r, stat, 1)
	if d == 0 {
		return
	}
	g := GatewayCount{Delivered: d}
	s.addPeer(r, &g)
}

func (s *Summary) addPeer(r *Record, g *GatewayCount) {
	switch r.Direction {
	case DirFwdOut:
		g.Gateway, g.Direction = r.NextGateway, DirFwdOut
	case DirFwdIn:
		g.Gateway, g.Direction = r.PrevGateway, DirFwdIn
	default:
		return
	}
	s.Gateways = addGateway(s.Gateways, g)
}

func (s *Summary) charge(r *Record) {
	switch r.FeeType {
	case "02":
		fen, err := strconv.ParseUint(strings.TrimSpace(r.FeeCode), 10, 32)
		if err != nil {
			s.FeeErrors++
			return
		}
		s.Charged++
		s.FeeFen += int64(fen)
	case "03":
		s.Monthly++
	}
}

// summarizer accumulates Summaries keyed by day and SP. MT records written
// before their outcome was known wait in open until a REPORT with the same
// SP and Msg_Id settles them; whatever is still open at the end stays
// pending.
type summarizer struct {
	loc  *time.Location
	m    map[[2]string]*Summary
	open map[openKey]openMT
	done map[openKey]string // final states of REPORTs seen before their MT
}

// openKey finds the REPORT of an MT: the same Msg_Id and SP at the same
// gateway (a forwarded MT has a record at each gateway it passed, under
// the one Msg_Id).
type openKey struct {
	gw    string
	sp    string
	msgID uint64
}

type openMT struct {
	sum *Summary
	rec Record
}

func newSummarizer(loc *time.Location) *summarizer {
	if loc == nil {
		loc = time.UTC
	}
	return &summarizer{loc: loc, m: make(map[[2]string]*Summary), open: map[openKey]openMT{}, done: map[openKey]string{}}
}

func (z *summarizer) add(r *Record) {
	day := r.AccountingTime().In(z.loc).Format(time.DateOnly)
	k := [2]string{day, r.SPID}
	s := z.m[k]
	if s == nil {
		s = &Summary{Day: day, SPID: r.SPID}
		z.m[k] = s
	}
	s.addRecord(r)
	key := openKey{r.HandlingGateway, r.SPID, r.MsgID}
	switch {
	case r.Kind == KindMT && (r.FinalStatus == "" || r.FinalStatus == "ACCEPTD"):
		if stat, ok := z.done[key]; ok {
			delete(z.done, key)
			s.settle(r, stat)
			return
		}
		z.open[key] = openMT{s, *r}
	case r.Kind == KindReport && r.FinalStatus != "" && r.FinalStatus != "ACCEPTD":
		if o, ok := z.open[key]; ok {
			delete(z.open, key)
			o.sum.settle(&o.rec, r.FinalStatus)
			return
		}
		z.done[key] = r.FinalStatus
	}
}

// addIn adds r if its AccountingTime is in [from, to) (a zero bound is
// open).
func (z *summarizer) addIn(r *Record, from, to time.Time) {
	t := r.AccountingTime()
	if (!from.IsZero() && t.Before(from)) || (!to.IsZero() && !t.Before(to)) {
		return
	}
	z.add(r)
}

func (z *summarizer) result() []Summary {
	out := make([]Summary, 0, len(z.m))
	for _, s := range z.m {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b Summary) int {
		return cmp.Or(strings.Compare(a.Day, b.Day), strings.Compare(a.SPID, b.SPID))
	})
	return out
}

// Summarize totals records per SP per UTC day (of AccountingTime), sorted
// by day, then SP.
func Summarize(records []Record) []Summary { return SummarizeIn(records, time.UTC) }

// SummarizeIn is Summarize with days taken in loc (nil means UTC).
func SummarizeIn(records []Record, loc *time.Location) []Summary {
	z := newSummarizer(loc)
	for i := range records {
		z.add(&records[i])
	}
	return z.result()
}

// BySP merges each SP's days into one Summary (Day empty), sorted by SP.
func BySP(sums []Summary) []Summary {
	m := make(map[string]*Summary)
	for i := range sums {
		s := m[sums[i].SPID]
		if s == nil {
			s = &Summary{SPID: sums[i].SPID}
			m[s.SPID] = s
		}
		s.Add(&sums[i])
	}
	out := make([]Summary, 0, len(m))
	for _, s := range m {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b Summary) int { return strings.Compare(a.SPID, b.SPID) })
	return out
}

// Total merges all summaries into one (Day and SPID empty).
func Total(sums []Summary) Summary {
	var t Summary
	for i := range sums {
		t.Add(&sums[i])
	}
	return t
}

// GatewayTotals merges the per-peer counts of all summaries, sorted by
// gateway, then direction.
func GatewayTotals(sums []Summary) []GatewayCount {
	return Total(sums).Gateways
}

// SummarizeDir is SummarizeDirInfo without the DirInfo.
func SummarizeDir(dir string, from, to time.Time) ([]Summary, error) {
	sums, _, err := SummarizeDirInfo(dir, from, to)
	return sums, err
}

// SummarizeDirInfo summarizes the CDR files of every gateway in dir —
// finalized (*.csv) and open (*.csv.part: being written, or left by a
// crash) — counting the records whose AccountingTime is in [from, to). A
// zero from or to leaves that side open. Days are calendar days in
// from.Location() (UTC for a zero from). Files are chosen by the period
// in their name, widened by DirMargin.
//
// An open file is read up to its size when opened, and an incomplete last
// record there is skipped and reported in DirInfo.Open rather than
// refused; an open file finalized (renamed) while the directory is read is
// read under its final name. Any other unreadable or malformed content
// stops it with an error naming the file (and line and column).
func SummarizeDirInfo(dir string, from, to time.Time) ([]Summary, DirInfo, error) {
	return SummarizeDirs([]string{dir}, ReadOptions{From: from, To: to})
}

// SummarizeDirs is SummarizeDirInfo over the files of several directories
// (one per gateway, say), for records in [o.From, o.To), with o's handling
// of bad records.
func SummarizeDirs(dirs []string, o ReadOptions) ([]Summary, DirInfo, error) {
	z := newSummarizer(o.From.Location())
	info, err := readDirs(dirs, o, func(r *Record) { z.addIn(r, o.From, o.To) })
	if err != nil {
		return nil, info, err
	}
	return z.result(), info, nil
}

// DayGatewayCount is the traffic exchanged with one peer in one direction
// on one day: the settlement between gateways, day by day.
type DayGatewayCount struct {
	Day string `json:"day"`
	GatewayCount
}

// GatewaysByDay merges the per-peer counts of the summaries of each day,
// sorted by day, gateway, then direction.
func GatewaysByDay(sums []Summary) []DayGatewayCount {
	byDay := map[string][]GatewayCount{}
	for i := range sums {
		for j := range sums[i].Gateways {
			byDay[sums[i].Day] = addGateway(byDay[sums[i].Day], &sums[i].Gateways[j])
		}
	}
	days := make([]string, 0, len(byDay))
	for d := range byDay {
		days = append(days, d)
	}
	slices.Sort(days)
	var out []DayGatewayCount
	for _, d := range days {
		for _, g := range byDay[d] {
			out = append(out, DayGatewayCount{Day: d, GatewayCount: g})
		}
	}
	return out
}
