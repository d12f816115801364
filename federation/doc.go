// Package federation is what makes an ISMG part of the network of gateways.
// Today it holds the route cache; the peer links (CMPP_FWD client and
// server, memberlist liveness, durable per-peer queues) join it later, each
// in files named for its mechanism.
//
// It imports cmpp, routing, gns/gnspb (the GNS gRPC client stubs), gRPC,
// Prometheus and memberlist, never gns, ismg, raftstore, smpp or billing
// (deps_test.go at the module root enforces it).
//
// # Route cache
//
// A RouteCache (routecache.go) is a gateway's copy of the GNS route table.
// It follows the Watch stream of gns.proto on one GNS node at a time:
//
//   - From revision 0 (nothing persisted) the node sends a snapshot, a run
//     of events whose first has reset and last snapshot_done. The cache
//     builds the new table on the side with routing's Builder.Apply and
//     swaps it in whole at snapshot_done; the old table answers until
//     then. Deltas follow, one per committed batch, each applied with
//     routing's Table.Apply (cacheevents.go). Both are routing's own apply
//     code, the same the GNS FSM runs.
//   - After a reconnect it asks to resume after its revision, so it gets
//     only the deltas it missed. A node whose history no longer reaches
//     back that far answers with a snapshot instead (counted as a resync
//     with reason too_old), as does a node whose table was replaced whole
//     (an import or a Raft snapshot restore: reason replaced). A delta
//     that does not apply to the cached table (reason diverged) makes the
//     cache reconnect asking for a whole table.
//   - Route ids (Segment.RouteID, ServiceCode.RouteID) in the cached table
//     are the cache's own, assigned by routing as it applies; the GNS's
//     ids carried by the events are not kept (routing has no way yet to
//     force them on a put).
//
// Every stream starts with a NodeStatus probe (which also proves the
// token and TLS setup), and the node is probed again every ProbeInterval
// while the stream is open (cacheconn.go). The cache leaves a node, and
// moves to the next address in RouteCacheConfig.GNS, when the stream
// breaks (node stopped or unreachable), when the node drops it as too slow
// (RESOURCE_EXHAUSTED), when two probes in a row fail (a node that hangs
// or is cut off without closing the connection), when the node has had no
// Raft leader for LeaderlessTimeout (partitioned from the quorum: it would
// fall behind without knowing). The first address is picked at random so
// gateways spread over the cluster.
// Attempts that get nowhere back off from BackoffMin doubling to
// BackoffMax; a stream that worked is followed by an immediate try of the
// next node.
//
// # Lookups
//
// The current table is an immutable *routing.Table behind an
// atomic.Pointer (with the channel closed when it is replaced): Table()
// is one atomic load, and lookups on the table take no lock and allocate
// nothing (TestLookupAllocatesNothing). Changed() (or TableAndChanged)
// gives the channel, for the ISMG and for tests; Synced() is closed once
// the cache has caught up with a GNS node in this process.
//
// # Persistence
//
// The table is written to <DataDir>/routecache.snap in routing's snapshot
// format (revision and CRC-32C included; cachepersist.go): to a temporary
// file, fsynced, renamed over the old one, and the directory fsynced, so
// a crash at any point leaves the old file or the new one whole. Writes
// are coalesced to at most one per PersistInterval (1 s by default) and
// one more when Run returns. A crash therefore loses at most the last
// interval's deltas, and those are not lost for good: the restarted cache
// resumes from the persisted revision and the GNS sends them again.
//
// NewRouteCache loads the file before anything connects, so a gateway
// restarted while every GNS node is down routes with the table it had. A
// file that does not read back (bad checksum, truncated: disk trouble, as
// a crash cannot cause it) is an error naming the file, so a gateway never
// starts silently without routes; with DiscardCorrupt the file is moved to
// routecache.snap.corrupt and the cache starts empty, logged at error
// level, and fills from the GNS.
//
// # Goroutines
//
// Run owns everything the cache starts and returns after it all exited:
// the follow loop (Run's own goroutine: one stream at a time, reading and
// applying events, the only writer of the table), one prober per open
// stream (started and waited for by the follow loop), and the persister
// (woken by each swap, writes the table, exits after its last write when
// the follow loop has ended). There are no locks: the table is published
// atomically, the persister reads it with Table().
//
// # Metrics
//
// From the injected Registerer (cachemetrics.go): federation_routecache_
// revision, persisted_revision, last_event_age_seconds (computed at
// scrape), connected{addr} (1 for the node followed), resyncs_total{reason}
// (initial, too_old, replaced, diverged), reconnects_total{reason}
// (unavailable, timeout, slow, auth, probe, leaderless, protocol,
// diverged, closed, error) and persist_errors_total.
package federation
