package ismg

// Log keys: the same thing is logged under the same key everywhere (and as
// in the cmpp and smpp packages), so one query finds a message's lines.
const (
	LogKeyMsgID  = "msg_id"  // CMPP Msg_Id (an item's id in every queue)
	LogKeySP     = "sp"      // SP_Id
	LogKeyLink   = "link"    // SMSC link name
	LogKeyQueue  = "queue"   // store queue name
	LogKeySMSCID = "smsc_id" // message id given by an SMSC
	LogKeyPeer   = "peer"    // remote address
	LogKeyErr    = "err"
)
