package raftstore

import (
	"context"
	"fmt"

	"github.com/hashicorp/raft"
)

// LeaderChange is this node's view of leadership after a change.
type LeaderChange struct {
	IsLeader   bool
	State      raft.RaftState
	LeaderID   string // empty while unknown (election in progress)
	LeaderAddr string
}

// LeaderCh is raft's own leadership channel: true on becoming leader, false
// on losing it. It has a single consumer and drops stale values when not
// read; for several watchers use Config.OnLeaderChange or WaitLeader.
func (s *Store) LeaderCh() <-chan bool { return s.raft.LeaderCh() }

// WaitLeader blocks until a leader is known (possibly this node) and returns
// it, or until ctx ends or the store shuts down.
func (s *Store) WaitLeader(ctx context.Context) (id, addr string, err error) {
	for {
		ch := s.changedCh() // before reading, so no change is missed
		if id, addr := s.Leader(); addr != "" {
			return id, addr, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return "", "", fmt.Errorf("raftstore: wait for leader: %w", ctx.Err())
		case <-s.closed:
			return "", "", fmt.Errorf("raftstore: wait for leader: %w", ErrClosed)
		}
	}
}

func (s *Store) changedCh() <-chan struct{} {
	s.changedMu.Lock()
	defer s.changedMu.Unlock()
	return s.changed
}

func (s *Store) broadcastChange() {
	s.changedMu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.changedMu.Unlock()
}

func (s *Store) leaderChange() LeaderChange {
	lc := LeaderChange{State: s.raft.State()}
	lc.IsLeader = lc.State == raft.Leader
	lc.LeaderID, lc.LeaderAddr = s.Leader()
	return lc
}

// observe owns OnLeaderChange calls: one goroutine, started by Open and
// stopped by Shutdown after raft has stopped. Each observation only says
// "something changed"; the current state is read fresh, so a dropped
// observation costs nothing as long as a later one arrives.
func (s *Store) observe() {
	defer close(s.obsDone)
	var last LeaderChange
	for {
		select {
		case <-s.obsCh:
		case <-s.closed:
			s.broadcastChange()
			return
		}
		s.broadcastChange()
		lc := s.leaderChange()
		if lc == last {
			continue
		}
		last = lc
		s.log.Debug("leadership view changed", "state", lc.State, "leader_id", lc.LeaderID, "leader_addr", lc.LeaderAddr)
		if s.cfg.OnLeaderChange != nil {
			s.cfg.OnLeaderChange(lc)
		}
	}
}
