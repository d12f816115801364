package ismg

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/sim/smscsim"
)

// BenchmarkNodeMT drives b.N MTs from 4 SP connections through one node
// (fsync on) to smscsim, with receipts and reports flowing back. It
// reports acked MT/s, end-to-end MT/s (until smscsim accepted all of
// them), reported MT/s (until the SPs had every status report), and the
// p50/p99 of SUBMIT → SUBMIT_RESP seen by the SP.
func BenchmarkNodeMT(b *testing.B) {
	smsc := startSMSC(b, func(c *smscsim.Config) {
		c.RecordLimit = 0
		c.ReceiptDelay = 10 * time.Millisecond
		c.Session.Window = 256
	})
	dir := b.TempDir()
	y := nodeYAML(b, dir, smsc.Addr(),
		replace("window: 64", "window: 256"),
		replace("binds: 2\n    window: 32", "binds: 4\n    window: 128"),
		replace("  auth_failures: 3", "  auth_failures: 3\n  queue_depth: 10000000"))
	cfg := loadYAML(b, dir, y)
	e := startNode(b, cfg)
	const conns, window = 4, 32
	var clients []*sp
	for range conns {
		clients = append(clients, mustSP(b, e.node.CMPPAddr(), cmpp.V30))
	}
	var (
		mu   sync.Mutex
		lats = make([]time.Duration, 0, b.N)
		sent atomic.Int64
		bad  atomic.Int64
	)
	content := []byte("benchmark message 0123456789")
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() {
			sem := make(chan struct{}, window)
			var inner sync.WaitGroup
			for sent.Add(1) <= int64(b.N) {
				sem <- struct{}{}
				t0 := time.Now()
				inner.Add(1)
				err := c.s.SendAsync(context.Background(), submitPDU(bjNumber, 0, content), func(resp cmpp.PDU, err error) {
					d := time.Since(t0)
					<-sem
					defer inner.Done()
					if err != nil || resp.(*cmpp.SubmitResp).Result != 0 {
						bad.Add(1)
						return
					}
					mu.Lock()
					lats = append(lats, d)
					mu.Unlock()
				})
				if err != nil {
					<-sem
					inner.Done()
					bad.Add(1)
				}
			}
			inner.Wait()
		})
	}
	wg.Wait()
	acked := time.Since(start)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	want := uint64(b.N) - uint64(bad.Load())
	if err := smsc.Wait(ctx, func(s smscsim.Stats) bool { return s.Accepted >= want }); err != nil {
		b.Fatal(err)
	}
	e2e := time.Since(start)
	// The status reports are part of the work: a node that acked fast by
	// leaving receipts and reports to pile up would look better than it is.
	if err := waitAllDelivers(ctx, clients, int(want)); err != nil {
		b.Fatal(err)
	}
	done := time.Since(start)
	b.StopTimer()
	if n := bad.Load(); n > 0 {
		b.Logf("%d SUBMITs refused or failed", n)
	}
	slices.Sort(lats)
	if len(lats) > 0 {
		b.ReportMetric(float64(lats[len(lats)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lats[len(lats)*99/100].Microseconds())/1000, "p99-ms")
	}
	b.ReportMetric(float64(len(lats))/acked.Seconds(), "acked-MT/s")
	b.ReportMetric(float64(want)/e2e.Seconds(), "e2e-MT/s")
	b.ReportMetric(float64(want)/done.Seconds(), "reported-MT/s")
	st := e.node.Store().Stats()
	b.ReportMetric(float64(st.Ops)/float64(max(st.Txs, 1)), "ops/fsync")
	b.ReportMetric(float64(e.node.cdr.Stats().Syncs)/float64(want), "cdrsyncs/MT")
	b.ReportMetric(float64(st.Txs)/float64(want), "txs/MT")
}

// waitAllDelivers waits until the clients together received n DELIVERs.
func waitAllDelivers(ctx context.Context, clients []*sp, n int) error {
	for {
		total := 0
		cases := []reflect.SelectCase{{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())}}
		for _, c := range clients {
			c.mu.Lock()
			total += len(c.delivers)
			cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(c.changed)})
			c.mu.Unlock()
		}
		if total >= n {
			return nil
		}
		if i, _, _ := reflect.Select(cases); i == 0 {
			return fmt.Errorf("%d of %d status reports: %w", total, n, ctx.Err())
		}
	}
}
