package gnspb

import (
	"fmt"

	"github.com/tandem-sms/tandem/routing"
)

// Conversions between the wire types and routing's values, shared by the
// GNS node, gnsctl and the ISMG route cache. Route ids flow only outwards:
// the table assigns them, and ToRouting drops them because a table ignores
// them on input.

func NewGateway(g routing.Gateway) *Gateway {
	return &Gateway{Code: g.Code, Name: g.Name, Region: g.Region, FwdAddr: g.FwdAddr, AreaCode: g.Province}
}

func (g *Gateway) ToRouting() routing.Gateway {
	return routing.Gateway{Code: g.GetCode(), Name: g.GetName(), Region: g.GetRegion(), FwdAddr: g.GetFwdAddr(), Province: g.GetAreaCode()}
}

func NewSegment(s routing.Segment) *Segment {
	return &Segment{Prefix: s.Prefix, Gateway: s.Gateway, SmscLink: s.SMSC, AreaCode: s.AreaCode, UserType: uint32(s.UserType), RouteId: s.RouteID}
}

func (s *Segment) ToRouting() (routing.Segment, error) {
	if s.GetUserType() > 255 {
		return routing.Segment{}, fmt.Errorf("%w: segment %s: user_type %d does not fit a byte", routing.ErrBadValue, s.GetPrefix(), s.GetUserType())
	}
	return routing.Segment{Prefix: s.GetPrefix(), Gateway: s.GetGateway(), SMSC: s.GetSmscLink(), AreaCode: s.GetAreaCode(), UserType: uint8(s.GetUserType())}, nil
}

func NewPorted(p routing.Ported) *Ported {
	return &Ported{Msisdn: p.MSISDN, Gateway: p.Gateway}
}

func (p *Ported) ToRouting() routing.Ported {
	return routing.Ported{MSISDN: p.GetMsisdn(), Gateway: p.GetGateway()}
}

func NewSP(s routing.SP) *SP {
	out := &SP{
		SpId:           s.ID,
		Name:           s.Name,
		PrimaryGateway: s.Gateway,
		MirrorGateways: s.Mirrors,
		DefaultGateway: s.DefaultGateway,
	}
	for _, c := range s.ServiceCodes {
		out.ServiceCodes = append(out.ServiceCodes, &ServiceCode{Code: c.Code, RouteId: c.RouteID})
	}
	for _, p := range s.Partitions {
		out.Partitions = append(out.Partitions, &Partition{Name: p.Name, Regions: p.Regions, Gateway: p.Gateway})
	}
	if a := s.Account; a != nil {
		out.Account = &SPAccount{Secret: a.Secret, AllowedIps: a.AllowedIPs, MaxConnections: uint32(a.MaxConnections),
			Window: uint32(a.Window), SubmitRate: a.SubmitRate, Burst: uint32(a.Burst)}
	}
	return out
}

func (s *SP) ToRouting() routing.SP {
	out := routing.SP{
		ID:             s.GetSpId(),
		Name:           s.GetName(),
		Gateway:        s.GetPrimaryGateway(),
		Mirrors:        s.GetMirrorGateways(),
		DefaultGateway: s.GetDefaultGateway(),
	}
	for _, c := range s.GetServiceCodes() {
		out.ServiceCodes = append(out.ServiceCodes, routing.ServiceCode{Code: c.GetCode()})
	}
	for _, p := range s.GetPartitions() {
		out.Partitions = append(out.Partitions, routing.Partition{Name: p.GetName(), Regions: p.GetRegions(), Gateway: p.GetGateway()})
	}
	if a := s.GetAccount(); a != nil {
		out.Account = &routing.SPAccount{Secret: a.GetSecret(), AllowedIPs: a.GetAllowedIps(), MaxConnections: int(a.GetMaxConnections()),
			Window: int(a.GetWindow()), SubmitRate: a.GetSubmitRate(), Burst: int(a.GetBurst())}
	}
	return out
}

// changesFromPB converts a write batch, naming the first bad change.
func ChangesToRouting(in []*Change) ([]routing.Change, error) {
	if len(in) == 0 {
		return nil, fmt.Errorf("%w: empty batch", routing.ErrBadChange)
	}
	out := make([]routing.Change, 0, len(in))
	for i, c := range in {
		var rc routing.Change
		switch op := c.GetOp().(type) {
		case *Change_PutGateway:
			rc = routing.Change{Op: routing.OpPutGateway, Gateway: op.PutGateway.ToRouting()}
		case *Change_DeleteGateway:
			rc = routing.Change{Op: routing.OpDeleteGateway, Key: op.DeleteGateway}
		case *Change_PutSegment:
			s, err := op.PutSegment.ToRouting()
			if err != nil {
				return nil, fmt.Errorf("changes[%d]: %w", i, err)
			}
			rc = routing.Change{Op: routing.OpPutSegment, Segment: s}
		case *Change_DeleteSegment:
			rc = routing.Change{Op: routing.OpDeleteSegment, Key: op.DeleteSegment}
		case *Change_PutPorted:
			rc = routing.Change{Op: routing.OpPutPorted, Ported: op.PutPorted.ToRouting()}
		case *Change_DeletePorted:
			rc = routing.Change{Op: routing.OpDeletePorted, Key: op.DeletePorted}
		case *Change_PutSp:
			rc = routing.Change{Op: routing.OpPutSP, SP: op.PutSp.ToRouting()}
		case *Change_DeleteSp:
			rc = routing.Change{Op: routing.OpDeleteSP, Key: op.DeleteSp}
		default:
			return nil, fmt.Errorf("changes[%d]: %w: no operation set", i, routing.ErrBadChange)
		}
		out = append(out, rc)
	}
	return out, nil
}

