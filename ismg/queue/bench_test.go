package queue

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func benchStore(b *testing.B, noSync bool) *Store {
	cfg := DefaultConfig()
	cfg.MaxDepth = 0
	cfg.NoSync = noSync
	s, err := Open(filepath.Join(b.TempDir(), "bench.db"), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

func reportStore(b *testing.B, s *Store, start time.Time, unit string) {
	st := s.Stats()
	el := time.Since(start).Seconds()
	b.ReportMetric(float64(b.N)/el, unit)
	if st.Txs > 0 {
		b.ReportMetric(float64(st.Ops)/float64(st.Txs), "ops/tx")
		b.ReportMetric(float64(st.SyncTime.Microseconds())/float64(st.Txs), "µs/tx")
	}
}

var benchValue = make([]byte, 200) // a typical CMPP submit

// BenchmarkCommitParallel: many goroutines, one Enqueue per Commit, as SP
// connections acknowledging submits one by one.
func BenchmarkCommitParallel(b *testing.B) {
	for _, bc := range []struct {
		name   string
		noSync bool
		par    int // goroutines per GOMAXPROCS
	}{
		{"fsync/callers=128", false, 64},
		{"fsync/callers=1024", false, 512},
		{"nosync-UNSAFE/callers=128", true, 64},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := benchStore(b, bc.noSync)
			var next atomic.Uint64
			ctx := context.Background()
			b.SetParallelism(bc.par)
			b.ReportAllocs()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := s.Commit(ctx, Enqueue("mt", next.Add(1), time.Time{}, benchValue)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			reportStore(b, s, start, "commits/s")
		})
	}
}

// BenchmarkCommitAsync: one goroutine keeps a window of 4096 commits in
// flight, as one SP connection with a large window would.
func BenchmarkCommitAsync(b *testing.B) {
	s := benchStore(b, false)
	const window = 4096
	sem := make(chan struct{}, window)
	var wg sync.WaitGroup
	done := func(err error) {
		if err != nil {
			b.Error(err)
		}
		<-sem
		wg.Done()
	}
	b.ReportAllocs()
	start := time.Now()
	for i := range b.N {
		sem <- struct{}{}
		wg.Add(1)
		s.CommitAsync([]Op{Enqueue("mt", uint64(i), time.Time{}, benchValue)}, done)
	}
	wg.Wait()
	reportStore(b, s, start, "commits/s")
}

// BenchmarkLifecycle runs one MT's life per iteration, five commits as the
// ISMG does them: accept (enqueue), submit to SMSC (lease, move to
// inflight, record the SMSC id), receipt (remove inflight and mapping,
// enqueue the status report), SP acks the report (remove).
func BenchmarkLifecycle(b *testing.B) {
	for _, par := range []int{64, 512} {
		b.Run(fmt.Sprintf("inflight=%d", par*runtime.GOMAXPROCS(0)), func(b *testing.B) {
			benchLifecycle(b, par)
		})
	}
}

func benchLifecycle(b *testing.B, par int) {
	s := benchStore(b, false)
	var next atomic.Uint64
	ctx := context.Background()
	b.SetParallelism(par)
	b.ReportAllocs()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var smscID [8]byte
		for pb.Next() {
			id := next.Add(1)
			if err := s.Commit(ctx, Enqueue("mt", id, time.Time{}, benchValue)); err != nil {
				b.Error(err)
				return
			}
			items, err := s.Lease("mt", time.Now(), 1)
			if err != nil {
				b.Error(err)
				return
			}
			for _, it := range items { // usually ours, any due one will do
				key := appendKey(smscID[:0], it.ID^0xfeed)
				must := func(ops ...Op) bool {
					if err := s.Commit(ctx, ops...); err != nil {
						b.Error(err)
						return false
					}
					return true
				}
				if !must(Move("mt", "inflight", it.ID, time.Now().Add(time.Hour), nil), Put("smscid", key, binaryKey(it.ID))) ||
					!must(Remove("inflight", it.ID), Delete("smscid", key), Enqueue("report", it.ID, time.Time{}, it.Value[:40])) ||
					!must(Remove("report", it.ID)) {
					return
				}
			}
		}
	})
	b.StopTimer()
	st := s.Stats()
	el := time.Since(start).Seconds()
	b.ReportMetric(float64(b.N)/el, "MT/s")
	b.ReportMetric(float64(st.Commits)/el, "commits/s")
	if st.Txs > 0 {
		b.ReportMetric(float64(st.Ops)/float64(st.Txs), "ops/tx")
	}
	b.ReportMetric(float64(st.PageWrites)/float64(b.N), "writes/MT")
}

// BenchmarkLease measures the read side: lease and release one item.
func BenchmarkLease(b *testing.B) {
	s := benchStore(b, false)
	var ops []Op
	for i := range uint64(10000) {
		ops = append(ops, Enqueue("mt", i, time.Time{}, benchValue))
	}
	if err := s.Commit(context.Background(), ops...); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		items, err := s.Lease("mt", now, 1)
		if err != nil || len(items) != 1 {
			b.Fatal(err, len(items))
		}
		s.Release("mt", items[0].ID)
	}
}
