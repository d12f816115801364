package smpp

import (
	"encoding/binary"
	"strconv"
)

// TLV is one optional parameter (§2.5). Value aliases the decoded body.
type TLV struct {
	Tag   uint16
	Value []byte
}

// TLVs is the ordered list of optional parameters of a PDU. Order and
// unknown tags are kept, so a decoded PDU re-encodes byte for byte.
type TLVs []TLV

// Well-known TLV tags (SMPP 3.4 §5.3.2).
const (
	TagDestAddrSubunit          uint16 = 0x0005
	TagDestNetworkType          uint16 = 0x0006
	TagDestBearerType           uint16 = 0x0007
	TagDestTelematicsID         uint16 = 0x0008
	TagSourceAddrSubunit        uint16 = 0x000D
	TagSourceNetworkType        uint16 = 0x000E
	TagSourceBearerType         uint16 = 0x000F
	TagSourceTelematicsID       uint16 = 0x0010
	TagQOSTimeToLive            uint16 = 0x0017
	TagPayloadType              uint16 = 0x0019
	TagAdditionalStatusInfoText uint16 = 0x001D
	TagReceiptedMessageID       uint16 = 0x001E
	TagMSMsgWaitFacilities      uint16 = 0x0030
	TagPrivacyIndicator         uint16 = 0x0201
	TagSourceSubaddress         uint16 = 0x0202
	TagDestSubaddress           uint16 = 0x0203
	TagUserMessageReference     uint16 = 0x0204
	TagUserResponseCode         uint16 = 0x0205
	TagSourcePort               uint16 = 0x020A
	TagDestinationPort          uint16 = 0x020B
	TagSARMsgRefNum             uint16 = 0x020C
	TagLanguageIndicator        uint16 = 0x020D
	TagSARTotalSegments         uint16 = 0x020E
	TagSARSegmentSeqnum         uint16 = 0x020F
	TagSCInterfaceVersion       uint16 = 0x0210
	TagCallbackNumPresInd       uint16 = 0x0302
	TagCallbackNumAtag          uint16 = 0x0303
	TagNumberOfMessages         uint16 = 0x0304
	TagCallbackNum              uint16 = 0x0381
	TagDPFResult                uint16 = 0x0420
	TagSetDPF                   uint16 = 0x0421
	TagMSAvailabilityStatus     uint16 = 0x0422
	TagNetworkErrorCode         uint16 = 0x0423
	TagMessagePayload           uint16 = 0x0424
	TagDeliveryFailureReason    uint16 = 0x0425
	TagMoreMessagesToSend       uint16 = 0x0426
	TagMessageState             uint16 = 0x0427
	TagUSSDServiceOp            uint16 = 0x0501
	TagDisplayTime              uint16 = 0x1201
	TagSMSSignal                uint16 = 0x1203
	TagMSValidity               uint16 = 0x1204
	TagAlertOnMessageDelivery   uint16 = 0x130C
	TagITSReplyType             uint16 = 0x1380
	TagITSSessionInfo           uint16 = 0x1383
)

