// Command spsim is a CMPP SP load client (package sim/spsim): it connects
// to an ISMG as an SP, sends SUBMITs, answers DELIVERs, matches status
// reports and prints a summary with latency percentiles.
//
//	spsim -addr 127.0.0.1:7890 -sp-id 901234 -secret s3cr3t -conns 2 -window 16 -n 10000 -dest-prefix 1380013 -wait-reports
//	spsim ... -wait-reports -reconnect-timeout 60s -record sp.jsonl     ride out a gateway crash, keep a ledger for tandem-check
//
// The exit status is 1 on errors and, with -wait-reports, when an acked
// SUBMIT is still without its status report at the end; 2 for a bad
// command line.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tandem-sms/tandem/internal/buildinfo"
	"github.com/tandem-sms/tandem/internal/logging"
	"github.com/tandem-sms/tandem/internal/simproc"
	"github.com/tandem-sms/tandem/internal/zone"
	"github.com/tandem-sms/tandem/sim/record"
	"github.com/tandem-sms/tandem/sim/spsim"
)

var (
	// errUsage marks command-line errors; main exits 2 for them.
	errUsage = errors.New("spsim: usage")
	// errMissingReports: -wait-reports was set and some acked SUBMITs got
	// no status report.
	errMissingReports = errors.New("spsim: acked messages without a status report")
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type options struct {
	version    bool   // -version alone: print the build and exit
	record     string // -record FILE
	json       bool
	progress   time.Duration
	log        *slog.Logger
	cpuProfile string
	query      string         // YYYYMMDD: ask CMPP_QUERY instead of sending
	loc        *time.Location // -timezone: the zone of -query today
	queryCode  string         // its Service_Id (empty: the SP's totals)
}

func parseFlags(args []string, stderr io.Writer) (spsim.Config, options, error) {
	cfg := spsim.DefaultConfig()
	var o options
	fs := flag.NewFlagSet("spsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cmppVersion, coding, dests string
	var feeUserType, reg, msgLevel uint
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "ISMG CMPP address; several, comma-separated, are nodes of one gateway: connections start at the first, a reconnect tries the next")
	fs.StringVar(&cfg.SPID, "sp-id", cfg.SPID, "SP_Id: CONNECT Source_Addr and SUBMIT Msg_src")
	fs.StringVar(&cfg.Secret, "secret", cfg.Secret, "shared secret")
	fs.StringVar(&cmppVersion, "cmpp-version", "3.0", "CMPP version: 2.0, 2.1 or 3.0 (also -version V, the old name)")
	showVersion := buildinfo.Flag(fs)
	fs.IntVar(&cfg.Connections, "conns", cfg.Connections, "connections")
	fs.IntVar(&cfg.Window, "window", cfg.Window, "outstanding SUBMITs per connection")
	fs.Float64Var(&cfg.Rate, "rate", 0, "offered SUBMITs per second over all connections, open loop; late SUBMITs are timed from their due time (0: as fast as the windows allow)")
	fs.IntVar(&cfg.Total, "n", cfg.Total, "messages to send (0: until -duration)")
	fs.DurationVar(&cfg.Duration, "duration", 0, "stop sending after this long (0: until -n)")
	fs.StringVar(&dests, "dest", "", "destination MSISDNs, comma-separated, used in turn")
	fs.StringVar(&cfg.DestPrefix, "dest-prefix", cfg.DestPrefix, "without -dest: destination prefix, completed with random digits")
	fs.IntVar(&cfg.DestLen, "dest-len", cfg.DestLen, "without -dest: destination length")
	fs.StringVar(&cfg.SrcID, "src-id", cfg.SrcID, "Src_Id: the SP service code")
	fs.StringVar(&cfg.ServiceID, "service-id", cfg.ServiceID, "Service_Id")
	fs.UintVar(&feeUserType, "fee-user-type", 0, "Fee_UserType: 0 destination, 1 source, 2 SP, 3 -fee-terminal")
	fs.StringVar(&cfg.FeeType, "fee-type", cfg.FeeType, "FeeType: 01 free, 02 per message, 03 monthly")
	fs.StringVar(&cfg.FeeCode, "fee-code", cfg.FeeCode, "FeeCode in fen")
	fs.StringVar(&cfg.FeeTerminalID, "fee-terminal", "", "Fee_terminal_Id")
	fs.UintVar(&reg, "report", uint(cfg.RegisteredDelivery), "Registered_Delivery: 1 asks for status reports")
	fs.UintVar(&msgLevel, "msg-level", 0, "Msg_level")
	fs.StringVar(&cfg.Text, "text", "", "message text (default: a sample text)")
	fs.StringVar(&coding, "coding", "ascii", "text coding: ascii, ucs2 or gbk")
	fs.BoolVar(&cfg.Long, "long", false, "without -text: a sample text three segments long (UDH)")
	fs.BoolVar(&cfg.WaitReports, "wait-reports", false, "after sending, wait for every status report; exit 1 if any is missing")
	fs.DurationVar(&cfg.ReportTimeout, "report-timeout", cfg.ReportTimeout, "longest wait for status reports")
	fs.DurationVar(&cfg.ConnectTimeout, "connect-timeout", cfg.ConnectTimeout, "CONNECT timeout")
	fs.DurationVar(&cfg.Session.ResponseTimeout, "response-timeout", cfg.Session.ResponseTimeout, "SUBMIT_RESP timeout")
	fs.DurationVar(&cfg.ReconnectTimeout, "reconnect-timeout", 0, "when a connection drops, dial it again for up to this long and resend the SUBMITs left unanswered (0: a dropped connection stays down)")
	fs.DurationVar(&cfg.ReconnectWait, "reconnect-wait", cfg.ReconnectWait, "first pause between reconnect attempts (after one at once); doubles each time")
	fs.DurationVar(&cfg.ReconnectMaxWait, "reconnect-max-wait", cfg.ReconnectMaxWait, "longest pause between reconnect attempts")
	fs.StringVar(&o.record, "record", "", "append every SUBMIT, SUBMIT_RESP, status report and reconnect to this file (JSON lines, for tandem-check); the texts then carry client keys")
	fs.StringVar(&cfg.RunID, "run-id", "", "with -record: the run's id in the record and the client keys, 8 hex digits (default: random)")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "random seed for generated destinations (0: from the clock)")
	fs.BoolVar(&o.json, "json", false, "print the result as JSON")
	fs.DurationVar(&o.progress, "progress", 0, "print progress to stderr this often (0: never)")
	logFlags := logging.AddFlags(fs, "warn")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file")
	fs.StringVar(&o.query, "query", "", "instead of sending, ask CMPP_QUERY for this day (YYYYMMDD, or \"today\") and print the counters")
	fs.StringVar(&o.queryCode, "query-service", "", "with -query: the Service_Id to ask for (empty: the SP's totals)")
	tz := fs.String("timezone", zone.Default, "zone of -query today, as the ISMG's timezone: an IANA name, UTC or Local")
	if err := fs.Parse(cmppVersionArgs(args)); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, o, err // -h: the usage is printed, nothing failed
		}
		return cfg, o, fmt.Errorf("%w: %w", errUsage, err)
	}
	if o.version = *showVersion; o.version {
		return cfg, o, nil
	}
	if fs.NArg() > 0 {
		return cfg, o, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	var err error
	if o.loc, err = zone.Load(*tz); err != nil {
		return cfg, o, fmt.Errorf("%w: -timezone: %w", errUsage, err)
	}
	if cfg.Version, err = spsim.ParseVersion(cmppVersion); err != nil {
		return cfg, o, fmt.Errorf("%w: -cmpp-version: %w", errUsage, err)
	}
	if cfg.Coding, err = spsim.ParseCoding(coding); err != nil {
		return cfg, o, fmt.Errorf("%w: -coding: %w", errUsage, err)
	}
	if feeUserType > 3 || reg > 2 || msgLevel > 255 {
		return cfg, o, fmt.Errorf("%w: -fee-user-type 0..3, -report 0..2, -msg-level 0..255", errUsage)
	}
	cfg.FeeUserType, cfg.RegisteredDelivery, cfg.MsgLevel = uint8(feeUserType), uint8(reg), uint8(msgLevel)
	if strings.Contains(cfg.Addr, ",") {
		for _, a := range strings.Split(cfg.Addr, ",") {
			a = strings.TrimSpace(a)
			if a == "" {
				return cfg, o, fmt.Errorf("%w: -addr %q: an empty address in the list", errUsage, cfg.Addr)
			}
			cfg.Addrs = append(cfg.Addrs, a)
		}
		cfg.Addr = cfg.Addrs[0]
	}
	if dests != "" {
		for _, d := range strings.Split(dests, ",") {
			if d = strings.TrimSpace(d); d != "" {
				cfg.Dests = append(cfg.Dests, d)
			}
		}
	}
	if o.log, err = logFlags.New(stderr); err != nil {
		return cfg, o, fmt.Errorf("%w: %w", errUsage, err)
	}
	if o.progress < 0 {
		return cfg, o, fmt.Errorf("%w: -progress must be >= 0", errUsage)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, o, fmt.Errorf("%w: %w", errUsage, err)
	}
	return cfg, o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	cfg, o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if o.version {
		_, err := fmt.Fprintln(stdout, buildinfo.Version("spsim"))
		return err
	}
	stopProf, err := simproc.Setup(o.cpuProfile, func(err error) { fmt.Fprintln(stderr, "spsim:", err) })
	if err != nil {
		return err
	}
	defer stopProf()
	cfg.Logger = o.log
	if o.query != "" {
		return query(ctx, cfg, o, stdout)
	}
	if o.record != "" {
		w, cerr := record.Create(o.record)
		if cerr != nil {
			return fmt.Errorf("spsim: -record: %w", cerr)
		}
		cfg.Record = w
		defer func() {
			if cerr := w.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("spsim: -record: %w", cerr)
			}
		}()
	}
	c, err := spsim.New(cfg)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	stopProgress := func() {}
	if o.progress > 0 {
		pctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			progress(pctx, c, o.progress, stderr)
		}()
		stopProgress = func() { cancel(); <-done }
	}
	res, runErr := c.Run(ctx)
	stopProgress()
	if runErr != nil && res.Submitted == 0 {
		return runErr // nothing happened worth summarising (e.g. connect refused)
	}
	if o.json {
		err = res.WriteJSON(stdout)
	} else {
		err = res.Print(stdout)
	}
	switch {
	case runErr != nil:
		return runErr
	case err != nil:
		return err
	case cfg.WaitReports && cfg.RegisteredDelivery == 1 && res.NoReport > 0:
		return fmt.Errorf("%w: %d of %d", errMissingReports, res.NoReport, res.Acked)
	}
	return nil
}

func progress(ctx context.Context, c *spsim.Client, every time.Duration, w io.Writer) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			r := c.Snapshot()
			var rejected uint64
			for _, n := range r.Rejected {
				rejected += n
			}
			fmt.Fprintf(w, "spsim: submitted %d acked %d rejected %d no-response %d reports %d awaiting %d reconnects %d resent %d\n",
				r.Submitted, r.Acked, rejected, r.Errors, r.Reports, r.NoReport, r.Reconnects, r.Resent)
		case <-ctx.Done():
			return
		}
	}
}

// query runs -query: one CMPP_QUERY, printed or as JSON.
func query(ctx context.Context, cfg spsim.Config, o options, stdout io.Writer) error {
	day := o.query
	if day == "today" {
		day = time.Now().In(o.loc).Format("20060102")
	}
	if _, err := time.Parse("20060102", day); err != nil {
		return fmt.Errorf("%w: -query: want YYYYMMDD or today, got %q", errUsage, o.query)
	}
	r, err := spsim.Query(ctx, cfg, day, o.queryCode)
	if err != nil {
		return err
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	return spsim.PrintQuery(stdout, r)
}
