package spsim

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/tandem-sms/tandem/cmpp"
)

// Query logs in as the SP of cfg on one connection, asks CMPP_QUERY for
// day (YYYYMMDD) — the SP's totals, or one Service_Id's counters when
// service is not empty — and terminates the connection.
func Query(ctx context.Context, cfg Config, day, service string) (*cmpp.QueryResp, error) {
	cfg.Connections = 1
	c, err := New(cfg)
	if err != nil {
		return nil, err
	}
	sessions, err := c.dialAll(ctx)
	if err != nil {
		return nil, err
	}
	defer c.terminateAll(sessions)
	q := &cmpp.Query{Time: day, QueryType: cmpp.QueryTotal}
	if service != "" {
		q.QueryType, q.QueryCode = cmpp.QueryByService, service
	}
	resp, err := sessions[0].SendWait(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("spsim: QUERY: %w", err)
	}
	r, ok := resp.(*cmpp.QueryResp)
	if !ok {
		return nil, fmt.Errorf("spsim: QUERY answered with %T", resp)
	}
	return r, nil
}

// PrintQuery writes a CMPP_QUERY_RESP for people.
func PrintQuery(w io.Writer, r *cmpp.QueryResp) error {
	what := "all services"
	if r.QueryType == cmpp.QueryByService {
		what = "service " + strings.TrimSpace(r.QueryCode)
	}
	_, err := fmt.Fprintf(w, "spsim: CMPP_QUERY %s (%s)\n"+
		"  MT  %d messages to %d users: %d forwarded, %d waiting, %d failed\n"+
		"  MO  %d delivered, %d waiting, %d failed\n",
		r.Time, what, r.MTTLMsg, r.MTTLUsr, r.MTScs, r.MTWT, r.MTFL, r.MOScs, r.MOWT, r.MOFL)
	return err
}
