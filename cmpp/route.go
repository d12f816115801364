package cmpp

import "encoding/binary"

// The GNS route PDUs of protocols.md §1.12 (CMPP 3.0 §8.6). Their layouts
// are defined only by the 3.0 spec; 2.0 GNS layouts were never published,
// so these types ignore the version argument and always use the 3.0
// layout. Every result field is 1 byte, in 3.0 as well.

// GNS result codes (protocols.md §1.12, spec §8.7.3).
const (
	GNSOK                uint8 = 0
	GNSNoRoute           uint8 = 1
	GNSBadSourceID       uint8 = 2
	GNSBadRouteType      uint8 = 3
	GNSUpdateUnsupported uint8 = 4 // GNS sub-node
	GNSUpdateFailed      uint8 = 5
	GNSStaleTimestamp    uint8 = 6
	GNSBusy              uint8 = 9
	GNSBadUpdateType     uint8 = 10
	GNSBadRouteID        uint8 = 11
	GNSBadDestinationID  uint8 = 12
	GNSBadGatewayIP      uint8 = 13
	GNSBadGatewayPort    uint8 = 14
	GNSBadStartID        uint8 = 15
	GNSBadEndID          uint8 = 16
	GNSBadAreaCode       uint8 = 17
	GNSBadUserType       uint8 = 18
	GNSBadSPID           uint8 = 19
	GNSBadSPCode         uint8 = 20
	GNSBadSPAccessType   uint8 = 21
	GNSBadServiceID      uint8 = 22
	GNSBadStartCode      uint8 = 23
	GNSBadEndCode        uint8 = 24
	// GNSBadStructure is a vendor code (§8.7.3 leaves 100–199 to vendors):
	// the request's body did not decode. The spec's list has no message
	// structure error for the route PDUs.
	GNSBadStructure uint8 = 100
)

// Update_type values of the *_ROUTE_UPDATE PDUs.
const (
	RouteAdd    uint8 = 0
	RouteDelete uint8 = 1
	RouteUpdate uint8 = 2
)

// Route_type values of GET_MT_ROUTE / GET_MO_ROUTE.
const (
	RouteTypeMT = "MT"
	RouteTypeMO = "MO"
)

// gnsResult maps a result given to ErrorResponse onto the 1-byte GNS code
// space: the session speaks CMPP results, and CMPP's flow control (8) is
// GNS "system busy" (9), its message structure error (1, which would read
// as GNS "no matching route") GNSBadStructure. Other values pass through.
func gnsResult(result uint32) uint8 {
	switch result {
	case ResultFlowControl:
		return GNSBusy
	case ResultBadStructure:
		return GNSBadStructure
	}
	return uint8(min(result, 255))
}

// Destination_Id 6, Gateway_IP 15 (dotted quad text), Gateway_port 2.
func appendGateway(b []byte, dest, ip string, port uint16) []byte {
	b = appendFixed(b, dest, 6)
	b = appendFixed(b, ip, 15)
	return binary.BigEndian.AppendUint16(b, port)
}

func (r *reader) gateway() (dest, ip string, port uint16) {
	return r.fixed("Destination_Id", 6), r.fixed("Gateway_IP", 15), r.u16("Gateway_port")
}

// Start_Id 9, End_Id 9, Area_code 4: an MT number segment.
func appendSegment(b []byte, start, end, area string) []byte {
	b = appendFixed(b, start, 9)
	b = appendFixed(b, end, 9)
	return appendFixed(b, area, 4)
}

func (r *reader) segment() (start, end, area string) {
	return r.fixed("Start_Id", 9), r.fixed("End_Id", 9), r.fixed("Area_code", 4)
}

// SP_Id 6, SP_Code 21, SP_AcessType 1.
func appendSP(b []byte, spID, spCode string, access uint8) []byte {
	b = appendFixed(b, spID, 6)
	b = appendFixed(b, spCode, 21)
	return append(b, access)
}

func (r *reader) sp() (spID, spCode string, access uint8) {
	return r.fixed("SP_Id", 6), r.fixed("SP_Code", 21), r.u8("SP_AcessType")
}

