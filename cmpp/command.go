package cmpp

import "strconv"

// CommandID is the CMPP Command_Id of a PDU. A response id is its request id
// with the high bit set.
type CommandID uint32

// RespBit marks a response Command_Id.
const RespBit CommandID = 0x80000000

// Command ids, CMPP 3.0 spec §8.7.1 (protocols.md §1.3). 0x03 and 0x0A–0x0F
// are unused.
const (
	CmdConnect           CommandID = 0x00000001
	CmdTerminate         CommandID = 0x00000002
	CmdSubmit            CommandID = 0x00000004
	CmdDeliver           CommandID = 0x00000005
	CmdQuery             CommandID = 0x00000006
	CmdCancel            CommandID = 0x00000007
	CmdActiveTest        CommandID = 0x00000008
	CmdFwd               CommandID = 0x00000009
	CmdMTRoute           CommandID = 0x00000010
	CmdMORoute           CommandID = 0x00000011
	CmdGetMTRoute        CommandID = 0x00000012 // GET_ROUTE in 2.0-era code
	CmdMTRouteUpdate     CommandID = 0x00000013
	CmdMORouteUpdate     CommandID = 0x00000014
	CmdPushMTRouteUpdate CommandID = 0x00000015
	CmdPushMORouteUpdate CommandID = 0x00000016
	CmdGetMORoute        CommandID = 0x00000017 // 3.0 only

	CmdConnectResp           = CmdConnect | RespBit
	CmdTerminateResp         = CmdTerminate | RespBit
	CmdSubmitResp            = CmdSubmit | RespBit
	CmdDeliverResp           = CmdDeliver | RespBit
	CmdQueryResp             = CmdQuery | RespBit
	CmdCancelResp            = CmdCancel | RespBit
	CmdActiveTestResp        = CmdActiveTest | RespBit
	CmdFwdResp               = CmdFwd | RespBit
	CmdMTRouteResp           = CmdMTRoute | RespBit
	CmdMORouteResp           = CmdMORoute | RespBit
	CmdGetMTRouteResp        = CmdGetMTRoute | RespBit
	CmdMTRouteUpdateResp     = CmdMTRouteUpdate | RespBit
	CmdMORouteUpdateResp     = CmdMORouteUpdate | RespBit
	CmdPushMTRouteUpdateResp = CmdPushMTRouteUpdate | RespBit
	CmdPushMORouteUpdateResp = CmdPushMORouteUpdate | RespBit
	CmdGetMORouteResp        = CmdGetMORoute | RespBit
)

// IsResponse reports whether c is a response Command_Id.
func (c CommandID) IsResponse() bool { return c&RespBit != 0 }

// Request returns the request id of a response id (and c itself for a request).
func (c CommandID) Request() CommandID { return c &^ RespBit }

// Response returns the response id of a request id.
func (c CommandID) Response() CommandID { return c | RespBit }

var commandNames = map[CommandID]string{
	CmdConnect:           "CONNECT",
	CmdTerminate:         "TERMINATE",
	CmdSubmit:            "SUBMIT",
	CmdDeliver:           "DELIVER",
	CmdQuery:             "QUERY",
	CmdCancel:            "CANCEL",
	CmdActiveTest:        "ACTIVE_TEST",
	CmdFwd:               "FWD",
	CmdMTRoute:           "MT_ROUTE",
	CmdMORoute:           "MO_ROUTE",
	CmdGetMTRoute:        "GET_MT_ROUTE",
	CmdMTRouteUpdate:     "MT_ROUTE_UPDATE",
	CmdMORouteUpdate:     "MO_ROUTE_UPDATE",
	CmdPushMTRouteUpdate: "PUSH_MT_ROUTE_UPDATE",
	CmdPushMORouteUpdate: "PUSH_MO_ROUTE_UPDATE",
	CmdGetMORoute:        "GET_MO_ROUTE",
}

// String returns the spec name without the CMPP_ prefix, e.g. "SUBMIT_RESP".
func (c CommandID) String() string {
	name, ok := commandNames[c.Request()]
	if !ok {
		return "CommandID(0x" + strconv.FormatUint(uint64(c), 16) + ")"
	}
	if c.IsResponse() {
		return name + "_RESP"
	}
	return name
}

// Known reports whether c is a Command_Id this package can decode.
func (c CommandID) Known() bool {
	_, ok := commandNames[c.Request()]
	return ok
}
