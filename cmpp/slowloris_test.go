package cmpp_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/cmpp/cmpptest"
)

// These tests run a real cmpp.Server over net.Pipe in a synctest bubble:
// time is the bubble's, so the 30-second bounds take no wall time and the
// instants checked are exact.

// pipeServer serves one end of a pipe with srv, made to accept any
// secret-holder and to answer with okHandler unless it has a Handler, in
// the bubble; it returns the other end and the channel OnClose reports to.
func pipeServer(t *testing.T, srv *cmpp.Server) (net.Conn, <-chan error) {
	closed := make(chan error, 1)
	srv.Auth = cmpp.AuthenticatorFunc(func(context.Context, net.Addr, *cmpp.Connect) (string, uint32) {
		return cmpptest.Secret, cmpp.ConnectOK
	})
	if srv.Handler == nil {
		srv.Handler = okHandler
	}
	srv.Config.Logger = cmpptest.Logger(t)
	srv.OnClose = func(_ *cmpp.Session, err error) { closed <- err }
	client, server := net.Pipe()
	go srv.ServeConn(server)
	t.Cleanup(func() {
		client.Close()
		srv.Close()
	})
	return client, closed
}

// login sends CONNECT whole and reads CONNECT_RESP.
func login(t *testing.T, c net.Conn, br *bufio.Reader) {
	t.Helper()
	ts := cmpp.Timestamp(time.Now())
	connect := &cmpp.Connect{SourceAddr: cmpptest.SourceAddr, Version: cmpp.V30, Timestamp: ts,
		Authenticator: cmpp.AuthSource(cmpptest.SourceAddr, cmpptest.Secret, ts)}
	if _, err := c.Write(cmpp.AppendPDU(nil, cmpp.V30, 1, connect)); err != nil {
		t.Fatal(err)
	}
	if _, p := readRawPDU(br, cmpp.V30); p == nil || p.(*cmpp.ConnectResp).Status != cmpp.ConnectOK {
		t.Fatalf("login: %v", p)
	}
}

// trickle writes b one byte per tick of every, as a slowloris does, until
// the connection breaks. It returns when done.
func trickle(c net.Conn, b []byte, every time.Duration) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for i := range b {
			<-tick.C
			if _, err := c.Write(b[i : i+1]); err != nil {
				return
			}
		}
	}()
	return done
}

// A logged-in peer that sends a SUBMIT one byte every 4 s is cut off
// PDUTimeout (30 s by default) after its first byte, though each byte
// would have renewed the read deadline before (issue 10 item 5).
func TestSlowlorisCut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, closed := pipeServer(t, &cmpp.Server{})
		br := bufio.NewReader(c)
		login(t, c, br)
		go io.Copy(io.Discard, br)

		start := time.Now()
		done := trickle(c, rawPDU(cmpp.CmdSubmit, 2, goodSubmit(cmpp.V30).body()), 4*time.Second)
		err := <-closed
		if !errors.Is(err, cmpp.ErrPDUTimeout) {
			t.Fatalf("session Err = %v, want ErrPDUTimeout", err)
		}
		// The first byte went at 4 s; the cut comes 30 s later, exactly.
		if got, want := time.Since(start), 4*time.Second+cmpp.DefaultPDUTimeout; got != want {
			t.Errorf("cut after %v, want %v", got, want)
		}
		<-done
	})
}

// The same trickle during the login is cut by PDUTimeout too, when the
// login deadline is longer.
func TestSlowlorisLoginCut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &cmpp.Server{ConnectTimeout: 10 * time.Minute}
		c, _ := pipeServer(t, srv)
		ts := cmpp.Timestamp(time.Now())
		connect := cmpp.AppendPDU(nil, cmpp.V30, 1, &cmpp.Connect{SourceAddr: cmpptest.SourceAddr, Version: cmpp.V30,
			Timestamp: ts, Authenticator: cmpp.AuthSource(cmpptest.SourceAddr, cmpptest.Secret, ts)})
		start := time.Now()
		<-trickle(c, connect, 4*time.Second) // returns once the server hung up
		// The first byte went at 4 s, the cut came at 34 s, and the write
		// of the next tick, at 36 s, is the one that failed.
		if got, want := time.Since(start), 36*time.Second; got != want {
			t.Errorf("write failed after %v, want %v", got, want)
		}
		if n := srv.PendingConns(); n != 0 {
			t.Errorf("%d connections still logging in", n)
		}
	})
}

