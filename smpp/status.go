package smpp

import (
	"errors"
	"strconv"
)

// Status is the SMPP command_status (§2.7). It is zero in requests.
type Status uint32

// Command status values of SMPP 3.4. 0x0400–0x04FF are vendor specific.
const (
	StatusOK              Status = 0x00 // ESME_ROK: no error
	StatusInvMsgLen       Status = 0x01 // ESME_RINVMSGLEN: message length is invalid
	StatusInvCmdLen       Status = 0x02 // ESME_RINVCMDLEN: command length is invalid
	StatusInvCmdID        Status = 0x03 // ESME_RINVCMDID: invalid command id
	StatusInvBndSts       Status = 0x04 // ESME_RINVBNDSTS: incorrect bind status for given command
	StatusAlyBnd          Status = 0x05 // ESME_RALYBND: ESME already in bound state
	StatusInvPrtFlg       Status = 0x06 // ESME_RINVPRTFLG: invalid priority flag
	StatusInvRegDlvFlg    Status = 0x07 // ESME_RINVREGDLVFLG: invalid registered delivery flag
	StatusSysErr          Status = 0x08 // ESME_RSYSERR: system error
	StatusInvSrcAdr       Status = 0x0A // ESME_RINVSRCADR: invalid source address
	StatusInvDstAdr       Status = 0x0B // ESME_RINVDSTADR: invalid destination address
	StatusInvMsgID        Status = 0x0C // ESME_RINVMSGID: message id is invalid
	StatusBindFail        Status = 0x0D // ESME_RBINDFAIL: bind failed
	StatusInvPaswd        Status = 0x0E // ESME_RINVPASWD: invalid password
	StatusInvSysID        Status = 0x0F // ESME_RINVSYSID: invalid system id
	StatusCancelFail      Status = 0x11 // ESME_RCANCELFAIL: cancel_sm failed
	StatusReplaceFail     Status = 0x13 // ESME_RREPLACEFAIL: replace_sm failed
	StatusMsgQFul         Status = 0x14 // ESME_RMSGQFUL: message queue full
	StatusInvSerTyp       Status = 0x15 // ESME_RINVSERTYP: invalid service type
	StatusInvNumDests     Status = 0x33 // ESME_RINVNUMDESTS: invalid number of destinations
	StatusInvDLName       Status = 0x34 // ESME_RINVDLNAME: invalid distribution list name
	StatusInvDestFlag     Status = 0x40 // ESME_RINVDESTFLAG: invalid destination flag
	StatusInvSubRep       Status = 0x42 // ESME_RINVSUBREP: invalid submit with replace request
	StatusInvEsmClass     Status = 0x43 // ESME_RINVESMCLASS: invalid esm_class field data
	StatusCntSubDL        Status = 0x44 // ESME_RCNTSUBDL: cannot submit to distribution list
	StatusSubmitFail      Status = 0x45 // ESME_RSUBMITFAIL: submit_sm or submit_multi failed
	StatusInvSrcTON       Status = 0x48 // ESME_RINVSRCTON: invalid source address TON
	StatusInvSrcNPI       Status = 0x49 // ESME_RINVSRCNPI: invalid source address NPI
	StatusInvDstTON       Status = 0x50 // ESME_RINVDSTTON: invalid destination address TON
	StatusInvDstNPI       Status = 0x51 // ESME_RINVDSTNPI: invalid destination address NPI
	StatusInvSysTyp       Status = 0x53 // ESME_RINVSYSTYP: invalid system_type field
	StatusInvRepFlag      Status = 0x54 // ESME_RINVREPFLAG: invalid replace_if_present flag
	StatusInvNumMsgs      Status = 0x55 // ESME_RINVNUMMSGS: invalid number of messages
	StatusThrottled       Status = 0x58 // ESME_RTHROTTLED: throttling error
	StatusInvSched        Status = 0x61 // ESME_RINVSCHED: invalid scheduled delivery time
	StatusInvExpiry       Status = 0x62 // ESME_RINVEXPIRY: invalid validity period
	StatusInvDftMsgID     Status = 0x63 // ESME_RINVDFTMSGID: predefined message invalid or not found
	StatusXTAppn          Status = 0x64 // ESME_RX_T_APPN: ESME receiver temporary application error
	StatusXPAppn          Status = 0x65 // ESME_RX_P_APPN: ESME receiver permanent application error
	StatusXRAppn          Status = 0x66 // ESME_RX_R_APPN: ESME receiver reject message error
	StatusQueryFail       Status = 0x67 // ESME_RQUERYFAIL: query_sm request failed
	StatusInvOptParStream Status = 0xC0 // ESME_RINVOPTPARSTREAM: error in the optional part of the PDU body
	StatusOptParNotAllwd  Status = 0xC1 // ESME_ROPTPARNOTALLWD: optional parameter not allowed
	StatusInvParLen       Status = 0xC2 // ESME_RINVPARLEN: invalid parameter length
	StatusMissingOptParam Status = 0xC3 // ESME_RMISSINGOPTPARAM: expected optional parameter missing
	StatusInvOptParamVal  Status = 0xC4 // ESME_RINVOPTPARAMVAL: invalid optional parameter value
	StatusDeliveryFailure Status = 0xFE // ESME_RDELIVERYFAILURE: delivery failure
	StatusUnknownErr      Status = 0xFF // ESME_RUNKNOWNERR: unknown error
)

