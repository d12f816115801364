package routing

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	benchSegments = 1_000_000
	benchPorted   = 100_000
	benchGateways = 32
)

// benchPrefix is segment i of the dense benchmark table: 7-digit prefixes
// 1300000…2299999, the shape of real HLR segment plans (every 7-digit
// block of a number range assigned).
func benchPrefix(i int) string { return strconv.Itoa(1_300_000 + i) }

// sparsePrefixes picks n distinct random 8-digit prefixes out of ten times
// as many (10% density): half-empty trie leaves, a harder case for memory.
func sparsePrefixes(n int) func(int) string {
	const space = 10_000_000
	seen := make([]bool, space)
	picked := make([]uint32, 0, n)
	rng := rand.New(rand.NewPCG(9, 9))
	for len(picked) < n {
		x := rng.IntN(space)
		if !seen[x] {
			seen[x] = true
			picked = append(picked, uint32(13_000_000+x))
		}
	}
	return func(i int) string { return strconv.Itoa(int(picked[i])) }
}

func benchGatewayCode(i int) string { return fmt.Sprintf("%03d%03d", 10+i, 1) }

// buildBench builds a table of n segments and p ported numbers with the
// public Builder, as an import of a big table would.
func buildBench(tb testing.TB, n, p int, prefix func(int) string) *Table {
	b := NewBuilder()
	for i := 0; i < benchGateways; i++ {
		must(tb, b.PutGateway(Gateway{Code: benchGatewayCode(i), Name: "gw", Region: "r" + strconv.Itoa(i), FwdAddr: "127.0.0.1:7890"}))
	}
	for i := 0; i < n; i++ {
		must(tb, b.PutSegment(Segment{Prefix: prefix(i), Gateway: benchGatewayCode(i % benchGateways), AreaCode: "010"}))
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for i := 0; i < p; i++ {
		num := benchPrefix(rng.IntN(n)) + fmt.Sprintf("%04d", rng.IntN(10000))
		must(tb, b.PutPorted(Ported{MSISDN: num, Gateway: benchGatewayCode(rng.IntN(benchGateways))}))
	}
	must(tb, b.PutSP(SP{ID: "901234", Gateway: benchGatewayCode(0), ServiceCodes: []ServiceCode{{Code: "10657001"}},
		Partitions: []Partition{{Name: "south", Regions: []string{"r1", "r2"}, Gateway: benchGatewayCode(1)}}}))
	return b.Table(1)
}

var bench1M = sync.OnceValue(func() *Table {
	return buildBench(nil, benchSegments, benchPorted, benchPrefix)
})

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func BenchmarkBuild_1M(b *testing.B) {
	for _, tc := range []struct {
		name   string
		prefix func(int) string
	}{
		{"dense", benchPrefix},
		{"sparse10pct", sparsePrefixes(benchSegments)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var perSeg float64
			for b.Loop() {
				before := heapInUse()
				t := buildBench(b, benchSegments, benchPorted, tc.prefix)
				after := heapInUse()
				perSeg = float64(after-before) / benchSegments
				runtime.KeepAlive(t)
			}
			b.ReportMetric(perSeg, "heapB/segment")
		})
	}
}

// BenchmarkResolveMT_1M is the headline figure: random numbers over the
// whole dense table, so nearly every lookup misses the cache, as a GNS node
// answering the whole network sees.
func BenchmarkResolveMT_1M(b *testing.B) {
	benchResolveMT(b, bench1M(), benchPrefix, 1<<16)
}

// BenchmarkResolveMT_1M_Hot looks up 1,024 numbers over and over: the working
// set of a gateway serving a burst of traffic, which stays in cache.
func BenchmarkResolveMT_1M_Hot(b *testing.B) {
	benchResolveMT(b, bench1M(), benchPrefix, 1<<10)
}

var benchSparse = sync.OnceValues(func() (*Table, func(int) string) {
	prefix := sparsePrefixes(benchSegments)
	return buildBench(nil, benchSegments, benchPorted, prefix), prefix
})

// BenchmarkResolveMT_1M_Sparse is the headline lookup on the sparse build
// (8-digit prefixes, 10% of them present): one trie level deeper.
func BenchmarkResolveMT_1M_Sparse(b *testing.B) {
	t, prefix := benchSparse()
	benchResolveMT(b, t, prefix, 1<<16)
}

