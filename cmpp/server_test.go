package cmpp_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/cmpp/cmpptest"
)

// goldenPDUs returns the full-PDU golden vectors by version.
func goldenPDUs(tb testing.TB) map[cmpp.Version][][]byte {
	raw, err := os.ReadFile("../testdata/cmpp_vectors.json")
	if err != nil {
		tb.Fatal(err)
	}
	var doc struct {
		Vectors []struct {
			Name    string `json:"name"`
			Version string `json:"version"`
			Hex     string `json:"hex"`
		} `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		tb.Fatal(err)
	}
	out := map[cmpp.Version][][]byte{}
	for _, v := range doc.Vectors {
		b, err := hex.DecodeString(v.Hex)
		if err != nil || len(b) < cmpp.HeaderLen || strings.Contains(v.Name, "body") {
			continue // body-only vectors are not PDUs
		}
		switch {
		case strings.HasPrefix(v.Version, "3.0"):
			out[cmpp.V30] = append(out[cmpp.V30], b)
		case strings.HasPrefix(v.Version, "2.x/3.0"):
			out[cmpp.V20] = append(out[cmpp.V20], b)
			out[cmpp.V30] = append(out[cmpp.V30], b)
		default:
			out[cmpp.V20] = append(out[cmpp.V20], b)
		}
	}
	return out
}

var fuzzVersions = []cmpp.Version{cmpp.V20, cmpp.V21, cmpp.V30}

// FuzzSessionRead logs a client in to a real server session over
// net.Pipe, then feeds it the fuzzed bytes. The session must not panic and
// must end once the client hangs up.
func FuzzSessionRead(f *testing.F) {
	for v, pdus := range goldenPDUs(f) {
		vi := byte(0)
		if v.Is3() {
			vi = 2
		}
		var all []byte
		for _, p := range pdus {
			f.Add(vi, p)
			all = append(all, p...)
		}
		f.Add(vi, all)
	}
	f.Add(byte(2), cmpp.AppendPDU(nil, cmpp.V30, 5, &cmpp.Terminate{}))
	f.Add(byte(1), cmpp.Header{Length: 1 << 31, Command: cmpp.CmdSubmit}.Append(nil))
	f.Add(byte(0), []byte{})

	f.Fuzz(func(t *testing.T, vi byte, data []byte) {
		v := fuzzVersions[int(vi)%len(fuzzVersions)]
		srv := &cmpp.Server{
			Auth: cmpp.AuthenticatorFunc(func(context.Context, net.Addr, *cmpp.Connect) (string, uint32) {
				return cmpptest.Secret, cmpp.ConnectOK
			}),
			Handler: okHandler,
			Config: cmpp.Config{
				ResponseTimeout: 200 * time.Millisecond, ActiveTestInterval: -1,
				WriteTimeout: time.Second, InboundWindow: 4,
			},
		}
		defer srv.Close()
		cli, sc := net.Pipe()
		served := make(chan struct{})
		go func() {
			srv.ServeConn(sc)
			close(served)
		}()
		var wg sync.WaitGroup
		wg.Go(func() { io.Copy(io.Discard, cli) })

		ts := cmpp.Timestamp(time.Now())
		login := cmpp.AppendPDU(nil, v, 1, &cmpp.Connect{
			SourceAddr: cmpptest.SourceAddr, Version: v, Timestamp: ts,
			Authenticator: cmpp.AuthSource(cmpptest.SourceAddr, cmpptest.Secret, ts),
		})
		cli.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := cli.Write(append(login, data...)); err != nil && err != io.ErrClosedPipe {
			t.Logf("write: %v", err) // the server may close first: that is fine
		}
		cli.Close()
		select {
		case <-served:
		case <-time.After(10 * time.Second):
			t.Fatal("session did not end after the client hung up")
		}
		wg.Wait()
	})
}

// BenchmarkSessionSendRecv measures request/response round trips over
// loopback with 16 requests in flight (the spec window).
func BenchmarkSessionSendRecv(b *testing.B) {
	for _, bc := range []struct {
		name string
		pdu  func() cmpp.PDU
	}{
		{"Submit", func() cmpp.PDU { return newSubmit() }},
		{"ActiveTest", func() cmpp.PDU { return &cmpp.ActiveTest{} }},
	} {
		b.Run(bc.name+"/Window16", func(b *testing.B) {
			ts := cmpptest.NewUnstartedServer(okHandler)
			ts.Logger = cmpptest.Logger(b)
			ts.Start(b)
			c := cmpptest.DialConfig(b, ts.Addr, clientConfig(b, cmpp.Config{Window: 16}))
			ctx := context.Background()
			b.ReportAllocs()
			b.SetParallelism(16) // ≥16 senders, so the window is what limits
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				p := bc.pdu()
				for pb.Next() {
					if _, err := c.SendWait(ctx, p); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pdu/s")
		})
	}
	b.Run("Submit/Async", func(b *testing.B) {
		ts := cmpptest.NewServer(b, okHandler)
		c := cmpptest.DialConfig(b, ts.Addr, clientConfig(b, cmpp.Config{Window: 16}))
		sem := make(chan struct{}, 16)
		p := newSubmit()
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			sem <- struct{}{}
			if err := c.SendAsync(context.Background(), p, func(_ cmpp.PDU, err error) {
				if err != nil {
					b.Error(err)
				}
				<-sem
			}); err != nil {
				b.Fatal(err)
			}
		}
		for range 16 {
			sem <- struct{}{}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pdu/s")
	})
}