// MTRoute is CMPP_MT_ROUTE (ISMG → GNS): which gateway serves TerminalID?
type MTRoute struct {
	SourceID   string // 6, asking ISMG
	TerminalID string // 21, destination MSISDN
}

func (*MTRoute) Command() CommandID { return CmdMTRoute }

func (p *MTRoute) AppendBody(b []byte, _ Version) []byte {
	b = appendFixed(b, p.SourceID, 6)
	return appendFixed(b, p.TerminalID, 21)
}

func (p *MTRoute) DecodeBody(body []byte, _ Version) error {
	r := newReader("MT_ROUTE", body)
	p.SourceID = r.fixed("Source_Id", 6)
	p.TerminalID = r.fixed("Terminal_Id", 21)
	return r.done()
}

func (p *MTRoute) ErrorResponse(result uint32) PDU {
	return &MTRouteResp{Result: gnsResult(result)}
}

// MTRouteResp is CMPP_MT_ROUTE_RESP (65 bytes).
type MTRouteResp struct {
	RouteID       uint32
	DestinationID string // 6, serving ISMG
	GatewayIP     string // 15, dotted quad
	GatewayPort   uint16
	StartID       string // 9
	EndID         string // 9
	AreaCode      string // 4
	Result        uint8
	UserType      uint8  // 0 GoTone, 1 Shenzhouxing, 2 M-Zone
	TimeStamp     string // 14, yyyymmddhhmmss
}

func (*MTRouteResp) Command() CommandID { return CmdMTRouteResp }

func (p *MTRouteResp) AppendBody(b []byte, _ Version) []byte {
	b = binary.BigEndian.AppendUint32(b, p.RouteID)
	b = appendGateway(b, p.DestinationID, p.GatewayIP, p.GatewayPort)
	b = appendSegment(b, p.StartID, p.EndID, p.AreaCode)
	b = append(b, p.Result, p.UserType)
	return appendFixed(b, p.TimeStamp, 14)
}

func (p *MTRouteResp) DecodeBody(body []byte, _ Version) error {
	r := newReader("MT_ROUTE_RESP", body)
	p.RouteID = r.u32("Route_Id")
	p.DestinationID, p.GatewayIP, p.GatewayPort = r.gateway()
	p.StartID, p.EndID, p.AreaCode = r.segment()
	p.Result = r.u8("Result")
	p.UserType = r.u8("User_type")
	p.TimeStamp = r.fixed("Time_stamp", 14)
	return r.done()
}

// MORoute is CMPP_MO_ROUTE (ISMG → GNS): which gateway serves SPCode?
type MORoute struct {
	SourceID    string // 6
	SPCode      string // 21
	ServiceID   string // 10
	ServiceCode uint32
}

func (*MORoute) Command() CommandID { return CmdMORoute }

func (p *MORoute) AppendBody(b []byte, _ Version) []byte {
	b = appendFixed(b, p.SourceID, 6)
	b = appendFixed(b, p.SPCode, 21)
	b = appendFixed(b, p.ServiceID, 10)
	return binary.BigEndian.AppendUint32(b, p.ServiceCode)
}

func (p *MORoute) DecodeBody(body []byte, _ Version) error {
	r := newReader("MO_ROUTE", body)
	p.SourceID = r.fixed("Source_Id", 6)
	p.SPCode = r.fixed("SP_Code", 21)
	p.ServiceID = r.fixed("Service_Id", 10)
	p.ServiceCode = r.u32("Service_Code")
	return r.done()
}

func (p *MORoute) ErrorResponse(result uint32) PDU {
	return &MORouteResp{Result: gnsResult(result)}
}

// MORouteResp is CMPP_MO_ROUTE_RESP (78 bytes).
type MORouteResp struct {
	RouteID       uint32
	DestinationID string // 6
	GatewayIP     string // 15
	GatewayPort   uint16
	SPID          string // 6
	SPCode        string // 21
	SPAccessType  uint8  // 0 primary, 1 mirror access point
	StartCode     uint32
	EndCode       uint32
	Result        uint8
	TimeStamp     string // 14
}

func (*MORouteResp) Command() CommandID { return CmdMORouteResp }

