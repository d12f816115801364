// Command smscsim runs the SMPP 3.4 SMSC simulator of package
// sim/smscsim: the far end of an ISMG's SMSC links for the demo and
// benchmarks.
//
//	smscsim -listen 127.0.0.1:2775 -delay 50ms -mix DELIVRD=98,UNDELIV=2 -id-format hex -throttle-every 0 -mo-file mo.txt
//	smscsim -listen 127.0.0.1:2775 -record smsc.jsonl    keep a ledger for tandem-check
//
// It prints its counters every -stats interval and once more when it stops
// on SIGINT/SIGTERM, after unbinding every ESME.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tandem-sms/tandem/internal/buildinfo"
	"github.com/tandem-sms/tandem/internal/logging"
	"github.com/tandem-sms/tandem/internal/simproc"
	"github.com/tandem-sms/tandem/internal/zone"
	"github.com/tandem-sms/tandem/sim/record"
	"github.com/tandem-sms/tandem/sim/smscsim"
	"github.com/tandem-sms/tandem/smstext"
)

// errUsage marks command-line errors; main exits 2 for them.
var errUsage = errors.New("smscsim: usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// options are the flags that are not fields of smscsim.Config.
type options struct {
	version    bool // -version: print it and exit
	listen     string
	stats      time.Duration
	moFile     string
	moInterval time.Duration
	moCoding   string
	log        *slog.Logger
	drain      time.Duration
	cpuProfile string
	record     string
}

// mo is one line of the -mo-file.
type mo struct{ from, to, text string }

func parseFlags(args []string, stderr io.Writer) (smscsim.Config, options, error) {
	cfg := smscsim.DefaultConfig()
	cfg.RecordLimit = 0 // a long-running process must not grow
	var o options
	fs := flag.NewFlagSet("smscsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var accounts, mix, idFormat, receiptIDFormat, tz string
	fs.StringVar(&tz, "timezone", zone.Default, "zone of the receipts' submit date and done date, as the ISMG's timezone: an IANA name, UTC or Local")
	fs.StringVar(&o.listen, "listen", cfg.Addr, "SMPP listen address")
	fs.StringVar(&cfg.SystemID, "system-id", cfg.SystemID, "system_id answered in bind_resp")
	fs.StringVar(&accounts, "accounts", "", "accepted binds as id:password,id2:password2 (empty accepts any)")
	fs.DurationVar(&cfg.ReceiptDelay, "delay", cfg.ReceiptDelay, "delay from submit_sm to its receipt")
	fs.DurationVar(&cfg.ReceiptDelayMax, "delay-max", 0, "if > -delay, receipts are delayed uniformly in [delay, delay-max]")
	fs.DurationVar(&cfg.RespDelay, "resp-delay", 0, "answer time: send each submit_sm_resp this long after its submit_sm (0: at once)")
	fs.StringVar(&mix, "mix", "DELIVRD=100", "weights of receipt states, e.g. DELIVRD=98,UNDELIV=2")
	fs.StringVar(&idFormat, "id-format", "hex", "message id format in submit_sm_resp and receipted_message_id: hex, HEX, dec, dec10")
	fs.StringVar(&receiptIDFormat, "receipt-id-format", "", "message id format in the receipt text (default: -id-format)")
	fs.BoolVar(&cfg.OmitReceiptTLVs, "no-receipt-tlvs", false, "leave receipted_message_id and message_state out of receipts")
	fs.Uint64Var(&cfg.FirstID, "first-id", 0, "first message id number (0: derived from the clock)")
	fs.IntVar(&cfg.ThrottleEvery, "throttle-every", 0, "answer every Nth submit_sm with ESME_RTHROTTLED (0: never)")
	fs.Float64Var(&cfg.MaxRate, "max-rate", 0, "answer ESME_RTHROTTLED above this many submit_sm per second (0: no limit)")
	fs.BoolVar(&cfg.QueueFull, "queue-full", false, "answer every submit_sm with ESME_RMSGQFUL")
	fs.BoolVar(&cfg.Down, "down", false, "start down: refuse every bind")
	fs.BoolVar(&cfg.ReceiptFirst, "receipt-first", false, "send each receipt before the submit_sm_resp (race mode)")
	fs.DurationVar(&cfg.RaceWait, "race-wait", cfg.RaceWait, "with -receipt-first, longest wait for the receipt's answer")
	fs.DurationVar(&cfg.ReceiptRetry, "receipt-retry", cfg.ReceiptRetry, "pause before a failed receipt is sent again")
	fs.IntVar(&cfg.ReceiptAttempts, "receipt-attempts", cfg.ReceiptAttempts, "attempts per receipt before giving up")
	fs.IntVar(&cfg.MaxPendingReceipts, "max-pending", cfg.MaxPendingReceipts, "most receipts held; beyond it new ones are dropped")
	fs.IntVar(&cfg.ReceiptWorkers, "receipt-workers", cfg.ReceiptWorkers, "receipts in flight at once")
	fs.IntVar(&cfg.Session.Window, "window", cfg.Session.Window, "outstanding deliver_sm per session")
	fs.DurationVar(&cfg.Session.EnquireInterval, "enquire", cfg.Session.EnquireInterval, "enquire_link after this much silence (0: off)")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "random seed for delays and states (0: from the clock)")
	fs.DurationVar(&o.stats, "stats", 10*time.Second, "print counters this often (0: only at exit)")
	fs.StringVar(&o.moFile, "mo-file", "", "file of MO messages to inject, one per line: FROM TO TEXT")
	fs.DurationVar(&o.moInterval, "mo-interval", 0, "pause between injected MO messages")
	fs.StringVar(&o.moCoding, "mo-coding", "auto", "coding of injected MO: auto, gsm7, ascii, latin1, ucs2")
	fs.DurationVar(&o.drain, "drain", 5*time.Second, "on SIGTERM, how long ESMEs get to settle before the links close")
	logFlags := logging.AddFlags(fs, "info")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile to this file until exit")
	fs.StringVar(&o.record, "record", "", "append every accepted submit_sm (message id, client key) and every receipt to this file (JSON lines, for tandem-check)")
	version := buildinfo.Flag(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, o, err // -h: the usage is printed, nothing failed
		}
		return cfg, o, fmt.Errorf("%w: %w", errUsage, err)
	}
	if o.version = *version; o.version {
		return cfg, o, nil
	}
	if fs.NArg() > 0 {
		return cfg, o, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	var err error
	if cfg.Location, err = zone.Load(tz); err != nil {
		return cfg, o, fmt.Errorf("%w: -timezone: %w", errUsage, err)
	}
	if cfg.StatusMix, err = smscsim.ParseStatusMix(mix); err != nil {
		return cfg, o, fmt.Errorf("%w: -mix: %w", errUsage, err)
	}
	if cfg.IDFormat, err = smscsim.ParseIDFormat(idFormat); err != nil {
		return cfg, o, fmt.Errorf("%w: -id-format: %w", errUsage, err)
	}
	if cfg.ReceiptIDFormat, err = smscsim.ParseIDFormat(receiptIDFormat); err != nil {
		return cfg, o, fmt.Errorf("%w: -receipt-id-format: %w", errUsage, err)
	}
	if accounts != "" {
		cfg.Accounts = map[string]string{}
		for _, a := range strings.Split(accounts, ",") {
			id, pw, ok := strings.Cut(strings.TrimSpace(a), ":")
			if !ok || id == "" {
				return cfg, o, fmt.Errorf("%w: -accounts: entry %q: want id:password", errUsage, a)
			}
			cfg.Accounts[id] = pw
		}
	}
	if o.log, err = logFlags.New(stderr); err != nil {
		return cfg, o, fmt.Errorf("%w: %w", errUsage, err)
	}
	if _, err := moCoding(o.moCoding, ""); err != nil {
		return cfg, o, fmt.Errorf("%w: -mo-coding: %w", errUsage, err)
	}
	if o.stats < 0 || o.moInterval < 0 || o.drain < 0 {
		return cfg, o, fmt.Errorf("%w: -stats, -mo-interval and -drain must be >= 0", errUsage)
	}
	cfg.Addr = o.listen
	if err := cfg.Validate(); err != nil {
		return cfg, o, fmt.Errorf("%w: %w", errUsage, err)
	}
	return cfg, o, nil
}

func moCoding(name, text string) (smstext.Coding, error) {
	switch name {
	case "auto":
		return smstext.Choose(text, smstext.GSM7, smstext.UCS2), nil
	case "gsm7":
		return smstext.GSM7, nil
	case "ascii":
		return smstext.ASCII, nil
	case "latin1":
		return smstext.Latin1, nil
	case "ucs2":
		return smstext.UCS2, nil
	}
	return 0, fmt.Errorf("unknown coding %q", name)
}

// readMOFile reads FROM TO TEXT lines; blank lines and # comments are
// skipped.
func readMOFile(path string) ([]mo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("smscsim: -mo-file: %w", err)
	}
	defer f.Close()
	var out []mo
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 3 {
			return nil, fmt.Errorf("smscsim: %s:%d: want FROM TO TEXT", path, n)
		}
		// The text is everything after the second field, inner spaces kept.
		rest := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(strings.TrimPrefix(line, fields[0])), fields[1]))
		out = append(out, mo{from: fields[0], to: fields[1], text: rest})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("smscsim: -mo-file: %w", err)
	}
	return out, nil
}

