package billing

import (
	"math"
	"slices"
)

// sketchExact is how many values a latencySketch keeps as they are before
// it moves them into its buckets: small groups get exact quantiles.
const sketchExact = 512

// sketchAlpha is the relative accuracy of latencySketch's quantiles.
const sketchAlpha = 0.01

var (
	sketchGamma    = (1 + sketchAlpha) / (1 - sketchAlpha)
	sketchLogGamma = math.Log(sketchGamma)
)

// latencySketch is a distribution of latencies in milliseconds. Its first
// sketchExact values are kept as they are (4 KB), and its quantiles are
// exact. Past that they are kept in logarithmic buckets (the DDSketch scheme): a value v >= 1 ms goes to
// bucket ceil(log_γ v) with γ = (1+α)/(1-α), α = 1 %, and a quantile is
// answered with its bucket's midpoint 2γ^i/(γ+1), which is within α of
// every value in the bucket. Values below 1 ms (0: done_time and
// submit_time in the same millisecond, or a clamped negative) have their
// own bucket. The buckets are a dense slice between the lowest and the
// highest used, so memory is bounded by the spread of the values, not
// their number: 1 ms to 30 days is 1085 buckets, 8.7 KB at the most;
// latencies between 1 s and 10 min need 323 (2.6 KB).
type latencySketch struct {
	exact    []int64 // the values, while n <= sketchExact and counts is empty
	n        int64
	zero     int64   // values < 1 ms
	offset   int     // bucket index of counts[0]
	counts   []int64 // counts[i] is bucket offset+i
	min, max int64   // exact extremes, ms
}

func sketchIndex(ms int64) int { return int(math.Ceil(math.Log(float64(ms)) / sketchLogGamma)) }

func sketchValue(i int) float64 { return 2 * math.Pow(sketchGamma, float64(i)) / (sketchGamma + 1) }

// add records one latency of ms milliseconds (negative counts as 0).
func (s *latencySketch) add(ms int64) {
	ms = max(ms, 0)
	if s.n == 0 || ms < s.min {
		s.min = ms
	}
	if s.n == 0 || ms > s.max {
		s.max = ms
	}
	s.n++
	if s.n <= sketchExact && s.zero == 0 && len(s.counts) == 0 {
		s.exact = append(s.exact, ms)
		return
	}
	s.spill()
	s.bucket(ms)
}

func (s *latencySketch) bucket(ms int64) {
	if ms < 1 {
		s.zero++
		return
	}
	s.addBucket(sketchIndex(ms), 1)
}

// spill moves the exact values into the buckets.
func (s *latencySketch) spill() {
	for _, v := range s.exact {
		s.bucket(v)
	}
	s.exact = nil
}

// bucketed reports whether s has left exact mode.
func (s *latencySketch) bucketed() bool { return s.zero > 0 || len(s.counts) > 0 }

func (s *latencySketch) addBucket(i int, c int64) {
	switch {
	case len(s.counts) == 0:
		s.offset = i
		s.counts = append(s.counts, 0)
	case i < s.offset:
		grow := s.offset - i
		s.counts = append(make([]int64, grow, grow+len(s.counts)), s.counts...)
		s.offset = i
	case i >= s.offset+len(s.counts):
		s.counts = append(s.counts, make([]int64, i-s.offset-len(s.counts)+1)...)
	}
	s.counts[i-s.offset] += c
}

// merge adds o's values to s.
func (s *latencySketch) merge(o *latencySketch) {
	if o == nil || o.n == 0 {
		return
	}
	if s.n == 0 || o.min < s.min {
		s.min = o.min
	}
	if s.n == 0 || o.max > s.max {
		s.max = o.max
	}
	s.n += o.n
	if !s.bucketed() && !o.bucketed() && s.n <= sketchExact {
		s.exact = append(s.exact, o.exact...)
		return
	}
	s.spill()
	for _, v := range o.exact {
		s.bucket(v)
	}
	s.zero += o.zero
	for i, c := range o.counts {
		if c != 0 {
			s.addBucket(o.offset+i, c)
		}
	}
}

// quantile returns the q-quantile (0 < q <= 1) in ms by nearest rank: the
// value at rank ceil(q·n), within 1 % (and within [min, max]); 0 when
// empty.
func (s *latencySketch) quantile(q float64) int64 {
	if s.n == 0 {
		return 0
	}
	rank := max(int64(math.Ceil(q*float64(s.n))), 1)
	if !s.bucketed() {
		v := slices.Clone(s.exact)
		slices.Sort(v)
		return v[min(rank, int64(len(v)))-1]
	}
	if rank <= s.zero {
		return s.min
	}
	seen := s.zero
	for i, c := range s.counts {
		seen += c
		if seen >= rank {
			v := int64(math.Round(sketchValue(s.offset + i)))
			return min(max(v, s.min), s.max)
		}
	}
	return s.max
}