// changesToPB converts a committed batch for watchers and forwarding. With
// t (the table after the batch) put changes carry the route ids t assigned.
func NewChanges(in []routing.Change, t *routing.Table) []*Change {
	out := make([]*Change, 0, len(in))
	for _, c := range in {
		var pc *Change
		switch c.Op {
		case routing.OpPutGateway:
			pc = &Change{Op: &Change_PutGateway{PutGateway: NewGateway(c.Gateway)}}
		case routing.OpDeleteGateway:
			pc = &Change{Op: &Change_DeleteGateway{DeleteGateway: c.Key}}
		case routing.OpPutSegment:
			s := c.Segment
			if t != nil {
				if cur, ok := t.Segment(s.Prefix); ok {
					s = cur
				}
			}
			pc = &Change{Op: &Change_PutSegment{PutSegment: NewSegment(s)}}
		case routing.OpDeleteSegment:
			pc = &Change{Op: &Change_DeleteSegment{DeleteSegment: c.Key}}
		case routing.OpPutPorted:
			pc = &Change{Op: &Change_PutPorted{PutPorted: NewPorted(c.Ported)}}
		case routing.OpDeletePorted:
			pc = &Change{Op: &Change_DeletePorted{DeletePorted: c.Key}}
		case routing.OpPutSP:
			s := c.SP
			if t != nil {
				if cur, ok := t.SP(s.ID); ok {
					s = cur
				}
			}
			pc = &Change{Op: &Change_PutSp{PutSp: NewSP(s)}}
		case routing.OpDeleteSP:
			pc = &Change{Op: &Change_DeleteSp{DeleteSp: c.Key}}
		default:
			continue // OpReplace never reaches a delta: a replace is a snapshot
		}
		out = append(out, pc)
	}
	return out
}

// chunkFromPB appends a table chunk's values to c.
func (ch *TableChunk) AppendTo(c *routing.Contents) error {
	for _, g := range ch.GetGateways() {
		c.Gateways = append(c.Gateways, g.ToRouting())
	}
	for _, s := range ch.GetSps() {
		c.SPs = append(c.SPs, s.ToRouting())
	}
	for _, s := range ch.GetSegments() {
		rs, err := s.ToRouting()
		if err != nil {
			return err
		}
		c.Segments = append(c.Segments, rs)
	}
	for _, p := range ch.GetPorted() {
		c.Ported = append(c.Ported, p.ToRouting())
	}
	return nil
}

// tableChunks calls emit with the table cut into chunks of at most n
// segments or ported numbers; gateways, SPs and the revision ride in the
// first chunk, which is sent even for an empty table so an export always
// says its revision. emit must not keep the chunk after returning.
func TableChunks(t *routing.Table, n int, emit func(*TableChunk) error) error {
	ch := &TableChunk{Revision: t.Revision()}
	first := true
	for _, g := range t.Gateways() {
		ch.Gateways = append(ch.Gateways, NewGateway(g))
	}
	for _, s := range t.SPs() {
		ch.Sps = append(ch.Sps, NewSP(s))
	}
	size := 0
	flush := func() error {
		if err := emit(ch); err != nil {
			return err
		}
		ch, size, first = &TableChunk{}, 0, false
		return nil
	}
	for s := range t.Segments() {
		ch.Segments = append(ch.Segments, NewSegment(s))
		if size++; size >= n {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	for _, p := range t.PortedNumbers() {
		ch.Ported = append(ch.Ported, NewPorted(p))
		if size++; size >= n {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if size > 0 || first {
		return flush()
	}
	return nil
}

// ContentsFromChunks reassembles exported chunks into plain contents.
func ContentsFromChunks(chunks []*TableChunk) (*routing.Contents, error) {
	c := &routing.Contents{}
	for _, ch := range chunks {
		if err := ch.AppendTo(c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Chunks cuts a whole table into import chunks of at most n segments or
// ported numbers each (a table push).
func Chunks(t *routing.Table, n int) []*TableChunk {
	var out []*TableChunk
	_ = TableChunks(t, n, func(c *TableChunk) error { out = append(out, c); return nil })
	return out
}
