package smscsim

import (
	"context"
	"sync"
	"testing"

	"github.com/tandem-sms/tandem/smpp"
)

// BenchmarkSubmitWithReceipt measures the simulator end to end on
// loopback: one transceiver keeps its window of submit_sm full; every
// message gets a receipt, which the ESME answers.
func BenchmarkSubmitWithReceipt(b *testing.B) {
	cfg := DefaultConfig()
	cfg.ReceiptDelay = 0
	cfg.RecordLimit = 0
	cfg.Seed = 1
	s, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.Start("127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	ecfg := smpp.DefaultConfig()
	ecfg.Window = 64
	ecfg.WriteQueue = 256
	h := smpp.HandlerFunc(func(r *smpp.Request) { _ = r.Respond(nil, smpp.StatusOK) })
	ctx := context.Background()
	sess, _, err := smpp.DialBind(ctx, s.Addr(), ecfg, &smpp.Bind{Mode: smpp.BindTransceiver, SystemID: "bench"}, h)
	if err != nil {
		b.Fatal(err)
	}
	defer sess.Close()
	p := &smpp.SubmitSM{DestAddr: smpp.Addr{TON: 1, NPI: 1, Addr: "8613800138000"}, RegisteredDelivery: 1, DataCoding: 1, ShortMessage: []byte("benchmark message")}
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	work := make(chan struct{}, ecfg.Window)
	for range ecfg.Window {
		wg.Go(func() {
			for range work {
				if _, err := sess.SendWait(ctx, p); err != nil {
					b.Error(err)
				}
			}
		})
	}
	for range b.N {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	if err := s.WaitReceipts(ctx, b.N); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
}
