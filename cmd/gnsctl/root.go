package main

import (
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-sms/tandem/internal/buildinfo"
	"github.com/tandem-sms/tandem/internal/clicmd"
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
		routeCmd(c), clusterCmd(c), watchCmd(c), storeCmd(c),
	)
	return root
}

// setup checks the global flags and builds the transport credentials.
func (c *ctl) setup(addr string, useTLS bool, tlsCA string) error {
	var err error
	if c.creds, err = clicmd.Credentials(useTLS, tlsCA); err != nil {
		return err
	}
	if err := clicmd.CheckOutput(c.output); err != nil {
		return err
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

func splitComma(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
