package raftstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// Apply replicates cmd through the log and returns what the FSM's Apply
// returned for it, with the entry's index (the revision callers expose).
//
// Errors:
//   - *NotLeaderError (errors.Is ErrNotLeader): nothing was written; retry
//     on the leader it names.
//   - ErrOutcomeUnknown: leadership was lost or ctx ended after the entry
//     was queued; it may still commit.
//   - ErrClosed: the store was shut down.
//   - an error the FSM returned as its response: the entry is committed (and
//     index is set) but the FSM rejected it, deterministically on every node.
//     It is returned as the FSM made it, since it is the caller's own domain
//     error.
//
// ctx bounds the whole call; ApplyTimeout (or ctx's deadline if sooner)
// bounds only the wait to enter the leader's queue.
func (s *Store) Apply(ctx context.Context, cmd []byte) (resp any, index uint64, err error) {
	start := time.Now()
	timeout, err := s.enqueueTimeout(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("raftstore: apply: %w", err)
	}
	fut := s.raft.Apply(cmd, timeout)
	if err := s.wait(ctx, fut); err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return nil, 0, fmt.Errorf("raftstore: apply: %w: %w", ErrOutcomeUnknown, err)
		}
		return nil, 0, s.translate("apply", err)
	}
	if s.cfg.OnApply != nil {
		s.cfg.OnApply(time.Since(start))
	}
	resp = fut.Response()
	if err, ok := resp.(error); ok {
		return nil, fut.Index(), err
	}
	return resp, fut.Index(), nil
}

// VerifyLeader confirms with a quorum that this node is still the leader.
// For a linearizable read: VerifyLeader, then read the FSM — valid once the
// FSM has caught up with this leader's term, which Barrier (once, after
// winning the election) ensures. Returns *NotLeaderError otherwise.
func (s *Store) VerifyLeader(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("raftstore: verify leader: %w", err)
	}
	return s.leaderOnly("verify leader", s.wait(ctx, s.raft.VerifyLeader()))
}

// Barrier returns once every entry committed before it has been applied to
// this leader's FSM. Returns *NotLeaderError on a follower.
func (s *Store) Barrier(ctx context.Context) error {
	timeout, err := s.enqueueTimeout(ctx)
	if err != nil {
		return fmt.Errorf("raftstore: barrier: %w", err)
	}
	return s.leaderOnly("barrier", s.wait(ctx, s.raft.Barrier(timeout)))
}

// leaderOnly translates errors of operations with no side effect, for which
// losing leadership midway simply means "not leader".
func (s *Store) leaderOnly(op string, err error) error {
	if errors.Is(err, raft.ErrLeadershipLost) {
		err = raft.ErrNotLeader
	}
	return s.translate(op, err)
}

// Snapshot takes a snapshot now (normally raft takes them on its own per
// SnapshotInterval/SnapshotThreshold) and returns the index it covers. On a
// node that has applied nothing yet the error wraps
// raft.ErrNothingNewToSnapshot.
func (s *Store) Snapshot(ctx context.Context) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("raftstore: snapshot: %w", err)
	}
	fut := s.raft.Snapshot()
	if err := s.wait(ctx, fut); err != nil {
		return 0, s.translate("snapshot", err)
	}
	meta, rc, err := fut.Open()
	if err != nil {
		return 0, fmt.Errorf("raftstore: snapshot: open: %w", err)
	}
	_ = rc.Close()
	return meta.Index, nil
}

// enqueueTimeout is the timeout raft gets for queueing an entry: raft takes
// a duration, not a context.
func (s *Store) enqueueTimeout(ctx context.Context) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	timeout := s.cfg.ApplyTimeout
	if dl, ok := ctx.Deadline(); ok {
		rem := time.Until(dl)
		if rem <= 0 {
			return 0, context.DeadlineExceeded
		}
		timeout = min(timeout, rem)
	}
	return timeout, nil
}

// wait blocks on fut until it resolves, ctx ends or the store shuts down.
// Raft futures have no channel, so a goroutine waits on Error; it ends
// when raft resolves the future, which raft does for every queued entry on
// commit, on losing leadership and on shutdown (an entry committed but not
// yet handed to the FSM at shutdown is the one exception: that goroutine
// stays parked, one per such entry, for the life of the process).
func (s *Store) wait(ctx context.Context, fut raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- fut.Error() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closed:
		// raft may have resolved it while stopping; prefer its answer.
		select {
		case err := <-done:
			return err
		default:
			return raft.ErrRaftShutdown
		}
	}
}
