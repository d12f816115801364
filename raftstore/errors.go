package raftstore

import (
	"errors"
	"fmt"

	"github.com/hashicorp/raft"
)

// Sentinel errors. Callers test them with errors.Is; the gns gRPC edge
// translates them to status codes.
var (
	// ErrNotLeader is matched (errors.Is) by every *NotLeaderError: the
	// operation needs the leader and this node is not it. Nothing was written;
	// the caller may retry at NotLeaderError.LeaderAddr.
	ErrNotLeader = errors.New("raftstore: not leader")

	// ErrOutcomeUnknown means the command reached the leader but leadership was
	// lost (or the caller's context ended) before it was known to be
	// committed. It may or may not be applied: retry only idempotent commands.
	ErrOutcomeUnknown = errors.New("raftstore: outcome unknown")

	// ErrClosed is returned by every operation after Shutdown.
	ErrClosed = errors.New("raftstore: store closed")

	// ErrInvalidConfig is wrapped by every Config.Validate error.
	ErrInvalidConfig = errors.New("raftstore: invalid config")

	// ErrAddrInUse is returned by Join when the address is already held by a
	// server with another ID; remove that server first.
	ErrAddrInUse = errors.New("raftstore: address already used by another server")
)

// NotLeaderError carries the current leader as far as this node knows it
// (both fields are empty during an election), so a client can redirect.
type NotLeaderError struct {
	LeaderID   string
	LeaderAddr string
}

func (e *NotLeaderError) Error() string {
	if e.LeaderAddr == "" {
		return "raftstore: not leader (leader unknown)"
	}
	return fmt.Sprintf("raftstore: not leader (leader %s at %s)", e.LeaderID, e.LeaderAddr)
}

// Is makes errors.Is(err, ErrNotLeader) hold.
func (e *NotLeaderError) Is(target error) bool { return target == ErrNotLeader }

// translate turns raft's errors into ours, keeping raft's in the chain so
// errors.Is(err, raft.ErrX) still works for callers that care. op names the
// operation for the message.
func (s *Store) translate(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader):
		addr, id := s.raft.LeaderWithID()
		return &NotLeaderError{LeaderID: string(id), LeaderAddr: string(addr)}
	case errors.Is(err, raft.ErrLeadershipLost):
		return fmt.Errorf("raftstore: %s: %w: %w", op, ErrOutcomeUnknown, err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return fmt.Errorf("raftstore: %s: %w", op, ErrClosed)
	default:
		return fmt.Errorf("raftstore: %s: %w", op, err)
	}
}
