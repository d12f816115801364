package main

import (
	"context"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tandem-sms/tandem/gns/gnspb"
	"github.com/tandem-sms/tandem/routing"
)

const gatewayHeader = "GATEWAY\tNAME\tREGION\tFWD_ADDR\tNODES"

func gatewayRow(g routing.Gateway, nodes []string) []string {
	n := strings.Join(nodes, ",")
	if n == "" {
		n = "-"
	}
	return []string{g.Code, g.Name, g.Region, g.FwdAddr, n}
}

// gatewayNodes maps each gateway code to the nodes serving it: the
// holders of its stores' live leases (region HA; a node holds its own
// store's lease, and an adopter its dead sibling's). Gateways whose nodes
// run without ha: leases have none. A GNS that cannot list leases gives
// an empty map: the column is a view, not the table.
func (c *ctl) gatewayNodes(ctx context.Context) map[string][]string {
	r, err := call(ctx, c, readCall, func(ctx context.Context, g gnspb.GNSClient) (*gnspb.ListStoreLeasesResponse, error) {
		return g.ListStoreLeases(ctx, &gnspb.ListStoreLeasesRequest{})
	})
	out := map[string][]string{}
	if err != nil {
		return out
	}
	for _, l := range r.Leases {
		if l.Gateway == "" || l.ExpiresUnixNano <= r.NowUnixNano || slices.Contains(out[l.Gateway], l.Holder) {
			continue
		}
		out[l.Gateway] = append(out[l.Gateway], l.Holder)
	}
	for _, ns := range out {
		slices.Sort(ns)
	}
	return out
}

func gatewayCmd(c *ctl) *cobra.Command {
	var gw gnspb.Gateway
	add := &cobra.Command{
		Use:   "add CODE --region R --fwd-addr HOST:PORT [--name N] [--area-code C]",
		Short: "Add or replace a gateway (an ISMG)",
		Args:  nargs(1, 1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if gw.Region == "" || gw.FwdAddr == "" {
				return usagef("usage: %s (--region and --fwd-addr are required)", cmd.UseLine())
			}
			gw.Code = args[0]
			return c.write(cmd.Context(), writeCall, &gnspb.Change{Op: &gnspb.Change_PutGateway{PutGateway: &gw}})
		}),
	}
	f := add.Flags()
	f.StringVar(&gw.Region, "region", "", "region the gateway serves (SP partitions select on it)")
	f.StringVar(&gw.FwdAddr, "fwd-addr", "", "host:port its peers dial for CMPP_FWD")
	f.StringVar(&gw.Name, "name", "", "name, e.g. Beijing")
	f.StringVar(&gw.AreaCode, "area-code", "", "provincial area code, e.g. 010 (the table file's province)")
	rm := removeCmd(c, "rm CODE", "Remove a gateway (refused while a segment, ported number or SP uses it)",
		func(k string) *gnspb.Change { return &gnspb.Change{Op: &gnspb.Change_DeleteGateway{DeleteGateway: k}} })
	var stale bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List the gateways",
		Args:  nargs(0, 0),
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			l, err := c.liveTable(cmd.Context(), stale)
			if err != nil {
				return err
			}
			gws := make([]*gnspb.Gateway, 0, len(l.cont.Gateways))
			for _, g := range l.cont.Gateways {
				gws = append(gws, gnspb.NewGateway(g))
			}
			if ok, err := c.print(protoList(gws)); ok {
				return err
			}
			nodes := c.gatewayNodes(cmd.Context())
			rows := make([][]string, 0, len(l.cont.Gateways))
			for _, g := range l.cont.Gateways {
				rows = append(rows, gatewayRow(g, nodes[g.Code]))
			}
			c.table(gatewayHeader, rows)
			return nil
		}),
	}
	list.Flags().BoolVar(&stale, "stale", false, "read this node's table without asking the leader")
	return group("gateway", "Add, remove and list gateways", add, rm, list)
}
