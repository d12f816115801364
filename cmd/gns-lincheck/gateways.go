package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/tandem-sms/tandem/gns/gnspb"
	"github.com/tandem-sms/tandem/sim/lincheck"
)

// maxChoices is how many of the table's gateways the writes rotate over
// when -gateways is not given.
const maxChoices = 3

// gateways finds gateway codes the writes may name (a segment must name a
// gateway of the table), asking the nodes in turn, with backoff, until one
// answers or timeout passes. It is also the check that the cluster can be
// reached at all before the run starts.
//
// A stale export is enough: gateways are not part of the checked key
// space, and the GNS sends every gateway in the export's first chunk
// (gnspb.TableChunks), so the rest of the table is never fetched.
func (c *cluster) gateways(ctx context.Context, timeout time.Duration) ([]string, error) {
	deadline := time.Now().Add(timeout)
	last := make([]error, len(c.clients))
	wait := 50 * time.Millisecond
	for {
		for i := range c.clients {
			codes, err := c.exportGateways(ctx, i, time.Until(deadline))
			if err == nil {
				return codes, nil
			}
			if errors.Is(err, lincheck.ErrMisconfigured) || ctx.Err() != nil {
				return nil, fmt.Errorf("%s: %w", c.addrs[i], err)
			}
			last[i] = err
		}
		if time.Until(deadline) < wait {
			var b strings.Builder
			fmt.Fprintf(&b, "no GNS node answered within %v (-connect-timeout):", timeout)
			for i, err := range last {
				fmt.Fprintf(&b, "\n  %s: %v", c.addrs[i], err)
			}
			return nil, errors.New(b.String())
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, time.Second)
	}
}

// exportGateways reads node i's gateways: the first export chunk that
// holds any.
func (c *cluster) exportGateways(ctx context.Context, i int, budget time.Duration) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, max(min(budget, 5*time.Second), 100*time.Millisecond))
	defer cancel() // ends the stream too
	st, err := c.clients[i].ExportTable(c.outgoing(ctx), &gnspb.ExportRequest{Stale: true})
	if err != nil {
		return nil, classify(err)
	}
	for {
		ch, err := st.Recv()
		if err == io.EOF {
			return nil, fmt.Errorf("%w: the route table has no gateway: push a table first (gnsctl table push) or give -gateways", lincheck.ErrMisconfigured)
		}
		if err != nil {
			return nil, classify(err)
		}
		if len(ch.GetGateways()) == 0 {
			continue
		}
		var codes []string
		for _, g := range ch.GetGateways() {
			codes = append(codes, g.GetCode())
		}
		slices.Sort(codes)
		return codes[:min(len(codes), maxChoices)], nil
	}
}