// Name returns the ESME_* constant name, or "" for a value not in the spec.
func (s Status) Name() string {
	switch s {
	case StatusOK:
		return "ESME_ROK"
	case StatusInvMsgLen:
		return "ESME_RINVMSGLEN"
	case StatusInvCmdLen:
		return "ESME_RINVCMDLEN"
	case StatusInvCmdID:
		return "ESME_RINVCMDID"
	case StatusInvBndSts:
		return "ESME_RINVBNDSTS"
	case StatusAlyBnd:
		return "ESME_RALYBND"
	case StatusInvPrtFlg:
		return "ESME_RINVPRTFLG"
	case StatusInvRegDlvFlg:
		return "ESME_RINVREGDLVFLG"
	case StatusSysErr:
		return "ESME_RSYSERR"
	case StatusInvSrcAdr:
		return "ESME_RINVSRCADR"
	case StatusInvDstAdr:
		return "ESME_RINVDSTADR"
	case StatusInvMsgID:
		return "ESME_RINVMSGID"
	case StatusBindFail:
		return "ESME_RBINDFAIL"
	case StatusInvPaswd:
		return "ESME_RINVPASWD"
	case StatusInvSysID:
		return "ESME_RINVSYSID"
	case StatusCancelFail:
		return "ESME_RCANCELFAIL"
	case StatusReplaceFail:
		return "ESME_RREPLACEFAIL"
	case StatusMsgQFul:
		return "ESME_RMSGQFUL"
	case StatusInvSerTyp:
		return "ESME_RINVSERTYP"
	case StatusInvNumDests:
		return "ESME_RINVNUMDESTS"
	case StatusInvDLName:
		return "ESME_RINVDLNAME"
	case StatusInvDestFlag:
		return "ESME_RINVDESTFLAG"
	case StatusInvSubRep:
		return "ESME_RINVSUBREP"
	case StatusInvEsmClass:
		return "ESME_RINVESMCLASS"
	case StatusCntSubDL:
		return "ESME_RCNTSUBDL"
	case StatusSubmitFail:
		return "ESME_RSUBMITFAIL"
	case StatusInvSrcTON:
		return "ESME_RINVSRCTON"
	case StatusInvSrcNPI:
		return "ESME_RINVSRCNPI"
	case StatusInvDstTON:
		return "ESME_RINVDSTTON"
	case StatusInvDstNPI:
		return "ESME_RINVDSTNPI"
	case StatusInvSysTyp:
		return "ESME_RINVSYSTYP"
	case StatusInvRepFlag:
		return "ESME_RINVREPFLAG"
	case StatusInvNumMsgs:
		return "ESME_RINVNUMMSGS"
	case StatusThrottled:
		return "ESME_RTHROTTLED"
	case StatusInvSched:
		return "ESME_RINVSCHED"
	case StatusInvExpiry:
		return "ESME_RINVEXPIRY"
	case StatusInvDftMsgID:
		return "ESME_RINVDFTMSGID"
	case StatusXTAppn:
		return "ESME_RX_T_APPN"
	case StatusXPAppn:
		return "ESME_RX_P_APPN"
	case StatusXRAppn:
		return "ESME_RX_R_APPN"
	case StatusQueryFail:
		return "ESME_RQUERYFAIL"
	case StatusInvOptParStream:
		return "ESME_RINVOPTPARSTREAM"
	case StatusOptParNotAllwd:
		return "ESME_ROPTPARNOTALLWD"
	case StatusInvParLen:
		return "ESME_RINVPARLEN"
	case StatusMissingOptParam:
		return "ESME_RMISSINGOPTPARAM"
	case StatusInvOptParamVal:
		return "ESME_RINVOPTPARAMVAL"
	case StatusDeliveryFailure:
		return "ESME_RDELIVERYFAILURE"
	case StatusUnknownErr:
		return "ESME_RUNKNOWNERR"
	}
	return ""
}

