package cmpp

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// TestDecodeErrors feeds bodies that are truncated, carry a bad
// DestUsr_tl / Msg_Length / Msg_Fwd_Type, or have trailing bytes, and
// checks that the error names the PDU and the field and wraps the right
// sentinel.
func TestDecodeErrors(t *testing.T) {
	sub3 := benchSubmit().AppendBody(nil, V30)
	sub2 := benchSubmit().AppendBody(nil, V20)
	twoDest := &Submit{DestTerminalIDs: []string{"1", "2"}, MsgContent: "hi"}
	del3 := benchMODeliver().AppendBody(nil, V30)
	fwd3 := benchFwd().AppendBody(nil, V30)
	fwd2 := benchFwd().AppendBody(nil, V20)
	with := func(b []byte, off int, val byte) []byte {
		c := append([]byte(nil), b...)
		c[off] = val
		return c
	}
	// Offsets of DestUsr_tl / Msg_Length in the bench bodies (protocols.md §1.6, §1.8, §1.11).
	const (
		sub3DestTL = 128
		sub2DestTL = 116
		sub3MsgLen = 128 + 1 + 32 + 1
		del3MsgLen = 76
		fwd3DestTL = 197
		fwd2DestTL = 130
		fwd3MsgLen = 197 + 1 + 21 + 32 + 1
	)
	for _, c := range []struct {
		name   string
		cmd    CommandID
		v      Version
		body   []byte
		want   []string
		target error
	}{
		{"submit empty", CmdSubmit, V30, nil, []string{"SUBMIT", "Msg_Id"}, ErrShortBody},
		{"submit cut in Fee_terminal_Id", CmdSubmit, V30, sub3[:50], []string{"SUBMIT", "Fee_terminal_Id", "offset 23"}, ErrShortBody},
		{"submit cut in Src_Id", CmdSubmit, V20, sub2[:100], []string{"SUBMIT", "Src_Id"}, ErrShortBody},
		{"submit cut before DestUsr_tl", CmdSubmit, V30, sub3[:sub3DestTL], []string{"SUBMIT", "DestUsr_tl"}, ErrShortBody},
		{"submit DestUsr_tl 0", CmdSubmit, V30, with(sub3, sub3DestTL, 0), []string{"SUBMIT", "DestUsr_tl", "0, want 1..99"}, ErrBadField},
		{"submit DestUsr_tl 100", CmdSubmit, V30, with(sub3, sub3DestTL, 100), []string{"SUBMIT", "DestUsr_tl", "100"}, ErrBadField},
		{"submit DestUsr_tl 255", CmdSubmit, V20, with(sub2, sub2DestTL, 255), []string{"SUBMIT", "DestUsr_tl"}, ErrBadField},
		{"submit DestUsr_tl beyond body", CmdSubmit, V30, with(sub3, sub3DestTL, 9), []string{"SUBMIT", "DestUsr_tl", "9 destinations"}, ErrBadField},
		{"submit DestUsr_tl too small", CmdSubmit, V30, with(twoDest.AppendBody(nil, V30), sub3DestTL, 1), []string{"SUBMIT", "Msg_Length"}, ErrBadField},
		{"submit Msg_Length long", CmdSubmit, V30, with(sub3, sub3MsgLen, 141), []string{"SUBMIT", "Msg_Length", "141"}, ErrBadField},
		{"submit Msg_Length short", CmdSubmit, V30, with(sub3, sub3MsgLen, 139), []string{"SUBMIT", "Msg_Length", "139"}, ErrBadField},
		{"submit trailing", CmdSubmit, V30, append(sub3[:len(sub3):len(sub3)], 0), []string{"SUBMIT", "Msg_Length"}, ErrBadField},
		{"submit 2.0 body as 3.0", CmdSubmit, V30, sub2, []string{"SUBMIT"}, nil},
		{"deliver cut", CmdDeliver, V30, del3[:60], []string{"DELIVER", "Src_terminal_Id"}, ErrShortBody},
		{"deliver Msg_Length", CmdDeliver, V30, with(del3, del3MsgLen, 200), []string{"DELIVER", "Msg_Length", "200"}, ErrBadField},
		{"deliver trailing", CmdDeliver, V30, append(del3[:len(del3):len(del3)], 1, 2), []string{"DELIVER", "Msg_Length"}, ErrBadField},
		{"fwd DestUsr_tl 2", CmdFwd, V30, with(fwd3, fwd3DestTL, 2), []string{"FWD", "DestUsr_tl", "must be 1"}, ErrBadField},
		{"fwd DestUsr_tl 0 (2.0)", CmdFwd, V20, with(fwd2, fwd2DestTL, 0), []string{"FWD", "DestUsr_tl"}, ErrBadField},
		{"fwd Msg_Fwd_Type 4", CmdFwd, V30, with(fwd3, 13, 4), []string{"FWD", "Msg_Fwd_Type", "4"}, ErrBadField},
		{"fwd Msg_Length", CmdFwd, V30, with(fwd3, fwd3MsgLen, 0), []string{"FWD", "Msg_Length"}, ErrBadField},
		{"fwd cut in Src_Pseudo", CmdFwd, V30, fwd3[:170], []string{"FWD", "Src_Pseudo", "offset 163"}, ErrShortBody},
		{"submit_resp 2.0 body as 3.0", CmdSubmitResp, V30, make([]byte, 9), []string{"SUBMIT_RESP", "Result"}, ErrShortBody},
		{"submit_resp trailing", CmdSubmitResp, V20, make([]byte, 12), []string{"SUBMIT_RESP", "after field Result"}, ErrTrailingBytes},
		{"deliver_resp short", CmdDeliverResp, V20, make([]byte, 5), []string{"DELIVER_RESP", "Msg_Id"}, ErrShortBody},
		{"fwd_resp trailing", CmdFwdResp, V20, make([]byte, 14), []string{"FWD_RESP", "Result"}, ErrTrailingBytes},
		{"cancel trailing", CmdCancel, V30, make([]byte, 9), []string{"CANCEL", "Msg_Id"}, ErrTrailingBytes},
		{"cancel_resp short", CmdCancelResp, V30, make([]byte, 1), []string{"CANCEL_RESP", "Success_Id"}, ErrShortBody},
		{"query short", CmdQuery, V30, make([]byte, 15), []string{"QUERY", "Query_Code"}, ErrShortBody},
		{"query_resp trailing", CmdQueryResp, V30, make([]byte, 52), []string{"QUERY_RESP", "MO_FL"}, ErrTrailingBytes},
		{"mt_route_resp short", CmdMTRouteResp, V30, make([]byte, 30), []string{"MT_ROUTE_RESP", "Start_Id"}, ErrShortBody},
		{"get_mt_route trailing", CmdGetMTRoute, V30, make([]byte, 15), []string{"GET_MT_ROUTE", "Last_route_Id"}, ErrTrailingBytes},
		{"get_mo_route_resp short", CmdGetMORouteResp, V30, make([]byte, 95), []string{"GET_MO_ROUTE_RESP", "Time_stamp"}, ErrShortBody},
		{"push_mo short", CmdPushMORouteUpdate, V30, make([]byte, 74), []string{"PUSH_MO_ROUTE_UPDATE", "Time_stamp"}, ErrShortBody},
		{"push_mt_resp empty", CmdPushMTRouteUpdateResp, V30, nil, []string{"PUSH_MT_ROUTE_UPDATE_RESP", "Result"}, ErrShortBody},
		{"mo_route_update_resp trailing", CmdMORouteUpdateResp, V30, make([]byte, 20), []string{"MO_ROUTE_UPDATE_RESP", "Time_stamp"}, ErrTrailingBytes},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := New(c.cmd)
			if err != nil {
				t.Fatal(err)
			}
			err = p.DecodeBody(c.body, c.v)
			if err == nil {
				t.Fatal("decoded without error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if c.target != nil && !errors.Is(err, c.target) {
				t.Errorf("error %q is not %v", err, c.target)
			}
		})
	}
}

