// Package federation is what makes an ISMG part of the network of gateways:
// the route cache that follows the GNS, and the transport between gateways
// (the CMPP_FWD server and client links, memberlist liveness), each in
// files named for its mechanism. The durable per-peer queues, dedup and
// retries are the ISMG's; it drives this package.
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
// diverged, closed, error) and persist_errors_total.//
// # Peer links: CMPP_FWD between gateways
//
// Configuration is one PeerConfig (peerconfig.go): this gateway's code,
// the FWD listen address, per-peer settings over a Default (secret,
// allowed source addresses, window, CMPP version, T, ACTIVE_TEST
// interval, sessions per address, TLS), the caps on connections not
// logged in and the login lockout. Secrets are per pair: the same secret
// logs each side in to the other.
//
// The FWD server (FwdServer, peerserver.go; listen.fwd) is a cmpp.Server
// whose logins are peer gateways: CONNECT Source_Addr is the peer's
// 6-digit code and AuthenticatorSource proves its secret; the source
// address must be on its allow list. Refusals follow the SP port: a
// non-code, our own code, a code the ISMG does not know (isPeer) or one
// without a secret get status 2, a bad authenticator 3, an address off
// the list or a locked-out one 5. Failures count per (source IP, code),
// locking that pair out after AuthFailures within AuthFailWindow, and per
// source IP over all codes up to AuthFailuresPerIP (internal/loginguard). Each
// FWD is checked (fwdintake.go): Destination_Id must be this gateway
// (else FWD_RESP Result 9), Source_Id the logged-in peer (else Result 1),
// the peer's window not exceeded (else Result 8), anything but FWD gets
// Result 2; a FWD that passes goes to FwdReceiver.ReceiveFwd on the
// session's reader (cmpp's InlineHandler), which must not block and
// answers later through respond, once the message is durable. The
// FWD_RESP echoes Msg_Id, Pk_total and Pk_number; the codec writes Result
// in 1 byte in 2.x and 4 in 3.0 by the session's version. NodesCount is
// passed through: the ISMG enforces the hop limit.
//
// A Link (peerlink.go, peersend.go) is this gateway's client to one peer
// gateway: Sessions logged-in sessions per FWD address, each with its
// window, reconnecting with exponential backoff and full jitter,
// ACTIVE_TEST and TERMINATE by the cmpp session layer. SendAsync (the
// shape of smsclink.SubmitAsync) fails at once with ErrNoSession when no
// session is up, waits for a window slot until its deadline
// (ErrWindowWait) while every window is full, and puts the FWD on the
// session with the fewest in flight, round-robin among equals, so a
// gateway served by several nodes gets its traffic spread over them. Its
// callback gets the FWD_RESP (with a *ResultError when Result ≠ 0), a
// timeout after T, or the session's loss; Classify and Temporary sort the
// errors. SetAddrs replaces the addresses at run time: sessions to
// addresses that went take no new FWDs, drain the ones in flight and
// TERMINATE. Either side may be client between gateways, so a FWD the
// peer sends on a session we opened goes through the same checks to the
// same receiver.
//
// Peers (peers.go) keeps one Link per peer gateway from a list of
// PeerTargets, which the ISMG computes with PeerTargets from the route
// table's gateways and the live members: a gateway's healthy members'
// FWD addresses when gossip knows any, else the table's fwd_addr, so a
// peer of another vendor that only speaks CMPP_FWD is reached all the
// same; Peers.Follow does that on every table and membership change.
// Forwarding never requires membership.
//
// # Membership
//
// Membership (members.go) runs hashicorp/memberlist among the ISMG nodes.
// Each node's meta (membermeta.go: a version byte, then health, gateway
// code, region and FWD address, at most MaxMetaLen bytes; later versions
// only append) rides on memberlist's alive messages beside the node's
// unique name and gossip address. Live(gateway) gives the alive members
// whose health is ok, Changed() a channel closed when the view changes,
// SetHealth marks this node draining or unhealthy. A crashed node is
// declared dead after a probe round plus the suspicion timeout (a few
// seconds with the defaults; DeadWithin gives the bound) and dropped from
// Live; a node that stops gracefully leaves at once.
//
// # What is encrypted
//
//   - Gossip: always. MembershipConfig.Key (16, 24 or 32 bytes) encrypts
//     and authenticates every memberlist packet and stream with AES-GCM,
//     incoming and outgoing verification on, with Cluster as additional
//     data; a node without the key can neither join nor be heard, and the
//     meta (codes, regions, addresses, health) is not readable on the
//     wire. OldKeys roll a new key in.
//   - CMPP_FWD: in clear over TCP unless TLS is configured. The CONNECT
//     authenticator proves the secret without revealing it, but messages
//     travel readable. PeerConfig.ServerTLS makes listen.fwd TLS-only
//     (ClientCA adds mutual TLS: peers need a certificate from that CA,
//     and still log in with their secret); PeerSettings.TLS makes our
//     links speak TLS, with a client certificate for mutual TLS.
//
// # Goroutines and locks
//
// FwdServer: cmpp.Server's (one per connection, reader and writer per
// session); ReceiveFwd runs on the reader; a reply that finds the write
// queue full (a peer not reading) is left to a tracked goroutine that
// Shutdown and Close wait for. Link.Run owns a goroutine per slot (dial,
// log in, serve, back off) and waits for them when its ctx ends; each
// session's reader and writer are cmpp's. Peers.Run owns a goroutine per
// link. Membership: memberlist's own goroutines, stopped by Run's end or
// Close; its event delegate (never concurrent) updates the member map
// and publishes an immutable view. Locks: Link.mu (slots, sessions,
// in-flight counts) and Membership.mu are leaves; Peers.mu is taken
// before a Link.mu (Update re-addressing a link), never the other way.
//
// # Peer metrics
//
// From PeerMetrics (peermetrics.go), one per node, given to NewFwdServer,
// NewPeers and NewMembership in their configs: federation_fwd_
// received_total{peer,result}, rejected_total{peer,reason},
// logins_refused_total{reason}, server_sessions{peer}, sent_total{peer,
// result} (a FWD_RESP result or an error kind); federation_peer_link_
// sessions_up{peer}, window_in_use{peer}, connect_failures_total{peer,
// reason}; federation_members_alive{gateway}, ready{gateway},
// events_total{event}.
package federation
