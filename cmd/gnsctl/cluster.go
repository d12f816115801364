package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tandem-sms/tandem/gns/gnspb"
)

func clusterCmd(c *ctl) *cobra.Command {
	status := &cobra.Command{
		Use:   "status",
		Short: "Members, each node's table revision and digest; exit 1 if tables diverged",
		Args:  nargs(0, 0),
		RunE:  runE(func(cmd *cobra.Command, _ []string) error { return c.clusterStatus(cmd.Context()) }),
	}
	join := &cobra.Command{
		Use:   "join ID RAFTADDR GRPCADDR",
		Short: "Add a node to the cluster (a no-op if it is a member)",
		Args:  nargs(3, 3),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if _, err := call(cmd.Context(), c, writeCall, func(ctx context.Context, g gnspb.GNSClient) (*gnspb.JoinResponse, error) {
				return g.Join(ctx, &gnspb.JoinRequest{Id: args[0], RaftAddr: args[1], GrpcAddr: args[2]})
			}); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "joined %s\n", args[0])
			return nil
		}),
	}
	remove := &cobra.Command{
		Use:   "remove ID",
		Short: "Remove a node from the cluster (a no-op if it is not a member)",
		Args:  nargs(1, 1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if _, err := call(cmd.Context(), c, writeCall, func(ctx context.Context, g gnspb.GNSClient) (*gnspb.RemoveResponse, error) {
				return g.Remove(ctx, &gnspb.RemoveRequest{Id: args[0]})
			}); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "removed %s\n", args[0])
			return nil
		}),
	}
	return group("cluster", "Cluster membership and health", status, join, remove)
}

func (c *ctl) clusterStatus(ctx context.Context) error {
	cs, err := call(ctx, c, readCall, func(ctx context.Context, g gnspb.GNSClient) (*gnspb.ClusterStatusResponse, error) {
		return g.ClusterStatus(ctx, &gnspb.ClusterStatusRequest{})
	})
	if err != nil {
		return err
	}
	dc := checkDigests(cs)
	if ok, err := c.print(cs); ok {
		if err != nil {
			return err
		}
	} else {
		var rows [][]string
		for _, m := range cs.Members {
			role := ""
			if m.Leader {
				role = "leader"
			}
			rev, digest := "-", "-"
			if st := m.Status; st != nil {
				rev, digest = strconv.FormatUint(st.TableDigestRevision, 10), short(st.TableDigest)
			}
			rows = append(rows, []string{m.Id, m.RaftAddr, m.GrpcAddr, m.Suffrage, role, rev, digest})
		}
		c.table("ID\tRAFT\tGRPC\tSUFFRAGE\tROLE\tREVISION\tDIGEST", rows)
		fmt.Fprintf(c.stdout, "\nanswered by %s (%s), revision %d, applied index %d\n", cs.NodeId, cs.State, cs.Revision, cs.AppliedIndex)
		for _, n := range dc.notes {
			fmt.Fprintln(c.stdout, "note:", n)
		}
		if len(dc.diverged) == 0 && len(dc.agreed) > 1 {
			fmt.Fprintf(c.stdout, "tables agree: %s hold the same content at revision %d\n", strings.Join(dc.agreed, ", "), dc.rev)
		}
	}
	if len(dc.diverged) > 0 {
		for _, d := range dc.diverged {
			fmt.Fprintln(c.stderr, "gnsctl: TABLES DIVERGED:", d)
		}
		fmt.Fprintln(c.stderr, "gnsctl: a node whose table differs at the same revision applied different entries than the others; rebuild it from the others (remove it, wipe its data directory, join it again) and find out how (see gns_raft_tls_handshake_failures_total and the Raft TLS settings)")
		return errReported
	}
	return nil
}
