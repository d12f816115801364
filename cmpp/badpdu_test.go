package cmpp_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"testing"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/cmpp/cmpptest"
)

// The PDUs of these tests are written field by field from protocols.md,
// not with the package's encoder, so a bug shared by encoder and decoder
// cannot hide.

// fixed is a NUL-padded Octet String of n bytes.
func fixed(s string, n int) []byte {
	b := make([]byte, n)
	copy(b, s)
	return b
}

// rawPDU prefixes body with a header whose Total_Length counts it.
func rawPDU(cmd cmpp.CommandID, seq uint32, body []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(cmpp.HeaderLen+len(body)))
	b = binary.BigEndian.AppendUint32(b, uint32(cmd))
	b = binary.BigEndian.AppendUint32(b, seq)
	return append(b, body...)
}

// rawSubmit is a CMPP_SUBMIT body (protocols.md §1.6) with the fields a
// test lies about: DestUsr_tl (tl) need not match the ids written (dests),
// nor Msg_Length (msgLen) the content; cut > 0 truncates the body.
type rawSubmit struct {
	v       cmpp.Version
	tl      byte
	dests   int
	msgLen  byte
	content string
	cut     int
}

func goodSubmit(v cmpp.Version) rawSubmit {
	return rawSubmit{v: v, tl: 1, dests: 1, msgLen: 5, content: "hello"}
}

func (r rawSubmit) body() []byte {
	term, trailer := 21, 8 // 2.x: terminal ids 21, Reserve 8
	if r.v.Is3() {
		term, trailer = 32, 20 // 3.0: terminal ids 32, LinkID 20
	}
	b := make([]byte, 8)                 // Msg_Id
	b = append(b, 1, 1, 1, 0)            // Pk_total, Pk_number, Registered_Delivery, Msg_level
	b = append(b, fixed("MTEST", 10)...) // Service_Id
	b = append(b, 2)                     // Fee_UserType
	b = append(b, fixed("", term)...)    // Fee_terminal_Id
	if r.v.Is3() {
		b = append(b, 0) // Fee_terminal_type
	}
	b = append(b, 0, 0, 0)                          // TP_pId, TP_udhi, Msg_Fmt
	b = append(b, fixed(cmpptest.SourceAddr, 6)...) // Msg_src
	b = append(b, "01000000"...)                    // FeeType "01", FeeCode "000000"
	b = append(b, fixed("", 17+17)...)              // ValId_Time, At_Time
	b = append(b, fixed("10657001", 21)...)         // Src_Id
	b = append(b, r.tl)                             // DestUsr_tl
	for range r.dests {
		b = append(b, fixed("13800138000", term)...) // Dest_terminal_Id
	}
	if r.v.Is3() {
		b = append(b, 0) // Dest_terminal_type
	}
	b = append(b, r.msgLen)
	b = append(b, r.content...)
	b = append(b, fixed("", trailer)...)
	if r.cut > 0 {
		b = b[:r.cut]
	}
	return b
}

// badPDUs collects what Config.OnBadPDU reports.
type badPDUs struct {
	mu      sync.Mutex
	reasons []string
}

func (b *badPDUs) hook(_ *cmpp.Session, _ cmpp.Header, reason string, err error) {
	if err == nil {
		panic("OnBadPDU without an error")
	}
	b.mu.Lock()
	b.reasons = append(b.reasons, reason)
	b.mu.Unlock()
}

func (b *badPDUs) take() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.reasons
	b.reasons = nil
	return r
}

// expectResp reads the next PDU and checks it answers seq with cmd.
func expectResp[T cmpp.PDU](t *testing.T, c *cmpptest.Conn, seq uint32, length uint32) T {
	t.Helper()
	h, p := c.MustReadPDU()
	resp, ok := p.(T)
	if !ok || h.Seq != seq || h.Length != length {
		t.Fatalf("got %v (Sequence_Id %d, Total_Length %d), want a %T to Sequence_Id %d of %d bytes",
			h.Command, h.Seq, h.Length, *new(T), seq, length)
	}
	return resp
}

