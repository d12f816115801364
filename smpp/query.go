package smpp

import "strconv"

// MessageState is the state reported by query_sm_resp and the message_state
// TLV (§2.4).
type MessageState uint8

// Message states.
const (
	StateEnroute       MessageState = 1
	StateDelivered     MessageState = 2
	StateExpired       MessageState = 3
	StateDeleted       MessageState = 4
	StateUndeliverable MessageState = 5
	StateAccepted      MessageState = 6
	StateUnknown       MessageState = 7
	StateRejected      MessageState = 8
)

func (s MessageState) String() string {
	switch s {
	case StateEnroute:
		return "ENROUTE"
	case StateDelivered:
		return "DELIVERED"
	case StateExpired:
		return "EXPIRED"
	case StateDeleted:
		return "DELETED"
	case StateUndeliverable:
		return "UNDELIVERABLE"
	case StateAccepted:
		return "ACCEPTED"
	case StateUnknown:
		return "UNKNOWN"
	case StateRejected:
		return "REJECTED"
	}
	return "STATE_" + strconv.Itoa(int(s))
}

// Final reports whether no further state change will follow.
func (s MessageState) Final() bool {
	switch s {
	case StateDelivered, StateExpired, StateDeleted, StateUndeliverable, StateRejected:
		return true
	}
	return false
}

// QuerySM is query_sm (§2.3).
type QuerySM struct {
	MessageID  string // C65
	SourceAddr Addr   // C21
}

func (p *QuerySM) CommandID() CommandID { return CmdQuerySM }

func (p *QuerySM) Append(b []byte) []byte {
	return appendAddr(appendCString(b, p.MessageID), p.SourceAddr)
}

func (p *QuerySM) Decode(body []byte) error {
	d := newDec(CmdQuerySM, body)
	*p = QuerySM{
		MessageID:  d.cstr("message_id", 65, StatusInvMsgID),
		SourceAddr: d.addr("source_addr", 21, StatusInvSrcAdr),
	}
	return d.end()
}

func (p *QuerySM) Validate() error {
	v := val{id: CmdQuerySM}
	v.cstr("message_id", p.MessageID, 65, StatusInvMsgID)
	v.addr("source_addr", p.SourceAddr, 21, StatusInvSrcAdr)
	return v.err
}

// QuerySMResp answers query_sm.
type QuerySMResp struct {
	MessageID    string // C65
	FinalDate    string // C17, "" while not final
	MessageState MessageState
	ErrorCode    uint8
	ErrBody      bool
}

func (p *QuerySMResp) CommandID() CommandID { return CmdQuerySMResp }
func (p *QuerySMResp) errBody() *bool       { return &p.ErrBody }

func (p *QuerySMResp) Append(b []byte) []byte {
	b = appendCString(b, p.MessageID)
	b = appendCString(b, p.FinalDate)
	return append(b, uint8(p.MessageState), p.ErrorCode)
}

func (p *QuerySMResp) Decode(body []byte) error {
	d := newDec(CmdQuerySMResp, body)
	*p = QuerySMResp{
		MessageID:    d.cstr("message_id", 65, StatusInvMsgID),
		FinalDate:    d.cstr("final_date", 17, StatusQueryFail),
		MessageState: MessageState(d.u8("message_state")),
		ErrorCode:    d.u8("error_code"),
	}
	return d.end()
}

func (p *QuerySMResp) Validate() error {
	v := val{id: CmdQuerySMResp}
	v.cstr("message_id", p.MessageID, 65, StatusInvMsgID)
	v.cstr("final_date", p.FinalDate, 17, StatusQueryFail)
	return v.err
}
