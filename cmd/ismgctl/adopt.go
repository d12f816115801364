package main

import (
	"context"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-sms/tandem/internal/cliout"
	"github.com/tandem-sms/tandem/ismg/adminpb"
)

// Region HA: the stores a node owns or may adopt, and adopting one.

func (c *ctl) showStores(ss []*adminpb.Store) error {
	if ok, err := c.print(cliout.ProtoList(ss)); ok {
		return err
	}
	rows := make([][]string, 0, len(ss))
	for _, s := range ss {
		exp := ""
		if s.ExpiresUnixNano != 0 {
			exp = time.Unix(0, s.ExpiresUnixNano).UTC().Format(time.RFC3339)
		}
		rows = append(rows, []string{s.StoreId, s.Role, s.State, s.Holder, strconv.FormatUint(s.Token, 10), exp,
			strconv.FormatInt(s.Pending, 10), strconv.FormatInt(s.Drained, 10)})
	}
	c.table("STORE\tROLE\tSTATE\tOWNER\tTOKEN\tEXPIRES\tPENDING\tDRAINED", rows)
	return nil
}

func storeCmd(c *ctl) *cobra.Command {
	list := &cobra.Command{
		Use: "list", Short: "List this node's store and the sibling stores it may adopt, with their owners", Args: nargs(0, 0),
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			var r *adminpb.ListStoresResponse
			err := c.call(cmd.Context(), func(ctx context.Context, cl adminpb.AdminClient) (err error) {
				r, err = cl.ListStores(ctx, &adminpb.ListStoresRequest{})
				return err
			})
			if err != nil {
				return err
			}
			return c.showStores(r.Stores)
		}),
	}
	return group("store", "Region HA: store ownership", list)
}

func adoptCmd(c *ctl) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "adopt STORE",
		Short: "Adopt a dead sibling's store now: take its GNS lease and drain it (its lease must have lapsed)",
		Args:  nargs(1, 1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			var s *adminpb.Store
			err := c.call(cmd.Context(), func(ctx context.Context, cl adminpb.AdminClient) (err error) {
				s, err = cl.Adopt(ctx, &adminpb.AdoptRequest{StoreId: args[0], Force: force})
				return err
			})
			if err != nil {
				return err
			}
			return c.showStores([]*adminpb.Store{s})
		}),
	}
	cmd.Flags().BoolVar(&force, "force", false, "do not wait for ha.adopt_after past the lease's expiry (it must still have lapsed)")
	return cmd
}
