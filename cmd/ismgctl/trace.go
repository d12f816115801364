package main

import (
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-sms/tandem/msgtrace"
)

// traceCmd answers "where is my message?" from a gateway's HTTP port (the
// console's /trace), not the admin API: the gateway follows the Msg_Id
// through its peers and returns every step.
func traceCmd(c *ctl) *cobra.Command {
	var (
		httpAddr, httpToken, dest string
		from, to                  string
	)
	cmd := &cobra.Command{
		Use:   "trace MSG_ID | trace --dest MSISDN [--from T] [--to T]",
		Short: "Follow a Msg_Id across the gateways (accepted, forwarded, submitted, receipt, report back, delivered), or list a number's messages",
		Args:  nargs(0, 1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			cl := &msgtrace.Client{Token: httpToken}
			if dest != "" {
				if len(args) > 0 {
					return usagef("trace: give a MSG_ID or --dest, not both")
				}
				var lo, hi time.Time
				for _, b := range []struct {
					flag, v string
					t       *time.Time
				}{{"--from", from, &lo}, {"--to", to, &hi}} {
					if b.v == "" {
						continue
					}
					t, err := time.Parse(time.RFC3339, b.v)
					if err != nil {
						return usagef("%s %q: want RFC 3339 (2026-12-07T10:00:00+08:00)", b.flag, b.v)
					}
					*b.t = t
				}
				res, err := cl.Search(cmd.Context(), httpAddr, dest, lo, hi)
				if err != nil {
					return err
				}
				if ok, err := c.print(res); ok {
					return err
				}
				rows := make([][]string, 0, len(res.Matches))
				for _, m := range res.Matches {
					rows = append(rows, []string{m.MsgID, m.Kind, stamp(m.SubmitTime), m.SPID, m.Dest, m.FinalStatus, m.NextGateway})
				}
				c.table("MSG_ID\tKIND\tSUBMITTED\tSP\tDEST\tSTATUS\tNEXT_GATEWAY", rows)
				return nil
			}
			if len(args) != 1 {
				return usagef("usage: %s", cmd.UseLine())
			}
			id, err := msgtrace.ParseMsgID(args[0])
			if err != nil {
				return usagef("trace %q: %v", args[0], err)
			}
			tr, err := cl.Trace(cmd.Context(), httpAddr, id)
			if err != nil {
				return err
			}
			if ok, err := c.print(tr); ok {
				return err
			}
			rows := make([][]string, 0, len(tr.Steps))
			for _, s := range tr.Steps {
				at := stamp(s.Time)
				if s.Pending {
					at = "pending"
				}
				where := s.Queue + s.Link + s.Peer
				rows = append(rows, []string{at, s.Gateway, string(s.Stage), where, s.Status, s.Detail})
			}
			c.table("TIME\tGATEWAY\tSTEP\tWHERE\tSTATUS\tDETAIL", rows)
			return nil
		}),
	}
	f := cmd.Flags()
	addr := os.Getenv("ISMG_HTTP")
	if addr == "" {
		addr = "127.0.0.1:9290"
	}
	f.StringVar(&httpAddr, "http", addr, "the gateway's HTTP port, listen.http ($ISMG_HTTP)")
	f.StringVar(&httpToken, "http-token", os.Getenv("ISMG_HTTP_TOKEN"), "listen.http_token, if the port wants one ($ISMG_HTTP_TOKEN)")
	f.StringVar(&dest, "dest", "", "list the messages to this MSISDN instead (this gateway's CDRs)")
	f.StringVar(&from, "from", "", "with --dest: from this time (RFC 3339; default 24 h ago)")
	f.StringVar(&to, "to", "", "with --dest: until this time (RFC 3339)")
	return cmd
}

// stamp is a step's time as the table shows it; "-" when unknown.
func stamp(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format("2006-01-02T15:04:05.000Z07:00")
}
