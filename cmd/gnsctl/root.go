package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tandem-sms/tandem/internal/buildinfo"
)

// defaultAddr is the GNS gRPC address when neither --addr nor
// $GNS_ENDPOINTS gives one.
const defaultAddr = "127.0.0.1:9190"

const rootLong = `gnsctl administers a GNS cluster over its gRPC API.

Every command but watch keeps trying for --timeout (default 10s) across the
addresses while the cluster elects a leader; all of them are safe to repeat.
A write that fails says whether it may have been applied.

Addresses come from --addr (or --endpoints), else $GNS_ENDPOINTS, else
127.0.0.1:9190; the token from --token, else $GNS_TOKEN; the CA from
--tls-ca, else $GNS_TLS_CA. Go-style single-dash flags (-addr, -token) work
too. Exit codes: 0 ok, 1 error, 2 usage, 3 not found.`

// newRoot builds the command tree for one invocation; flags bind to c.
func newRoot(c *ctl) *cobra.Command {
	var (
		addr   string
		useTLS bool
		tlsCA  string
	)
	root := &cobra.Command{
		Use:           "gnsctl",
		Short:         "Administer a GNS cluster",
		Long:          rootLong,
		Version:       buildinfo.Version("gnsctl"),
		SilenceErrors: true, // c.fail prints them, once
		SilenceUsage:  true,
		Args:          noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SetOut(c.stderr)
			_ = cmd.Usage()
			return usagef("no command")
		},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Name() == "completion" || cmd.HasParent() && cmd.Parent().Name() == "completion" {
				return nil // completion scripts need no cluster
			}
			return c.setup(addr, useTLS, tlsCA)
		},
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usagef("%s: %v", cmd.CommandPath(), err)
	})
	pf := root.PersistentFlags()
	envAddr := os.Getenv("GNS_ENDPOINTS")
	if envAddr == "" {
		envAddr = defaultAddr
	}
	pf.StringVar(&addr, "addr", envAddr, "GNS gRPC address(es), comma-separated; each is tried, leader hints followed ($GNS_ENDPOINTS)")
	pf.StringVar(&addr, "endpoints", envAddr, "same as --addr (etcdctl's name)")
	pf.StringVar(&c.token, "token", os.Getenv("GNS_TOKEN"), "bearer token ($GNS_TOKEN)")
	pf.BoolVar(&useTLS, "tls", false, "connect with TLS, verifying the server with the system roots (or --tls-ca)")
	pf.StringVar(&tlsCA, "tls-ca", os.Getenv("GNS_TLS_CA"), "PEM CA bundle that verifies the servers; implies --tls ($GNS_TLS_CA)")
	pf.StringVarP(&c.output, "output", "o", "table", "output: table, json or yaml")
	pf.DurationVar(&c.timeout, "timeout", 10*time.Second, "how long a command keeps trying, across the addresses and through a leader change (not watch)")
	_ = root.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"table", "json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))

	root.AddCommand(
		tableCmd(c), spCmd(c), segmentCmd(c), gatewayCmd(c), portedCmd(c),
		routeCmd(c), clusterCmd(c), watchCmd(c),
	)
	return root
}

// setup checks the global flags and builds the transport credentials.
func (c *ctl) setup(addr string, useTLS bool, tlsCA string) error {
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
	c.addrs = splitComma(addr)
	if len(c.addrs) == 0 {
		return usagef("--addr is empty")
	}
	if c.timeout <= 0 {
		return usagef("--timeout %v: must be > 0", c.timeout)
	}
	return nil
}

// group is a command that only holds subcommands: alone it prints them;
// with an unknown subcommand it is a usage error.
func group(use, short string, subs ...*cobra.Command) *cobra.Command {
	g := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	g.AddCommand(subs...)
	return g
}

// noArgs is cobra.NoArgs as a usage error; under a group it names the
// unknown subcommand.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("unknown command %q for %q", args[0], cmd.CommandPath())
	}
	return nil
}

// nargs checks a command's positional argument count.
func nargs(lo, hi int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < lo || len(args) > hi {
			return usagef("usage: %s", cmd.UseLine())
		}
		return nil
	}
}

// runE adapts a command body: its errors are the command's own (exit 1 or
// 3), unless it says usage.
func runE(fn func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := fn(cmd, args); err != nil {
			return &cmdError{err}
		}
		return nil
	}
}

func splitComma(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