// A slow peer that sends whole PDUs is not cut: PDUs 40 s apart (longer
// than PDUTimeout: idleness is ACTIVE_TEST's business), a SUBMIT in two
// halves 20 s apart, and one in ten pieces over 27 s.
func TestSlowButWholeNotCut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, closed := pipeServer(t, &cmpp.Server{})
		br := bufio.NewReader(c)
		login(t, c, br)
		body := goodSubmit(cmpp.V30).body()
		expect := func(seq uint32) {
			t.Helper()
			h, p := readRawPDU(br, cmpp.V30)
			if r, ok := p.(*cmpp.SubmitResp); !ok || h.Seq != seq || r.Result != cmpp.ResultOK {
				t.Fatalf("got %v %+v (Sequence_Id %d), want SUBMIT_RESP Result 0 to %d", h.Command, p, h.Seq, seq)
			}
		}
		write := func(b []byte) {
			t.Helper()
			if _, err := c.Write(b); err != nil {
				t.Fatal(err)
			}
		}
		tick := time.NewTicker(40 * time.Second)
		for seq := uint32(2); seq < 5; seq++ {
			<-tick.C
			write(rawPDU(cmpp.CmdSubmit, seq, body))
			expect(seq)
		}
		tick.Reset(20 * time.Second)
		pdu := rawPDU(cmpp.CmdSubmit, 5, body)
		write(pdu[:50])
		<-tick.C
		write(pdu[50:])
		expect(5)
		pdu = rawPDU(cmpp.CmdSubmit, 6, body)
		tick.Reset(3 * time.Second)
		for i := range 10 {
			if i > 0 {
				<-tick.C
			}
			write(pdu[i*len(pdu)/10 : (i+1)*len(pdu)/10])
		}
		expect(6)
		tick.Stop()
		select {
		case err := <-closed:
			t.Fatalf("session closed: %v", err)
		default:
		}
	})
}

// The PDU clock starts when the session starts reading the PDU, not when
// its first bytes reached our buffer: time the session spends blocked on
// earlier requests (here 40 s waiting for an inbound slot) is not held
// against a peer whose next PDU was half there all along.
func TestSlowServerNotHeldAgainstPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &cmpp.Server{}
		srv.Config.InboundWindow = 1
		srv.Handler = cmpp.HandlerFunc(func(s *cmpp.Session, h cmpp.Header, req cmpp.PDU) {
			q, ok := req.(*cmpp.Query)
			if !ok {
				okHandler(s, h, req)
				return
			}
			<-time.After(40 * time.Second) // slow work; QUERY cannot be refused, so the next one waits
			s.Reply(h, &cmpp.QueryResp{Time: q.Time, QueryType: q.QueryType})
		})
		c, closed := pipeServer(t, srv)
		br := bufio.NewReader(c)
		login(t, c, br)
		query := append(fixed("20261122", 8), 0)
		query = append(query, fixed("", 10+8)...)
		submit := rawPDU(cmpp.CmdSubmit, 4, goodSubmit(cmpp.V30).body())
		first := append(rawPDU(cmpp.CmdQuery, 2, query), rawPDU(cmpp.CmdQuery, 3, query)...)
		first = append(first, submit[:60]...)
		go func() {
			c.Write(first)
			c.Write(submit[60:]) // taken when the session reads on, at 40 s
		}()
		got := map[uint32]cmpp.CommandID{}
		for range 3 {
			h, p := readRawPDU(br, cmpp.V30)
			if p == nil {
				t.Fatalf("read: %v (session: %v)", h, <-closed)
			}
			got[h.Seq] = h.Command
		}
		if got[2] != cmpp.CmdQueryResp || got[3] != cmpp.CmdQueryResp || got[4] != cmpp.CmdSubmitResp {
			t.Fatalf("answers %v, want QUERY_RESP to 2 and 3, SUBMIT_RESP to 4", got)
		}
	})
}
