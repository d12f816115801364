// Command billing reports over the CDR files an ISMG writes (package
// billing, FORMAT.md there).
//
//	billing report [-dir DIR] [-from YYYY-MM-DD] [-to YYYY-MM-DD] [-by sp|day|gateway|peer] [-o table|json|csv] [-tz ZONE]
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
  report   totals of the CDR files in a directory
  help     this text
  version  the version and build stamp (also --version)

billing report [-dir DIR] [-from YYYY-MM-DD] [-to YYYY-MM-DD] [-by sp|day|gateway|peer] [-o table|json|csv] [-tz ZONE]
  -by sp       one row per SP over the whole period (default)
  -by day      one row per day and SP
  -by gateway  one row per peer gateway and direction (settlement)
  -by peer     one row per day, peer gateway and direction (settlement, day by day)
  -from, -to   calendar days in -tz, both inclusive; omitted means open-ended
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
	dir      string
	from, to time.Time // [from, to); zero is open
	by       string
	out      string
	loc      *time.Location
}

func parseReportFlags(args []string, stderr io.Writer) (reportConfig, error) {
	fs := flag.NewFlagSet("billing report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c reportConfig
	var from, to, tz string
	fs.StringVar(&c.dir, "dir", ".", "directory of CDR files")
	fs.StringVar(&from, "from", "", "first day, YYYY-MM-DD")
	fs.StringVar(&to, "to", "", "last day, YYYY-MM-DD (inclusive)")
	fs.StringVar(&c.by, "by", "sp", "rows: sp, day, gateway or peer")
	fs.StringVar(&c.out, "o", "table", "output: table, json or csv")
	fs.StringVar(&tz, "tz", "UTC", "time zone of the days, e.g. Asia/Shanghai")
	if err := fs.Parse(args); err != nil {
		return c, fmt.Errorf("%w: report: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("%w: report: unexpected argument %q", errUsage, fs.Arg(0))
	}
	switch c.by {
	case "sp", "day", "gateway", "peer":
	default:
		return c, fmt.Errorf("%w: report: -by %q: want sp, day, gateway or peer", errUsage, c.by)
	}
	switch c.out {
	case "table", "json", "csv":
	default:
		return c, fmt.Errorf("%w: report: -o %q: want table, json or csv", errUsage, c.out)
	}
	var err error
	if c.loc, err = time.LoadLocation(tz); err != nil {
		return c, fmt.Errorf("%w: report: -tz: %w", errUsage, err)
	}
	if from != "" {
		if c.from, err = time.ParseInLocation(time.DateOnly, from, c.loc); err != nil {
			return c, fmt.Errorf("%w: report: -from %q: want YYYY-MM-DD", errUsage, from)
		}
	}
	if to != "" {
		t, err := time.ParseInLocation(time.DateOnly, to, c.loc)
		if err != nil {
			return c, fmt.Errorf("%w: report: -to %q: want YYYY-MM-DD", errUsage, to)
		}
		c.to = t.AddDate(0, 0, 1)
	}
	if !c.from.IsZero() && !c.to.IsZero() && !c.from.Before(c.to) {
		return c, fmt.Errorf("%w: report: -from %s is after -to %s", errUsage, from, to)
	}
	return c, nil
}

func runReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseReportFlags(args, stderr)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	from := c.from
	if from.IsZero() {
		// SummarizeDir takes the days' zone from from; keep it open-ended.
		from = time.Time{}.In(c.loc)
	}
	sums, info, err := billing.SummarizeDirInfo(c.dir, from, c.to)
	if err != nil {
		return err
	}
	for _, of := range info.Open {
		fmt.Fprintf(stderr, "billing: note: %s is open (being written, or left by a crash): %d complete records read\n", of.Path, of.Records)
		if of.TornLine > 0 {
			fmt.Fprintf(stderr, "billing: note: %s: incomplete last record skipped (line %d, %d bytes)\n", of.Path, of.TornLine, of.TornBytes)
		}
	}
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
	if !c.from.IsZero() {
		from = c.from.Format(time.DateOnly)
	}
	if !c.to.IsZero() {
		to = c.to.AddDate(0, 0, -1).Format(time.DateOnly)
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
