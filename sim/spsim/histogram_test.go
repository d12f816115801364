package spsim

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketBounds(t *testing.T) {
	// Every value lies in a bucket whose upper bound is at or above it and
	// within 1/32 of it; buckets are contiguous and increasing.
	prevHigh := int64(-1)
	for i := 0; i < histBuckets; i++ {
		hi := bucketHigh(i)
		if int64(hi) <= prevHigh && i > 0 {
			t.Fatalf("bucket %d high %d not above %d", i, hi, prevHigh)
		}
		lo := uint64(prevHigh + 1)
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d: [%d, %d] maps to %d and %d", i, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		if lo > 0 && float64(hi-lo) > float64(lo)/32+1 {
			t.Fatalf("bucket %d: [%d, %d] wider than 1/32", i, lo, hi)
		}
		prevHigh = int64(hi)
		if hi >= 1<<62 {
			break
		}
	}
	if bucketOf(1<<63-1) >= histBuckets {
		t.Fatal("largest duration out of range")
	}
}

func TestQuantilesMatchSortedSamples(t *testing.T) {
	var h Histogram
	r := rand.New(rand.NewPCG(1, 2))
	samples := make([]time.Duration, 10000)
	for i := range samples {
		// Log-uniform from 1 µs to 1 s, like real latencies.
		samples[i] = time.Duration(float64(time.Microsecond) * math.Pow(10, r.Float64()*6))
		h.Record(samples[i])
	}
	slices.Sort(samples)
	for _, q := range []float64{0.5, 0.9, 0.99, 1} {
		exact := samples[int(q*float64(len(samples)))-1]
		got := h.Quantile(q)
		if got < exact || float64(got-exact) > float64(exact)/32+1 {
			t.Errorf("q%.2f = %v, exact %v", q, got, exact)
		}
	}
	s := h.Summary()
	if s.Count != 10000 || s.Min != samples[0] || s.Max != samples[len(samples)-1] || !(s.P50 <= s.P90 && s.P90 <= s.P99 && s.P99 <= s.Max) {
		t.Fatalf("summary %+v", s)
	}
}

func TestQuantileSmallExact(t *testing.T) {
	var h Histogram
	for v := 1; v <= 10; v++ {
		h.Record(time.Duration(v))
	}
	if h.Quantile(0.5) != 5 || h.Quantile(0.9) != 9 || h.Quantile(0.99) != 10 || h.Quantile(0) != 1 {
		t.Fatalf("p50 %v p90 %v p99 %v", h.Quantile(0.5), h.Quantile(0.9), h.Quantile(0.99))
	}
	var empty Histogram
	if empty.Quantile(0.5) != 0 || empty.Summary().Count != 0 {
		t.Fatal("empty histogram")
	}
	h.Record(-time.Second)
	if h.Summary().Min != 0 {
		t.Fatal("negative sample not clamped")
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h Histogram
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.Record(time.Duration(i%1000000) * time.Microsecond)
	}
}

// FuzzBuckets: every value maps to a bucket in range whose bounds hold it
// within 1/32.
func FuzzBuckets(f *testing.F) {
	for _, v := range []uint64{0, 1, 63, 64, 65, 1000, 1 << 40, 1<<63 - 1, 1<<64 - 1} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v uint64) {
		v &= 1<<63 - 1 // durations are int64
		i := bucketOf(v)
		if i < 0 || i >= histBuckets {
			t.Fatalf("bucket %d of %d out of range", i, v)
		}
		hi := bucketHigh(i)
		if hi < v || float64(hi-v) > float64(v)/32+1 {
			t.Fatalf("value %d in bucket %d with high %d", v, i, hi)
		}
	})
}
