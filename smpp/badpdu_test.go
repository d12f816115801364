package smpp_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/tandem-sms/tandem/smpp"
	"github.com/tandem-sms/tandem/smpp/smpptest"
)

// The PDUs of these tests are written field by field from protocols.md
// §2.3, not with the package's encoder.

// cstr is a C-octet string: s and its NUL.
func cstr(s string) []byte { return append([]byte(s), 0) }

// rawBind is a bind_transceiver body for system_id id.
func rawBind(id string) []byte {
	b := cstr(id)                 // system_id
	b = append(b, cstr("pw")...)  // password
	b = append(b, cstr("")...)    // system_type
	b = append(b, 0x34, 0, 0)     // interface_version, addr_ton, addr_npi
	return append(b, cstr("")...) // address_range
}

// rawSubmitSM is a submit_sm body whose sm_length byte is smLen and whose
// short_message is msg; cut > 0 truncates the body.
func rawSubmitSM(smLen byte, msg string, cut int) []byte {
	b := cstr("")                           // service_type
	b = append(b, 5, 0)                     // source_addr_ton, source_addr_npi
	b = append(b, cstr("10657001")...)      // source_addr
	b = append(b, 1, 1)                     // dest_addr_ton, dest_addr_npi
	b = append(b, cstr("8613800138000")...) // destination_addr
	b = append(b, 0, 0, 0)                  // esm_class, protocol_id, priority_flag
	b = append(b, cstr("")...)              // schedule_delivery_time
	b = append(b, cstr("")...)              // validity_period
	b = append(b, 1, 0, 0, 0)               // registered_delivery, replace_if_present_flag, data_coding, sm_default_msg_id
	b = append(b, smLen)
	b = append(b, msg...)
	if cut > 0 {
		b = b[:cut]
	}
	return b
}

// observingSMSC is smpptest.SMSC that also hears of bad PDUs.
type observingSMSC struct {
	smpptest.SMSC
	mu      sync.Mutex
	reasons []string
}

func (o *observingSMSC) BadPDU(_ *smpp.Session, _ smpp.Header, reason string, err error) {
	if err == nil {
		panic("BadPDU without an error")
	}
	o.mu.Lock()
	o.reasons = append(o.reasons, reason)
	o.mu.Unlock()
}

func (o *observingSMSC) take() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	r := o.reasons
	o.reasons = nil
	return r
}

// A bound ESME's framed but undecodable PDUs each get their response
// with an error status, header only, and the session serves the next good
// submit_sm; the Handler's BadPDU hears of each with its reason.
func TestBadBodyAnswered(t *testing.T) {
	h := &observingSMSC{}
	srv, sessions := newServer(t, testConfig(t), h)
	c := dialRawESME(t, srv, sessions)
	conn, ss := c.conn, c.ss
	expect := func(t *testing.T, id smpp.CommandID, st smpp.Status, seq uint32) {
		t.Helper()
		if body := c.expect(t, id, st, seq); st != smpp.StatusOK && len(body) != 0 {
			t.Fatalf("error response with a %d-byte body", len(body))
		}
	}
	_, _ = conn.Write(rawPDU(smpp.CmdBindTransceiver, 0, 1, rawBind("esme")))
	expect(t, smpp.CmdBindTransceiverResp, smpp.StatusOK, 1)

	good := rawSubmitSM(5, "hello", 0)
	seq := uint32(1)
	for _, tc := range []struct {
		name   string
		pdu    []byte
		resp   smpp.CommandID
		status smpp.Status
		reason string
	}{
		{"sm_length beyond the body", rawPDU(smpp.CmdSubmitSM, 0, 0, rawSubmitSM(50, "hello", 0)), smpp.CmdSubmitSMResp, smpp.StatusInvCmdLen, smpp.BadPDUShort},
		{"sm_length short of the body", rawPDU(smpp.CmdSubmitSM, 0, 0, rawSubmitSM(2, "hello", 0)), smpp.CmdSubmitSMResp, smpp.StatusInvOptParStream, smpp.BadPDUTLV},
		{"truncated body", rawPDU(smpp.CmdSubmitSM, 0, 0, rawSubmitSM(5, "hello", 20)), smpp.CmdSubmitSMResp, smpp.StatusInvCmdLen, smpp.BadPDUShort},
		{"source_addr without NUL", rawPDU(smpp.CmdSubmitSM, 0, 0, append(append(cstr(""), 5, 0), strings.Repeat("1", 40)...)), smpp.CmdSubmitSMResp, smpp.StatusInvSrcAdr, smpp.BadPDUField},
		{"unknown command_id", rawPDU(0x00000077, 0, 0, []byte("junk")), smpp.CmdGenericNack, smpp.StatusInvCmdID, smpp.BadPDUUnknownCommand},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seq++
			b := tc.pdu
			b[15] = byte(seq) // sequence_number, low byte
			_, _ = conn.Write(b)
			expect(t, tc.resp, tc.status, seq)
			if got := h.take(); len(got) != 1 || got[0] != tc.reason {
				t.Errorf("BadPDU reasons %q, want [%s]", got, tc.reason)
			}
			seq++
			_, _ = conn.Write(rawPDU(smpp.CmdSubmitSM, 0, seq, good))
			expect(t, smpp.CmdSubmitSMResp, smpp.StatusOK, seq)
		})
	}
	if n := ss.Stats().DecodeErrors.Load(); n != 5 {
		t.Errorf("DecodeErrors = %d, want 5", n)
	}
	if len(h.Submitted()) != 5 {
		t.Errorf("%d submit_sm reached the handler, want the 5 good ones", len(h.Submitted()))
	}
}
