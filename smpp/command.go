package smpp

import "strconv"

// CommandID is the SMPP command_id (§2.2). A response has the request's id
// with bit 31 set.
type CommandID uint32

// Command ids of SMPP 3.4.
const (
	CmdGenericNack         CommandID = 0x80000000
	CmdBindReceiver        CommandID = 0x00000001
	CmdBindReceiverResp    CommandID = 0x80000001
	CmdBindTransmitter     CommandID = 0x00000002
	CmdBindTransmitterResp CommandID = 0x80000002
	CmdQuerySM             CommandID = 0x00000003
	CmdQuerySMResp         CommandID = 0x80000003
	CmdSubmitSM            CommandID = 0x00000004
	CmdSubmitSMResp        CommandID = 0x80000004
	CmdDeliverSM           CommandID = 0x00000005
	CmdDeliverSMResp       CommandID = 0x80000005
	CmdUnbind              CommandID = 0x00000006
	CmdUnbindResp          CommandID = 0x80000006
	CmdReplaceSM           CommandID = 0x00000007
	CmdReplaceSMResp       CommandID = 0x80000007
	CmdCancelSM            CommandID = 0x00000008
	CmdCancelSMResp        CommandID = 0x80000008
	CmdBindTransceiver     CommandID = 0x00000009
	CmdBindTransceiverResp CommandID = 0x80000009
	CmdOutbind             CommandID = 0x0000000B
	CmdEnquireLink         CommandID = 0x00000015
	CmdEnquireLinkResp     CommandID = 0x80000015
	CmdSubmitMulti         CommandID = 0x00000021
	CmdSubmitMultiResp     CommandID = 0x80000021
	CmdAlertNotification   CommandID = 0x00000102
	CmdDataSM              CommandID = 0x00000103
	CmdDataSMResp          CommandID = 0x80000103
)

const respBit = 0x80000000

// IsResponse reports whether id is a response (generic_nack included).
func (id CommandID) IsResponse() bool { return id&respBit != 0 }

// Response returns the id of the response to request id.
func (id CommandID) Response() CommandID { return id | respBit }

// Request returns the id of the request that response id answers.
func (id CommandID) Request() CommandID { return id &^ respBit }

// HasResponse reports whether request id is answered at all; outbind and
// alert_notification are not.
func (id CommandID) HasResponse() bool {
	return !id.IsResponse() && id != CmdOutbind && id != CmdAlertNotification
}

// Known reports whether id is a command of SMPP 3.4.
func (id CommandID) Known() bool { return commandName(id) != "" }

// commandName is a switch rather than a map so the package holds no mutable state.
func commandName(id CommandID) string {
	switch id {
	case CmdGenericNack:
		return "generic_nack"
	case CmdBindReceiver:
		return "bind_receiver"
	case CmdBindReceiverResp:
		return "bind_receiver_resp"
	case CmdBindTransmitter:
		return "bind_transmitter"
	case CmdBindTransmitterResp:
		return "bind_transmitter_resp"
	case CmdQuerySM:
		return "query_sm"
	case CmdQuerySMResp:
		return "query_sm_resp"
	case CmdSubmitSM:
		return "submit_sm"
	case CmdSubmitSMResp:
		return "submit_sm_resp"
	case CmdDeliverSM:
		return "deliver_sm"
	case CmdDeliverSMResp:
		return "deliver_sm_resp"
	case CmdUnbind:
		return "unbind"
	case CmdUnbindResp:
		return "unbind_resp"
	case CmdReplaceSM:
		return "replace_sm"
	case CmdReplaceSMResp:
		return "replace_sm_resp"
	case CmdCancelSM:
		return "cancel_sm"
	case CmdCancelSMResp:
		return "cancel_sm_resp"
	case CmdBindTransceiver:
		return "bind_transceiver"
	case CmdBindTransceiverResp:
		return "bind_transceiver_resp"
	case CmdOutbind:
		return "outbind"
	case CmdEnquireLink:
		return "enquire_link"
	case CmdEnquireLinkResp:
		return "enquire_link_resp"
	case CmdSubmitMulti:
		return "submit_multi"
	case CmdSubmitMultiResp:
		return "submit_multi_resp"
	case CmdAlertNotification:
		return "alert_notification"
	case CmdDataSM:
		return "data_sm"
	case CmdDataSMResp:
		return "data_sm_resp"
	}
	return ""
}

// String returns the spec name (e.g. "submit_sm") or the hex id.
func (id CommandID) String() string {
	if s := commandName(id); s != "" {
		return s
	}
	return "command_0x" + strconv.FormatUint(uint64(id), 16)
}