// A SUBMIT that frames but does not decode gets SUBMIT_RESP Result 1 with
// its Sequence_Id from the session itself, and the session goes on: the
// next good SUBMIT is served (issue 10 item 7; it used to tear the session
// down with no answer).
func TestBadBodyAnswered(t *testing.T) {
	checkGoroutines(t)
	var bad badPDUs
	var stats cmpp.Stats
	ts := cmpptest.NewUnstartedServer(okHandler)
	ts.Config.OnBadPDU = bad.hook
	ts.Config.Stats = &stats
	ts.Start(t)

	for _, v := range []cmpp.Version{cmpp.V20, cmpp.V30} {
		respLen := uint32(12 + 8 + 1) // Msg_Id + Result
		if v.Is3() {
			respLen = 12 + 8 + 4
		}
		good := goodSubmit(v).body()
		if want := map[bool]int{false: 126 + 21 + 5, true: 151 + 32 + 5}[v.Is3()]; len(good) != want {
			t.Fatalf("%v: hand-written SUBMIT body is %d bytes, protocols.md says %d", v, len(good), want)
		}
		c := cmpptest.DialRaw(t, ts.Addr)
		c.Connect(cmpptest.SourceAddr, cmpptest.Secret, v)
		for _, tc := range []struct {
			name   string
			body   rawSubmit
			reason string
		}{
			{"DestUsr_tl 0", rawSubmit{v: v, tl: 0, dests: 0, msgLen: 5, content: "hello"}, cmpp.BadPDUField},
			{"DestUsr_tl 100", rawSubmit{v: v, tl: 100, dests: 100, msgLen: 5, content: "hello"}, cmpp.BadPDUField},
			{"DestUsr_tl 200", rawSubmit{v: v, tl: 200, dests: 1, msgLen: 5, content: "hello"}, cmpp.BadPDUField},
			{"Msg_Length beyond the body", rawSubmit{v: v, tl: 1, dests: 1, msgLen: 50, content: "hello"}, cmpp.BadPDUField},
			{"Msg_Length short of the body", rawSubmit{v: v, tl: 1, dests: 1, msgLen: 2, content: "hello"}, cmpp.BadPDUField},
			{"truncated body", rawSubmit{v: v, tl: 1, dests: 1, msgLen: 5, content: "hello", cut: 100}, cmpp.BadPDUShort},
			{"empty body", rawSubmit{}, cmpp.BadPDUShort},
		} {
			t.Run(v.String()+"/"+tc.name, func(t *testing.T) {
				var body []byte
				if tc.body.v != 0 {
					body = tc.body.body()
				}
				seq := c.NextSeq()
				c.WriteBytes(rawPDU(cmpp.CmdSubmit, seq, body))
				if r := expectResp[*cmpp.SubmitResp](t, c, seq, respLen); r.Result != cmpp.ResultBadStructure || r.MsgID != 0 {
					t.Fatalf("SUBMIT_RESP Result %d Msg_Id %d, want Result 1 and no Msg_Id", r.Result, r.MsgID)
				}
				if got := bad.take(); len(got) != 1 || got[0] != tc.reason {
					t.Errorf("OnBadPDU reasons %q, want [%s]", got, tc.reason)
				}
				seq = c.NextSeq()
				c.WriteBytes(rawPDU(cmpp.CmdSubmit, seq, good))
				if r := expectResp[*cmpp.SubmitResp](t, c, seq, respLen); r.Result != cmpp.ResultOK || r.MsgID != uint64(seq) {
					t.Fatalf("good SUBMIT after the bad one: Result %d Msg_Id %d", r.Result, r.MsgID)
				}
			})
		}
	}
	if n := stats.DecodeErrors.Load(); n != 14 {
		t.Errorf("Stats.DecodeErrors = %d, want 14", n)
	}
	if n := stats.ProtocolErrors.Load(); n != 0 {
		t.Errorf("Stats.ProtocolErrors = %d, want 0: no session closed", n)
	}
}

