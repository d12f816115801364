package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tandem-sms/tandem/gns/gnspb"
)

const spHeader = "SP\tNAME\tCODES\tGATEWAY\tPARTITIONS\tACCOUNT"

func spRow(s *gnspb.SP) []string {
	var codes, parts []string
	for _, sc := range s.ServiceCodes {
		codes = append(codes, sc.Code)
	}
	for _, p := range s.Partitions {
		parts = append(parts, fmt.Sprintf("%s=%s:%s", p.Name, strings.Join(p.Regions, ","), p.Gateway))
	}
	return []string{s.SpId, s.Name, strings.Join(codes, ","), s.PrimaryGateway, strings.Join(parts, " "), accountText(s.Account)}
}

// parsePartition reads name=region1,region2:gateway.
func parsePartition(s string) (*gnspb.Partition, error) {
	name, rest, ok := strings.Cut(s, "=")
	regions, gw, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || name == "" || gw == "" || regions == "" {
		return nil, usagef("--partition %q: want name=region1,region2:gateway", s)
	}
	return &gnspb.Partition{Name: name, Regions: splitComma(regions), Gateway: gw}, nil
}

func spCmd(c *ctl) *cobra.Command {
	var sp gnspb.SP
	var codes, mirrors string
	var parts []string
	var acct *accountFlags
	add := &cobra.Command{
		Use:   "add --id ID --codes C1,C2 --gateway GW [--name N] [--mirrors GW,..] [--default GW] [--partition name=r1,r2:gw ...] [--secret-file F --allowed-ips ...]",
		Short: "Add or replace an SP (with --secret/--secret-file, with its login account on every gateway it names)",
		Args:  nargs(0, 0),
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			if sp.SpId == "" || codes == "" || sp.PrimaryGateway == "" {
				return usagef("usage: %s (--id, --codes and --gateway are required)", cmd.UseLine())
			}
			if acct.given() {
				a, err := acct.apply(nil, os.ReadFile)
				if err != nil {
					return err
				}
				sp.Account = a
			}
			sp.MirrorGateways = splitComma(mirrors)
			for _, code := range splitComma(codes) {
				sp.ServiceCodes = append(sp.ServiceCodes, &gnspb.ServiceCode{Code: code})
			}
			for _, p := range parts {
				pp, err := parsePartition(p)
				if err != nil {
					return err
				}
				sp.Partitions = append(sp.Partitions, pp)
			}
			return c.write(cmd.Context(), writeCall, &gnspb.Change{Op: &gnspb.Change_PutSp{PutSp: &sp}})
		}),
	}
	f := add.Flags()
	f.StringVar(&sp.SpId, "id", "", "SP_Id, 6 digits")
	f.StringVar(&sp.Name, "name", "", "SP name")
	f.StringVar(&codes, "codes", "", "service codes, comma-separated")
	f.StringVar(&sp.PrimaryGateway, "gateway", "", "primary access gateway")
	f.StringVar(&mirrors, "mirrors", "", "mirror access gateways, comma-separated")
	f.StringVar(&sp.DefaultGateway, "default", "", "MO gateway when no partition matches (default: --gateway)")
	f.StringArrayVar(&parts, "partition", nil, "name=region1,region2:gateway (repeatable)")
	acct = addAccountFlags(add, false)
	set := spSetCmd(c)

	rm := removeCmd(c, "rm ID", "Remove an SP",
		func(k string) *gnspb.Change { return &gnspb.Change{Op: &gnspb.Change_DeleteSp{DeleteSp: k}} })
	var stale, showSecrets bool
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show one SP and its account (not the secret, unless --show-secrets)",
		Args:  nargs(1, 1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			s, err := call(cmd.Context(), c, readCall, func(ctx context.Context, g gnspb.GNSClient) (*gnspb.SP, error) {
				return g.GetSP(ctx, &gnspb.GetSPRequest{SpId: args[0], Stale: stale, WithSecrets: showSecrets})
			})
			if err != nil {
				return err
			}
			if ok, err := c.print(s); ok {
				return err
			}
			c.table(spHeader, [][]string{spRow(s)})
			return nil
		}),
	}
	show.Flags().BoolVar(&stale, "stale", false, "read this node's table without asking the leader")
	show.Flags().BoolVar(&showSecrets, "show-secrets", false, "print the account's secret (-o json/yaml; the GNS sends it only over TLS or loopback)")
	list := &cobra.Command{
		Use:   "list",
		Short: "List every SP",
		Args:  nargs(0, 0),
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			l, err := c.liveTable(cmd.Context(), stale)
			if err != nil {
				return err
			}
			sps := make([]*gnspb.SP, 0, len(l.cont.SPs))
			for _, s := range l.cont.SPs {
				sps = append(sps, gnspb.NewSP(s))
			}
			if ok, err := c.print(protoList(sps)); ok {
				return err
			}
			rows := make([][]string, 0, len(sps))
			for _, s := range sps {
				rows = append(rows, spRow(s))
			}
			c.table(spHeader, rows)
			return nil
		}),
	}
	list.Flags().BoolVar(&stale, "stale", false, "read this node's table without asking the leader")
	return group("sp", "Add, set, remove, show and list SPs and their accounts", add, set, rm, show, list)
}

// spSetCmd changes some fields of an SP's account (or removes it) without
// restating the SP: it reads the SP, changes what the flags name, and puts
// it back. A secret not given is kept by the GNS.
func spSetCmd(c *ctl) *cobra.Command {
	var acct *accountFlags
	set := &cobra.Command{
		Use:   "set ID [--secret-file F] [--allowed-ips IP,..] [--max-connections N] [--window N] [--submit-rate R] [--burst N] [--remove-account]",
		Short: "Set fields of an SP's login account (only those given change), or remove it",
		Args:  nargs(1, 1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if acct.removeAccount == acct.given() {
				return usagef("usage: %s (give account fields to set, or --remove-account alone)", cmd.UseLine())
			}
			s, err := call(cmd.Context(), c, readCall, func(ctx context.Context, g gnspb.GNSClient) (*gnspb.SP, error) {
				return g.GetSP(ctx, &gnspb.GetSPRequest{SpId: args[0]})
			})
			if err != nil {
				return err
			}
			if acct.removeAccount {
				s.Account = nil
			} else {
				if s.Account == nil && !acct.fs.Changed("secret") && !acct.fs.Changed("secret-file") {
					return usagef("SP %s has no account yet: give its secret (--secret-file or --secret)", args[0])
				}
				if s.Account, err = acct.apply(s.Account, os.ReadFile); err != nil {
					return err
				}
			}
			// Route ids are the GNS's to assign; a put ignores them.
			return c.write(cmd.Context(), writeCall, &gnspb.Change{Op: &gnspb.Change_PutSp{PutSp: s}})
		}),
	}
	acct = addAccountFlags(set, true)
	return set
}
