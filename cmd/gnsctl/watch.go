package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tandem-sms/tandem/gns/gnspb"
)

func watchCmd(c *ctl) *cobra.Command {
	var from uint64
	w := &cobra.Command{
		Use:   "watch [--from REV]",
		Short: "Print each change as it commits, until interrupted",
		Long: `Print each change as it commits, until interrupted (exit 0). With
-o json, one JSON object per line per event. Not retried: watch follows
one node.`,
		Args: nargs(0, 0),
		RunE: runE(func(cmd *cobra.Command, _ []string) error { return c.watch(cmd.Context(), from) }),
	}
	w.Flags().Uint64Var(&from, "from", 0, "resume after this revision (0: start with a snapshot)")
	return w
}

// watch prints events until ctx ends (interrupt), which is a normal end.
func (c *ctl) watch(ctx context.Context, from uint64) error {
	_, err := call(ctx, c, watchCall, func(ctx context.Context, g gnspb.GNSClient) (struct{}, error) {
		st, err := g.Watch(ctx, &gnspb.WatchRequest{FromRevision: from})
		if err != nil {
			return struct{}{}, err
		}
		for {
			ev, err := st.Recv()
			if err != nil {
				return struct{}{}, err
			}
			if err := c.printEvent(ev); err != nil {
				return struct{}{}, err
			}
		}
	})
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (c *ctl) printEvent(ev *gnspb.WatchEvent) error {
	switch c.output {
	case "json":
		// One line per event, so a script can read the stream line by line.
		b, err := json.Marshal(protoObject(ev.ProtoReflect()))
		if err != nil {
			return fmt.Errorf("encode json: %w", err)
		}
		_, err = fmt.Fprintf(c.stdout, "%s\n", b)
		return err
	case "yaml":
		fmt.Fprintln(c.stdout, "---")
		_, err := c.print(ev)
		return err
	}
	if ev.Snapshot {
		if ev.Reset_ {
			fmt.Fprintf(c.stdout, "rev %d snapshot begins\n", ev.Revision)
		}
		fmt.Fprintf(c.stdout, "rev %d snapshot part: %d entries\n", ev.Revision, len(ev.Changes))
		if ev.SnapshotDone {
			fmt.Fprintf(c.stdout, "rev %d snapshot done\n", ev.Revision)
		}
		return nil
	}
	for _, ch := range ev.Changes {
		fmt.Fprintf(c.stdout, "rev %d %s\n", ev.Revision, describe(ch))
	}
	return nil
}

func describe(ch *gnspb.Change) string {
	switch op := ch.Op.(type) {
	case *gnspb.Change_PutGateway:
		return fmt.Sprintf("put gateway %s %s region=%s fwd=%s", op.PutGateway.Code, op.PutGateway.Name, op.PutGateway.Region, op.PutGateway.FwdAddr)
	case *gnspb.Change_DeleteGateway:
		return "delete gateway " + op.DeleteGateway
	case *gnspb.Change_PutSegment:
		return fmt.Sprintf("put segment %s -> %s (route %d)", op.PutSegment.Prefix, op.PutSegment.Gateway, op.PutSegment.RouteId)
	case *gnspb.Change_DeleteSegment:
		return "delete segment " + op.DeleteSegment
	case *gnspb.Change_PutPorted:
		return fmt.Sprintf("put ported %s -> %s", op.PutPorted.Msisdn, op.PutPorted.Gateway)
	case *gnspb.Change_DeletePorted:
		return "delete ported " + op.DeletePorted
	case *gnspb.Change_PutSp:
		return "put sp " + strings.Join(spRow(op.PutSp), " ")
	case *gnspb.Change_DeleteSp:
		return "delete sp " + op.DeleteSp
	}
	return "unknown change"
}
