package main

import (
	"github.com/spf13/cobra"

	"github.com/tandem-sms/tandem/gns/gnspb"
)

// portedCmd edits single ported numbers: number portability moves one
// number at a time and must not need a whole-table push.
func portedCmd(c *ctl) *cobra.Command {
	add := &cobra.Command{
		Use:   "add NUMBER GATEWAY",
		Short: "Route one ported number (11 digits) to GATEWAY, whatever its segment says",
		Args:  nargs(2, 2),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			return c.write(cmd.Context(), writeCall, &gnspb.Change{Op: &gnspb.Change_PutPorted{PutPorted: &gnspb.Ported{Msisdn: args[0], Gateway: args[1]}}})
		}),
	}
	rm := removeCmd(c, "rm NUMBER", "Remove a ported number: it routes by its segment again",
		func(k string) *gnspb.Change { return &gnspb.Change{Op: &gnspb.Change_DeletePorted{DeletePorted: k}} })
	return group("ported", "Add and remove ported numbers", add, rm)
}
