// Command ismg runs one ISMG gateway node.
//
//	ismg -config beijing.yaml         serve; SIGHUP reloads SP accounts and limits
//	                                  and logs what needs a restart
//	ismg -check-config beijing.yaml   validate the file and exit
//	ismg -health http://127.0.0.1:9190/healthz
//	                                  exit 0 if the node's /healthz answers 200 (a
//	                                  container health check: FROM-scratch images
//	                                  have no shell or curl)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tandem-sms/tandem/internal/buildinfo"
	"github.com/tandem-sms/tandem/internal/healthprobe"
	"github.com/tandem-sms/tandem/internal/logging"
	"github.com/tandem-sms/tandem/ismg"
	"github.com/tandem-sms/tandem/routing"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	if err := run(ctx, os.Args[1:], hup, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run parses args, starts the node and serves until ctx ends; every value
// on reload triggers a Reload from the same file.
func run(ctx context.Context, args []string, reload <-chan os.Signal, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ismg", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "node configuration file (YAML)")
	check := fs.String("check-config", "", "validate this configuration file and exit")
	logFlags := logging.AddFlags(fs, "info")
	health := fs.String("health", "", "probe this /healthz URL and exit 0 if it answers 200 (for container health checks)")
	version := buildinfo.Flag(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // -h: the usage is printed, nothing failed
		}
		return err
	}
	if *version {
		_, err := fmt.Fprintln(stdout, buildinfo.Version("ismg"))
		return err
	}
	if *health != "" {
		return healthprobe.Probe(ctx, *health, stdout)
	}
	if *check != "" {
		cfg, err := ismg.LoadConfig(*check)
		if err != nil {
			return err
		}
		if len(cfg.Routes.GNS) > 0 {
			fmt.Fprintf(stdout, "%s: ok (routes from the GNS at %s)\n", *check, strings.Join(cfg.Routes.GNS, ", "))
			return nil
		}
		// The node cannot start without its route table, so a check that
		// passed the file but not the table it names would mislead.
		if _, err := routing.LoadFile(cfg.Routes.File); err != nil {
			return fmt.Errorf("ismg: config %s: routes.file: %w", *check, err)
		}
		fmt.Fprintf(stdout, "%s: ok (route table %s)\n", *check, cfg.Routes.File)
		return nil
	}
	if *cfgPath == "" {
		fs.Usage()
		return errors.New("ismg: -config is required")
	}
	log, level, err := logFlags.NewVar(stderr)
	if err != nil {
		return fmt.Errorf("ismg: %w", err)
	}
	cfg, err := ismg.LoadConfig(*cfgPath)
	if err != nil {
		return err
	}
	applyRuntime(cfg.Runtime, log)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := buildinfo.Register(reg, "ismg"); err != nil {
		return err
	}
	node, err := ismg.New(cfg, ismg.WithLogger(log), ismg.WithRegistry(reg), ismg.WithLogLevel(level))
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- node.Run(ctx) }()
	fmt.Fprintf(stdout, "ismg %s listening cmpp=%s http=%s admin=%s\n", cfg.Gateway.Code, node.CMPPAddr(), node.HTTPAddr(), node.AdminAddr())
	for {
		select {
		case err := <-done:
			return err
		case <-reload:
			// The node logs what it applied and what needs a restart
			// (or why it failed) and sets ismg_config_last_reload_*.
			node.ReloadFile(*cfgPath)
		}
	}
}

// applyRuntime sets the collector's pacing from the config's runtime
// section unless the GOGC or GOMEMLIMIT environment variable already did.
// It is applied at start-up only (a reload leaves it).
func applyRuntime(rc ismg.RuntimeConfig, log *slog.Logger) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(rc.GCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" && rc.MemoryLimitMB > 0 {
		debug.SetMemoryLimit(rc.MemoryLimitMB << 20)
	}
	// SetGCPercent reports the value it replaces, so reading it means
	// setting it back.
	pct := debug.SetGCPercent(-1)
	debug.SetGCPercent(pct)
	log.Info("go runtime", "gc_percent", pct, "memory_limit_bytes", debug.SetMemoryLimit(-1))
}
