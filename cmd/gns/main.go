// Command gns runs one GNS node: a member of the Raft cluster holding the
// carrier's route table, serving the gRPC API, the CMPP route PDUs and
// /metrics + /healthz.
//
//	gns -id gns1 -data /var/lib/gns -raft 10.0.0.1:7000 -grpc 10.0.0.1:9190 -bootstrap
//	gns -id gns2 -data /var/lib/gns -raft 10.0.0.2:7000 -grpc 10.0.0.2:9190 -join 10.0.0.1:9190
//	gns -config /etc/tandem/gns.yaml
//	gns cert ca -out /etc/tandem/raft-ca
//	gns cert node -ca /etc/tandem/raft-ca -id gns1 -host 10.0.0.1 -out /etc/tandem/raft
//
// Flags given on the command line override the config file's keys.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // zone names resolve without a zoneinfo database (FROM-scratch images)

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.yaml.in/yaml/v3"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/gns"
	"github.com/tandem-sms/tandem/internal/buildinfo"
	"github.com/tandem-sms/tandem/internal/healthprobe"
	"github.com/tandem-sms/tandem/internal/logging"
	"github.com/tandem-sms/tandem/internal/yamlkeys"
	"github.com/tandem-sms/tandem/internal/zone"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gns:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

// fileConfig is the YAML config file; its keys match the flags.
type fileConfig struct {
	ID            string   `yaml:"id"`
	Data          string   `yaml:"data"`
	Raft          string   `yaml:"raft"`
	RaftAdvertise string   `yaml:"raft_advertise"`
	GRPC          string   `yaml:"grpc"`
	GRPCAdvertise string   `yaml:"grpc_advertise"`
	CMPP          *string  `yaml:"cmpp"`
	HTTP          *string  `yaml:"http"`
	Bootstrap     bool     `yaml:"bootstrap"`
	Join          []string `yaml:"join"`
	Token         string   `yaml:"token"`
	TLSCert       string   `yaml:"tls_cert"`
	TLSKey        string   `yaml:"tls_key"`
	TLSCA         string   `yaml:"tls_ca"`
	RaftTLSCert   string   `yaml:"raft_tls_cert"`
	RaftTLSKey    string   `yaml:"raft_tls_key"`
	RaftTLSCA     string   `yaml:"raft_tls_ca"`
	InsecureRaft  bool     `yaml:"insecure_raft"`

	CMPPAllow             []string          `yaml:"cmpp_allow"`
	CMPPConnectTimeout    *time.Duration    `yaml:"cmpp_connect_timeout"`
	CMPPMaxPending        *int              `yaml:"cmpp_max_pending"`
	CMPPMaxPendingPerIP   *int              `yaml:"cmpp_max_pending_per_ip"`
	CMPPLockoutFailures   *int              `yaml:"cmpp_lockout_failures"`
	CMPPLockoutIPFailures *int              `yaml:"cmpp_lockout_ip_failures"`
	CMPPLockoutWindow     *time.Duration    `yaml:"cmpp_lockout_window"`
	GatewayCode           string            `yaml:"gateway_code"`
	CMPPSecrets           map[string]string `yaml:"cmpp_secrets"`
	PushPeers             []gns.PushPeer    `yaml:"push_peers"`
	WatchHistory          *int              `yaml:"watch_history"`
	LogLevel              string            `yaml:"log_level"`
	Timezone              string            `yaml:"timezone"`
}

