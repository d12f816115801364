package raftstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/internal/waitfor"
)

// failover shuts the leader of a healthy three-node cluster down and
// returns the time until a survivor acknowledges a write.
func failover(b *testing.B, nodes []*node) time.Duration {
	b.Helper()
	apply(b, nodes, "warm")
	old := liveLeader(b, nodes)
	survivors := slices.DeleteFunc(slices.Clone(nodes), func(n *node) bool { return n == old })

	start := time.Now()
	old.stop()
	for {
		// Wait for a survivor to claim leadership, then try it; a write
		// that fails (stale view, lost election) just waits for the next
		// change.
		var leader *node
		waitfor.Signalled(b, "a survivor to lead", func() (bool, []<-chan struct{}) {
			var chans []<-chan struct{}
			for _, n := range survivors {
				chans = append(chans, n.store.changedCh())
				if n.store.IsLeader() {
					leader = n
				}
			}
			return leader != nil, chans
		})
		ctx, cancel := context.WithTimeout(b.Context(), waitTimeout)
		_, _, err := leader.store.Apply(ctx, []byte("after"))
		cancel()
		if err == nil {
			return time.Since(start)
		}
		if !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrOutcomeUnknown) {
			b.Fatalf("apply on new leader: %v", err)
		}
	}
}

// BenchmarkFailover reports, per op, the time from killing the leader
// (Shutdown, no leadership hand-over) to the first write acknowledged by a
// new leader, with DefaultConfig timeouts. Cluster setup is not timed.
func BenchmarkFailover(b *testing.B) { benchFailover(b, nil) }

func benchFailover(b *testing.B, tweak func(*Config)) {
	var total, worst time.Duration
	for b.Loop() {
		b.StopTimer()
		nodes := newCluster(b, 3, tweak)
		b.StartTimer()
		d := failover(b, nodes)
		b.StopTimer()
		for _, n := range nodes {
			n.stop()
		}
		b.StartTimer()
		if testing.Verbose() {
			b.Logf("failover %v", d)
		}
		total += d
		worst = max(worst, d)
	}
	b.ReportMetric(float64(total.Microseconds())/1e3/float64(b.N), "failover-ms")
	b.ReportMetric(float64(worst.Microseconds())/1e3, "max-failover-ms")
}

// BenchmarkApply3Nodes measures committed writes through a three-node
// loopback cluster, each fsynced by a quorum.
func BenchmarkApply3Nodes(b *testing.B) {
	nodes := newCluster(b, 3, nil)
	for _, n := range nodes {
		n.fsm.mu.Lock()
		n.fsm.discard = true
		n.fsm.mu.Unlock()
	}
	cmd := make([]byte, 64)
	leader := liveLeader(b, nodes)
	ctx := b.Context()

	b.Run("sequential", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := leader.store.Apply(ctx, cmd); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, par := range []int{4, 32} {
		b.Run(fmt.Sprintf("parallel-%dxGOMAXPROCS", par), func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(par)
			var failed atomic.Pointer[error]
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, _, err := leader.store.Apply(ctx, cmd); err != nil {
						failed.CompareAndSwap(nil, &err)
						return
					}
				}
			})
			if err := failed.Load(); err != nil {
				b.Fatal(*err)
			}
		})
	}
}

// BenchmarkFailoverRaftDefaults is the same with hashicorp/raft's default
// timeouts, for comparison. Slow: run it explicitly.
func BenchmarkFailoverRaftDefaults(b *testing.B) {
	benchFailover(b, func(c *Config) {
		c.HeartbeatTimeout, c.ElectionTimeout = time.Second, time.Second
		c.LeaderLeaseTimeout, c.CommitTimeout = 500*time.Millisecond, 50*time.Millisecond
	})
}