// run is main without the process: ready, if set, gets the listen address
// once the simulator accepts connections.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, ready func(addr string)) error {
	cfg, o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if o.version {
		_, err := fmt.Fprintln(stdout, buildinfo.Version("smscsim"))
		return err
	}
	stdout = &syncWriter{w: stdout} // the MO goroutine prints too
	var mos []mo
	if o.moFile != "" {
		if mos, err = readMOFile(o.moFile); err != nil {
			return err
		}
	}
	log := o.log
	stopProf, err := simproc.Setup(o.cpuProfile, func(err error) { log.Warn("profile not written", "err", err) })
	if err != nil {
		return err
	}
	defer stopProf()
	cfg.Logger = log
	if o.record != "" {
		w, err := record.Create(o.record)
		if err != nil {
			return fmt.Errorf("smscsim: -record: %w", err)
		}
		cfg.Record = w
		// Closed after Shutdown below, or here if it is not reached.
		defer w.Close()
	}
	s, err := smscsim.New(cfg)
	if err != nil {
		return err
	}
	if err := s.Start(o.listen); err != nil {
		_ = s.Close()
		return fmt.Errorf("smscsim: %w", err)
	}
	fmt.Fprintf(stdout, "smscsim: listening on %s (system_id %s, delay %v, mix %s, ids %s/%s)\n",
		s.Addr(), cfg.SystemID, delayText(cfg), smscsim.FormatStatusMix(cfg.StatusMix), cfg.IDFormat, receiptFormat(cfg))
	if ready != nil {
		ready(s.Addr())
	}

	moDone := make(chan struct{})
	go func() {
		defer close(moDone)
		injectMOs(ctx, s, mos, o, stdout, log)
	}()

	var tick <-chan time.Time
	if o.stats > 0 {
		t := time.NewTicker(o.stats)
		defer t.Stop()
		tick = t.C
	}
	for done := false; !done; {
		select {
		case <-tick:
			fmt.Fprintf(stdout, "smscsim: %v\n", s.Stats())
		case <-ctx.Done():
			done = true
		}
	}
	<-moDone
	sctx, cancel := context.WithTimeout(context.Background(), o.drain)
	defer cancel()
	if err := s.Shutdown(sctx); err != nil {
		log.Warn("shutdown forced", "err", err)
	}
	fmt.Fprintf(stdout, "smscsim: final: %v\n", s.Stats())
	if cfg.Record != nil {
		if err := cfg.Record.Close(); err != nil {
			return fmt.Errorf("smscsim: -record: %w", err)
		}
	}
	return nil
}