func loadFile(name string, cfg *gns.Config, level *string) error {
	b, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	var fc fileConfig
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&fc); err != nil && !errors.Is(err, io.EOF) {
		return yamlkeys.DecodeError(name, b, err)
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&cfg.NodeID, fc.ID)
	set(&cfg.DataDir, fc.Data)
	set(&cfg.RaftAddr, fc.Raft)
	set(&cfg.RaftAdvertise, fc.RaftAdvertise)
	set(&cfg.GRPCAddr, fc.GRPC)
	set(&cfg.GRPCAdvertise, fc.GRPCAdvertise)
	if fc.Timezone != "" {
		if _, err := zone.Load(fc.Timezone); err != nil {
			var root yaml.Node
			_ = yaml.Unmarshal(b, &root)
			return fmt.Errorf("%s:%d: timezone: %v", name, yamlkeys.Index(&root)["timezone"], err)
		}
		cfg.Timezone = fc.Timezone
	}
	if fc.CMPP != nil {
		cfg.CMPPAddr = *fc.CMPP
	}
	if fc.HTTP != nil {
		cfg.HTTPAddr = *fc.HTTP
	}
	cfg.Bootstrap = cfg.Bootstrap || fc.Bootstrap
	if len(fc.Join) > 0 {
		cfg.Join = fc.Join
	}
	set(&cfg.Token, fc.Token)
	set(&cfg.TLSCert, fc.TLSCert)
	set(&cfg.TLSKey, fc.TLSKey)
	set(&cfg.TLSCA, fc.TLSCA)
	set(&cfg.RaftTLSCert, fc.RaftTLSCert)
	set(&cfg.RaftTLSKey, fc.RaftTLSKey)
	set(&cfg.RaftTLSCA, fc.RaftTLSCA)
	cfg.InsecureRaft = cfg.InsecureRaft || fc.InsecureRaft
	if fc.CMPPAllow != nil {
		allow, err := parseNets(fc.CMPPAllow)
		if err != nil {
			return fmt.Errorf("%s: cmpp_allow: %w", name, err)
		}
		cfg.CMPPAllow = allow
	}
	setPtr(&cfg.CMPPConnectTimeout, fc.CMPPConnectTimeout)
	setPtr(&cfg.CMPPMaxPending, fc.CMPPMaxPending)
	setPtr(&cfg.CMPPMaxPendingPerIP, fc.CMPPMaxPendingPerIP)
	setPtr(&cfg.CMPPLockout.Failures, fc.CMPPLockoutFailures)
	setPtr(&cfg.CMPPLockout.IPFailures, fc.CMPPLockoutIPFailures)
	setPtr(&cfg.CMPPLockout.Window, fc.CMPPLockoutWindow)
	set(&cfg.GatewayCode, fc.GatewayCode)
	if fc.CMPPSecrets != nil {
		cfg.CMPPSecrets = fc.CMPPSecrets
	}
	cfg.PushPeers = append(cfg.PushPeers, fc.PushPeers...)
	if fc.WatchHistory != nil {
		cfg.WatchHistory = *fc.WatchHistory
	}
	set(level, fc.LogLevel)
	return nil
}

