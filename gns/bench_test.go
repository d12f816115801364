package gns

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tandem-sms/tandem/gns/gnspb"
	"github.com/tandem-sms/tandem/internal/waitfor"
	"github.com/tandem-sms/tandem/routing"
)

// bigTable is the sample's gateways and SPs with n generated 8-digit
// segments spread over the gateways.
func bigTable(tb testing.TB, n int) *routing.Table {
	c := loadSample(tb).Contents()
	gws := c.Gateways
	c.Segments = make([]routing.Segment, 0, n)
	for i := range n {
		c.Segments = append(c.Segments, routing.Segment{Prefix: fmt.Sprintf("15%06d", i), Gateway: gws[i%len(gws)].Code, AreaCode: gws[i%len(gws)].Province})
	}
	t, err := routing.FromContents(c)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// BenchmarkImport1M pushes 1,000,000 segments through a 3-node cluster with
// ImportTable and waits until every node serves the new table. An import
// refused with UNAVAILABLE (leadership lost mid-import, which happens when
// three nodes share two loaded cores) is retried through the cluster, as
// gnsctl does, and counted in retries/op.
func BenchmarkImport1M(b *testing.B) {
	const size = 1_000_000
	tbl := bigTable(b, size)
	chunks := gnspb.Chunks(tbl, 25000)
	nodes := startCluster(b, 3, nil)
	clients := make([]gnspb.GNSClient, len(nodes))
	for i, n := range nodes {
		clients[i] = dial(b, n.GRPCAddr())
	}
	ctx := context.Background()
	retries := 0
	push := func(c gnspb.GNSClient) (*gnspb.ImportResponse, error) {
		st, err := c.ImportTable(ctx)
		if err != nil {
			return nil, err
		}
		for _, ch := range chunks {
			if err := st.Send(ch); err != nil {
				break // the server ended the stream; CloseAndRecv says why
			}
		}
		return st.CloseAndRecv()
	}
	b.ResetTimer()
	for b.Loop() {
		var resp *gnspb.ImportResponse
		for k := 0; ; k++ {
			var err error
			if resp, err = push(clients[k%len(clients)]); err == nil {
				break
			}
			if status.Code(err) != codes.Unavailable || k == 5 {
				b.Fatal(err)
			}
			retries++
		}
		if resp.Segments != size {
			b.Fatalf("imported %d segments", resp.Segments)
		}
		waitfor.Within(b, 60*time.Second, "all nodes at the import", func() bool {
			for _, n := range nodes {
				if n.Revision() < resp.Revision {
					return false
				}
			}
			return true
		})
	}
	b.ReportMetric(float64(size)*float64(b.N)/b.Elapsed().Seconds(), "segments/s")
	b.ReportMetric(float64(retries)/float64(b.N), "retries/op")
}

// BenchmarkWatchLatency: one Write through the leader until a watcher
// receives it, on a follower (what most ISMG caches follow) and on the
// leader. write-p50-ms is the Write call alone.
func BenchmarkWatchLatency(b *testing.B) {
	for _, on := range []string{"follower", "leader"} {
		b.Run(on, func(b *testing.B) { benchWatchLatency(b, on) })
	}
}

func benchWatchLatency(b *testing.B, on string) {
	nodes := startCluster(b, 3, nil)
	leader, watched := leaderOf(nodes), followerOf(nodes)
	if on == "leader" {
		watched = leader
	}
	ctx := context.Background()
	lc := dial(b, leader.GRPCAddr())
	if _, err := importFile(ctx, lc, loadSample(b), 1000); err != nil {
		b.Fatal(err)
	}
	waitfor.Within(b, 10*time.Second, "watched node caught up", func() bool { return watched.Revision() >= leader.Revision() })
	st, err := dial(b, watched.GRPCAddr()).Watch(ctx, &gnspb.WatchRequest{FromRevision: leader.Revision()})
	if err != nil {
		b.Fatal(err)
	}
	var lat, wlat []time.Duration
	i := 0
	for b.Loop() {
		start := time.Now()
		resp, err := lc.Write(ctx, &gnspb.WriteRequest{Changes: []*gnspb.Change{putSegment(fmt.Sprintf("1600%04d", i%10000), "020001")}})
		if err != nil {
			b.Fatal(err)
		}
		wlat = append(wlat, time.Since(start))
		for {
			ev, err := st.Recv()
			if err != nil {
				b.Fatal(err)
			}
			if ev.Revision >= resp.Revision {
				break
			}
		}
		lat = append(lat, time.Since(start))
		i++
	}
	b.StopTimer()
	pct := func(l []time.Duration, p float64) float64 {
		slices.Sort(l)
		return float64(l[min(len(l)-1, int(p*float64(len(l))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(lat, 0.50), "p50-ms")
	b.ReportMetric(pct(lat, 0.99), "p99-ms")
	b.ReportMetric(pct(wlat, 0.50), "write-p50-ms")
}

// BenchmarkFailover: the leader is killed; time until a write through a
// survivor succeeds. Each iteration builds a fresh cluster (untimed).
func BenchmarkFailover(b *testing.B) {
	var total time.Duration
	var worst time.Duration
	for b.Loop() {
		b.StopTimer()
		nodes := startCluster(b, 3, nil)
		leader := leaderOf(nodes)
		var survivors []*testNode
		for _, n := range nodes {
			if n != leader {
				survivors = append(survivors, n)
			}
		}
		clients := []gnspb.GNSClient{dial(b, survivors[0].GRPCAddr()), dial(b, survivors[1].GRPCAddr())}
		// Warm the connections so the measurement is failover, not dialing.
		for _, c := range clients {
			if _, err := c.ClusterStatus(context.Background(), &gnspb.ClusterStatusRequest{}); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		start := time.Now()
		leader.kill()
		for k := 0; ; k++ {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err := clients[k%2].Write(ctx, &gnspb.WriteRequest{Changes: []*gnspb.Change{
				{Op: &gnspb.Change_PutGateway{PutGateway: &gnspb.Gateway{Code: "001001", Name: "Beijing", Region: "beijing", FwdAddr: "127.0.0.1:7931"}}},
			}})
			cancel()
			if err == nil {
				break
			}
			if c := status.Code(err); c != codes.Unavailable && c != codes.DeadlineExceeded {
				b.Fatalf("write after failover: %v", err)
			}
			if time.Since(start) > 30*time.Second {
				b.Fatal("no write succeeded within 30s of the failover")
			}
		}
		d := time.Since(start)
		total += d
		worst = max(worst, d)
		b.StopTimer()
		for _, n := range survivors {
			n.kill()
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "failover-ms")
	b.ReportMetric(float64(worst.Milliseconds()), "worst-ms")
}
