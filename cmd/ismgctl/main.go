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
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/tandem-sms/tandem/internal/buildinfo"
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
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	return c.fail(root.ExecuteContext(ctx))
}

type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// cmdError marks a command's own error; anything else cobra returns is
// a usage error.
type cmdError struct{ err error }

func (e *cmdError) Error() string { return e.err.Error() }
func (e *cmdError) Unwrap() error { return e.err }

func (c *ctl) fail(err error) int {
	if err == nil {
		return exitOK
	}
	var ue *usageError
	var ce *cmdError
	if errors.As(err, &ue) || !errors.As(err, &ce) {
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
	c.creds = insecure.NewCredentials()
	if useTLS || tlsCA != "" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if tlsCA != "" {
			pem, err := os.ReadFile(tlsCA)
			if err != nil {
				return &cmdError{fmt.Errorf("--tls-ca: %w", err)}
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return &cmdError{fmt.Errorf("--tls-ca %s: no PEM certificate in it", tlsCA)}
			}
		}
		c.creds = credentials.NewTLS(tc)
	}
	switch c.output {
	case "table", "json", "yaml":
	default:
		return usagef("-o %q: want table, json or yaml", c.output)
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
	root.AddCommand(spCmd(c), destCmd(c), linkCmd(c), logLevelCmd(c), drainCmd(c), reloadCmd(c), auditCmd(c))
	return root
}

// group holds subcommands: alone it prints them.
func group(use, short string, subs ...*cobra.Command) *cobra.Command {
	g := &cobra.Command{Use: use, Short: short, Args: noArgs, RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() }}
	g.AddCommand(subs...)
	return g
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("unknown command %q for %q", args[0], cmd.CommandPath())
	}
	return nil
}

func nargs(lo, hi int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < lo || len(args) > hi {
			return usagef("usage: %s", cmd.UseLine())
		}
		return nil
	}
}

// runE marks a command body's errors as its own (exit 1 or 3).
func runE(fn func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := fn(cmd, args); err != nil {
			var ue *usageError
			if errors.As(err, &ue) {
				return err
			}
			return &cmdError{err}
		}
		return nil
	}
}
