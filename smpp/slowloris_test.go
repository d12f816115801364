package smpp_test

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tandem-sms/tandem/smpp"
	"github.com/tandem-sms/tandem/smpp/smpptest"
)

// These tests run an SMSC-side session over net.Pipe in a synctest
// bubble: time is the bubble's, so the 30-second bounds take no wall time
// and the instants checked are exact.

// pipeSMSC starts an SMSC-side session with cfg on one end of a pipe and
// returns it and the other end. The keep-alive is off: these peers never
// answer enquire_link.
func pipeSMSC(t *testing.T, cfg smpp.Config) (*smpp.Session, net.Conn) {
	cfg.EnquireInterval = 0
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	client, server := net.Pipe()
	s, err := smpp.NewSession(server, smpp.RoleSMSC, cfg, &smpptest.SMSC{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.Close()
		s.Close()
		<-s.Done()
	})
	return s, client
}

// trickle writes b one byte per tick of every, as a slowloris does, until
// the connection breaks.
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

// A peer that sends a PDU one byte every 4 s is cut off PDUTimeout (30 s
// by default) after its first byte (issue 10 item 5): a bound ESME's
// submit_sm, and the bind itself even with no bind timeout.
func TestSlowlorisCut(t *testing.T) {
	for _, bound := range []bool{true, false} {
		name := map[bool]string{true: "submit_sm", false: "bind"}[bound]
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := smpptest.Config()
				cfg.BindTimeout = 0
				s, c := pipeSMSC(t, cfg)
				br := bufio.NewReader(c)
				pdu := rawPDU(smpp.CmdBindTransceiver, 0, 1, rawBind("esme"))
				if bound {
					if _, err := c.Write(pdu); err != nil {
						t.Fatal(err)
					}
					if h, _ := readRaw(t, br, c); h.ID != smpp.CmdBindTransceiverResp || h.Status != smpp.StatusOK {
						t.Fatalf("bind: %v %v", h.ID, h.Status)
					}
					pdu = rawPDU(smpp.CmdSubmitSM, 0, 2, rawSubmitSM(5, "hello", 0))
				}
				go io.Copy(io.Discard, br)
				start := time.Now()
				done := trickle(c, pdu, 4*time.Second)
				<-s.Done()
				if err := s.Err(); !errors.Is(err, smpp.ErrPDUTimeout) {
					t.Fatalf("session Err = %v, want ErrPDUTimeout", err)
				}
				// The first byte went at 4 s; the cut comes 30 s later, exactly.
				if got, want := time.Since(start), 4*time.Second+smpp.DefaultPDUTimeout; got != want {
					t.Errorf("cut after %v, want %v", got, want)
				}
				<-done
			})
		})
	}
}

// A slow ESME that sends whole PDUs is not cut: submit_sm 40 s apart
// (longer than PDUTimeout), one in two halves 20 s apart, one in ten
// pieces over 27 s.
func TestSlowButWholeNotCut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, c := pipeSMSC(t, smpptest.Config())
		br := bufio.NewReader(c)
		write := func(b []byte) {
			t.Helper()
			if _, err := c.Write(b); err != nil {
				t.Fatal(err)
			}
		}
		expect := func(id smpp.CommandID, seq uint32) {
			t.Helper()
			if h, _ := readRaw(t, br, c); h.ID != id || h.Status != smpp.StatusOK || h.Seq != seq {
				t.Fatalf("got %v %v seq %d, want %v OK seq %d", h.ID, h.Status, h.Seq, id, seq)
			}
		}
		write(rawPDU(smpp.CmdBindTransceiver, 0, 1, rawBind("esme")))
		expect(smpp.CmdBindTransceiverResp, 1)
		body := rawSubmitSM(5, "hello", 0)
		tick := time.NewTicker(40 * time.Second)
		for seq := uint32(2); seq < 5; seq++ {
			<-tick.C
			write(rawPDU(smpp.CmdSubmitSM, 0, seq, body))
			expect(smpp.CmdSubmitSMResp, seq)
		}
		tick.Reset(20 * time.Second)
		pdu := rawPDU(smpp.CmdSubmitSM, 0, 5, body)
		write(pdu[:20])
		<-tick.C
		write(pdu[20:])
		expect(smpp.CmdSubmitSMResp, 5)
		pdu = rawPDU(smpp.CmdSubmitSM, 0, 6, body)
		tick.Reset(3 * time.Second)
		for i := range 10 {
			if i > 0 {
				<-tick.C
			}
			write(pdu[i*len(pdu)/10 : (i+1)*len(pdu)/10])
		}
		expect(smpp.CmdSubmitSMResp, 6)
		tick.Stop()
		if err := s.Err(); err != nil {
			t.Fatalf("session ended: %v", err)
		}
	})
}
