// Package gns is the GNS node (gateway name server, the carrier's "tandem
// gateway"): one member of a Raft cluster of 3 or 5 holding the
// authoritative route table, serving
//
//   - the gRPC API of gns/gnspb: writes, table import/export, lookups,
//     cluster membership and Watch, the stream ISMG route caches follow;
//   - the CMPP GNS route PDUs of protocols.md §1.12 (MT_ROUTE, MO_ROUTE,
//     GET_*_ROUTE, *_ROUTE_UPDATE) on the CMPP port, and, on the leader,
//     PUSH_*_ROUTE_UPDATE to configured vendor ISMGs;
//   - /metrics and /healthz over HTTP.
//
// # Replication
//
// The table is an immutable *routing.Table in an atomic.Pointer, replaced
// by the FSM on every applied batch; its revision is the Raft index of that
// batch. Lookups load the pointer and take no lock. Writes go to the leader;
// a follower forwards them over gRPC to the leader's address, which every
// member learns from member entries in the log. Reads are linearizable by
// default (the leader runs one Barrier per term, then VerifyLeader before
// each read; followers forward), or served locally with stale=true.
//
// # Security
//
// Raft between the nodes runs over mutual TLS with certificates from a
// cluster CA (RaftTLSCert, RaftTLSKey, RaftTLSCA; raftstore.Config.TLS):
// a peer that is not the cluster's cannot append to the log. A node whose
// gRPC API takes a Token refuses to start on a plaintext Raft port unless
// InsecureRaft says so. gRPC takes TLS and the bearer token. The CMPP
// route port changes routes (*_ROUTE_UPDATE commits through Raft like a
// gRPC Write), so it takes an allow list of networks, caps the connections
// that have not logged in, and locks out failed logins per (source IP,
// gateway code) and per source IP (cmppsvc.go, lockout.go).
//
// Every node exports a digest of its table's content (digest.go):
// gns_table_digest, NodeStatus, and ClusterStatus, which asks every member
// for its own. Nodes at the same revision with different digests have
// diverged, whatever the cause; gnsctl cluster status says which.
//
// # Raft command format
//
// Every log entry is one byte of command type, one byte of payload version
// (1), then the payload:
//
//	1 changes        routing.EncodeChanges of the batch
//	2 import_begin   empty; the entry's index is the import id
//	3 import_chunk   uvarint import id, then an EncodeChanges batch of one
//	                 OpReplace change carrying the chunk's values
//	4 import_commit  uvarint import id
//	5 import_abort   uvarint import id
//	6 member         uvarint-length node id, uvarint-length gRPC address
//	                 (empty: forget the member)
//
// Apply is deterministic and panics on an unknown type, since skipping a
// command other members apply would make this one diverge. A rejected
// command (a bad batch, a chunk of a superseded import) is answered with
// an error, identically on every node. An import stages plain values and
// builds the table once, at commit, so readers switch from the old table to
// the new one at a single revision; a newer begin aborts an older import.
// Snapshots persist the applied index, the members, the staged import and
// the table (routing.WriteSnapshot).
//
// # Watch
//
// The FSM publishes each applied batch to a hub that keeps the last
// WatchHistory batches and fans out to per-watcher buffered channels without
// blocking; a full buffer drops that watcher (RESOURCE_EXHAUSTED), which
// resumes from its last revision. Subscription and publication share one
// mutex, so a watcher gets every batch after its starting point exactly
// once; the stream also skips anything at or below the last revision sent.
// A watcher that starts at 0 or before the history, and every watcher when
// the table is replaced as a whole (an import, a snapshot restore), gets a
// snapshot: a run of events whose first has reset and last snapshot_done.
//
// # Goroutines
//
// Run owns every goroutine the node starts: the gRPC, CMPP and HTTP serve
// loops, leaderLoop (Barrier and own-address record on each new term),
// joinLoop (asks the Join addresses until one accepts) and, with push
// peers, pushLoop (follows the hub while leader). They end when Run's ctx
// ends or Close is called; Run waits for them before returning. Each
// ImportTable call adds one applier goroutine that lives as long as the
// call. raftstore owns raft's goroutines and calls the FSM on one of them;
// the cmpp.Server owns the session goroutines and runs handlers in them.
//
// # Locks
//
// hub.mu (subscribers, history, current table for watchers) and fsm.mu
// (applied index and its notification channel) are leaves: nothing is
// called while holding them except non-blocking channel sends. The FSM
// takes hub.mu inside Apply; no code takes fsm.mu and hub.mu together.
package gns