func (p *MORouteResp) AppendBody(b []byte, _ Version) []byte {
	b = binary.BigEndian.AppendUint32(b, p.RouteID)
	b = appendGateway(b, p.DestinationID, p.GatewayIP, p.GatewayPort)
	b = appendSP(b, p.SPID, p.SPCode, p.SPAccessType)
	b = binary.BigEndian.AppendUint32(b, p.StartCode)
	b = binary.BigEndian.AppendUint32(b, p.EndCode)
	b = append(b, p.Result)
	return appendFixed(b, p.TimeStamp, 14)
}

func (p *MORouteResp) DecodeBody(body []byte, _ Version) error {
	r := newReader("MO_ROUTE_RESP", body)
	p.RouteID = r.u32("Route_Id")
	p.DestinationID, p.GatewayIP, p.GatewayPort = r.gateway()
	p.SPID, p.SPCode, p.SPAccessType = r.sp()
	p.StartCode = r.u32("Start_code")
	p.EndCode = r.u32("End_code")
	p.Result = r.u8("Result")
	p.TimeStamp = r.fixed("Time_stamp", 14)
	return r.done()
}

// GetMTRoute is CMPP_GET_MT_ROUTE (GET_ROUTE in 2.0-era code): fetch the
// route table one route at a time.
type GetMTRoute struct {
	SourceID    string // 6
	RouteType   string // 4, RouteTypeMT
	LastRouteID int32  // last Route_Id received; -1 on the first request
}

func (*GetMTRoute) Command() CommandID { return CmdGetMTRoute }

func (p *GetMTRoute) AppendBody(b []byte, _ Version) []byte {
	return appendGetRoute(b, p.SourceID, p.RouteType, p.LastRouteID)
}

func (p *GetMTRoute) DecodeBody(body []byte, _ Version) error {
	r := newReader("GET_MT_ROUTE", body)
	p.SourceID, p.RouteType, p.LastRouteID = r.getRoute()
	return r.done()
}

func (p *GetMTRoute) ErrorResponse(result uint32) PDU {
	return &GetMTRouteResp{Result: gnsResult(result)}
}

func appendGetRoute(b []byte, source, routeType string, last int32) []byte {
	b = appendFixed(b, source, 6)
	b = appendFixed(b, routeType, 4)
	return binary.BigEndian.AppendUint32(b, uint32(last))
}

func (r *reader) getRoute() (source, routeType string, last int32) {
	return r.fixed("Source_Id", 6), r.fixed("Route_type", 4), int32(r.u32("Last_route_Id"))
}

// GetMTRouteResp is CMPP_GET_MT_ROUTE_RESP (73 bytes): one route of the
// table, RouteNumber of RouteTotal.
type GetMTRouteResp struct {
	RouteID       uint32
	DestinationID string // 6
	GatewayIP     string // 15
	GatewayPort   uint16
	StartID       string // 9
	EndID         string // 9
	AreaCode      string // 4
	Result        uint8
	UserType      uint8
	RouteTotal    uint32
	RouteNumber   uint32 // from 1
	TimeStamp     string // 14
}

func (*GetMTRouteResp) Command() CommandID { return CmdGetMTRouteResp }

func (p *GetMTRouteResp) AppendBody(b []byte, _ Version) []byte {
	b = binary.BigEndian.AppendUint32(b, p.RouteID)
	b = appendGateway(b, p.DestinationID, p.GatewayIP, p.GatewayPort)
	b = appendSegment(b, p.StartID, p.EndID, p.AreaCode)
	b = append(b, p.Result, p.UserType)
	b = binary.BigEndian.AppendUint32(b, p.RouteTotal)
	b = binary.BigEndian.AppendUint32(b, p.RouteNumber)
	return appendFixed(b, p.TimeStamp, 14)
}

func (p *GetMTRouteResp) DecodeBody(body []byte, _ Version) error {
	r := newReader("GET_MT_ROUTE_RESP", body)
	p.RouteID = r.u32("Route_Id")
	p.DestinationID, p.GatewayIP, p.GatewayPort = r.gateway()
	p.StartID, p.EndID, p.AreaCode = r.segment()
	p.Result = r.u8("Result")
	p.UserType = r.u8("User_type")
	p.RouteTotal = r.u32("Route_total")
	p.RouteNumber = r.u32("Route_number")
	p.TimeStamp = r.fixed("Time_stamp", 14)
	return r.done()
}

