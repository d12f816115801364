package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tandem-sms/tandem/gns/gnspb"
	"github.com/tandem-sms/tandem/routing"
)

// importChunk is how many segments or ported numbers one ImportTable
// message carries.
const importChunk = 20000

func tableCmd(c *ctl) *cobra.Command {
	var dryRun, yes, stale, showSecrets bool
	push := &cobra.Command{
		Use:   "push FILE",
		Short: "Validate a table file (YAML or JSON) locally, then replace the whole table",
		Long: `Validate FILE locally (every problem as file:line: field), then replace the
live table with it. FILE is a YAML table file or the JSON that
'table export -o json' writes.

--dry-run prints what would change against the live table and pushes
nothing. When stdin is a terminal, push shows that difference and asks
before replacing; -y/--yes skips the question. From a script (stdin not a
terminal) it replaces without asking, as before.`,
		Args: nargs(1, 1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			return c.tablePush(cmd.Context(), args[0], dryRun, yes)
		}),
	}
	push.Flags().BoolVar(&dryRun, "dry-run", false, "print the difference against the live table; push nothing")
	push.Flags().BoolVarP(&yes, "yes", "y", false, "replace without asking")
	export := &cobra.Command{
		Use:   "export",
		Short: "Print the live table (-o yaml or json: a table file that table push loads back)",
		Args:  nargs(0, 0),
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			return c.tableExport(cmd.Context(), stale, showSecrets)
		}),
	}
	export.Flags().BoolVar(&stale, "stale", false, "read this node's table without asking the leader")
	export.Flags().BoolVar(&showSecrets, "show-secrets", false, "write the SP accounts' secrets (the GNS sends them only over TLS or loopback); without, a push of the file keeps the GNS's")
	return group("table", "Push, diff and export the whole route table", push, export)
}

// loadTableFile validates a table file, printing every problem.
func (c *ctl) loadTableFile(name string) (*routing.Table, error) {
	t, err := routing.LoadFile(name)
	var ve *routing.ValidationError
	if errors.As(err, &ve) {
		for _, fe := range ve.Errors {
			fmt.Fprintln(c.stderr, fe.String())
		}
		fmt.Fprintf(c.stderr, "gnsctl: %s: %d problem(s), nothing pushed\n", name, len(ve.Errors))
		return nil, errReported
	}
	return t, err
}

func (c *ctl) tablePush(ctx context.Context, name string, dryRun, yes bool) error {
	t, err := c.loadTableFile(name)
	if err != nil {
		return err
	}
	if dryRun || (!yes && c.terminal) {
		l, err := c.liveTable(ctx, false)
		if err != nil {
			return err
		}
		d := diffTables(l.cont, t.Contents())
		if dryRun {
			if ok, err := c.print(d.list()); ok {
				return err
			}
			d.print(c.stdout)
			fmt.Fprintf(c.stdout, "dry run against revision %d: nothing pushed\n", l.rev)
			return nil
		}
		d.print(c.stdout)
		if !c.confirm(fmt.Sprintf("Replace the live table (revision %d) with %s?", l.rev, name)) {
			return errors.New("not confirmed: nothing pushed (-y pushes without asking)")
		}
	}
	chunks := gnspb.Chunks(t, importChunk)
	resp, err := call(ctx, c, pushCall, func(ctx context.Context, g gnspb.GNSClient) (*gnspb.ImportResponse, error) {
		st, err := g.ImportTable(ctx)
		if err != nil {
			return nil, err
		}
		for _, ch := range chunks {
			if err := st.Send(ch); err != nil {
				if err == io.EOF {
					break // the server ended the stream; CloseAndRecv says why
				}
				return nil, err
			}
		}
		return st.CloseAndRecv()
	})
	if err != nil {
		return err
	}
	if ok, err := c.print(resp); ok {
		return err
	}
	fmt.Fprintf(c.stdout, "pushed %s: revision %d, %d gateways, %d SPs, %d segments, %d ported\n",
		name, resp.Revision, resp.Gateways, resp.Sps, resp.Segments, resp.Ported)
	return nil
}

// confirm asks a yes/no question on the terminal; anything but y or yes
// (or end of input) is no.
func (c *ctl) confirm(question string) bool {
	fmt.Fprintf(c.stdout, "%s [y/N] ", question)
	line, _ := bufio.NewReader(c.stdin).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	return false
}

func (c *ctl) tableExport(ctx context.Context, stale, showSecrets bool) error {
	l, err := c.liveTableSecrets(ctx, stale, showSecrets)
	if err != nil {
		return err
	}
	switch c.output {
	case "yaml":
		t, err := l.table()
		if err != nil {
			return err
		}
		return t.ExportYAML(c.stdout, routing.ExportOptions{WithSecrets: showSecrets})
	case "json":
		_, err := c.print(tableFile(l))
		return err
	}
	var rows [][]string
	nodes := c.gatewayNodes(ctx)
	for _, g := range l.cont.Gateways {
		rows = append(rows, gatewayRow(g, nodes[g.Code]))
	}
	c.table(gatewayHeader, rows)
	fmt.Fprintln(c.stdout)
	rows = nil
	for _, s := range l.cont.SPs {
		rows = append(rows, spRow(gnspb.NewSP(s)))
	}
	c.table(spHeader, rows)
	fmt.Fprintf(c.stdout, "\nrevision %d: %d segments, %d ported numbers (-o yaml or -o json for all of them)\n", l.rev, len(l.cont.Segments), len(l.cont.Ported))
	return nil
}
