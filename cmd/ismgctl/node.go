package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-sms/tandem/internal/cliout"
	"github.com/tandem-sms/tandem/ismg/adminpb"
)

// The node's runtime verbs: SMSC links, log level, drain, reload, audit.

func (c *ctl) showLinks(ls []*adminpb.Link) error {
	if ok, err := c.print(cliout.ProtoList(ls)); ok {
		return err
	}
	rows := make([][]string, 0, len(ls))
	for _, l := range ls {
		state := "running"
		if l.Stopped {
			state = "stopped"
		}
		rows = append(rows, []string{l.Name, state, fmt.Sprintf("%d/%d", l.BindsUp, l.Binds), strconv.FormatInt(l.Queued, 10)})
	}
	c.table("LINK\tSTATE\tBINDS_UP\tQUEUED", rows)
	return nil
}

func linkCmd(c *ctl) *cobra.Command {
	list := &cobra.Command{
		Use: "list", Short: "List the SMSC links", Args: nargs(0, 0),
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			var r *adminpb.ListLinksResponse
			err := c.call(cmd.Context(), func(ctx context.Context, cl adminpb.AdminClient) (err error) {
				r, err = cl.ListLinks(ctx, &adminpb.ListLinksRequest{})
				return err
			})
			if err != nil {
				return err
			}
			return c.showLinks(r.Links)
		}),
	}
	set := func(use, short string, stop bool) *cobra.Command {
		return &cobra.Command{
			Use: use + " LINK", Short: short, Args: nargs(1, 1),
			RunE: runE(func(cmd *cobra.Command, args []string) error {
				var l *adminpb.Link
				err := c.call(cmd.Context(), func(ctx context.Context, cl adminpb.AdminClient) (err error) {
					if stop {
						l, err = cl.StopLink(ctx, &adminpb.LinkRef{Name: args[0]})
					} else {
						l, err = cl.StartLink(ctx, &adminpb.LinkRef{Name: args[0]})
					}
					return err
				})
				if err != nil {
					return err
				}
				return c.showLinks([]*adminpb.Link{l})
			}),
		}
	}
	return group("link", "Stop, start and list SMSC links",
		list, set("stop", "Unbind an SMSC link and keep it down (its MTs wait in its queue)", true), set("start", "Bind a stopped SMSC link again", false))
}

func logLevelCmd(c *ctl) *cobra.Command {
	return &cobra.Command{
		Use: "log-level [debug|info|warn|error]", Short: "Show or set the node's log level", Args: nargs(0, 1),
		ValidArgs: []string{"debug", "info", "warn", "error"},
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			var lv *adminpb.LogLevel
			err := c.call(cmd.Context(), func(ctx context.Context, cl adminpb.AdminClient) (err error) {
				if len(args) == 1 {
					lv, err = cl.SetLogLevel(ctx, &adminpb.LogLevel{Level: args[0]})
				} else {
					lv, err = cl.GetLogLevel(ctx, &adminpb.GetLogLevelRequest{})
				}
				return err
			})
			if err != nil {
				return err
			}
			if ok, err := c.print(lv); ok {
				return err
			}
			_, err = fmt.Fprintln(c.stdout, lv.Level)
			return err
		}),
	}
}

func (c *ctl) showDrain(d *adminpb.DrainStatus) error {
	if ok, err := c.print(d); ok {
		return err
	}
	c.table("DRAINING\tEMPTY\tMT\tFWD\tOUT\tSP_SESSIONS", [][]string{{strconv.FormatBool(d.Draining), strconv.FormatBool(d.Empty),
		strconv.FormatInt(d.Mt, 10), strconv.FormatInt(d.Fwd, 10), strconv.FormatInt(d.Out, 10), strconv.Itoa(int(d.SpSessions))}})
	return nil
}