// GetMORoute is CMPP_GET_MO_ROUTE (3.0 only).
type GetMORoute struct {
	SourceID    string // 6
	RouteType   string // 4, RouteTypeMO
	LastRouteID int32  // -1 on the first request
}

func (*GetMORoute) Command() CommandID { return CmdGetMORoute }

func (p *GetMORoute) AppendBody(b []byte, _ Version) []byte {
	return appendGetRoute(b, p.SourceID, p.RouteType, p.LastRouteID)
}

func (p *GetMORoute) DecodeBody(body []byte, _ Version) error {
	r := newReader("GET_MO_ROUTE", body)
	p.SourceID, p.RouteType, p.LastRouteID = r.getRoute()
	return r.done()
}

func (p *GetMORoute) ErrorResponse(result uint32) PDU {
	return &GetMORouteResp{Result: gnsResult(result)}
}

// GetMORouteResp is CMPP_GET_MO_ROUTE_RESP (96 bytes).
type GetMORouteResp struct {
	RouteID       uint32
	DestinationID string // 6
	GatewayIP     string // 15
	GatewayPort   uint16
	SPID          string // 6
	SPCode        string // 21
	SPAccessType  uint8
	ServiceID     string // 10
	StartCode     uint32
	EndCode       uint32
	Result        uint8
	RouteTotal    uint32
	RouteNumber   uint32
	TimeStamp     string // 14
}

func (*GetMORouteResp) Command() CommandID { return CmdGetMORouteResp }

func (p *GetMORouteResp) AppendBody(b []byte, _ Version) []byte {
	b = binary.BigEndian.AppendUint32(b, p.RouteID)
	b = appendGateway(b, p.DestinationID, p.GatewayIP, p.GatewayPort)
	b = appendSP(b, p.SPID, p.SPCode, p.SPAccessType)
	b = appendFixed(b, p.ServiceID, 10)
	b = binary.BigEndian.AppendUint32(b, p.StartCode)
	b = binary.BigEndian.AppendUint32(b, p.EndCode)
	b = append(b, p.Result)
	b = binary.BigEndian.AppendUint32(b, p.RouteTotal)
	b = binary.BigEndian.AppendUint32(b, p.RouteNumber)
	return appendFixed(b, p.TimeStamp, 14)
}

func (p *GetMORouteResp) DecodeBody(body []byte, _ Version) error {
	r := newReader("GET_MO_ROUTE_RESP", body)
	p.RouteID = r.u32("Route_Id")
	p.DestinationID, p.GatewayIP, p.GatewayPort = r.gateway()
	p.SPID, p.SPCode, p.SPAccessType = r.sp()
	p.ServiceID = r.fixed("Service_Id", 10)
	p.StartCode = r.u32("Start_code")
	p.EndCode = r.u32("End_code")
	p.Result = r.u8("Result")
	p.RouteTotal = r.u32("Route_total")
	p.RouteNumber = r.u32("Route_number")
	p.TimeStamp = r.fixed("Time_stamp", 14)
	return r.done()
}

// MTRouteUpdate is CMPP_MT_ROUTE_UPDATE (ISMG → GNS, 51 bytes).
type MTRouteUpdate struct {
	UpdateType    uint8  // RouteAdd, RouteDelete, RouteUpdate
	RouteID       uint32 // 0 when adding
	DestinationID string // 6
	GatewayIP     string // 15
	GatewayPort   uint16
	StartID       string // 9
	EndID         string // 9
	AreaCode      string // 4
	UserType      uint8
}

func (*MTRouteUpdate) Command() CommandID { return CmdMTRouteUpdate }

func (p *MTRouteUpdate) AppendBody(b []byte, _ Version) []byte {
	b = append(b, p.UpdateType)
	b = binary.BigEndian.AppendUint32(b, p.RouteID)
	b = appendGateway(b, p.DestinationID, p.GatewayIP, p.GatewayPort)
	b = appendSegment(b, p.StartID, p.EndID, p.AreaCode)
	return append(b, p.UserType)
}

