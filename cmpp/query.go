package cmpp

import "encoding/binary"

// Query_Type values of CMPP_QUERY.
const (
	QueryTotal     uint8 = 0 // totals for the SP
	QueryByService uint8 = 1 // one Service_Id, named by QueryCode
)

// Query is CMPP_QUERY: the SP asks for its message counters of one day.
// The 27-byte layout is the same in every version.
type Query struct {
	Time      string // 8, YYYYMMDD
	QueryType uint8
	QueryCode string // 10, the Service_Id when QueryType is 1
	Reserve   string // 8
}

func (*Query) Command() CommandID { return CmdQuery }

func (p *Query) AppendBody(b []byte, _ Version) []byte {
	b = appendFixed(b, p.Time, 8)
	b = append(b, p.QueryType)
	b = appendFixed(b, p.QueryCode, 10)
	return appendFixed(b, p.Reserve, 8)
}

func (p *Query) DecodeBody(body []byte, _ Version) error {
	r := newReader("QUERY", body)
	p.Time = r.fixed("Time", 8)
	p.QueryType = r.u8("Query_Type")
	p.QueryCode = r.fixed("Query_Code", 10)
	p.Reserve = r.fixed("Reserve", 8)
	return r.done()
}

// QueryResp is CMPP_QUERY_RESP (51 bytes in every version).
type QueryResp struct {
	Time      string // 8, YYYYMMDD
	QueryType uint8
	QueryCode string // 10
	MTTLMsg   uint32 // MT messages received from the SP
	MTTLUsr   uint32 // MT users
	MTScs     uint32 // MT forwarded successfully
	MTWT      uint32 // MT waiting
	MTFL      uint32 // MT failed
	MOScs     uint32 // MO delivered successfully
	MOWT      uint32 // MO waiting
	MOFL      uint32 // MO failed
}

func (*QueryResp) Command() CommandID { return CmdQueryResp }

func (p *QueryResp) AppendBody(b []byte, _ Version) []byte {
	b = appendFixed(b, p.Time, 8)
	b = append(b, p.QueryType)
	b = appendFixed(b, p.QueryCode, 10)
	for _, n := range [...]uint32{p.MTTLMsg, p.MTTLUsr, p.MTScs, p.MTWT, p.MTFL, p.MOScs, p.MOWT, p.MOFL} {
		b = binary.BigEndian.AppendUint32(b, n)
	}
	return b
}

func (p *QueryResp) DecodeBody(body []byte, _ Version) error {
	r := newReader("QUERY_RESP", body)
	p.Time = r.fixed("Time", 8)
	p.QueryType = r.u8("Query_Type")
	p.QueryCode = r.fixed("Query_Code", 10)
	p.MTTLMsg = r.u32("MT_TLMsg")
	p.MTTLUsr = r.u32("MT_Tlusr")
	p.MTScs = r.u32("MT_Scs")
	p.MTWT = r.u32("MT_WT")
	p.MTFL = r.u32("MT_FL")
	p.MOScs = r.u32("MO_Scs")
	p.MOWT = r.u32("MO_WT")
	p.MOFL = r.u32("MO_FL")
	return r.done()
}