// TagName returns the spec name of a TLV tag, or "tlv_0x…".
func TagName(tag uint16) string {
	switch tag {
	case TagDestAddrSubunit:
		return "dest_addr_subunit"
	case TagDestNetworkType:
		return "dest_network_type"
	case TagDestBearerType:
		return "dest_bearer_type"
	case TagDestTelematicsID:
		return "dest_telematics_id"
	case TagSourceAddrSubunit:
		return "source_addr_subunit"
	case TagSourceNetworkType:
		return "source_network_type"
	case TagSourceBearerType:
		return "source_bearer_type"
	case TagSourceTelematicsID:
		return "source_telematics_id"
	case TagQOSTimeToLive:
		return "qos_time_to_live"
	case TagPayloadType:
		return "payload_type"
	case TagAdditionalStatusInfoText:
		return "additional_status_info_text"
	case TagReceiptedMessageID:
		return "receipted_message_id"
	case TagMSMsgWaitFacilities:
		return "ms_msg_wait_facilities"
	case TagPrivacyIndicator:
		return "privacy_indicator"
	case TagSourceSubaddress:
		return "source_subaddress"
	case TagDestSubaddress:
		return "dest_subaddress"
	case TagUserMessageReference:
		return "user_message_reference"
	case TagUserResponseCode:
		return "user_response_code"
	case TagSourcePort:
		return "source_port"
	case TagDestinationPort:
		return "destination_port"
	case TagSARMsgRefNum:
		return "sar_msg_ref_num"
	case TagLanguageIndicator:
		return "language_indicator"
	case TagSARTotalSegments:
		return "sar_total_segments"
	case TagSARSegmentSeqnum:
		return "sar_segment_seqnum"
	case TagSCInterfaceVersion:
		return "sc_interface_version"
	case TagCallbackNumPresInd:
		return "callback_num_pres_ind"
	case TagCallbackNumAtag:
		return "callback_num_atag"
	case TagNumberOfMessages:
		return "number_of_messages"
	case TagCallbackNum:
		return "callback_num"
	case TagDPFResult:
		return "dpf_result"
	case TagSetDPF:
		return "set_dpf"
	case TagMSAvailabilityStatus:
		return "ms_availability_status"
	case TagNetworkErrorCode:
		return "network_error_code"
	case TagMessagePayload:
		return "message_payload"
	case TagDeliveryFailureReason:
		return "delivery_failure_reason"
	case TagMoreMessagesToSend:
		return "more_messages_to_send"
	case TagMessageState:
		return "message_state"
	case TagUSSDServiceOp:
		return "ussd_service_op"
	case TagDisplayTime:
		return "display_time"
	case TagSMSSignal:
		return "sms_signal"
	case TagMSValidity:
		return "ms_validity"
	case TagAlertOnMessageDelivery:
		return "alert_on_message_delivery"
	case TagITSReplyType:
		return "its_reply_type"
	case TagITSSessionInfo:
		return "its_session_info"
	}
	return "tlv_0x" + strconv.FormatUint(uint64(tag), 16)
}

// Append appends the TLVs in order.
func (t TLVs) Append(b []byte) []byte {
	for _, x := range t {
		b = binary.BigEndian.AppendUint16(b, x.Tag)
		b = binary.BigEndian.AppendUint16(b, uint16(len(x.Value)))
		b = append(b, x.Value...)
	}
	return b
}

// Get returns the value of the first TLV with tag.
func (t TLVs) Get(tag uint16) ([]byte, bool) {
	for _, x := range t {
		if x.Tag == tag {
			return x.Value, true
		}
	}
	return nil, false
}

// Has reports whether a TLV with tag is present.
func (t TLVs) Has(tag uint16) bool {
	_, ok := t.Get(tag)
	return ok
}

// Set replaces the value of the first TLV with tag, or appends one.
// The slice is modified in place, so do not Set on TLVs that alias a
// buffer someone else still reads.
func (t *TLVs) Set(tag uint16, v []byte) {
	for i := range *t {
		if (*t)[i].Tag == tag {
			(*t)[i].Value = v
			return
		}
	}
	*t = append(*t, TLV{Tag: tag, Value: v})
}

// Del removes every TLV with tag, keeping the order of the others.
func (t *TLVs) Del(tag uint16) {
	out := (*t)[:0]
	for _, x := range *t {
		if x.Tag != tag {
			out = append(out, x)
		}
	}
	clear((*t)[len(out):])
	*t = out
}

// Uint8 returns a 1-octet TLV value.
func (t TLVs) Uint8(tag uint16) (uint8, bool) {
	v, ok := t.Get(tag)
	if !ok || len(v) != 1 {
		return 0, false
	}
	return v[0], true
}

// Uint16 returns a 2-octet TLV value.
func (t TLVs) Uint16(tag uint16) (uint16, bool) {
	v, ok := t.Get(tag)
	if !ok || len(v) != 2 {
		return 0, false
	}
	return binary.BigEndian.Uint16(v), true
}

// CString returns a C-octet string TLV value without its NUL. A value
// missing the NUL (a common deviation) is returned whole.
func (t TLVs) CString(tag uint16) (string, bool) {
	v, ok := t.Get(tag)
	if !ok {
		return "", false
	}
	for i, c := range v {
		if c == 0 {
			return string(v[:i]), true
		}
	}
	return string(v), true
}

// SetUint8 sets a 1-octet TLV.
func (t *TLVs) SetUint8(tag uint16, v uint8) { t.Set(tag, []byte{v}) }