// benchResolveMT resolves n random numbers of random segments, one in ten
// of them a ported number, round robin.
func benchResolveMT(b *testing.B, t *Table, prefix func(int) string, n int) {
	rng := rand.New(rand.NewPCG(1, 1))
	nums := make([]string, n)
	for i := range nums {
		p := prefix(rng.IntN(benchSegments))
		nums[i] = p + fmt.Sprintf("%0*d", MSISDNLen-len(p), rng.IntN(10000))
	}
	// Mix in ported numbers so both paths are measured.
	ported := t.PortedNumbers()
	for i := 0; i < len(nums); i += 10 {
		nums[i] = ported[rng.IntN(len(ported))].MSISDN
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	i := 0
	for b.Loop() {
		if _, err := t.ResolveMT(nums[i&(len(nums)-1)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	reportCPU(b, cpu, i)
}

// cpuTime is the process's user+system CPU time. On a shared machine the
// wall-clock ns/op includes time spent waiting for a core; cpu-ns/op does not.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration, n int) {
	if n > 0 {
		b.ReportMetric(float64(cpuTime()-start)/float64(n), "cpu-ns/op")
	}
}

func BenchmarkResolveMO_1M(b *testing.B) {
	t := bench1M()
	asking := benchGatewayCode(2)
	b.ReportAllocs()
	cpu := cpuTime()
	n := 0
	for b.Loop() {
		if _, err := t.ResolveMO("1065700188", asking); err != nil {
			b.Fatal(err)
		}
		n++
	}
	reportCPU(b, cpu, n)
}

func BenchmarkApply_OneChange_1M(b *testing.B) {
	t := bench1M()
	rng := rand.New(rand.NewPCG(3, 3))
	b.ReportAllocs()
	for b.Loop() {
		c := []Change{{Op: OpPutSegment, Segment: Segment{Prefix: benchPrefix(rng.IntN(benchSegments)), Gateway: benchGatewayCode(rng.IntN(benchGateways))}}}
		if _, err := t.Apply(2, c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkApply_OnePorted_1M(b *testing.B) {
	t := bench1M()
	rng := rand.New(rand.NewPCG(4, 4))
	b.ReportAllocs()
	for b.Loop() {
		num := benchPrefix(rng.IntN(benchSegments)) + fmt.Sprintf("%04d", rng.IntN(10000))
		if _, err := t.Apply(2, []Change{{Op: OpPutPorted, Ported: Ported{MSISDN: num, Gateway: benchGatewayCode(3)}}}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkApply_Batch10k_1M(b *testing.B) {
	t := bench1M()
	rng := rand.New(rand.NewPCG(5, 5))
	batch := make([]Change, 10_000)
	for i := range batch {
		batch[i] = Change{Op: OpPutSegment, Segment: Segment{Prefix: benchPrefix(rng.IntN(benchSegments)), Gateway: benchGatewayCode(rng.IntN(benchGateways))}}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := t.Apply(2, batch); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSnapshot_1M(b *testing.B) {
	t := bench1M()
	var buf bytes.Buffer
	must(b, t.WriteSnapshot(&buf))
	data := buf.Bytes()
	b.Run("write", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			must(b, t.WriteSnapshot(io.Discard))
		}
	})
	b.Run("read", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := ReadSnapshot(bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(len(data))/benchSegments, "snapB/segment")
}

func BenchmarkEncodeChanges(b *testing.B) {
	cs := sampleChanges()
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = EncodeChanges(buf[:0], cs)
	}
}

// BenchmarkMemLatency chases pointers through a random cycle over 64 MB,
// one load per cache line: the latency of one dependent cache miss on this
// machine, the floor of a lookup that must touch memory the cache does not
// hold. ResolveMT_1M against it says how many misses a lookup serialises.
func BenchmarkMemLatency(b *testing.B) {
	const lines = 64 << 20 / 64
	next := make([]uint32, lines*16)
	perm := rand.New(rand.NewPCG(2, 2)).Perm(lines)
	for i, p := range perm {
		next[p*16] = uint32(perm[(i+1)%lines] * 16)
	}
	cpu := cpuTime()
	n, p := 0, uint32(0)
	for b.Loop() {
		p = next[p]
		n++
	}
	reportCPU(b, cpu, n)
	runtime.KeepAlive(p)
}
