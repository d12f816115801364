// Package lincheck checks that a replicated register store is
// linearizable, as etcd's robustness tests check etcd: concurrent clients
// write and read a small private key space through every node while the
// cluster is hurt (nodes killed, the network split), every operation is
// recorded with the times it was invoked and answered, and porcupine
// (github.com/anishathalye/porcupine) searches for one sequential order of
// the operations that respects real time (an operation answered before
// another was invoked comes first) and that one register per key could
// have produced. None means a client saw something no correct cluster can
// show: a read missing an acknowledged write, or going back in time.
//
// cmd/gns-lincheck runs it against a GNS cluster: a key is a number
// segment, a write puts the segment (Write), a read resolves it (ResolveMT,
// linearizable by default).
//
// # What a history holds
//
//   - A write that was answered: its value, invoked at Call, in effect at
//     some instant before Return.
//   - A write whose outcome is unknown (a timeout, the leader lost before
//     confirming the commit, a connection broken after the request left):
//     it may take effect at any instant after Call, even after the run, or
//     never. It goes to porcupine with its Return past the end of the
//     history, the register model accepting it wherever it lands: if a
//     read saw it, it took effect before that read; if none did, it may
//     come last, which is the same as never.
//   - A write that certainly failed (the cluster said ErrNotApplied: the
//     connection was refused, or the node said it is not the leader) is
//     counted and left out: it changed nothing.
//   - A read that answered: the value it saw. A failed read is counted and
//     left out, since reads change nothing.
//   - Stale reads (served by the node asked, without confirming it leads)
//     are counted and never checked: they may lag by design.
//
// Every write puts a value tagged uniquely (run, client, sequence), so a
// read names the very write it saw. The initial value of each key is
// unknown: an earlier run may have left one. The first read ordered
// before any write fixes it, and every later read must agree.
//
// # Cluster
//
// The package speaks to the store through Cluster, which the caller
// implements: cmd/gns-lincheck over the GNS gRPC API. Packages under sim/
// stay off gRPC and the node packages (deps_test.go), and the tests run the
// workload against in-memory registers, one of them stale on purpose.
//
// # Goroutines
//
// Run starts Config.Clients goroutines, each keeping its own slice of the
// history; they stop when the run's duration has passed, after
// OpsPerClient operations, or when ctx ends, and Run waits for them before
// merging their slices. Check runs porcupine, whose per-key goroutines end
// before it returns (or, past CheckOptions.Timeout, stop at their next
// step).
package lincheck
