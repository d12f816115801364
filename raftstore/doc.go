// Package raftstore runs one node of a Raft cluster: hashicorp/raft over a
// real TCP transport, with raft-boltdb/v2 as log and stable store and a
// file snapshot store. It knows nothing of what is replicated: the caller
// passes a raft.FSM (the GNS node passes its route FSM) and commands are
// opaque bytes.
//
// # Use
//
//	cfg := raftstore.DefaultConfig()
//	cfg.NodeID, cfg.BindAddr, cfg.DataDir = "gns1", "10.0.0.1:7000", "/var/lib/gns/raft"
//	cfg.Bootstrap = true // first node only; ignored once state exists
//	s, err := raftstore.Open(cfg, fsm)
//	...
//	resp, index, err := s.Apply(ctx, cmd) // on the leader
//	var nl *raftstore.NotLeaderError       // errors.Is(err, raftstore.ErrNotLeader)
//	if errors.As(err, &nl) { redirect(nl.LeaderAddr) }
//
// Other nodes start without Bootstrap and are added by the leader with
// Join(ctx, id, addr); a restarted node resumes from its DataDir and needs
// no new Join as long as its ID and address are unchanged.
//
// # Transport security
//
// By default the transport is plain TCP, and whoever reaches BindAddr can
// send AppendEntries: a forged entry at the right index and term is
// applied by the node and never repaired by log matching. Config.TLS turns
// on mutual TLS (LoadTLS builds it from PEM files; NewCA and CA.IssueNode
// make a cluster CA and node certificates): every connection, both ways,
// presents a certificate the cluster CA signed, and the dialling side also
// checks that the peer's certificate names the address it dialled. A
// plaintext peer, one without a certificate or with one from another CA is
// refused at the handshake, reported to Config.OnTLSFailure with a reason
// and logged at most once per 10s. Inbound handshakes run on raft's
// per-connection goroutine, bounded by HandshakeTimeout, so a mute peer
// cannot stall the accept loop. Package rafttest plays the intruder in
// tests.
//
// # On disk
//
// Under Config.DataDir:
//
//	raft.db              bolt file: the Raft log and the stable store
//	                     (current term, last vote); fsynced per batch of
//	                     appended entries.
//	snapshots/<term>-<index>-<ms>/
//	                     meta.json and state.bin: the FSM's Persist output.
//	                     SnapshotRetain of them are kept.
//
// On restart raft restores the newest snapshot into the FSM, then replays
// the log after it as the commit index becomes known (on a single node, once
// it has elected itself). Bolt holds a file lock: two nodes on one DataDir
// fail to open rather than corrupt it.
//
// # Goroutines
//
// Raft owns its goroutines (main loop, FSM, snapshots, one replicator per
// follower) and the transport owns its listener and per-connection readers;
// all of them stop in Shutdown, which waits for them. The Store adds:
//
//   - one observer goroutine, started by Open and stopped by Shutdown, that
//     wakes WaitLeader callers and calls Config.OnLeaderChange, in order;
//   - one short-lived goroutine per blocking call (Apply, Barrier,
//     VerifyLeader, Join, Remove, Snapshot) parked on the raft future, so the
//     call can also return on ctx or Shutdown. It ends when raft resolves
//     the future, which it does on commit, on loss of leadership and on
//     shutdown.
//
// FSM.Apply, Snapshot and Restore run on raft's FSM goroutine, one at a
// time; FSMSnapshot.Persist runs on raft's snapshot goroutine, concurrently
// with Apply, so the FSM hands it an immutable view.
//
// # Timing
//
// DefaultConfig's timeouts are tuned for a LAN: on loopback a surviving node
// accepts writes about half a second after the leader dies (see
// BenchmarkFailover), against about three seconds with raft's defaults.
package raftstore
