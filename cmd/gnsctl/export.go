package main

import (
	"context"
	"fmt"
	"io"

	"github.com/tandem-sms/tandem/gns/gnspb"
	"github.com/tandem-sms/tandem/routing"
)

// live is the table as the GNS exported it: the chunks (with the route ids
// the GNS assigned), their contents (without: a table ignores them on
// input) and the revision.
type live struct {
	chunks []*gnspb.TableChunk
	cont   *routing.Contents
	rev    uint64
}

// table rebuilds an immutable table from the export, at its revision (the
// rebuilt table numbers its own route ids; l.chunks keep the GNS's).
func (l live) table() (*routing.Table, error) {
	b := routing.NewBuilder()
	if err := b.Replace(l.cont); err != nil {
		return nil, fmt.Errorf("exported table does not load: %w", err)
	}
	return b.Table(l.rev), nil
}

// liveTable fetches the whole table (linearizable unless stale). The list
// and show verbs read it too: the API has no per-key reads for segments or
// gateways, and a table is small next to what a GNS streams to every
// route cache.
func (c *ctl) liveTable(ctx context.Context, stale bool) (live, error) {
	return c.liveTableSecrets(ctx, stale, false)
}

// liveTableSecrets is liveTable, with the SP accounts' secrets if asked.
func (c *ctl) liveTableSecrets(ctx context.Context, stale, secrets bool) (live, error) {
	chunks, err := call(ctx, c, readCall, func(ctx context.Context, g gnspb.GNSClient) ([]*gnspb.TableChunk, error) {
		st, err := g.ExportTable(ctx, &gnspb.ExportRequest{Stale: stale, WithSecrets: secrets})
		if err != nil {
			return nil, err
		}
		var out []*gnspb.TableChunk
		for {
			ch, err := st.Recv()
			if err == io.EOF {
				return out, nil
			}
			if err != nil {
				return nil, err
			}
			out = append(out, ch)
		}
	})
	if err != nil {
		return live{}, err
	}
	cont, err := gnspb.ContentsFromChunks(chunks)
	if err != nil {
		return live{}, fmt.Errorf("exported table: %w", err)
	}
	l := live{chunks: chunks, cont: cont}
	if len(chunks) > 0 {
		l.rev = chunks[0].Revision // zero from a GNS older than the field
	}
	return l, nil
}
