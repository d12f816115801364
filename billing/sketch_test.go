package billing

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// exactQuantile is the nearest-rank quantile of sorted values.
func exactQuantile(sorted []int64, q float64) int64 {
	rank := int(q*float64(len(sorted)) + 0.999999999)
	return sorted[max(rank, 1)-1]
}

func TestSketchQuantiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name   string
		values []int64
		want   map[float64]int64 // exact expectations; others are checked within 1 %
	}{
		{"empty", nil, map[float64]int64{0.5: 0, 0.99: 0}},
		{"one", []int64{1234}, map[float64]int64{0.5: 1234, 0.99: 1234}},
		{"zeros and negatives", []int64{0, -5000, 0, 0}, map[float64]int64{0.5: 0, 0.99: 0}},
		{"small integers", []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, map[float64]int64{0.5: 5, 0.99: 10}},
		{"minute resolution", []int64{0, 0, 60000, 60000, 120000}, map[float64]int64{0.5: 60000, 0.99: 120000}},
		{"past the exact values", append(slices.Repeat([]int64{0}, 600), slices.Repeat([]int64{60000}, 400)...), map[float64]int64{0.5: 0, 0.6: 0, 1: 60000}},
		{"tail", append(slices.Repeat([]int64{100}, 990), slices.Repeat([]int64{30000}, 10)...), map[float64]int64{0.5: 100, 0.99: 100, 0.991: 30000}},
		{"uniform", func() []int64 {
			v := make([]int64, 10000)
			for i := range v {
				v[i] = rng.Int64N(600000)
			}
			return v
		}(), nil},
		{"log-normal", func() []int64 {
			v := make([]int64, 10000)
			for i := range v {
				v[i] = int64(1000 * rng.ExpFloat64() * rng.ExpFloat64())
			}
			return v
		}(), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s latencySketch
			for _, v := range tc.values {
				s.add(v)
			}
			for q, want := range tc.want {
				if got := s.quantile(q); got != want {
					t.Errorf("q%v = %d, want %d", q, got, want)
				}
			}
			sorted := slices.Clone(tc.values)
			for i := range sorted {
				sorted[i] = max(sorted[i], 0)
			}
			slices.Sort(sorted)
			for _, q := range []float64{0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 1} {
				if len(sorted) == 0 {
					break
				}
				want, got := exactQuantile(sorted, q), s.quantile(q)
				if d := float64(got - want); d > 0.01*float64(want)+0.5 || -d > 0.01*float64(want)+0.5 {
					t.Errorf("q%v = %d, exact %d: more than 1 %% off", q, got, want)
				}
			}
			if len(s.counts) > 1100 {
				t.Errorf("%d buckets", len(s.counts))
			}
		})
	}
}

// Merging sketches is adding their values to one.
func TestSketchMerge(t *testing.T) {
	var a, b, all latencySketch
	for i := int64(0); i < 1000; i++ {
		v := i * i
		all.add(v)
		if i%3 == 0 {
			a.add(v)
		} else {
			b.add(v)
		}
	}
	var m latencySketch
	m.merge(&a)
	m.merge(&b)
	m.merge(nil)
	for _, q := range []float64{0.1, 0.5, 0.99, 1} {
		if m.quantile(q) != all.quantile(q) {
			t.Errorf("q%v: merged %d, one sketch %d", q, m.quantile(q), all.quantile(q))
		}
	}
	if m.n != all.n || m.min != all.min || m.max != all.max || m.zero != all.zero {
		t.Errorf("merged %+v", m)
	}
}