// SetUint16 sets a 2-octet TLV.
func (t *TLVs) SetUint16(tag uint16, v uint16) {
	t.Set(tag, binary.BigEndian.AppendUint16(nil, v))
}

// SetCString sets a C-octet string TLV; the NUL is counted in its length.
func (t *TLVs) SetCString(tag uint16, s string) {
	b := make([]byte, len(s)+1)
	copy(b, s)
	t.Set(tag, b)
}

// ReceiptedMessageID returns the receipted_message_id TLV (0x001E).
func (t TLVs) ReceiptedMessageID() (string, bool) { return t.CString(TagReceiptedMessageID) }

// SetReceiptedMessageID sets receipted_message_id.
func (t *TLVs) SetReceiptedMessageID(id string) { t.SetCString(TagReceiptedMessageID, id) }

// MessageState returns the message_state TLV (0x0427).
func (t TLVs) MessageState() (MessageState, bool) {
	v, ok := t.Uint8(TagMessageState)
	return MessageState(v), ok
}

// SetMessageState sets message_state.
func (t *TLVs) SetMessageState(s MessageState) { t.SetUint8(TagMessageState, uint8(s)) }

// MessagePayload returns the message_payload TLV (0x0424).
func (t TLVs) MessagePayload() ([]byte, bool) { return t.Get(TagMessagePayload) }

// SetMessagePayload sets message_payload; sm_length must then be 0.
func (t *TLVs) SetMessagePayload(p []byte) { t.Set(TagMessagePayload, p) }

// SCInterfaceVersion returns the sc_interface_version TLV (0x0210).
func (t TLVs) SCInterfaceVersion() (uint8, bool) { return t.Uint8(TagSCInterfaceVersion) }

// SetSCInterfaceVersion sets sc_interface_version.
func (t *TLVs) SetSCInterfaceVersion(v uint8) { t.SetUint8(TagSCInterfaceVersion, v) }

// UserMessageReference returns the user_message_reference TLV (0x0204).
func (t TLVs) UserMessageReference() (uint16, bool) { return t.Uint16(TagUserMessageReference) }

// SetUserMessageReference sets user_message_reference.
func (t *TLVs) SetUserMessageReference(v uint16) { t.SetUint16(TagUserMessageReference, v) }

// SAR is the segmentation triple carried in the sar_* TLVs.
type SAR struct {
	Ref   uint16 // sar_msg_ref_num
	Total uint8  // sar_total_segments
	Seq   uint8  // sar_segment_seqnum, 1-based
}

// SAR returns the three sar_* TLVs; ok only if all three are present and
// well formed.
func (t TLVs) SAR() (SAR, bool) {
	ref, ok1 := t.Uint16(TagSARMsgRefNum)
	tot, ok2 := t.Uint8(TagSARTotalSegments)
	seq, ok3 := t.Uint8(TagSARSegmentSeqnum)
	return SAR{Ref: ref, Total: tot, Seq: seq}, ok1 && ok2 && ok3
}

// SetSAR sets the three sar_* TLVs in spec order.
func (t *TLVs) SetSAR(s SAR) {
	t.SetUint16(TagSARMsgRefNum, s.Ref)
	t.SetUint8(TagSARTotalSegments, s.Total)
	t.SetUint8(TagSARSegmentSeqnum, s.Seq)
}

// NetworkErrorCode is the network_error_code TLV: network type (1 ANSI-136,
// 2 IS-95, 3 GSM) and a 2-octet error.
type NetworkErrorCode struct {
	Type uint8
	Code uint16
}

// NetworkErrorCode returns the network_error_code TLV (0x0423).
func (t TLVs) NetworkErrorCode() (NetworkErrorCode, bool) {
	v, ok := t.Get(TagNetworkErrorCode)
	if !ok || len(v) != 3 {
		return NetworkErrorCode{}, false
	}
	return NetworkErrorCode{Type: v[0], Code: binary.BigEndian.Uint16(v[1:])}, true
}

// SetNetworkErrorCode sets network_error_code.
func (t *TLVs) SetNetworkErrorCode(n NetworkErrorCode) {
	t.Set(TagNetworkErrorCode, binary.BigEndian.AppendUint16([]byte{n.Type}, n.Code))
}
