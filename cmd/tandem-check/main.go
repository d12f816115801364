// Command tandem-check counts what happened to every message of a test
// run from the simulators' own records (package sim/check): the -record
// files of every spsim (SP client) and every smscsim (SMSC) of the run,
// in any order, told apart by their content.
//
//	tandem-check sp-beijing.jsonl sp-guangzhou.jsonl smsc-north.jsonl smsc-south.jsonl
//	tandem-check -o json -max-duplicates 16 records/      # every *.jsonl in the directory
//
// It prints sent, acked, delivered, duplicated, lost, reports missing and
// repeated (in total and per spsim run) and a verdict. Exit status: 0 the
// check passed; 1 it failed (a message acked and never delivered, an
// acked and delivered message without its status report, a Msg_Id acked
// twice, or more duplicates than -max-duplicates); 2 a bad command line;
// 3 a record that cannot be read (a torn last line, as a crash leaves,
// is skipped and noted, not an error).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	_ "time/tzdata" // zone names resolve without a zoneinfo database (FROM-scratch images)

	"github.com/tandem-sms/tandem/internal/buildinfo"
	"github.com/tandem-sms/tandem/sim/check"
)

var (
	errUsage  = errors.New("tandem-check: usage")
	errFailed = errors.New("tandem-check: check failed")
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case err == nil:
	case errors.Is(err, errFailed):
		os.Exit(1) // the report says why
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tandem-check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: tandem-check [-o text|json] [-max-duplicates N] FILE|DIR...\n"+
			"  Joins spsim and smscsim -record files (a directory stands for its *.jsonl files).\n")
		fs.PrintDefaults()
	}
	out := fs.String("o", "text", "output: text or json")
	version := buildinfo.Flag(fs)
	var l check.Limits
	fs.IntVar(&l.MaxDuplicates, "max-duplicates", 0, "messages that may be delivered more than once before the check fails (a crash can make a few)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if *version {
		_, err := fmt.Fprintln(stdout, buildinfo.Version("tandem-check"))
		return err
	}
	if *out != "text" && *out != "json" {
		return fmt.Errorf("%w: -o %q: want text or json", errUsage, *out)
	}
	if l.MaxDuplicates < 0 {
		return fmt.Errorf("%w: -max-duplicates must be >= 0", errUsage)
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("%w: no record files", errUsage)
	}
	files, err := expand(fs.Args())
	if err != nil {
		return err
	}
	c := check.New()
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := c.AddFile(f); err != nil {
			return err
		}
	}
	rep, err := c.Report(l)
	if err != nil {
		return err
	}
	if *out == "json" {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.Print(stdout)
	}
	if err != nil {
		return err
	}
	if !rep.OK() {
		return fmt.Errorf("%w: %s", errFailed, strings.Join(rep.Failures, ", "))
	}
	return nil
}

// expand replaces each directory argument by its *.jsonl files, sorted.
func expand(args []string) ([]string, error) {
	var files []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, fmt.Errorf("tandem-check: %w", err)
		}
		if !st.IsDir() {
			files = append(files, a)
			continue
		}
		m, err := filepath.Glob(filepath.Join(a, "*.jsonl"))
		if err != nil {
			return nil, fmt.Errorf("tandem-check: %w", err)
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("tandem-check: %s: no *.jsonl record files", a)
		}
		slices.Sort(m)
		files = append(files, m...)
	}
	return files, nil
}
