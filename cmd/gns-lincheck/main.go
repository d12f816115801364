// Command gns-lincheck checks that a GNS cluster is linearizable while it
// is being hurt, as etcd's robustness tests check etcd (package
// sim/lincheck): concurrent clients write and read a private range of
// number segments through every node, and porcupine searches the recorded
// history for an order a single copy of the table could have produced.
//
//	gns-lincheck -addrs a:9190,b:9190,c:9190 [-tls-ca ca.pem] [-token T] \
//	    [-clients 4] [-duration 30s] [-prefix 1990000 -keys 10] [-out history.html] [-json]
//
// Nodes may be killed, restarted or cut off during the run: failed calls
// are recorded (a write whose outcome is unknown is checked as possibly
// applied), never fatal. Interrupting it ends the run early and checks
// what was recorded.
//
// Exit codes: 0 linearizable; 1 not linearizable, or the check timed out
// (-check-timeout); 2 usage, no node reachable, a misconfiguration (token,
// TLS, a gateway the table lacks), or no operation succeeded.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // zone names resolve without a zoneinfo database (FROM-scratch images)

	"github.com/tandem-sms/tandem/internal/buildinfo"
	"github.com/tandem-sms/tandem/sim/lincheck"
)

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usageText = `usage: gns-lincheck -addrs host:port,... [-token T] [-tls] [-tls-ca FILE] [-tls-cert FILE -tls-key FILE]
       [-clients N] [-duration D] [-ops N] [-write-ratio F] [-stale-ratio F] [-op-timeout D]
       [-prefix DIGITS] [-keys N] [-gateways CODE,...] [-connect-timeout D]
       [-check-timeout D] [-out FILE.html] [-json] [-seed N] [-version]

Writes and reads segments PREFIX..PREFIX+KEYS-1 (default 1990000..1990009,
which nothing else may write during the run) through every node in turn,
then checks the history for linearizability. Exit 0 linearizable, 1 not
(or the check timed out), 2 usage or connection errors.
`

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// options is the parsed command line.
type options struct {
	addrs          []string
	token          string
	tls            tlsOptions
	cfg            lincheck.Config
	prefix         string
	keys           int
	gateways       []string
	connectTimeout time.Duration
	check          lincheck.CheckOptions
	json           bool
	version        bool // -version: print the build and exit
}