// setPtr copies a config file value that was given.
func setPtr[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// parseNets reads CIDRs ("10.1.0.0/16") or single addresses ("10.1.0.7").
func parseNets(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("%q is neither a CIDR network nor an IP address", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "cert" {
		return runCert(args[1:], stdout, stderr)
	}
	cfg := gns.DefaultConfig()
	fs := flag.NewFlagSet("gns", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		id        = fs.String("id", "", "node ID (stable across restarts)")
		data      = fs.String("data", "", "data directory (Raft log and snapshots)")
		raftAddr  = fs.String("raft", "", "Raft transport listen address host:port")
		grpcAddr  = fs.String("grpc", cfg.GRPCAddr, "gRPC API listen address")
		cmppAddr  = fs.String("cmpp", cfg.CMPPAddr, "CMPP route-PDU listen address (empty disables)")
		httpAddr  = fs.String("http", cfg.HTTPAddr, "/metrics and /healthz listen address (empty disables)")
		bootstrap = fs.Bool("bootstrap", false, "form a new cluster if the data directory is empty")
		join      = fs.String("join", "", "gRPC address(es) of existing members to join, comma-separated")
		token     = fs.String("token", "", "bearer token required on the gRPC API")
		tlsCert   = fs.String("tls-cert", "", "PEM certificate: serve the gRPC API over TLS (with -tls-key)")
		tlsKey    = fs.String("tls-key", "", "PEM private key of -tls-cert")
		tlsCA     = fs.String("tls-ca", "", "PEM CA bundle that verifies the other nodes' certificates (default: system roots)")
		raftCert  = fs.String("raft-tls-cert", "", "PEM certificate of this node for mutual TLS on the Raft port (with -raft-tls-key, -raft-tls-ca; see gns cert)")
		raftKey   = fs.String("raft-tls-key", "", "PEM private key of -raft-tls-cert")
		raftCA    = fs.String("raft-tls-ca", "", "PEM cluster CA: the Raft port admits only peers whose certificate it signed")
		insecure  = fs.Bool("insecure-raft", false, "allow -token with a plaintext Raft port (anyone who reaches it can change the route table)")
		cmppAllow = fs.String("cmpp-allow", "", "networks (CIDR or IP, comma-separated) allowed to connect to the CMPP route port (default: any)")
		cmppLogin = fs.Duration("cmpp-connect-timeout", cmpp.DefaultConnectTimeout, "CMPP route port: time from accept to login")
		cmppPend  = fs.Int("cmpp-max-pending", cmpp.DefaultMaxPending, "CMPP route port: connections not logged in yet (-1: no cap)")
		cmppPIP   = fs.Int("cmpp-max-pending-per-ip", cmpp.DefaultMaxPendingPerIP, "CMPP route port: connections not logged in yet, per source address (-1: no cap)")
		lockFail  = fs.Int("cmpp-lockout-failures", cfg.CMPPLockout.Failures, "CMPP route port: failed logins of one gateway code from one IP that lock it out (0: off)")
		lockIP    = fs.Int("cmpp-lockout-ip-failures", cfg.CMPPLockout.IPFailures, "CMPP route port: failed logins from one IP, any gateway code, that lock out the IP (0: off)")
		lockWin   = fs.Duration("cmpp-lockout-window", cfg.CMPPLockout.Window, "CMPP route port: window in which failed logins count, and how long a lockout lasts")
		file      = fs.String("config", "", "YAML config file (keys as the flags)")
		tz        = fs.String("timezone", cfg.Timezone, "zone of the CMPP route PDUs' Time_stamp: an IANA name, UTC, or Local for the host's")
		version   = buildinfo.Flag(fs)
		health    = fs.String("health", "", "probe this /healthz URL and exit 0 if it answers 200: the node serves and knows a leader (for container health checks)")
	)
	logFlags := logging.AddFlags(fs, "info")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	if *version {
		_, err := fmt.Fprintln(stdout, buildinfo.Version("gns"))
		return err
	}
	if *health != "" {
		return healthprobe.Probe(ctx, *health, stdout)
	}
	logLevel := logFlags.Level
	if *file != "" {
		if err := loadFile(*file, &cfg, &logLevel); err != nil {
			return fmt.Errorf("config: %w", err)
		}
	}
	// Flags given explicitly win over the file.
	var flagErr error
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "id":
			cfg.NodeID = *id
		case "data":
			cfg.DataDir = *data
		case "raft":
			cfg.RaftAddr = *raftAddr
		case "grpc":
			cfg.GRPCAddr = *grpcAddr
		case "cmpp":
			cfg.CMPPAddr = *cmppAddr
		case "http":
			cfg.HTTPAddr = *httpAddr
		case "bootstrap":
			cfg.Bootstrap = *bootstrap
		case "join":
			cfg.Join = splitList(*join)
		case "token":
			cfg.Token = *token
		case "tls-cert":
			cfg.TLSCert = *tlsCert
		case "tls-key":
			cfg.TLSKey = *tlsKey
		case "tls-ca":
			cfg.TLSCA = *tlsCA
		case "raft-tls-cert":
			cfg.RaftTLSCert = *raftCert
		case "raft-tls-key":
			cfg.RaftTLSKey = *raftKey
		case "raft-tls-ca":
			cfg.RaftTLSCA = *raftCA
		case "insecure-raft":
			cfg.InsecureRaft = *insecure
		case "cmpp-allow":
			allow, err := parseNets(splitList(*cmppAllow))
			if err != nil {
				flagErr = fmt.Errorf("%w: -cmpp-allow: %v", errUsage, err)
			}
			cfg.CMPPAllow = allow
		case "cmpp-connect-timeout":
			cfg.CMPPConnectTimeout = *cmppLogin
		case "cmpp-max-pending":
			cfg.CMPPMaxPending = *cmppPend
		case "cmpp-max-pending-per-ip":
			cfg.CMPPMaxPendingPerIP = *cmppPIP
		case "cmpp-lockout-failures":
			cfg.CMPPLockout.Failures = *lockFail
		case "cmpp-lockout-ip-failures":
			cfg.CMPPLockout.IPFailures = *lockIP
		case "cmpp-lockout-window":
			cfg.CMPPLockout.Window = *lockWin
		case "log-level":
			logLevel = logFlags.Level
		case "timezone":
			cfg.Timezone = *tz
		}
	})
	if flagErr != nil {
		return flagErr
	}
	log, err := logging.New(stderr, logFlags.Format, logLevel)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	cfg.Logger = log
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := buildinfo.Register(reg, "gns"); err != nil {
		return err
	}
	cfg.Registerer = reg
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	n, err := gns.New(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "gns %s listening grpc=%s raft=%s cmpp=%s http=%s\n", cfg.NodeID, n.GRPCAddr(), n.RaftAddr(), n.CMPPAddr(), n.HTTPAddr())
	start := time.Now()
	err = n.Run(ctx)
	fmt.Fprintf(stdout, "gns %s stopped after %s\n", cfg.NodeID, time.Since(start).Round(time.Millisecond))
	return err
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
