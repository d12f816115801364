package raftstore

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

const (
	// logDBName is the bolt file under DataDir holding the Raft log and the
	// stable store (current term, vote).
	logDBName = "raft.db"

	// logCacheSize entries are kept in memory in front of bolt so that
	// replication to followers that are just behind does not read the disk.
	logCacheSize = 512

	// boltOpenTimeout bounds the wait for bolt's file lock: a second process
	// on the same DataDir fails instead of hanging.
	boltOpenTimeout = time.Second

	// observationBuffer absorbs bursts of leader/state observations while
	// OnLeaderChange runs; raft drops observations beyond it.
	observationBuffer = 64
)

// Store is one Raft node: the replicated log on disk, the transport and the
// caller's FSM. Its methods are safe for concurrent use.
type Store struct {
	cfg   Config
	log   *slog.Logger
	raft  *raft.Raft
	trans *raft.NetworkTransport
	bolt  *raftboltdb.BoltStore

	// closed is closed once raft has stopped, to release waiters whose
	// future raft will never resolve.
	closed       chan struct{}
	shutdownOnce sync.Once
	shutdownErr  error

	observer *raft.Observer
	obsCh    chan raft.Observation
	obsDone  chan struct{}

	// changed is closed and replaced on every leader/state observation;
	// WaitLeader blocks on it.
	changedMu sync.Mutex
	changed   chan struct{}
}

// Open opens (or creates) the node's state in cfg.DataDir, starts the
// transport on cfg.BindAddr and starts raft with fsm. With cfg.Bootstrap and
// no existing state it forms a single-node cluster; otherwise it resumes
// from disk, or waits to be joined.
func Open(cfg Config, fsm raft.FSM) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if fsm == nil {
		return nil, fmt.Errorf("%w: fsm is nil", ErrInvalidConfig)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("node", cfg.NodeID)

	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("raftstore: create data dir: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, cfg.SnapshotRetain, newHCLog(logger, "raft-snap"))
	if err != nil {
		return nil, fmt.Errorf("raftstore: open snapshot store: %w", err)
	}
	bolt, err := raftboltdb.New(raftboltdb.Options{
		Path:        filepath.Join(cfg.DataDir, logDBName),
		BoltOptions: &bbolt.Options{Timeout: boltOpenTimeout},
	})
	if err != nil {
		return nil, fmt.Errorf("raftstore: open %s (is another node using this DataDir?): %w", logDBName, err)
	}
	s, err := open(cfg, fsm, logger, snaps, bolt)
	if err != nil {
		_ = bolt.Close()
		return nil, err
	}
	return s, nil
}

func open(cfg Config, fsm raft.FSM, logger *slog.Logger, snaps raft.SnapshotStore, bolt *raftboltdb.BoltStore) (*Store, error) {
	logs, err := raft.NewLogCache(logCacheSize, bolt)
	if err != nil {
		return nil, fmt.Errorf("raftstore: log cache: %w", err)
	}

	var advertise net.Addr
	if cfg.AdvertiseAddr != "" {
		a, err := net.ResolveTCPAddr("tcp", cfg.AdvertiseAddr)
		if err != nil {
			return nil, fmt.Errorf("raftstore: resolve AdvertiseAddr: %w", err)
		}
		advertise = a
	}
	trans, err := newTransport(cfg, advertise, logger)
	if err != nil {
		return nil, err
	}

	rc := raftConfig(cfg, logger)
	if cfg.Bootstrap {
		exists, err := raft.HasExistingState(logs, bolt, snaps)
		if err != nil {
			_ = trans.Close()
			return nil, fmt.Errorf("raftstore: check existing state: %w", err)
		}
		if !exists {
			boot := raft.Configuration{Servers: []raft.Server{{
				Suffrage: raft.Voter,
				ID:       rc.LocalID,
				Address:  trans.LocalAddr(),
			}}}
			if err := raft.BootstrapCluster(rc, logs, bolt, snaps, trans, boot); err != nil {
				_ = trans.Close()
				return nil, fmt.Errorf("raftstore: bootstrap: %w", err)
			}
			logger.Info("bootstrapped new cluster", "addr", trans.LocalAddr())
		}
	}

	r, err := raft.NewRaft(rc, fsm, logs, bolt, snaps, trans)
	if err != nil {
		_ = trans.Close()
		return nil, fmt.Errorf("raftstore: start raft: %w", err)
	}

	s := &Store{
		cfg:     cfg,
		log:     logger,
		raft:    r,
		trans:   trans,
		bolt:    bolt,
		closed:  make(chan struct{}),
		obsCh:   make(chan raft.Observation, observationBuffer),
		obsDone: make(chan struct{}),
		changed: make(chan struct{}),
	}
	s.observer = raft.NewObserver(s.obsCh, false, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.LeaderObservation, raft.RaftState:
			return true
		}
		return false
	})
	r.RegisterObserver(s.observer)
	go s.observe()
	logger.Info("raft started", "addr", trans.LocalAddr(), "data_dir", cfg.DataDir, "tls", cfg.TLS != nil)
	return s, nil
}