func parse(args []string) (*options, error) {
	o := &options{cfg: lincheck.DefaultConfig()}
	fs := flag.NewFlagSet("gns-lincheck", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var addrs, gateways string
	fs.StringVar(&addrs, "addrs", "", "GNS gRPC addresses, comma-separated; each client asks them in turn")
	fs.StringVar(&addrs, "addr", "", "same as -addrs (gnsctl's name)")
	fs.StringVar(&o.token, "token", os.Getenv("GNS_TOKEN"), "bearer token (default $GNS_TOKEN)")
	fs.BoolVar(&o.tls.on, "tls", false, "connect with TLS, verifying the servers with the system roots (or -tls-ca)")
	fs.StringVar(&o.tls.ca, "tls-ca", os.Getenv("GNS_TLS_CA"), "PEM CA bundle that verifies the servers; implies -tls (default $GNS_TLS_CA)")
	fs.StringVar(&o.tls.cert, "tls-cert", "", "client certificate (PEM) to present; implies -tls")
	fs.StringVar(&o.tls.key, "tls-key", "", "the client certificate's key (PEM)")
	fs.IntVar(&o.cfg.Clients, "clients", o.cfg.Clients, "concurrent clients")
	fs.DurationVar(&o.cfg.Duration, "duration", o.cfg.Duration, "how long operations start")
	fs.IntVar(&o.cfg.OpsPerClient, "ops", 0, "stop each client after N operations (0: run for -duration)")
	fs.Float64Var(&o.cfg.WriteRatio, "write-ratio", o.cfg.WriteRatio, "share of operations that write")
	fs.Float64Var(&o.cfg.StaleRatio, "stale-ratio", 0, "share of reads asked with stale=true (counted, not checked)")
	fs.DurationVar(&o.cfg.OpTimeout, "op-timeout", o.cfg.OpTimeout, "bound on one call; a write that runs out of it has an unknown outcome")
	fs.StringVar(&o.prefix, "prefix", "1990000", "first segment prefix of the key space")
	fs.IntVar(&o.keys, "keys", 10, "number of segments in the key space")
	fs.StringVar(&gateways, "gateways", "", "gateway codes the writes name (default: up to 3 of the table's)")
	fs.DurationVar(&o.connectTimeout, "connect-timeout", 10*time.Second, "how long to wait for a node to answer before the run")
	fs.DurationVar(&o.check.Timeout, "check-timeout", 10*time.Minute, "bound on the linearizability search (0: none)")
	fs.StringVar(&o.check.VisualizePath, "out", "", "write porcupine's HTML visualization here if the check fails")
	fs.BoolVar(&o.json, "json", false, "print the result as JSON on stdout (the summary goes to stderr)")
	fs.Uint64Var(&o.cfg.Seed, "seed", 0, "seed of the clients' choices (0: from the clock)")
	fs.BoolVar(&o.version, "version", false, "print the version and build stamp, and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usagef("%v", err)
	}
	if o.version {
		return o, nil
	}
	if fs.NArg() > 0 {
		return nil, usagef("unexpected argument %q", fs.Arg(0))
	}
	o.addrs = splitList(addrs)
	if len(o.addrs) == 0 {
		return nil, usagef("-addrs is empty")
	}
	o.gateways = splitList(gateways)
	if (o.tls.cert == "") != (o.tls.key == "") {
		return nil, usagef("-tls-cert and -tls-key go together")
	}
	if o.connectTimeout <= 0 {
		return nil, usagef("-connect-timeout %v: must be > 0", o.connectTimeout)
	}
	if o.check.Timeout < 0 {
		return nil, usagef("-check-timeout %v: must be >= 0", o.check.Timeout)
	}
	var err error
	if o.cfg.Keys, err = keySpace(o.prefix, o.keys); err != nil {
		return nil, err
	}
	o.cfg.Nodes, o.cfg.Choices = o.addrs, o.gateways
	probe := o.cfg // without -gateways, run finds Choices in the table
	if len(probe.Choices) == 0 {
		probe.Choices = []string{"(from the table)"}
	}
	if err := probe.Validate(); err != nil {
		return nil, usagef("%v", err)
	}
	return o, nil
}

// keySpace is n consecutive prefixes from prefix, all of its length.
// Eleven digits are refused: an 11-digit segment may collide with a ported
// number.
func keySpace(prefix string, n int) ([]string, error) {
	v, err := strconv.ParseUint(prefix, 10, 64)
	if err != nil || len(prefix) < 3 || len(prefix) > 10 || strings.TrimLeft(prefix, "0123456789") != "" {
		return nil, usagef("-prefix %q: want 3 to 10 digits", prefix)
	}
	if n <= 0 {
		return nil, usagef("-keys %d: must be > 0", n)
	}
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%0*d", len(prefix), v+uint64(i))
		if len(keys[i]) != len(prefix) {
			return nil, usagef("-prefix %s -keys %d: the range outgrows %d digits", prefix, n, len(prefix))
		}
	}
	return keys, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// output is the -json object: the result and what the run worked on.
type output struct {
	lincheck.Result
	Keys     []string `json:"keys"`
	Gateways []string `json:"gateways"`
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fail := func(code int, format string, args ...any) int {
		fmt.Fprintf(stderr, "gns-lincheck: "+format+"\n", args...)
		return code
	}
	o, err := parse(args)
	var ue *usageError
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usageText)
		return exitOK
	case errors.As(err, &ue):
		return fail(exitUsage, "%v\n\n%s", err, usageText)
	case o.version:
		fmt.Fprintln(stdout, buildinfo.Version("gns-lincheck"))
		return exitOK
	}
	creds, err := o.tls.credentials()
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	c, err := dialCluster(o.addrs, o.token, creds)
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	defer c.close()
	if len(o.cfg.Choices) == 0 {
		if o.cfg.Choices, err = c.gateways(ctx, o.connectTimeout); err != nil {
			return fail(exitUsage, "find the table's gateways: %v", err)
		}
	}
	until := fmt.Sprintf("for %v", o.cfg.Duration)
	if o.cfg.OpsPerClient > 0 {
		until = fmt.Sprintf("for %d ops each (at most %v)", o.cfg.OpsPerClient, o.cfg.Duration)
	}
	fmt.Fprintf(stderr, "gns-lincheck: %d clients over %d nodes %s, segments %s..%s, gateways %s\n",
		o.cfg.Clients, len(o.addrs), until, o.cfg.Keys[0], o.cfg.Keys[len(o.cfg.Keys)-1], strings.Join(o.cfg.Choices, ","))
	h, err := lincheck.Run(ctx, c, o.cfg)
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	res, err := lincheck.Check(h, o.check)
	if err != nil {
		fmt.Fprintf(stderr, "gns-lincheck: %v\n", err)
	}
	summary := res.Summary()
	if o.json {
		b, err := json.MarshalIndent(output{Result: res, Keys: o.cfg.Keys, Gateways: o.cfg.Choices}, "", "  ")
		if err != nil {
			return fail(exitFail, "encode result: %v", err)
		}
		fmt.Fprintf(stdout, "%s\n", b)
		fmt.Fprintln(stderr, summary)
	} else {
		fmt.Fprintln(stdout, summary)
	}
	if res.WritesOK+res.ReadsOK+res.StaleOK == 0 {
		var b strings.Builder
		for _, e := range res.Errors {
			fmt.Fprintf(&b, "\n  %d× %s", e.Count, e.Err)
		}
		return fail(exitUsage, "no operation succeeded; the most frequent errors:%s", b.String())
	}
	if !res.Linearizable {
		return exitFail
	}
	return exitOK
}
