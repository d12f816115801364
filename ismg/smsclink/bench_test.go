package smsclink

import (
	"context"
	"runtime"
	"testing"

	"github.com/tandem-sms/tandem/smpp"
)

// ackSMSC answers every submit_sm at once with the same id: the cheapest
// SMSC, so the benchmark measures the link and the sessions.
type ackSMSC struct{}

func (ackSMSC) ServeSMPP(r *smpp.Request) {
	switch r.PDU.(type) {
	case *smpp.Bind:
		_ = r.Respond(&smpp.BindResp{SystemID: "bench"}, smpp.StatusOK)
	case *smpp.SubmitSM:
		_ = r.Respond(&smpp.SubmitSMResp{MessageID: "0123456789"}, smpp.StatusOK)
	default:
		_ = r.Respond(nil, smpp.StatusOK)
	}
}

// BenchmarkSubmit pushes submit_sm through a link of 2 binds (window 10
// each) to a loopback SMSC, from enough goroutines to keep both windows
// full, as the ISMG's dispatcher does.
func BenchmarkSubmit(b *testing.B) {
	srv := startSMSC(b, ackSMSC{})
	cfg := testConfig(b, srv.Addr)
	cfg.Binds, cfg.Window = 2, 10
	l := startLink(b, cfg, nil)
	waitBound(b, l.Link, 2)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(max(1, 20/runtime.GOMAXPROCS(0))) // ≈ Binds×Window callers
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		p := newSubmit("8613800000000")
		for pb.Next() {
			if _, err := l.Submit(ctx, p); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "submits/s")
}
