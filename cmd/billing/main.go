// Command billing reports over the CDR files ISMGs write (package
// billing, FORMAT.md there): fees and settlement (the billing view), and
// traffic — submitted, delivered, failed by reason, expired, forwarded per
// peer, latency — grouped by SP, gateway, region, hour or day, as a table,
// CSV, JSON or a self-contained HTML page with charts (the traffic view).
//
//	billing report [-dir DIR]... [-from T] [-to T] [-by KEYS] [-view billing|traffic] [-o table|json|csv|html] [-routes FILE] [-tz ZONE] [-skip-bad]
package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"syscall"
	"text/tabwriter"
	"time"
	_ "time/tzdata" // -tz must work on hosts without a zoneinfo database (distroless images)

	"github.com/tandem-sms/tandem/billing"
	"github.com/tandem-sms/tandem/internal/buildinfo"
)

const usageText = `usage: billing <command> [flags]

commands:
  report   totals of the CDR files in one or more directories
  help     this text
  version  the version and build stamp (also --version)

billing report [-dir DIR]... [-from T] [-to T] [-by KEYS] [-view billing|traffic]
               [-o table|json|csv|html] [-routes FILE] [-tz ZONE] [-skip-bad]
  -dir DIR     a gateway's CDR directory; repeat for several gateways (default .)
  Billing view (fees and settlement; the default for these four):
  -by sp       one row per SP over the whole period (default)
  -by day      one row per day and SP
  -by gateway  one row per peer gateway and direction (settlement)
  -by peer     one row per day, peer gateway and direction (settlement, day by day)
  Traffic view (any other -by, -o html, or -view traffic):
  -by KEYS     rows per a comma list of sp, gateway, region, hour, day (e.g. sp,day or
               gateway,hour); gateway is the gateway that wrote the record; empty: total only
  -routes FILE a route table (YAML, as gnsctl pushes) giving each gateway's region; -by region needs it
  columns      submitted, delivered, failed (and per final_status), expired, pending, MO,
               forwarded in and out (and per peer gateway), latency samples, p50, p99
  latency      done_time - submit_time of each submitted MT with a final state: from the SP's
               gateway accepting it to learning its final state, in ms (billing/FORMAT.md)
  -o html      a self-contained page (inline SVG charts per hour, no scripts) to open offline
  -from, -to   a day YYYY-MM-DD in -tz (-to inclusive) or an RFC 3339 time (-to exclusive), e.g.
               2026-11-22T14:00:00Z as in the CDR files; open-ended when omitted. The billing view
               places a record by done_time (else submit_time), the traffic view by submit_time.
  -tz ZONE     zone of the days and hours (default: the UTC offset in the newest CDR file's
               name, e.g. +08:00 for a gateway in Asia/Shanghai; UTC for names without one)
  -skip-bad    skip a record that does not parse, naming file:line on stderr, instead of failing
  Fees are in fen (CNY in tables); see billing/FORMAT.md for the fee rule.
  Open files (*.csv.part: the current hour, or one a crash left) are read too: their
  complete records count, an incomplete last record is skipped with a note on stderr.
`