// Description returns the spec's one-line description of s.
func (s Status) Description() string {
	switch s {
	case StatusOK:
		return "no error"
	case StatusInvMsgLen:
		return "message length is invalid"
	case StatusInvCmdLen:
		return "command length is invalid"
	case StatusInvCmdID:
		return "invalid command id"
	case StatusInvBndSts:
		return "incorrect bind status for given command"
	case StatusAlyBnd:
		return "ESME already in bound state"
	case StatusInvPrtFlg:
		return "invalid priority flag"
	case StatusInvRegDlvFlg:
		return "invalid registered delivery flag"
	case StatusSysErr:
		return "system error"
	case StatusInvSrcAdr:
		return "invalid source address"
	case StatusInvDstAdr:
		return "invalid destination address"
	case StatusInvMsgID:
		return "message id is invalid"
	case StatusBindFail:
		return "bind failed"
	case StatusInvPaswd:
		return "invalid password"
	case StatusInvSysID:
		return "invalid system id"
	case StatusCancelFail:
		return "cancel_sm failed"
	case StatusReplaceFail:
		return "replace_sm failed"
	case StatusMsgQFul:
		return "message queue full"
	case StatusInvSerTyp:
		return "invalid service type"
	case StatusInvNumDests:
		return "invalid number of destinations"
	case StatusInvDLName:
		return "invalid distribution list name"
	case StatusInvDestFlag:
		return "invalid destination flag"
	case StatusInvSubRep:
		return "invalid submit with replace request"
	case StatusInvEsmClass:
		return "invalid esm_class field data"
	case StatusCntSubDL:
		return "cannot submit to distribution list"
	case StatusSubmitFail:
		return "submit_sm or submit_multi failed"
	case StatusInvSrcTON:
		return "invalid source address TON"
	case StatusInvSrcNPI:
		return "invalid source address NPI"
	case StatusInvDstTON:
		return "invalid destination address TON"
	case StatusInvDstNPI:
		return "invalid destination address NPI"
	case StatusInvSysTyp:
		return "invalid system_type field"
	case StatusInvRepFlag:
		return "invalid replace_if_present flag"
	case StatusInvNumMsgs:
		return "invalid number of messages"
	case StatusThrottled:
		return "throttling error"
	case StatusInvSched:
		return "invalid scheduled delivery time"
	case StatusInvExpiry:
		return "invalid validity period"
	case StatusInvDftMsgID:
		return "predefined message invalid or not found"
	case StatusXTAppn:
		return "ESME receiver temporary application error"
	case StatusXPAppn:
		return "ESME receiver permanent application error"
	case StatusXRAppn:
		return "ESME receiver reject message error"
	case StatusQueryFail:
		return "query_sm request failed"
	case StatusInvOptParStream:
		return "error in the optional part of the PDU body"
	case StatusOptParNotAllwd:
		return "optional parameter not allowed"
	case StatusInvParLen:
		return "invalid parameter length"
	case StatusMissingOptParam:
		return "expected optional parameter missing"
	case StatusInvOptParamVal:
		return "invalid optional parameter value"
	case StatusDeliveryFailure:
		return "delivery failure"
	case StatusUnknownErr:
		return "unknown error"
	}
	if s >= 0x400 && s <= 0x4FF {
		return "SMSC vendor-specific error"
	}
	return "reserved"
}

// String returns e.g. "ESME_RTHROTTLED(0x58)".
func (s Status) String() string {
	n := s.Name()
	if n == "" {
		n = "ESME_0x" + strconv.FormatUint(uint64(s), 16)
		return n
	}
	return n + "(0x" + strconv.FormatUint(uint64(s), 16) + ")"
}

// Temporary reports whether a request failing with s is worth retrying
// later: the queue-full, throttling and temporary-application statuses
// (protocols.md §2.7 retry convention).
func (s Status) Temporary() bool {
	return s == StatusMsgQFul || s == StatusThrottled || s == StatusXTAppn
}

// Sentinels matched by *StatusError through errors.Is, so callers can back
// off without knowing status codes.
var (
	// ErrThrottled matches a response with ESME_RTHROTTLED.
	ErrThrottled = errors.New("smpp: throttled")
	// ErrQueueFull matches a response with ESME_RMSGQFUL.
	ErrQueueFull = errors.New("smpp: message queue full")
	// ErrTemporary matches any status for which Status.Temporary is true.
	ErrTemporary = errors.New("smpp: temporary failure")
)

// StatusError is a response that came back with a non-zero command_status.
type StatusError struct {
	Command CommandID // the response's command id (generic_nack included)
	Status  Status
}

func (e *StatusError) Error() string {
	return "smpp: " + e.Command.String() + ": " + e.Status.String() + " " + e.Status.Description()
}

// Is makes errors.Is(err, ErrThrottled) and friends work, and matches
// another *StatusError with the same Status (Command ignored when zero).
func (e *StatusError) Is(target error) bool {
	switch target {
	case ErrThrottled:
		return e.Status == StatusThrottled
	case ErrQueueFull:
		return e.Status == StatusMsgQFul
	case ErrTemporary:
		return e.Status.Temporary()
	}
	if t, ok := target.(*StatusError); ok {
		return t.Status == e.Status && (t.Command == 0 || t.Command == e.Command)
	}
	return false
}