// The other requests a peer can garble: CANCEL and FWD get their error
// response (FWD_RESP echoing what decoded), QUERY (whose response has no
// result field) goes unanswered, an ACTIVE_TEST with a body is answered,
// an unknown Command_Id is skipped; the session serves on throughout.
func TestBadBodyOtherRequests(t *testing.T) {
	checkGoroutines(t)
	var bad badPDUs
	ts := cmpptest.NewUnstartedServer(okHandler)
	ts.Config.OnBadPDU = bad.hook
	ts.Start(t)
	c := cmpptest.DialRaw(t, ts.Addr)
	c.Connect(cmpptest.SourceAddr, cmpptest.Secret, cmpp.V30)
	good := goodSubmit(cmpp.V30).body()

	// CANCEL: Msg_Id 8; one byte more.
	seq := c.NextSeq()
	c.WriteBytes(rawPDU(cmpp.CmdCancel, seq, make([]byte, 9)))
	if r := expectResp[*cmpp.CancelResp](t, c, seq, 12+4); r.SuccessID != cmpp.CancelFailed {
		t.Errorf("CANCEL_RESP Success_Id %d, want 1", r.SuccessID)
	}

	// FWD (3.0) cut after Pk_number: Source_Id 6, Destination_Id 6,
	// NodesCount 1, Msg_Fwd_Type 1, Msg_Id 8, Pk_total 1, Pk_number 1.
	fwd := append(fixed("001001", 6), fixed("020001", 6)...)
	fwd = append(fwd, 1, 0)
	fwd = binary.BigEndian.AppendUint64(fwd, 0xA7B9E14134FD0001)
	fwd = append(fwd, 2, 1)
	seq = c.NextSeq()
	c.WriteBytes(rawPDU(cmpp.CmdFwd, seq, fwd))
	r := expectResp[*cmpp.FwdResp](t, c, seq, 12+8+1+1+4)
	if r.Result != cmpp.ResultBadStructure || r.MsgID != 0xA7B9E14134FD0001 || r.PkTotal != 2 || r.PkNumber != 1 {
		t.Errorf("FWD_RESP %+v, want Result 1 echoing Msg_Id, Pk_total, Pk_number", r)
	}

	// ACTIVE_TEST has no body; with two bytes it is still answered.
	seq = c.NextSeq()
	c.WriteBytes(rawPDU(cmpp.CmdActiveTest, seq, []byte{0, 0}))
	expectResp[*cmpp.ActiveTestResp](t, c, seq, 13)

	// A QUERY one byte short, then an unknown Command_Id: neither is
	// answered, so the next PDU is the answer to the SUBMIT after them.
	c.WriteBytes(rawPDU(cmpp.CmdQuery, c.NextSeq(), make([]byte, 26)))
	c.WriteBytes(rawPDU(0x0000000A, c.NextSeq(), []byte("vendor extension")))
	seq = c.NextSeq()
	c.WriteBytes(rawPDU(cmpp.CmdSubmit, seq, good))
	if r := expectResp[*cmpp.SubmitResp](t, c, seq, 24); r.Result != cmpp.ResultOK {
		t.Fatalf("SUBMIT after the skipped PDUs: Result %d", r.Result)
	}
	want := []string{cmpp.BadPDUTrailing, cmpp.BadPDUShort, cmpp.BadPDUTrailing, cmpp.BadPDUShort, cmpp.BadPDUUnknownCommand}
	if got := bad.take(); !slices.Equal(got, want) {
		t.Errorf("OnBadPDU reasons %q, want %q", got, want)
	}
}