func (p *MTRouteUpdate) DecodeBody(body []byte, _ Version) error {
	r := newReader("MT_ROUTE_UPDATE", body)
	p.decode(&r)
	return r.done()
}

func (p *MTRouteUpdate) decode(r *reader) {
	p.UpdateType = r.u8("Update_type")
	p.RouteID = r.u32("Route_Id")
	p.DestinationID, p.GatewayIP, p.GatewayPort = r.gateway()
	p.StartID, p.EndID, p.AreaCode = r.segment()
	p.UserType = r.u8("User_type")
}

func (p *MTRouteUpdate) ErrorResponse(result uint32) PDU {
	return &MTRouteUpdateResp{Result: gnsResult(result), RouteID: p.RouteID}
}

// MTRouteUpdateResp is CMPP_MT_ROUTE_UPDATE_RESP (19 bytes).
type MTRouteUpdateResp struct {
	Result    uint8
	RouteID   uint32 // the new id on add, else the request's
	TimeStamp string // 14, when the request was received
}

func (*MTRouteUpdateResp) Command() CommandID { return CmdMTRouteUpdateResp }

func (p *MTRouteUpdateResp) AppendBody(b []byte, _ Version) []byte {
	return appendUpdateResp(b, p.Result, p.RouteID, p.TimeStamp)
}

func (p *MTRouteUpdateResp) DecodeBody(body []byte, _ Version) error {
	r := newReader("MT_ROUTE_UPDATE_RESP", body)
	p.Result, p.RouteID, p.TimeStamp = r.updateResp()
	return r.done()
}

func appendUpdateResp(b []byte, result uint8, routeID uint32, ts string) []byte {
	b = append(b, result)
	b = binary.BigEndian.AppendUint32(b, routeID)
	return appendFixed(b, ts, 14)
}

func (r *reader) updateResp() (result uint8, routeID uint32, ts string) {
	return r.u8("Result"), r.u32("Route_Id"), r.fixed("Time_stamp", 14)
}

// MORouteUpdate is CMPP_MO_ROUTE_UPDATE (ISMG → GNS, 74 bytes).
type MORouteUpdate struct {
	UpdateType    uint8
	RouteID       uint32
	DestinationID string // 6
	GatewayIP     string // 15
	GatewayPort   uint16
	SPID          string // 6
	SPCode        string // 21
	SPAccessType  uint8
	ServiceID     string // 10
	StartCode     uint32
	EndCode       uint32
}

func (*MORouteUpdate) Command() CommandID { return CmdMORouteUpdate }

func (p *MORouteUpdate) AppendBody(b []byte, _ Version) []byte {
	b = append(b, p.UpdateType)
	b = binary.BigEndian.AppendUint32(b, p.RouteID)
	b = appendGateway(b, p.DestinationID, p.GatewayIP, p.GatewayPort)
	b = appendSP(b, p.SPID, p.SPCode, p.SPAccessType)
	b = appendFixed(b, p.ServiceID, 10)
	b = binary.BigEndian.AppendUint32(b, p.StartCode)
	return binary.BigEndian.AppendUint32(b, p.EndCode)
}

func (p *MORouteUpdate) DecodeBody(body []byte, _ Version) error {
	r := newReader("MO_ROUTE_UPDATE", body)
	p.decode(&r)
	return r.done()
}

func (p *MORouteUpdate) decode(r *reader) {
	p.UpdateType = r.u8("Update_type")
	p.RouteID = r.u32("Route_Id")
	p.DestinationID, p.GatewayIP, p.GatewayPort = r.gateway()
	p.SPID, p.SPCode, p.SPAccessType = r.sp()
	p.ServiceID = r.fixed("Service_Id", 10)
	p.StartCode = r.u32("Start_code")
	p.EndCode = r.u32("End_code")
}

func (p *MORouteUpdate) ErrorResponse(result uint32) PDU {
	return &MORouteUpdateResp{Result: gnsResult(result), RouteID: p.RouteID}
}

// MORouteUpdateResp is CMPP_MO_ROUTE_UPDATE_RESP (19 bytes).
type MORouteUpdateResp struct {
	Result    uint8
	RouteID   uint32
	TimeStamp string // 14
}

