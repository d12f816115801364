package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tandem-sms/tandem/gns/gnspb"
	"github.com/tandem-sms/tandem/routing"
)

const segmentHeader = "PREFIX\tGATEWAY\tSMSC\tAREA_CODE\tUSER_TYPE\tROUTE_ID"

func segmentRow(s routing.Segment) []string {
	return []string{s.Prefix, s.Gateway, s.SMSC, s.AreaCode, strconv.Itoa(int(s.UserType)), strconv.FormatUint(uint64(s.RouteID), 10)}
}

func segmentCmd(c *ctl) *cobra.Command {
	var seg gnspb.Segment
	var userType uint32
	add := &cobra.Command{
		Use:   "add PREFIX GATEWAY [--smsc LINK] [--area CODE] [--user-type N]",
		Short: "Add or replace a number segment",
		Args:  nargs(2, 2),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			seg.Prefix, seg.Gateway, seg.UserType = args[0], args[1], userType
			return c.write(cmd.Context(), writeCall, &gnspb.Change{Op: &gnspb.Change_PutSegment{PutSegment: &seg}})
		}),
	}
	add.Flags().StringVar(&seg.SmscLink, "smsc", "", "preferred SMSC link at the home gateway")
	add.Flags().StringVar(&seg.AreaCode, "area", "", "CMPP Area_code")
	add.Flags().Uint32Var(&userType, "user-type", 0, "CMPP User_type")
	rm := removeCmd(c, "rm PREFIX", "Remove a number segment",
		func(k string) *gnspb.Change { return &gnspb.Change{Op: &gnspb.Change_DeleteSegment{DeleteSegment: k}} })
	var stale bool
	list := &cobra.Command{
		Use:   "list [PREFIX]",
		Short: "List the segments (those whose prefix starts with PREFIX)",
		Args:  nargs(0, 1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			under := ""
			if len(args) == 1 {
				under = args[0]
			}
			return c.segments(cmd, stale, func(prefix string) bool { return strings.HasPrefix(prefix, under) }, "")
		}),
	}
	show := &cobra.Command{
		Use:   "show PREFIX",
		Short: "Show one segment (exit 3 if there is none with exactly PREFIX)",
		Args:  nargs(1, 1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			return c.segments(cmd, stale, func(prefix string) bool { return prefix == args[0] },
				fmt.Sprintf("no segment %s (route mt NUMBER says which segment a number falls in)", args[0]))
		}),
	}
	for _, cmd := range []*cobra.Command{list, show} {
		cmd.Flags().BoolVar(&stale, "stale", false, "read this node's table without asking the leader")
	}
	return group("segment", "Add, remove, list and show number segments", add, rm, list, show)
}

// segments prints the live segments that match; with notFound set, none
// matching is a not-found error (exit 3).
func (c *ctl) segments(cmd *cobra.Command, stale bool, match func(prefix string) bool, notFound string) error {
	l, err := c.liveTable(cmd.Context(), stale)
	if err != nil {
		return err
	}
	var segs []*gnspb.Segment
	for _, ch := range l.chunks {
		for _, s := range ch.Segments {
			if match(s.Prefix) {
				segs = append(segs, s)
			}
		}
	}
	if len(segs) == 0 && notFound != "" {
		return &notFoundError{notFound}
	}
	if ok, err := c.print(protoList(segs)); ok {
		return err
	}
	rows := make([][]string, 0, len(segs))
	for _, s := range segs {
		rs, err := s.ToRouting()
		if err != nil {
			return err
		}
		rs.RouteID = s.RouteId
		rows = append(rows, segmentRow(rs))
	}
	c.table(segmentHeader, rows)
	return nil
}