// The client side: a DELIVER with a lying Msg_Length gets DELIVER_RESP
// Result 1 echoing its Msg_Id without reaching the handler, and a
// SUBMIT_RESP that does not decode fails only the Send that waited for it.
func TestBadBodyToClient(t *testing.T) {
	checkGoroutines(t)
	var bad badPDUs
	step := make(chan error, 1)
	addr := rawServer(t, func(conn net.Conn, br *bufio.Reader, v cmpp.Version) {
		// DELIVER 3.0 (protocols.md §1.8): Msg_Id 8, Dest_Id 21,
		// Service_Id 10, TP_pid, TP_udhi, Msg_Fmt, Src_terminal_Id 32,
		// Src_terminal_type, Registered_Delivery, Msg_Length, Msg_Content,
		// LinkID 20; Msg_Length says 9 for a 2-byte content.
		d := binary.BigEndian.AppendUint64(nil, 0xA7B9E14134FD0002)
		d = append(d, fixed("10657001", 21)...)
		d = append(d, fixed("MTEST", 10)...)
		d = append(d, 0, 0, 0)
		d = append(d, fixed("13800138000", 32)...)
		d = append(d, 0, 0, 9)
		d = append(d, "hi"...)
		d = append(d, fixed("", 20)...)
		if _, err := conn.Write(rawPDU(cmpp.CmdDeliver, 77, d)); err != nil {
			step <- err
			return
		}
		h, p := readRawPDU(br, v)
		dr, ok := p.(*cmpp.DeliverResp)
		if !ok || h.Seq != 77 || dr.Result != cmpp.ResultBadStructure || dr.MsgID != 0xA7B9E14134FD0002 {
			step <- errors.New("no DELIVER_RESP Result 1 echoing the Msg_Id")
			return
		}
		step <- nil
		// Two SUBMITs: the first is answered with a 13-byte SUBMIT_RESP
		// body (3.0 has 12), the second properly.
		for i, body := range [][]byte{make([]byte, 13), make([]byte, 12)} {
			h, _ := readRawPDU(br, v)
			if h.Command != cmpp.CmdSubmit {
				step <- errors.New("want SUBMIT")
				return
			}
			if i == 1 {
				binary.BigEndian.PutUint64(body, 42)
			}
			if _, err := conn.Write(rawPDU(cmpp.CmdSubmitResp, h.Seq, body)); err != nil {
				step <- err
				return
			}
		}
		step <- nil
		readRawPDU(br, v) // until the client goes
	})
	handled := make(chan cmpp.Header, 1)
	cfg := clientConfig(t, cmpp.Config{OnBadPDU: bad.hook})
	cfg.Handler = cmpp.HandlerFunc(func(s *cmpp.Session, h cmpp.Header, req cmpp.PDU) { handled <- h })
	s := cmpptest.DialConfig(t, addr, cfg)
	if err := recv(t, step, "DELIVER_RESP"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := s.Send(ctx, newSubmit()); !errors.Is(err, cmpp.ErrTrailingBytes) {
		t.Fatalf("Send answered with a bad SUBMIT_RESP: %v, want ErrTrailingBytes", err)
	}
	resp, err := s.Send(ctx, newSubmit())
	if err != nil || resp.(*cmpp.SubmitResp).MsgID != 42 {
		t.Fatalf("second Send: %v, %v", resp, err)
	}
	if err := recv(t, step, "raw server"); err != nil {
		t.Fatal(err)
	}
	select {
	case h := <-handled:
		t.Fatalf("handler got %v", h.Command)
	default:
	}
	want := []string{cmpp.BadPDUField, cmpp.BadPDUTrailing}
	if got := bad.take(); !slices.Equal(got, want) {
		t.Errorf("OnBadPDU reasons %q, want %q", got, want)
	}
	if s.Err() != nil {
		t.Fatalf("session closed: %v", s.Err())
	}
}

// readRawPDU reads one PDU off br (nil on error).
func readRawPDU(br *bufio.Reader, v cmpp.Version) (cmpp.Header, cmpp.PDU) {
	h, err := cmpp.ReadHeader(br, cmpp.DefaultMaxPDU)
	if err != nil {
		return h, nil
	}
	b := make([]byte, h.Length)
	if _, err := io.ReadFull(br, b); err != nil {
		return h, nil
	}
	_, p, _ := cmpp.DecodePDU(b, v, cmpp.DefaultMaxPDU)
	return h, p
}
