package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tandem-sms/tandem/internal/cliout"
	"github.com/tandem-sms/tandem/ismg/adminpb"
)

const spHeader = "SP_ID\tNAME\tSTATE\tSESSIONS\tWINDOW\tRATE\tBURST\tCONNS\tSERVICE_CODES\tALLOWED_IPS\tSOURCE"

func spRow(s *adminpb.SP) []string {
	state := "active"
	if s.Suspended {
		state = "suspended"
	}
	return []string{s.SpId, s.Name, state, strconv.Itoa(int(s.Sessions)), strconv.Itoa(int(s.Window)),
		strconv.FormatFloat(s.SubmitRate, 'g', -1, 64), strconv.Itoa(int(s.Burst)), strconv.Itoa(int(s.MaxConnections)),
		strings.Join(s.ServiceCodes, ","), strings.Join(s.AllowedIps, ","), s.Source}
}

func (c *ctl) showSP(s *adminpb.SP) error {
	if ok, err := c.print(s); ok {
		return err
	}
	c.table(spHeader, [][]string{spRow(s)})
	return nil
}

// spFields are the account fields ModifySP takes (ismg.SPFields).
var spFields = []string{"name", "secret", "allowed_ips", "service_codes", "max_connections", "window", "submit_rate", "burst"}

// spFlags binds the account flags; changed lists the fields set on the
// command line.
func spFlags(f *pflag.FlagSet, sp *adminpb.SP) func() []string {
	f.StringVar(&sp.Name, "name", "", "the SP's name")
	f.StringVar(&sp.Secret, "secret", "", "CONNECT secret")
	f.StringSliceVar(&sp.AllowedIps, "allowed-ips", nil, "source addresses or CIDRs allowed to log in (comma-separated)")
	f.StringSliceVar(&sp.ServiceCodes, "service-codes", nil, "service codes (Src_Id prefixes), comma-separated")
	f.Int32Var(&sp.MaxConnections, "max-connections", 0, "sessions at once")
	f.Int32Var(&sp.Window, "window", 0, "unanswered SUBMITs per session (1..1024)")
	f.Float64Var(&sp.SubmitRate, "submit-rate", 0, "SUBMITs per second across sessions")
	f.Int32Var(&sp.Burst, "burst", 0, "token bucket burst")
	return func() []string {
		var out []string
		f.Visit(func(fl *pflag.Flag) {
			if name := strings.ReplaceAll(fl.Name, "-", "_"); slices.Contains(spFields, name) {
				out = append(out, name)
			}
		})
		return out
	}
}

func spCmd(c *ctl) *cobra.Command {
	list := &cobra.Command{
		Use: "list", Short: "List the SP accounts the node applies", Args: nargs(0, 0),
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			var r *adminpb.ListSPsResponse
			err := c.call(cmd.Context(), func(ctx context.Context, cl adminpb.AdminClient) (err error) {
				r, err = cl.ListSPs(ctx, &adminpb.ListSPsRequest{})
				return err
			})
			if err != nil {
				return err
			}
			if ok, err := c.print(cliout.ProtoList(r.Sps)); ok {
				return err
			}
			rows := make([][]string, 0, len(r.Sps))
			for _, s := range r.Sps {
				rows = append(rows, spRow(s))
			}
			c.table(spHeader, rows)
			return nil
		}),
	}
	one := func(use, short string, rpc func(context.Context, adminpb.AdminClient, *adminpb.SPRef) (*adminpb.SP, error)) *cobra.Command {
		return &cobra.Command{
			Use: use + " SP_ID", Short: short, Args: nargs(1, 1),
			RunE: runE(func(cmd *cobra.Command, args []string) error {
				var s *adminpb.SP
				err := c.call(cmd.Context(), func(ctx context.Context, cl adminpb.AdminClient) (err error) {
					s, err = rpc(ctx, cl, &adminpb.SPRef{SpId: args[0]})
					return err
				})
				if err != nil {
					return err
				}
				return c.showSP(s)
			}),
		}
	}
	show := one("show", "Show one SP account", func(ctx context.Context, cl adminpb.AdminClient, r *adminpb.SPRef) (*adminpb.SP, error) {
		return cl.GetSP(ctx, r)
	})
	suspend := one("suspend", "Suspend an SP: its sessions end (CMPP_TERMINATE), logins get status 5, SUBMITs Result 8", func(ctx context.Context, cl adminpb.AdminClient, r *adminpb.SPRef) (*adminpb.SP, error) {
		return cl.SuspendSP(ctx, r)
	})
	resume := one("resume", "Resume a suspended SP", func(ctx context.Context, cl adminpb.AdminClient, r *adminpb.SPRef) (*adminpb.SP, error) {
		return cl.ResumeSP(ctx, r)
	})

	var created adminpb.SP
	create := &cobra.Command{
		Use: "create SP_ID --secret S --allowed-ips IPS --service-codes CODES [--window N ...]", Short: "Create an SP account (live, persisted)",
		Args: nargs(1, 1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			created.SpId = args[0]
			if created.Secret == "" {
				return usagef("usage: %s (--secret is required)", cmd.UseLine())
			}
			var s *adminpb.SP
			err := c.call(cmd.Context(), func(ctx context.Context, cl adminpb.AdminClient) (err error) {
				s, err = cl.CreateSP(ctx, &created)
				return err
			})
			if err != nil {
				return err
			}
			return c.showSP(s)
		}),
	}
	spFlags(create.Flags(), &created)

	var mod adminpb.SP
	modify := &cobra.Command{
		Use: "modify SP_ID [--secret S] [--allowed-ips IPS] [--service-codes CODES] [--window N] [--submit-rate R] ...", Short: "Change fields of an SP account (live, persisted); unnamed fields keep their values",
		Args: nargs(1, 1),
	}
	changed := spFlags(modify.Flags(), &mod)
	modify.RunE = runE(func(cmd *cobra.Command, args []string) error {
		mod.SpId = args[0]
		fields := changed()
		if len(fields) == 0 {
			return usagef("usage: %s (name at least one field to change)", cmd.UseLine())
		}
		var s *adminpb.SP
		err := c.call(cmd.Context(), func(ctx context.Context, cl adminpb.AdminClient) (err error) {
			s, err = cl.ModifySP(ctx, &adminpb.ModifySPRequest{Sp: &mod, Fields: fields})
			return err
		})
		if err != nil {
			return err
		}
		return c.showSP(s)
	})
	del := &cobra.Command{
		Use: "delete SP_ID", Short: "Delete an SP account: its sessions end, logins get status 2", Args: nargs(1, 1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			var r *adminpb.DeleteSPResponse
			err := c.call(cmd.Context(), func(ctx context.Context, cl adminpb.AdminClient) (err error) {
				r, err = cl.DeleteSP(ctx, &adminpb.SPRef{SpId: args[0]})
				return err
			})
			if err != nil {
				return err
			}
			if ok, err := c.print(r); ok {
				return err
			}
			_, err = fmt.Fprintf(c.stdout, "deleted SP %s (%d sessions closed)\n", r.SpId, r.SessionsClosed)
			return err
		}),
	}
	return group("sp", "Create, modify, suspend, resume, delete and list SP accounts", list, show, create, modify, suspend, resume, del)
}
