package spsim

import (
	"fmt"
	"math"
	"math/bits"
	"sync"
	"time"
)

// Histogram records durations in fixed log-linear buckets, HDR style:
// values below 64 ns are exact, larger ones fall in one of 32 buckets per
// power of two, so a percentile is within 1/32 (about 3%) of the true
// value. Memory is fixed (about 15 KB) whatever the number of samples.
// It is safe for concurrent use.
type Histogram struct {
	mu     sync.Mutex
	counts [histBuckets]uint64
	n      uint64
	sum    float64
	min    time.Duration
	max    time.Duration
}

const (
	histExact   = 64 // values below this have a bucket each
	histSubBits = 5  // 32 buckets per power of two above that
	histBuckets = histExact + (64-6)*(1<<histSubBits)
)

// bucketOf returns the bucket index of v ≥ 0.
func bucketOf(v uint64) int {
	if v < histExact {
		return int(v)
	}
	e := bits.Len64(v) - (histSubBits + 1) // v >> e is in [32, 63]
	m := v >> e
	return histExact + (e-1)<<histSubBits + int(m-(1<<histSubBits))
}

// bucketHigh returns the largest value that falls in bucket i.
func bucketHigh(i int) uint64 {
	if i < histExact {
		return uint64(i)
	}
	i -= histExact
	e := i>>histSubBits + 1
	m := uint64(i&(1<<histSubBits-1)) + 1<<histSubBits
	return (m+1)<<e - 1
}

// Record adds one sample; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	d = max(d, 0)
	i := bucketOf(uint64(d))
	h.mu.Lock()
	h.counts[i]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	h.max = max(h.max, d)
	h.n++
	h.sum += float64(d)
	h.mu.Unlock()
}

// Count returns the number of samples.
func (h *Histogram) Count() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

// Quantile returns the value at quantile q in [0, 1]: the upper bound of
// the bucket holding the ceil(q·n)-th smallest sample, capped by the
// largest sample. It is zero without samples.
func (h *Histogram) Quantile(q float64) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.quantileLocked(q)
}

func (h *Histogram) quantileLocked(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	q = min(max(q, 0), 1)
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(time.Duration(bucketHigh(i)), h.max)
		}
	}
	return h.max
}

// Summary returns the count, mean and the usual percentiles.
func (h *Histogram) Summary() Latency {
	h.mu.Lock()
	defer h.mu.Unlock()
	l := Latency{Count: h.n, Min: h.min, Max: h.max}
	if h.n == 0 {
		return l
	}
	l.Mean = time.Duration(h.sum / float64(h.n))
	l.P50 = h.quantileLocked(0.50)
	l.P90 = h.quantileLocked(0.90)
	l.P99 = h.quantileLocked(0.99)
	return l
}

// Latency summarises a Histogram. Durations are nanoseconds in JSON.
type Latency struct {
	Count uint64        `json:"count"`
	Min   time.Duration `json:"min_ns"`
	Mean  time.Duration `json:"mean_ns"`
	P50   time.Duration `json:"p50_ns"`
	P90   time.Duration `json:"p90_ns"`
	P99   time.Duration `json:"p99_ns"`
	Max   time.Duration `json:"max_ns"`
}

func (l Latency) String() string {
	if l.Count == 0 {
		return "n=0"
	}
	return fmt.Sprintf("n=%d  p50 %v  p90 %v  p99 %v  max %v  (mean %v)",
		l.Count, round(l.P50), round(l.P90), round(l.P99), round(l.Max), round(l.Mean))
}

// round keeps three significant digits, which is all the histogram has.
func round(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= 100*time.Millisecond:
		return d.Round(time.Millisecond)
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	case d >= 100*time.Microsecond:
		return d.Round(time.Microsecond)
	}
	return d
}
