// Command ismgctl administers one ISMG node over its admin gRPC API
// (listen.admin): SP accounts, destination lists, SMSC links, log level,
// drain, reload and the audit log.
//
//	ismgctl [--addr host:port] [--token T] [--tls-ca ca.pem] [-o table|json|yaml] COMMAND ...
//
// Exit codes: 0 ok, 1 error, 2 usage, 3 not found.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // every Tandem binary resolves zone names, also FROM scratch

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/tandem-sms/tandem/internal/buildinfo"
	"github.com/tandem-sms/tandem/internal/clicmd"
	"github.com/tandem-sms/tandem/internal/cliout"
	"github.com/tandem-sms/tandem/ismg/adminpb"
)

const (
	exitOK       = 0
	exitError    = 1
	exitUsage    = 2
	exitNotFound = 3
)

// defaultAddr is the admin address when neither --addr nor $ISMG_ADMIN
// gives one.
const defaultAddr = "127.0.0.1:9390"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// ctl is one invocation: global options, the connection and output.
type ctl struct {
	addr    string
	token   string
	output  string
	timeout time.Duration
	creds   credentials.TransportCredentials
	stdout  io.Writer
	stderr  io.Writer
	cc      *grpc.ClientConn
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := &ctl{stdout: stdout, stderr: stderr}
	defer func() {
		if c.cc != nil {
			c.cc.Close()
		}
	}()
	root := newRoot(c)
	root.SetArgs(clicmd.GoStyleFlags(root, args))
	root.SetOut(stdout)
	root.SetErr(stderr)
	return c.fail(root.ExecuteContext(ctx))
}

var (
	usagef = clicmd.Usagef
	group  = clicmd.Group
	noArgs = clicmd.NoArgs
	nargs  = clicmd.NArgs
	runE   = clicmd.RunE
)

func (c *ctl) fail(err error) int {
	if err == nil {
		return exitOK
	}
	if clicmd.IsUsage(err) {
		fmt.Fprintf(c.stderr, "ismgctl: %v\nRun 'ismgctl --help' (or COMMAND --help) for usage.\n", err)
		return exitUsage
	}
	fmt.Fprintf(c.stderr, "ismgctl: %s\n", c.explain(err))
	if status.Code(err) == codes.NotFound {
		return exitNotFound
	}
	return exitError
}

// explain says what went wrong in the operator's terms.
func (c *ctl) explain(err error) string {
	st, ok := status.FromError(err)
	if !ok {
		return err.Error()
	}
	msg := strings.TrimPrefix(st.Message(), "ismg: ")
	switch st.Code() {
	case codes.Unauthenticated:
		return "the ISMG refused the token (--token, $ISMG_TOKEN; the node's admin.token)"
	case codes.Unavailable:
		switch {
		case strings.Contains(msg, "connection refused"):
			return fmt.Sprintf("no ISMG admin API answered at %s: connection refused (is listen.admin set and the node running?)", c.addr)
		case strings.Contains(msg, "tls") || strings.Contains(msg, "certificate") || strings.Contains(msg, "handshake"):
			return fmt.Sprintf("TLS with %s failed (--tls-ca, --tls): %s", c.addr, msg)
		}
		return fmt.Sprintf("no ISMG admin API answered at %s: %s", c.addr, msg)
	case codes.DeadlineExceeded:
		return fmt.Sprintf("no answer from %s within %v (--timeout)", c.addr, c.timeout)
	}
	return msg
}

func (c *ctl) setup(useTLS bool, tlsCA string) error {
	var err error
	if c.creds, err = clicmd.Credentials(useTLS, tlsCA); err != nil {
		return err
	}
	if err := clicmd.CheckOutput(c.output); err != nil {
		return err
	}
	if c.addr == "" {
		return usagef("--addr is empty")
	}
	if c.timeout <= 0 {
		return usagef("--timeout %v: must be > 0", c.timeout)
	}
	return nil
}

// call runs one RPC with the token and the timeout.
func (c *ctl) call(ctx context.Context, fn func(ctx context.Context, cl adminpb.AdminClient) error) error {
	if c.cc == nil {
		cc, err := grpc.NewClient(c.addr, grpc.WithTransportCredentials(c.creds))
		if err != nil {
			return fmt.Errorf("dial %s: %w", c.addr, err)
		}
		c.cc = cc
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if c.token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.token)
	}
	return fn(ctx, adminpb.NewAdminClient(c.cc))
}

// print writes v for -o json/yaml; false for -o table.
func (c *ctl) print(v any) (bool, error) { return cliout.Print(c.stdout, c.output, v) }

func (c *ctl) table(header string, rows [][]string) { cliout.Table(c.stdout, header, rows) }

const rootLong = `ismgctl administers one ISMG node over its admin gRPC API (listen.admin):
SP accounts (applied at once, kept across restarts, recorded in the audit
log), destination black/white lists, SMSC links, the log level, draining
before maintenance and reloading the config file.

The address comes from --addr, else $ISMG_ADMIN, else 127.0.0.1:9390; the
token from --token, else $ISMG_TOKEN; the CA from --tls-ca, else
$ISMG_TLS_CA. Exit codes: 0 ok, 1 error, 2 usage, 3 not found.`

func newRoot(c *ctl) *cobra.Command {
	var (
		useTLS bool
		tlsCA  string
	)
	root := &cobra.Command{
		Use:           "ismgctl",
		Short:         "Administer an ISMG node",
		Long:          rootLong,
		Version:       buildinfo.Version("ismgctl"),
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SetOut(c.stderr)
			_ = cmd.Usage()
			return usagef("no command")
		},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Name() == "completion" || cmd.HasParent() && cmd.Parent().Name() == "completion" {
				return nil
			}
			return c.setup(useTLS, tlsCA)
		},
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usagef("%s: %v", cmd.CommandPath(), err)
	})
	addr := os.Getenv("ISMG_ADMIN")
	if addr == "" {
		addr = defaultAddr
	}
	pf := root.PersistentFlags()
	pf.StringVar(&c.addr, "addr", addr, "the node's admin address, listen.admin ($ISMG_ADMIN)")
	pf.StringVar(&c.token, "token", os.Getenv("ISMG_TOKEN"), "bearer token, admin.token ($ISMG_TOKEN)")
	pf.BoolVar(&useTLS, "tls", false, "connect with TLS, verifying the node with the system roots (or --tls-ca)")
	pf.StringVar(&tlsCA, "tls-ca", os.Getenv("ISMG_TLS_CA"), "PEM CA bundle that verifies the node; implies --tls ($ISMG_TLS_CA)")
	pf.StringVarP(&c.output, "output", "o", "table", "output: table, json or yaml")
	pf.DurationVar(&c.timeout, "timeout", 10*time.Second, "how long a command waits for its answer")
	_ = root.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"table", "json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))
	root.AddCommand(spCmd(c), destCmd(c), linkCmd(c), logLevelCmd(c), drainCmd(c), reloadCmd(c), auditCmd(c), traceCmd(c), storeCmd(c), adoptCmd(c))
	return root
}
