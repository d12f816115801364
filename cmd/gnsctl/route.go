package main

import (
	"context"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/tandem-sms/tandem/gns/gnspb"
)

func routeCmd(c *ctl) *cobra.Command {
	var stale bool
	mt := &cobra.Command{
		Use:   "mt NUMBER [--stale]",
		Short: "Which gateway an MT to NUMBER goes to, and why",
		Args:  nargs(1, 1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			r, err := call(cmd.Context(), c, readCall, func(ctx context.Context, g gnspb.GNSClient) (*gnspb.ResolveMTResponse, error) {
				return g.ResolveMT(ctx, &gnspb.ResolveMTRequest{Msisdn: args[0], Stale: stale})
			})
			if err != nil {
				return err
			}
			if ok, err := c.print(r); ok {
				return err
			}
			match := "segment " + r.GetSegment().GetPrefix()
			if r.Ported {
				match = "ported number"
			}
			c.table("NUMBER\tGATEWAY\tNAME\tREGION\tFWD_ADDR\tMATCH\tSMSC\tREVISION", [][]string{{
				args[0], r.Gateway.Code, r.Gateway.Name, r.Gateway.Region, r.Gateway.FwdAddr, match, r.GetSegment().GetSmscLink(), strconv.FormatUint(r.Revision, 10),
			}})
			return nil
		}),
	}
	var gw, region string
	mo := &cobra.Command{
		Use:   "mo CODE (--gateway GW | --region R) [--stale]",
		Short: "Which gateway an MO to service code CODE goes to, asked from a gateway or region",
		Args:  nargs(1, 1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if (gw == "") == (region == "") {
				return usagef("usage: %s (exactly one of --gateway, --region)", cmd.UseLine())
			}
			r, err := call(cmd.Context(), c, readCall, func(ctx context.Context, g gnspb.GNSClient) (*gnspb.ResolveMOResponse, error) {
				return g.ResolveMO(ctx, &gnspb.ResolveMORequest{ServiceCode: args[0], AskingGateway: gw, AskingRegion: region, Stale: stale})
			})
			if err != nil {
				return err
			}
			if ok, err := c.print(r); ok {
				return err
			}
			part := r.Partition
			if part == "" {
				part = "(default)"
			}
			c.table("CODE\tSP\tSP_NAME\tPARTITION\tGATEWAY\tNAME\tFWD_ADDR\tREVISION", [][]string{{
				args[0], r.Sp.SpId, r.Sp.Name, part, r.Gateway.Code, r.Gateway.Name, r.Gateway.FwdAddr, strconv.FormatUint(r.Revision, 10),
			}})
			return nil
		}),
	}
	mo.Flags().StringVar(&gw, "gateway", "", "the asking gateway")
	mo.Flags().StringVar(&region, "region", "", "a region, standing for a gateway of that region")
	for _, cmd := range []*cobra.Command{mt, mo} {
		cmd.Flags().BoolVar(&stale, "stale", false, "answer from the node asked, without the leader")
	}
	return group("route", "Resolve MT and MO routes as the gateways would", mt, mo)
}