func drainCmd(c *ctl) *cobra.Command {
	var wait time.Duration
	var off, status bool
	cmd := &cobra.Command{
		Use:   "drain [--wait 5m] [--off] [--status]",
		Short: "Drain the node before maintenance: new SUBMITs get Result 8; --wait until its queues are empty",
		Args:  nargs(0, 0),
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			var d *adminpb.DrainStatus
			err := c.call(cmd.Context(), func(ctx context.Context, cl adminpb.AdminClient) (err error) {
				if status {
					d, err = cl.GetDrainStatus(ctx, &adminpb.DrainStatusRequest{})
				} else {
					d, err = cl.Drain(ctx, &adminpb.DrainRequest{On: !off})
				}
				return err
			})
			if err != nil || wait <= 0 || off {
				if err != nil {
					return err
				}
				return c.showDrain(d)
			}
			deadline := time.Now().Add(wait)
			tick := time.NewTicker(200 * time.Millisecond)
			defer tick.Stop()
			for !d.Empty {
				if time.Now().After(deadline) {
					_ = c.showDrain(d)
					return fmt.Errorf("the queues are not empty after %v (mt %d, fwd %d, out %d)", wait, d.Mt, d.Fwd, d.Out)
				}
				select {
				case <-tick.C:
				case <-cmd.Context().Done():
					return cmd.Context().Err()
				}
				err := c.call(cmd.Context(), func(ctx context.Context, cl adminpb.AdminClient) (err error) {
					d, err = cl.GetDrainStatus(ctx, &adminpb.DrainStatusRequest{})
					return err
				})
				if err != nil {
					return err
				}
			}
			return c.showDrain(d)
		}),
	}
	cmd.Flags().DurationVar(&wait, "wait", 0, "wait up to this long for every queue to empty (exit 1 if not)")
	cmd.Flags().BoolVar(&off, "off", false, "stop draining: accept SUBMITs again")
	cmd.Flags().BoolVar(&status, "status", false, "only show the drain state and queue depths")
	return cmd
}

func reloadCmd(c *ctl) *cobra.Command {
	return &cobra.Command{
		Use: "reload", Short: "Reload the node's config file (as SIGHUP): what it applied and what needs a restart", Args: nargs(0, 0),
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			var r *adminpb.ReloadReport
			err := c.call(cmd.Context(), func(ctx context.Context, cl adminpb.AdminClient) (err error) {
				r, err = cl.Reload(ctx, &adminpb.ReloadRequest{})
				return err
			})
			if err != nil {
				return err
			}
			if ok, err := c.print(r); ok {
				if err == nil && !r.Ok {
					return fmt.Errorf("reload failed")
				}
				return err
			}
			if !r.Ok {
				return fmt.Errorf("reload failed, the running configuration stays: %s", r.Error)
			}
			fmt.Fprintln(c.stdout, "reloaded")
			for _, a := range r.Applied {
				fmt.Fprintln(c.stdout, "  applied:", a)
			}
			for _, a := range r.NeedsRestart {
				fmt.Fprintln(c.stdout, "  NEEDS RESTART:", a)
			}
			return nil
		}),
	}
}

func auditCmd(c *ctl) *cobra.Command {
	var limit int32
	cmd := &cobra.Command{
		Use: "audit [--limit N]", Short: "Show the last entries of the audit log (who changed what, when)", Args: nargs(0, 0),
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			var r *adminpb.AuditResponse
			err := c.call(cmd.Context(), func(ctx context.Context, cl adminpb.AdminClient) (err error) {
				r, err = cl.Audit(ctx, &adminpb.AuditRequest{Limit: limit})
				return err
			})
			if err != nil {
				return err
			}
			if ok, err := c.print(cliout.ProtoList(r.Entries)); ok {
				return err
			}
			rows := make([][]string, 0, len(r.Entries))
			for _, e := range r.Entries {
				rows = append(rows, []string{e.Time, e.Who, e.Peer, e.Action, e.Target, e.Detail, e.Result})
			}
			c.table("TIME\tWHO\tPEER\tACTION\tTARGET\tDETAIL\tRESULT", rows)
			return nil
		}),
	}
	cmd.Flags().Int32Var(&limit, "limit", 50, "how many entries")
	return cmd
}
