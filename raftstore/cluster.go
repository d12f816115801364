package raftstore

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// Server is one member of the cluster configuration.
type Server struct {
	ID       string
	Addr     string
	Suffrage raft.ServerSuffrage // raft.Voter, raft.Nonvoter or raft.Staging
	Leader   bool                // as far as this node knows
}

// Join adds a voter, or changes the address of an existing member with that
// ID (a node that moved). Joining a member that is already a voter at addr
// is a no-op, so a restarting node can always ask to join. Must run on the
// leader (*NotLeaderError otherwise). Returns once the new configuration is
// committed.
//
// Committed means a quorum has it, not every voter. hashicorp/raft (since
// PR #526) refuses votes from candidates missing from the voter's own
// configuration, so if the leader dies before a lagging voter has received
// the entry that added a server, that voter and the new server can refuse
// each other and no leader is elected until the old leader comes back.
// Add servers one at a time and let each change reach every node (it has
// applied a later entry, or its Servers() lists the new member) before the
// next change or a planned restart.
func (s *Store) Join(ctx context.Context, id, addr string) error {
	if id == "" || addr == "" {
		return fmt.Errorf("raftstore: join: id %q and addr %q must both be set", id, addr)
	}
	if _, _, err := splitHostPort(addr); err != nil {
		return fmt.Errorf("raftstore: join %s: addr %q: %w", id, addr, err)
	}
	servers, err := s.leaderConfig(ctx, "join")
	if err != nil {
		return err
	}
	for _, srv := range servers {
		switch {
		case string(srv.ID) == id && string(srv.Address) == addr && srv.Suffrage == raft.Voter:
			return nil
		case string(srv.ID) != id && string(srv.Address) == addr:
			return fmt.Errorf("raftstore: join %s at %s: %w (%s)", id, addr, ErrAddrInUse, srv.ID)
		}
	}
	timeout, err := s.enqueueTimeout(ctx)
	if err != nil {
		return fmt.Errorf("raftstore: join %s: %w", id, err)
	}
	fut := s.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, timeout)
	if err := s.translate("join "+id, s.wait(ctx, fut)); err != nil {
		return err
	}
	s.log.Info("server joined", "id", id, "addr", addr)
	return nil
}

// Remove takes a server out of the cluster; removing a non-member is a no-op.
// Must run on the leader. A leader removing itself steps down once the
// change commits.
func (s *Store) Remove(ctx context.Context, id string) error {
	servers, err := s.leaderConfig(ctx, "remove")
	if err != nil {
		return err
	}
	member := false
	for _, srv := range servers {
		member = member || string(srv.ID) == id
	}
	if !member {
		return nil
	}
	timeout, err := s.enqueueTimeout(ctx)
	if err != nil {
		return fmt.Errorf("raftstore: remove %s: %w", id, err)
	}
	fut := s.raft.RemoveServer(raft.ServerID(id), 0, timeout)
	if err := s.translate("remove "+id, s.wait(ctx, fut)); err != nil {
		return err
	}
	s.log.Info("server removed", "id", id)
	return nil
}

// TransferLeadership hands leadership to the most up-to-date follower and
// returns once it has taken over, for planned restarts: the cluster keeps
// taking writes after a pause of one round trip instead of an election
// timeout. Must run on the leader.
func (s *Store) TransferLeadership(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("raftstore: transfer leadership: %w", err)
	}
	return s.translate("transfer leadership", s.wait(ctx, s.raft.LeadershipTransfer()))
}

// leaderConfig returns the latest configuration, failing with
// *NotLeaderError on a follower: membership changes go through the leader,
// and answering "already a member" from a follower's stale view would hide
// that.
func (s *Store) leaderConfig(ctx context.Context, op string) ([]raft.Server, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("raftstore: %s: %w", op, err)
	}
	if s.raft.State() != raft.Leader {
		return nil, s.translate(op, raft.ErrNotLeader)
	}
	fut := s.raft.GetConfiguration()
	if err := s.wait(ctx, fut); err != nil {
		return nil, s.translate(op, err)
	}
	return fut.Configuration().Servers, nil
}

// Servers returns the latest configuration as this node knows it (works on
// followers too).
func (s *Store) Servers() ([]Server, error) {
	fut := s.raft.GetConfiguration()
	if err := fut.Error(); err != nil {
		return nil, s.translate("servers", err)
	}
	_, leaderID := s.raft.LeaderWithID()
	cfg := fut.Configuration()
	out := make([]Server, 0, len(cfg.Servers))
	for _, srv := range cfg.Servers {
		out = append(out, Server{
			ID:       string(srv.ID),
			Addr:     string(srv.Address),
			Suffrage: srv.Suffrage,
			Leader:   srv.ID == leaderID,
		})
	}
	return out, nil
}

// Leader returns the current leader's ID and address, empty if unknown.
func (s *Store) Leader() (id, addr string) {
	a, i := s.raft.LeaderWithID()
	return string(i), string(a)
}

// IsLeader reports whether this node currently believes it is the leader;
// use VerifyLeader before serving a read that must be linearizable.
func (s *Store) IsLeader() bool { return s.raft.State() == raft.Leader }

// State returns this node's raft state.
func (s *Store) State() raft.RaftState { return s.raft.State() }

// AppliedIndex is raft's index of the last entry dispatched to the FSM. It
// is a progress gauge, not a read fence: raft updates it just after
// dispatch, so it may lead what the FSM has finished and may briefly trail
// an Apply that has already returned. Fence reads with Barrier or with the
// FSM's own revision (the index Apply returned).
func (s *Store) AppliedIndex() uint64 { return s.raft.AppliedIndex() }

// Stats returns raft's own diagnostic map (see raft.Raft.Stats); for
// metrics use Status, which is typed and cheaper.
func (s *Store) Stats() map[string]string { return s.raft.Stats() }

// Status is a point-in-time view for gauges and /healthz.
type Status struct {
	ID         string
	Addr       string
	State      raft.RaftState
	LeaderID   string
	LeaderAddr string

	Term         uint64
	LastIndex    uint64 // last entry in the log (or snapshot)
	CommitIndex  uint64
	AppliedIndex uint64 // see Store.AppliedIndex

	// LastContact is when this node last heard from a leader: zero if never,
	// the time of the call on the leader itself. Export time since it as
	// the staleness gauge.
	LastContact time.Time
}

// Status collects the figures without going through raft's main loop, so it
// is safe to call on every scrape.
func (s *Store) Status() Status {
	st := Status{
		ID:           s.cfg.NodeID,
		Addr:         s.Addr(),
		State:        s.raft.State(),
		Term:         s.raft.CurrentTerm(),
		LastIndex:    s.raft.LastIndex(),
		CommitIndex:  s.raft.CommitIndex(),
		AppliedIndex: s.raft.AppliedIndex(),
		LastContact:  s.raft.LastContact(),
	}
	st.LeaderID, st.LeaderAddr = s.Leader()
	if st.State == raft.Leader {
		st.LastContact = time.Now()
	}
	return st
}
