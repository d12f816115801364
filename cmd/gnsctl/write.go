package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tandem-sms/tandem/gns/gnspb"
)

// write commits changes as one batch and reports the revision.
func (c *ctl) write(ctx context.Context, kind callKind, changes ...*gnspb.Change) error {
	resp, err := call(ctx, c, kind, func(ctx context.Context, g gnspb.GNSClient) (*gnspb.WriteResponse, error) {
		return g.Write(ctx, &gnspb.WriteRequest{Changes: changes})
	})
	if errors.Is(err, errDoneEarlier) {
		fmt.Fprintf(c.stdout, "ok: an earlier attempt, whose answer was lost in a leader change, applied it (the retry found %s)\n", err)
		return nil
	}
	if err != nil {
		return err
	}
	if ok, err := c.print(resp); ok {
		return err
	}
	fmt.Fprintf(c.stdout, "ok, revision %d\n", resp.Revision)
	return nil
}

// removeCmd is the "rm KEY" verb of a table kind: one delete, reported
// done when a retry finds the key already gone (deleteCall).
func removeCmd(c *ctl, use, short string, change func(key string) *gnspb.Change) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  nargs(1, 1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			return c.write(cmd.Context(), deleteCall, change(args[0]))
		}),
	}
}