func TestReportErrors(t *testing.T) {
	var r Report
	for _, n := range []int{0, 59, 61, 70, 72} {
		err := r.Decode(make([]byte, n))
		if !errors.Is(err, ErrBadField) || !strings.Contains(err.Error(), "status report") {
			t.Errorf("%d bytes: %v", n, err)
		}
	}
	var m MOReport
	if err := m.Decode(make([]byte, 71)); !errors.Is(err, ErrBadField) || !strings.Contains(err.Error(), "MO status report") {
		t.Errorf("MO report: %v", err)
	}
}

func TestDecodePDUErrors(t *testing.T) {
	pdu := AppendPDU(nil, V30, 1, benchSubmit())
	if _, _, err := DecodePDU(pdu[:len(pdu)-1], V30, DefaultMaxPDU); err == nil || !strings.Contains(err.Error(), "SUBMIT") {
		t.Errorf("short PDU: %v", err)
	}
	big := append([]byte(nil), pdu...)
	binary.BigEndian.PutUint32(big, DefaultMaxPDU+1)
	if _, _, err := DecodePDU(big, V30, DefaultMaxPDU); !errors.Is(err, ErrBadLength) {
		t.Errorf("oversize Total_Length: %v", err)
	}
	unknown := append([]byte(nil), pdu...)
	binary.BigEndian.PutUint32(unknown[4:], 0x0A)
	if _, _, err := DecodePDU(unknown, V30, DefaultMaxPDU); !errors.Is(err, ErrUnknownCommand) {
		t.Errorf("unknown command: %v", err)
	}
}
