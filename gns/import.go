package gns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"

	"github.com/tandem-sms/tandem/gns/gnspb"
	"github.com/tandem-sms/tandem/raftstore"
	"github.com/tandem-sms/tandem/routing"
)

// ImportTable stages the streamed table through Raft in chunks of about
// ImportChunk entries and makes it current with one commit entry, so readers
// on every node switch from the old table to the new one at one revision.
// The FSM only appends chunk values; the table is built once, at commit.
func (s *service) ImportTable(stream grpc.ClientStreamingServer[gnspb.TableChunk, gnspb.ImportResponse]) error {
	n := s.n
	ctx := stream.Context()
	_, id, err := n.apply(ctx, encodeImportBegin())
	if errors.Is(err, raftstore.ErrNotLeader) {
		return n.forwardImport(ctx, stream)
	}
	if err != nil {
		return err
	}
	resp, err := n.importStaged(ctx, id, stream)
	if err != nil {
		// Best effort: free the staged values on every node now rather than
		// at the next import.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_, _, _ = n.apply(actx, encodeImportEnd(cmdImportAbort, id))
		cancel()
		return err
	}
	return stream.SendAndClose(resp)
}

func (n *Node) importStaged(ctx context.Context, id uint64, stream grpc.ClientStreamingServer[gnspb.TableChunk, gnspb.ImportResponse]) (*gnspb.ImportResponse, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// One applier goroutine commits chunks in order while this goroutine
	// receives and encodes the next one, overlapping network and Raft.
	cmds := make(chan []byte, 2)
	applied := make(chan error, 1)
	go func() {
		var err error
		for cmd := range cmds {
			if err == nil {
				if _, _, err = n.apply(ctx, cmd); err != nil {
					err = fmt.Errorf("import chunk: %w", err)
					cancel()
				}
			}
		}
		applied <- err
	}()
	var pending routing.Contents
	size := 0
	flush := func() error {
		select {
		case cmds <- encodeImportChunk(id, &pending):
		case <-ctx.Done():
			return ctx.Err()
		}
		pending, size = routing.Contents{}, 0
		return nil
	}
	recvErr := func() error {
		for {
			ch, err := stream.Recv()
			if err == io.EOF {
				return flush()
			}
			if err != nil {
				return err
			}
			if err := checkChunkSecrets(ctx, ch); err != nil {
				return err
			}
			if err := ch.AppendTo(&pending); err != nil {
				return err
			}
			size += len(ch.Segments) + len(ch.Ported) + len(ch.Gateways) + len(ch.Sps)
			if size >= n.cfg.ImportChunk {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}()
	close(cmds)
	if err := <-applied; err != nil {
		return nil, err
	}
	if recvErr != nil {
		return nil, recvErr
	}
	resp, rev, err := n.apply(ctx, encodeImportEnd(cmdImportCommit, id))
	if err != nil {
		return nil, err
	}
	t, _ := resp.(*routing.Table)
	if t == nil {
		return nil, fmt.Errorf("import commit at %d returned %T", rev, resp)
	}
	n.log.Info("table imported", "revision", rev, "segments", t.NumSegments(), "gateways", t.NumGateways())
	return &gnspb.ImportResponse{
		Revision: rev,
		Gateways: uint64(t.NumGateways()),
		Sps:      uint64(t.NumSPs()),
		Segments: uint64(t.NumSegments()),
		Ported:   uint64(t.NumPorted()),
	}, nil
}

// forwardImport relays a client's import stream to the leader.
func (n *Node) forwardImport(ctx context.Context, stream grpc.ClientStreamingServer[gnspb.TableChunk, gnspb.ImportResponse]) error {
	c, err := n.leaderClient(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	up, err := c.ImportTable(n.outgoing(ctx, true))
	if err != nil {
		return err
	}
	for {
		ch, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if err := checkChunkSecrets(ctx, ch); err != nil {
			return err
		}
		if err := up.Send(ch); err != nil {
			if err == io.EOF {
				break // the leader ended the stream; CloseAndRecv says why
			}
			return err
		}
	}
	resp, err := up.CloseAndRecv()
	if err != nil {
		return err
	}
	return stream.SendAndClose(resp)
}
