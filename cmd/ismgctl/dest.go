package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/tandem-sms/tandem/internal/cliout"
	"github.com/tandem-sms/tandem/ismg/adminpb"
)

func (c *ctl) showRules(r *adminpb.DestRules) error {
	if ok, err := c.print(cliout.ProtoList(r.Rules)); ok {
		return err
	}
	rows := make([][]string, 0, len(r.Rules))
	for _, x := range r.Rules {
		scope := x.SpId
		if scope == "" {
			scope = "global"
		}
		rows = append(rows, []string{scope, x.List, x.Prefix})
	}
	c.table("SCOPE\tLIST\tPREFIX", rows)
	return nil
}

func destCmd(c *ctl) *cobra.Command {
	var sp string
	edit := func(use, short string, add bool) *cobra.Command {
		cmd := &cobra.Command{
			Use: use + " black|white PREFIX [--sp SP_ID]", Short: short, Args: nargs(2, 2),
			RunE: runE(func(cmd *cobra.Command, args []string) error {
				if args[0] != "black" && args[0] != "white" {
					return usagef("usage: %s (the list is black or white)", cmd.UseLine())
				}
				rule := &adminpb.DestRule{SpId: sp, List: args[0], Prefix: args[1]}
				var r *adminpb.DestRules
				err := c.call(cmd.Context(), func(ctx context.Context, cl adminpb.AdminClient) (err error) {
					if add {
						r, err = cl.AddDestRule(ctx, rule)
					} else {
						r, err = cl.RemoveDestRule(ctx, rule)
					}
					return err
				})
				if err != nil {
					return err
				}
				return c.showRules(r)
			}),
		}
		cmd.Flags().StringVar(&sp, "sp", "", "the SP whose list it is (default: the global list)")
		return cmd
	}
	list := &cobra.Command{
		Use: "list [--sp SP_ID]", Short: "List the destination rules (of one SP and the global ones)", Args: nargs(0, 0),
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			var r *adminpb.DestRules
			err := c.call(cmd.Context(), func(ctx context.Context, cl adminpb.AdminClient) (err error) {
				r, err = cl.ListDestRules(ctx, &adminpb.ListDestRulesRequest{SpId: sp})
				return err
			})
			if err != nil {
				return err
			}
			return c.showRules(r)
		}),
	}
	list.Flags().StringVar(&sp, "sp", "", "one SP's rules (and the global ones)")
	return group("dest", "Destination black/white lists: a refused MT gets Result 13, a REJECTD CDR and a count",
		edit("add", "Add a prefix to a black or white list", true), edit("rm", "Remove a prefix from a list", false), list)
}