// newTransport listens on cfg.BindAddr: plain TCP, or mutual TLS when
// cfg.TLS is set.
func newTransport(cfg Config, advertise net.Addr, logger *slog.Logger) (*raft.NetworkTransport, error) {
	ntc := &raft.NetworkTransportConfig{
		MaxPool: cfg.MaxPool,
		Timeout: cfg.TransportTimeout,
		Logger:  newHCLog(logger, "raft-net"),
	}
	if cfg.TLS == nil {
		trans, err := raft.NewTCPTransportWithConfig(cfg.BindAddr, advertise, ntc)
		if err != nil {
			return nil, fmt.Errorf("raftstore: listen on BindAddr %s: %w", cfg.BindAddr, err)
		}
		return trans, nil
	}
	stream, err := newTLSStream(cfg, advertise, logger)
	if err != nil {
		if errors.Is(err, ErrInvalidConfig) {
			return nil, err
		}
		return nil, fmt.Errorf("raftstore: listen on BindAddr %s: %w", cfg.BindAddr, err)
	}
	ntc.Stream = stream
	return raft.NewNetworkTransportWithConfig(ntc), nil
}

func raftConfig(cfg Config, logger *slog.Logger) *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	rc.CommitTimeout = cfg.CommitTimeout
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.TrailingLogs = cfg.TrailingLogs
	rc.Logger = newHCLog(logger, "raft")
	// Our metrics come from Status; skip raft's duplicate legacy names.
	rc.NoLegacyTelemetry = true
	return rc
}

// Shutdown stops raft, waits for its goroutines, and closes the transport
// and the log store. It does not hand leadership over first: to the rest of
// the cluster it looks like a crash, which is what failover is tested
// against. It is idempotent; later calls return the first call's result.
func (s *Store) Shutdown() error {
	s.shutdownOnce.Do(func() {
		// Raft resolves in-flight futures (ErrLeadershipLost/ErrRaftShutdown)
		// while stopping, so waiters get raft's answer before closed fires.
		errs := []error{s.raft.Shutdown().Error()}
		close(s.closed)
		s.raft.DeregisterObserver(s.observer)
		<-s.obsDone
		errs = append(errs, s.trans.Close(), s.bolt.Close())
		if err := errors.Join(errs...); err != nil {
			s.shutdownErr = fmt.Errorf("raftstore: shutdown: %w", err)
		}
		s.log.Info("raft stopped")
	})
	return s.shutdownErr
}

// Raft returns the underlying raft instance for what this package does not
// wrap. Do not call Shutdown on it; call Store.Shutdown.
func (s *Store) Raft() *raft.Raft { return s.raft }

// ID returns this node's Raft ID.
func (s *Store) ID() string { return s.cfg.NodeID }

// Addr returns the address this node advertises to its peers (with the real
// port when BindAddr used port 0).
func (s *Store) Addr() string { return string(s.trans.LocalAddr()) }