func (*MORouteUpdateResp) Command() CommandID { return CmdMORouteUpdateResp }

func (p *MORouteUpdateResp) AppendBody(b []byte, _ Version) []byte {
	return appendUpdateResp(b, p.Result, p.RouteID, p.TimeStamp)
}

func (p *MORouteUpdateResp) DecodeBody(body []byte, _ Version) error {
	r := newReader("MO_ROUTE_UPDATE_RESP", body)
	p.Result, p.RouteID, p.TimeStamp = r.updateResp()
	return r.done()
}

// PushMTRouteUpdate is CMPP_PUSH_MT_ROUTE_UPDATE (GNS → ISMG, 65 bytes): an
// MT_ROUTE_UPDATE plus the GNS time stamp of the change.
type PushMTRouteUpdate struct {
	MTRouteUpdate
	TimeStamp string // 14
}

func (*PushMTRouteUpdate) Command() CommandID { return CmdPushMTRouteUpdate }

func (p *PushMTRouteUpdate) AppendBody(b []byte, v Version) []byte {
	b = p.MTRouteUpdate.AppendBody(b, v)
	return appendFixed(b, p.TimeStamp, 14)
}

func (p *PushMTRouteUpdate) DecodeBody(body []byte, _ Version) error {
	r := newReader("PUSH_MT_ROUTE_UPDATE", body)
	p.MTRouteUpdate.decode(&r)
	p.TimeStamp = r.fixed("Time_stamp", 14)
	return r.done()
}

func (p *PushMTRouteUpdate) ErrorResponse(result uint32) PDU {
	return &PushMTRouteUpdateResp{Result: gnsResult(result)}
}

// PushMTRouteUpdateResp is CMPP_PUSH_MT_ROUTE_UPDATE_RESP (1 byte).
type PushMTRouteUpdateResp struct {
	Result uint8 // GNSOK, GNSUpdateFailed, GNSStaleTimestamp, GNSBusy
}

func (*PushMTRouteUpdateResp) Command() CommandID { return CmdPushMTRouteUpdateResp }

func (p *PushMTRouteUpdateResp) AppendBody(b []byte, _ Version) []byte {
	return append(b, p.Result)
}

func (p *PushMTRouteUpdateResp) DecodeBody(body []byte, _ Version) error {
	r := newReader("PUSH_MT_ROUTE_UPDATE_RESP", body)
	p.Result = r.u8("Result")
	return r.done()
}

// PushMORouteUpdate is CMPP_PUSH_MO_ROUTE_UPDATE (GNS → ISMG, 88 bytes).
type PushMORouteUpdate struct {
	MORouteUpdate
	TimeStamp string // 14
}

func (*PushMORouteUpdate) Command() CommandID { return CmdPushMORouteUpdate }

func (p *PushMORouteUpdate) AppendBody(b []byte, v Version) []byte {
	b = p.MORouteUpdate.AppendBody(b, v)
	return appendFixed(b, p.TimeStamp, 14)
}

func (p *PushMORouteUpdate) DecodeBody(body []byte, _ Version) error {
	r := newReader("PUSH_MO_ROUTE_UPDATE", body)
	p.MORouteUpdate.decode(&r)
	p.TimeStamp = r.fixed("Time_stamp", 14)
	return r.done()
}

func (p *PushMORouteUpdate) ErrorResponse(result uint32) PDU {
	return &PushMORouteUpdateResp{Result: gnsResult(result)}
}

// PushMORouteUpdateResp is CMPP_PUSH_MO_ROUTE_UPDATE_RESP (1 byte).
type PushMORouteUpdateResp struct {
	Result uint8
}

func (*PushMORouteUpdateResp) Command() CommandID { return CmdPushMORouteUpdateResp }

func (p *PushMORouteUpdateResp) AppendBody(b []byte, _ Version) []byte {
	return append(b, p.Result)
}

func (p *PushMORouteUpdateResp) DecodeBody(body []byte, _ Version) error {
	r := newReader("PUSH_MO_ROUTE_UPDATE_RESP", body)
	p.Result = r.u8("Result")
	return r.done()
}
