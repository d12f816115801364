package billing

import (
	"bytes"
	"io"
	"testing"
)

func benchWriter(b *testing.B) *Writer {
	cfg := testConfig(b, b.TempDir(), newClock("2026-11-22T13:30:00.000Z"))
	cfg.Logger = testLogger(b)
	w := openWriter(b, cfg)
	b.Cleanup(func() { _ = w.Close() })
	return w
}

// BenchmarkWrite is the per-record cost on the ISMG's hot path (buffered,
// no fsync).
func BenchmarkWrite(b *testing.B) {
	w := benchWriter(b)
	rec := sampleRecords()[1]
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		rec.MsgID++
		if err := w.Write(rec); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkWriteSync100 is one group commit: 100 records, then Sync.
func BenchmarkWriteSync100(b *testing.B) {
	w := benchWriter(b)
	rec := sampleRecords()[1]
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for range 100 {
			rec.MsgID++
			if err := w.Write(rec); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Sync(); err != nil {
			b.Fatal(err)
		}
		n += 100
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkWriteParallel measures lock contention with concurrent callers.
func BenchmarkWriteParallel(b *testing.B) {
	w := benchWriter(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		rec := sampleRecords()[1]
		for pb.Next() {
			if err := w.Write(rec); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkRead(b *testing.B) {
	src := []byte(Header)
	recs := sampleRecords()
	for range 100 {
		for i := range recs {
			src, _ = recs[i].AppendCSV(src)
		}
	}
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		rd := NewReader(bytes.NewReader(src), "bench")
		for {
			_, err := rd.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}
