// Command gnsctl administers a GNS cluster over its gRPC API: push and
// export route tables, edit SPs and segments, resolve routes, manage
// members and follow the watch stream.
//
//	gnsctl [-addr host:port,...] [-token T] [-o table|json] [-timeout 10s] COMMAND ...
//
// Exit codes: 0 ok, 1 error (also: cluster status found diverged tables),
// 2 usage, 3 not found. Calls ride out a leader change: see retry.go.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/tandem-sms/tandem/gns/gnspb"
	"github.com/tandem-sms/tandem/internal/buildinfo"
)

// Exit codes.
const (
	exitOK       = 0
	exitError    = 1
	exitUsage    = 2
	exitNotFound = 3
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usageText = `usage: gnsctl [-addr host:port,...] [-token T] [-tls] [-tls-ca FILE] [-o table|json] [-timeout D] COMMAND

commands:
  table push FILE                 validate FILE locally, then replace the whole table
  table export [-o yaml]          print the table (yaml: a loadable table file)
  sp add --id ID --name N --codes C1,C2 --gateway GW [--mirrors GW,..] [--default GW]
         [--partition name=region1,region2:gateway ...]
  sp rm ID | sp show ID
  segment add PREFIX GATEWAY [--smsc LINK] [--area CODE] [--user-type N]
  segment rm PREFIX
  route mt NUMBER [--stale]
  route mo CODE (--gateway GW | --region R) [--stale]
  cluster status                  members, each node's table revision and digest; exit 1 if tables diverged
  cluster join ID RAFTADDR GRPCADDR | cluster remove ID
  watch [--from REV]              print each event until interrupted

Every command but watch keeps trying for -timeout (default 10s) across the
addresses while the cluster elects a leader; all of them are safe to repeat.
A write that fails says whether it may have been applied.
`

// usageError is a mistake in the command line (exit 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// errReported means the command already printed its errors (exit 1).
var errReported = errors.New("reported")

// ctl is one invocation: global options and output.
type ctl struct {
	addrs   []string
	token   string
	creds   credentials.TransportCredentials
	output  string // "table" or "json"
	timeout time.Duration
	stdout  io.Writer
	stderr  io.Writer
	conns   map[string]*grpc.ClientConn
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := &ctl{stdout: stdout, stderr: stderr, conns: map[string]*grpc.ClientConn{}}
	defer c.close()
	fs := flag.NewFlagSet("gnsctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addr := fs.String("addr", "127.0.0.1:9190", "GNS gRPC address(es), comma-separated; each is tried, leader hints followed")
	fs.StringVar(&c.token, "token", os.Getenv("GNS_TOKEN"), "bearer token (default $GNS_TOKEN)")
	useTLS := fs.Bool("tls", false, "connect with TLS, verifying the server with the system roots (or -tls-ca)")
	tlsCA := fs.String("tls-ca", os.Getenv("GNS_TLS_CA"), "PEM CA bundle that verifies the servers; implies -tls (default $GNS_TLS_CA)")
	fs.StringVar(&c.output, "o", "table", "output: table or json")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "how long a command keeps trying, across the addresses and through a leader change (not watch)")
	version := buildinfo.Flag(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usageText)
			return exitOK
		}
		return c.fail(usagef("%v", err))
	}
	if *version {
		fmt.Fprintln(stdout, buildinfo.Version("gnsctl"))
		return exitOK
	}
	c.creds = insecure.NewCredentials()
	if *useTLS || *tlsCA != "" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if *tlsCA != "" {
			pem, err := os.ReadFile(*tlsCA)
			if err != nil {
				return c.fail(fmt.Errorf("-tls-ca: %w", err))
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return c.fail(fmt.Errorf("-tls-ca %s: no PEM certificate in it", *tlsCA))
			}
		}
		c.creds = credentials.NewTLS(tc)
	}
	if c.output != "table" && c.output != "json" {
		return c.fail(usagef("-o %q: want table or json", c.output))
	}
	for _, a := range strings.Split(*addr, ",") {
		if a = strings.TrimSpace(a); a != "" {
			c.addrs = append(c.addrs, a)
		}
	}
	if len(c.addrs) == 0 {
		return c.fail(usagef("-addr is empty"))
	}
	if c.timeout <= 0 {
		return c.fail(usagef("-timeout %v: must be > 0", c.timeout))
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return c.fail(usagef("no command"))
	}
	return c.fail(c.dispatch(ctx, rest))
}

func (c *ctl) dispatch(ctx context.Context, args []string) error {
	cmd, sub := args[0], ""
	if len(args) > 1 {
		sub = args[1]
	}
	switch cmd {
	case "table":
		switch sub {
		case "push":
			return c.tablePush(ctx, args[2:])
		case "export":
			return c.tableExport(ctx, args[2:])
		}
	case "sp":
		switch sub {
		case "add":
			return c.spAdd(ctx, args[2:])
		case "rm":
			return c.spRemove(ctx, args[2:])
		case "show":
			return c.spShow(ctx, args[2:])
		}
	case "segment":
		switch sub {
		case "add":
			return c.segmentAdd(ctx, args[2:])
		case "rm":
			return c.segmentRemove(ctx, args[2:])
		}
	case "route":
		switch sub {
		case "mt":
			return c.routeMT(ctx, args[2:])
		case "mo":
			return c.routeMO(ctx, args[2:])
		}
	case "cluster":
		switch sub {
		case "status":
			return c.clusterStatus(ctx, args[2:])
		case "join":
			return c.clusterJoin(ctx, args[2:])
		case "remove":
			return c.clusterRemove(ctx, args[2:])
		}
	case "watch":
		return c.watch(ctx, args[1:])
	case "help":
		fmt.Fprint(c.stdout, usageText)
		return nil
	}
	return usagef("unknown command %q", strings.Join(args[:min(2, len(args))], " "))
}

// fail prints err and maps it to an exit code.
func (c *ctl) fail(err error) int {
	if err == nil {
		return exitOK
	}
	var ue *usageError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(c.stderr, "gnsctl: %v\n\n%s", err, usageText)
		return exitUsage
	case errors.Is(err, errReported):
		return exitError
	case status.Code(err) == codes.NotFound:
		fmt.Fprintf(c.stderr, "gnsctl: %s\n", explain(err))
		return exitNotFound
	}
	fmt.Fprintf(c.stderr, "gnsctl: %s\n", explain(err))
	return exitError
}

func (c *ctl) close() {
	for _, cc := range c.conns {
		cc.Close()
	}
}

func (c *ctl) client(addr string) (gnspb.GNSClient, error) {
	cc, ok := c.conns[addr]
	if !ok {
		var err error
		cc, err = grpc.NewClient(addr, grpc.WithTransportCredentials(c.creds),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)))
		if err != nil {
			return nil, fmt.Errorf("dial %s: %w", addr, err)
		}
		c.conns[addr] = cc
	}
	return gnspb.NewGNSClient(cc), nil
}

func (c *ctl) outgoing(ctx context.Context) context.Context {
	if c.token == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.token)
}
