// Command gnsctl administers a GNS cluster over its gRPC API: push and
// export route tables, edit gateways, SPs, segments and ported numbers,
// resolve routes, manage members and follow the watch stream.
//
//	gnsctl [--addr host:port,...] [--token T] [-o table|json|yaml] [--timeout 10s] COMMAND ...
//
// The command tree is cobra's (root.go): per-command help, flags anywhere
// after the command, shell completion. Exit codes: 0 ok, 1 error (also:
// cluster status found diverged tables), 2 usage, 3 not found. Calls ride
// out a leader change: see retry.go.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
	_ "time/tzdata" // zone names resolve without a zoneinfo database (FROM-scratch images)

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/tandem-sms/tandem/gns/gnspb"
	"github.com/tandem-sms/tandem/internal/clicmd"
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
	code := runIO(ctx, os.Args[1:], stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr, terminal: isTerminal(os.Stdin)})
	stop()
	os.Exit(code)
}

// stdio is where a command reads answers and writes output. terminal says
// whether a person may be at in: only then does table push ask.
type stdio struct {
	in       io.Reader
	out, err io.Writer
	terminal bool
}

// run is gnsctl with no terminal on stdin, as scripts and tests run it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runIO(ctx, args, stdio{in: eofReader{}, out: stdout, err: stderr})
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

func runIO(ctx context.Context, args []string, io stdio) int {
	c := &ctl{stdout: io.out, stderr: io.err, stdin: io.in, terminal: io.terminal, conns: map[string]*grpc.ClientConn{}}
	defer c.close()
	root := newRoot(c)
	root.SetArgs(clicmd.GoStyleFlags(root, args))
	root.SetOut(io.out)
	root.SetErr(io.err)
	err := root.ExecuteContext(ctx)
	return c.fail(err)
}

var (
	usagef = clicmd.Usagef
	group  = clicmd.Group
	noArgs = clicmd.NoArgs
	nargs  = clicmd.NArgs
	runE   = clicmd.RunE
)

// notFoundError is a key the live table lacks, found so by gnsctl itself
// (exit 3, like the GNS's NotFound).
type notFoundError struct{ msg string }

func (e *notFoundError) Error() string { return e.msg }

// errReported means the command already printed its errors (exit 1).
var errReported = errors.New("reported")

// ctl is one invocation: global options and output.
type ctl struct {
	addrs    []string
	token    string
	creds    credentials.TransportCredentials
	output   string // "table", "json" or "yaml"
	timeout  time.Duration
	stdout   io.Writer
	stderr   io.Writer
	stdin    io.Reader
	terminal bool
	conns    map[string]*grpc.ClientConn
}

// fail prints err and maps it to an exit code.
func (c *ctl) fail(err error) int {
	if err == nil {
		return exitOK
	}
	var nf *notFoundError
	switch {
	case clicmd.IsUsage(err):
		fmt.Fprintf(c.stderr, "gnsctl: %v\nRun 'gnsctl --help' (or COMMAND --help) for usage.\n", err)
		return exitUsage
	case errors.Is(err, errReported):
		return exitError
	case errors.As(err, &nf):
		fmt.Fprintf(c.stderr, "gnsctl: %s\n", nf.msg)
		return exitNotFound
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