func injectMOs(ctx context.Context, s *smscsim.SMSC, mos []mo, o options, stdout io.Writer, log *slog.Logger) {
	sent := 0
	for i, m := range mos {
		if i > 0 && o.moInterval > 0 {
			t := time.NewTimer(o.moInterval)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return
			}
		}
		c, _ := moCoding(o.moCoding, m.text)
		if err := s.InjectMO(ctx, m.from, m.to, m.text, c); err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Warn("mo failed", "from", m.from, "to", m.to, "err", err)
			continue
		}
		sent++
	}
	if len(mos) > 0 {
		fmt.Fprintf(stdout, "smscsim: mo file done: %d of %d sent\n", sent, len(mos))
	}
}

func delayText(cfg smscsim.Config) string {
	if cfg.ReceiptDelayMax > cfg.ReceiptDelay {
		return cfg.ReceiptDelay.String() + "-" + cfg.ReceiptDelayMax.String()
	}
	return cfg.ReceiptDelay.String()
}

func receiptFormat(cfg smscsim.Config) smscsim.IDFormat {
	if cfg.ReceiptIDFormat == smscsim.IDDefault {
		return cfg.IDFormat
	}
	return cfg.ReceiptIDFormat
}

// syncWriter serialises writes from the main loop and the MO goroutine.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}