// errUsage marks errors in the command line; main exits 2 for them.
var errUsage = errors.New("billing: usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err) // errors from package billing carry the prefix already
		if errors.Is(err, errUsage) {
			fmt.Fprint(os.Stderr, "run 'billing help' for usage\n")
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: no command", errUsage)
	}
	switch args[0] {
	case "report":
		return runReport(ctx, args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		_, err := io.WriteString(stdout, usageText)
		return err
	case "version", "-version", "--version":
		_, err := fmt.Fprintln(stdout, buildinfo.Version("billing"))
		return err
	default:
		return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
	}
}

type reportConfig struct {
	dirs     []string
	from, to time.Time // [from, to); zero is open
	fromDay  bool      // -from was a date (YYYY-MM-DD)
	toDay    bool      // -to was a date: the last day, inclusive
	by       string
	dims     []billing.Dim // the traffic view's keys
	view     string        // "billing" or "traffic"
	out      string
	loc      *time.Location
	routes   string // route table file, for the gateways' regions
	skipBad  bool
}

// legacyBy are the -by values of the billing view (fees and settlement),
// which they choose by default.
var legacyBy = []string{"sp", "day", "gateway", "peer"}

func parseReportFlags(args []string, stderr io.Writer) (reportConfig, error) {
	fs := flag.NewFlagSet("billing report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c reportConfig
	var from, to, tz string
	fs.Func("dir", "directory of CDR files (repeat for several gateways; default .)", func(s string) error {
		c.dirs = append(c.dirs, s)
		return nil
	})
	fs.StringVar(&from, "from", "", "start: a day YYYY-MM-DD (in -tz) or an RFC 3339 time such as 2026-11-22T14:00:00Z")
	fs.StringVar(&to, "to", "", "end: a day YYYY-MM-DD (inclusive) or an RFC 3339 time (exclusive)")
	fs.StringVar(&c.by, "by", "sp", "rows: sp, day, gateway or peer (billing view), or a list of sp, gateway, region, hour, day (traffic view)")
	fs.StringVar(&c.view, "view", "", "billing (fees, settlement) or traffic (submitted, delivered, failed, latency); default from -by and -o")
	fs.StringVar(&c.out, "o", "table", "output: table, json, csv or html (traffic view)")
	fs.StringVar(&tz, "tz", "", "time zone of the days and hours, e.g. Asia/Shanghai (default: the UTC offset the newest CDR file's name declares, else UTC)")
	fs.StringVar(&c.routes, "routes", "", "route table YAML giving each gateway's region (for -by region)")
	fs.BoolVar(&c.skipBad, "skip-bad", false, "skip records that do not parse (each named on stderr, counted) instead of failing")
	if err := fs.Parse(args); err != nil {
		return c, fmt.Errorf("%w: report: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("%w: report: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if len(c.dirs) == 0 {
		c.dirs = []string{"."}
	}
	switch c.out {
	case "table", "json", "csv", "html":
	default:
		return c, fmt.Errorf("%w: report: -o %q: want table, json, csv or html", errUsage, c.out)
	}
	if c.view == "" {
		c.view = "traffic"
		if slices.Contains(legacyBy, c.by) && c.out != "html" {
			c.view = "billing"
		}
	}
	switch c.view {
	case "billing":
		if !slices.Contains(legacyBy, c.by) {
			return c, fmt.Errorf("%w: report: -by %q: want sp, day, gateway or peer (or -view traffic)", errUsage, c.by)
		}
		if c.out == "html" {
			return c, fmt.Errorf("%w: report: -o html is a traffic report (-view traffic)", errUsage)
		}
	case "traffic":
		var err error
		if c.dims, err = billing.ParseDims(c.by); err != nil {
			return c, fmt.Errorf("%w: report: -by %q: %w", errUsage, c.by, err)
		}
		if slices.Contains(c.dims, billing.DimRegion) && c.routes == "" {
			return c, fmt.Errorf("%w: report: -by region needs -routes FILE: a route table giving each gateway's region", errUsage)
		}
	default:
		return c, fmt.Errorf("%w: report: -view %q: want billing or traffic", errUsage, c.view)
	}
	var err error
	if tz == "" {
		if c.loc, err = billing.FilesZone(c.dirs); err != nil {
			return c, fmt.Errorf("report: %w", err)
		}
	} else if c.loc, err = time.LoadLocation(tz); err != nil {
		return c, fmt.Errorf("%w: report: -tz: %w", errUsage, err)
	}
	if from != "" {
		if c.from, c.fromDay, err = parseBound(from, c.loc); err != nil {
			return c, fmt.Errorf("%w: report: -from %q: %w", errUsage, from, err)
		}
	}
	if to != "" {
		if c.to, c.toDay, err = parseBound(to, c.loc); err != nil {
			return c, fmt.Errorf("%w: report: -to %q: %w", errUsage, to, err)
		}
		if c.toDay {
			c.to = c.to.AddDate(0, 0, 1)
		}
	}
	if !c.from.IsZero() && !c.to.IsZero() && !c.from.Before(c.to) {
		return c, fmt.Errorf("%w: report: -from %s is after -to %s", errUsage, from, to)
	}
	return c, nil
}

// parseBound reads a -from or -to: a calendar day in loc, or an instant in
// RFC 3339 (which the CDR files' own 2006-01-02T15:04:05.000Z is).
func parseBound(s string, loc *time.Location) (t time.Time, day bool, err error) {
	if t, err := time.ParseInLocation(time.DateOnly, s, loc); err == nil {
		return t, true, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, false, nil
	}
	return time.Time{}, false, errors.New("want YYYY-MM-DD or an RFC 3339 time like 2026-11-22T14:00:00Z")
}

func runReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseReportFlags(args, stderr)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var skip func(*billing.ParseError)
	if c.skipBad {
		skip = func(e *billing.ParseError) { fmt.Fprintf(stderr, "billing: skipped: %v\n", e) }
	}
	if c.view == "traffic" {
		return runTraffic(c, skip, stdout, stderr)
	}
	from := c.from
	if from.IsZero() {
		// SummarizeDirs takes the days' zone from From; keep it open-ended.
		from = time.Time{}.In(c.loc)
	}
	sums, info, err := billing.SummarizeDirs(c.dirs, billing.ReadOptions{From: from, To: c.to, SkipBad: skip})
	if err != nil {
		return err
	}
	noteRead(stderr, info)
	switch c.by {
	case "sp":
		sums = billing.BySP(sums)
	case "gateway":
		return writeGateways(stdout, c, billing.GatewayTotals(sums))
	case "peer":
		return writePeers(stdout, c, billing.GatewaysByDay(sums))
	}
	return writeSummaries(stdout, c, sums)
}

// noteRead tells stderr about the open files read and the records skipped.
func noteRead(stderr io.Writer, info billing.DirInfo) {
	for _, of := range info.Open {
		fmt.Fprintf(stderr, "billing: note: %s is open (being written, or left by a crash): %d complete records read\n", of.Path, of.Records)
		if of.TornLine > 0 {
			fmt.Fprintf(stderr, "billing: note: %s: incomplete last record skipped (line %d, %d bytes)\n", of.Path, of.TornLine, of.TornBytes)
		}
	}
	if info.Bad > 0 {
		fmt.Fprintf(stderr, "billing: note: %d bad records skipped (-skip-bad)\n", info.Bad)
	}
}

var summaryColumns = []string{"mt", "mt_messages", "mo", "reports", "delivered", "failed", "pending",
	"charged", "monthly", "fee_errors", "fee_fen"}

func summaryValues(s *billing.Summary) []int64 {
	return []int64{s.MT, s.MTMessages, s.MO, s.Reports, s.Delivered, s.Failed, s.Pending, s.Charged,
		s.Monthly, s.FeeErrors, s.FeeFen}
}

func writeSummaries(w io.Writer, c reportConfig, sums []billing.Summary) error {
	if sums == nil {
		sums = []billing.Summary{}
	}
	byDay := c.by == "day"
	switch c.out {
	case "json":
		return writeJSON(w, sums)
	case "csv":
		cw := csv.NewWriter(w)
		head := []string{"sp_id"}
		if byDay {
			head = []string{"day", "sp_id"}
		}
		_ = cw.Write(append(head, summaryColumns...))
		for i := range sums {
			row := []string{sums[i].SPID}
			if byDay {
				row = []string{sums[i].Day, sums[i].SPID}
			}
			for _, v := range summaryValues(&sums[i]) {
				row = append(row, strconv.FormatInt(v, 10))
			}
			_ = cw.Write(row)
		}
		cw.Flush()
		return cw.Error()
	}
	fmt.Fprintf(w, "CDR report, %s\n\n", periodText(c))
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', tabwriter.AlignRight)
	if byDay {
		fmt.Fprint(tw, "DAY\t")
	}
	fmt.Fprint(tw, "SP\tMT\tMSGS\tMO\tREPORTS\tDELIVRD\tFAILED\tPENDING\tCHARGED\tMONTHLY\tFEE_ERR\tFEE_CNY\t\n")
	row := func(day, sp string, s *billing.Summary) {
		if byDay {
			fmt.Fprintf(tw, "%s\t", day)
		}
		fmt.Fprintf(tw, "%s\t", sp)
		v := summaryValues(s)
		for _, n := range v[:len(v)-1] {
			fmt.Fprintf(tw, "%d\t", n)
		}
		fmt.Fprintf(tw, "%s\t\n", yuan(s.FeeFen))
	}
	for i := range sums {
		row(sums[i].Day, sums[i].SPID, &sums[i])
	}
	total := billing.Total(sums)
	row("", "TOTAL", &total)
	return tw.Flush()
}

func writeGateways(w io.Writer, c reportConfig, gws []billing.GatewayCount) error {
	if gws == nil {
		gws = []billing.GatewayCount{}
	}
	switch c.out {
	case "json":
		return writeJSON(w, gws)
	case "csv":
		cw := csv.NewWriter(w)
		_ = cw.Write([]string{"gateway", "direction", "mt", "delivered", "mo", "reports"})
		for _, g := range gws {
			_ = cw.Write([]string{g.Gateway, g.Direction.String(), strconv.FormatInt(g.MT, 10),
				strconv.FormatInt(g.Delivered, 10), strconv.FormatInt(g.MO, 10), strconv.FormatInt(g.Reports, 10)})
		}
		cw.Flush()
		return cw.Error()
	}
	fmt.Fprintf(w, "CDR settlement by peer gateway, %s\n\n", periodText(c))
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "GATEWAY\tDIRECTION\tMT\tDELIVRD\tMO\tREPORTS\t\n")
	for _, g := range gws {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t\n", g.Gateway, g.Direction, g.MT, g.Delivered, g.MO, g.Reports)
	}
	return tw.Flush()
}

// writePeers is writeGateways day by day: forwarded in and out per peer
// gateway and day.
func writePeers(w io.Writer, c reportConfig, gws []billing.DayGatewayCount) error {
	if gws == nil {
		gws = []billing.DayGatewayCount{}
	}
	switch c.out {
	case "json":
		return writeJSON(w, gws)
	case "csv":
		cw := csv.NewWriter(w)
		_ = cw.Write([]string{"day", "gateway", "direction", "mt", "delivered", "mo", "reports"})
		for _, g := range gws {
			_ = cw.Write([]string{g.Day, g.Gateway, g.Direction.String(), strconv.FormatInt(g.MT, 10),
				strconv.FormatInt(g.Delivered, 10), strconv.FormatInt(g.MO, 10), strconv.FormatInt(g.Reports, 10)})
		}
		cw.Flush()
		return cw.Error()
	}
	fmt.Fprintf(w, "CDR settlement by day and peer gateway, %s\n\n", periodText(c))
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "DAY\tGATEWAY\tDIRECTION\tMT\tDELIVRD\tMO\tREPORTS\t\n")
	for _, g := range gws {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t\n", g.Day, g.Gateway, g.Direction, g.MT, g.Delivered, g.MO, g.Reports)
	}
	return tw.Flush()
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func periodText(c reportConfig) string {
	from, to := "start", "end"
	switch {
	case c.from.IsZero():
	case c.fromDay:
		from = c.from.Format(time.DateOnly)
	default:
		from = c.from.In(c.loc).Format(time.RFC3339)
	}
	switch {
	case c.to.IsZero():
	case c.toDay:
		to = c.to.AddDate(0, 0, -1).Format(time.DateOnly)
	default:
		to = "before " + c.to.In(c.loc).Format(time.RFC3339)
	}
	return fmt.Sprintf("%s to %s (%s)", from, to, c.loc)
}

// yuan formats fen as CNY with two decimals.
func yuan(fen int64) string {
	sign := ""
	if fen < 0 {
		sign, fen = "-", -fen
	}
	return fmt.Sprintf("%s%d.%02d", sign, fen/100, fen%100)
}
