package queue

import (
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"
)

// TestMinIntervalPacesThinTraffic: requests arriving one per millisecond
// (on synctest's clock) get a transaction each with MinInterval 0, and
// share transactions with MinInterval 10ms — at most one per interval,
// each request still committed.
func TestMinIntervalPacesThinTraffic(t *testing.T) {
	const n = 100
	for _, c := range []struct {
		interval time.Duration
		maxTxs   uint64
	}{
		{0, n},
		{10 * time.Millisecond, n/10 + 2},
	} {
		t.Run(c.interval.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := testConfig(t)
				cfg.MinInterval = c.interval
				s, err := Open(filepath.Join(t.TempDir(), "q.db"), cfg)
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				done := make(chan error, n)
				for i := range n {
					s.CommitAsync([]Op{Enqueue("mt", uint64(i+1), t0, []byte("x"))}, func(err error) { done <- err })
					time.Sleep(time.Millisecond)
				}
				for range n {
					if err := <-done; err != nil {
						t.Fatal(err)
					}
				}
				st := s.Stats()
				if st.Txs > c.maxTxs || (c.interval == 0 && st.Txs != n) {
					t.Errorf("%d transactions for %d requests a millisecond apart, want %s %d", st.Txs, n, map[bool]string{true: "=", false: "<="}[c.interval == 0], c.maxTxs)
				}
				if s.Len("mt") != n {
					t.Errorf("%d items committed, want %d", s.Len("mt"), n)
				}
			})
		})
	}
}
