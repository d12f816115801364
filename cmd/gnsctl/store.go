package main

import (
	"context"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-sms/tandem/gns/gnspb"
	"github.com/tandem-sms/tandem/internal/cliout"
)

// storeCmd shows the ISMG store leases (region HA): which node owns which
// store, with its fencing token and expiry.
func storeCmd(c *ctl) *cobra.Command {
	var stale bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List the ISMG store leases: store, owner, fencing token, expiry",
		Args:  nargs(0, 0),
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			r, err := call(cmd.Context(), c, readCall, func(ctx context.Context, g gnspb.GNSClient) (*gnspb.ListStoreLeasesResponse, error) {
				return g.ListStoreLeases(ctx, &gnspb.ListStoreLeasesRequest{Stale: stale})
			})
			if err != nil {
				return err
			}
			return c.showLeases(r)
		}),
	}
	list.Flags().BoolVar(&stale, "stale", false, "read this node's leases without asking the leader")
	return group("store", "ISMG store ownership (region HA leases)", list)
}

func (c *ctl) showLeases(r *gnspb.ListStoreLeasesResponse) error {
	if ok, err := c.print(cliout.ProtoList(r.Leases)); ok {
		return err
	}
	rows := make([][]string, 0, len(r.Leases))
	for _, l := range r.Leases {
		left := time.Duration(l.ExpiresUnixNano - r.NowUnixNano).Round(time.Millisecond)
		state := "held, " + left.String() + " left"
		if left <= 0 {
			state = "lapsed " + (-left).String() + " ago"
		}
		gw := l.Gateway
		if gw == "" {
			gw = "-"
		}
		rows = append(rows, []string{l.StoreId, gw, l.Holder, strconv.FormatUint(l.Token, 10),
			time.Unix(0, l.ExpiresUnixNano).UTC().Format(time.RFC3339Nano), state})
	}
	c.table("STORE\tGATEWAY\tOWNER\tTOKEN\tEXPIRES\tSTATE", rows)
	return nil
}
