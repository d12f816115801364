package routing

import (
	"encoding/binary"
	"fmt"
	"math"
)

// ChangesVersion is the first byte of an encoded change batch. Decoders
// refuse other versions, so a newer leader cannot feed an older follower
// data it would misread.
const ChangesVersion byte = 1

// ChangesVersionAccounts is the version of a batch that carries an SP
// account: each SP is followed by its account (a presence byte, then the
// fields). A batch without accounts is still written as ChangesVersion,
// so nodes of the previous release keep following a cluster that does not
// use accounts.
const ChangesVersionAccounts byte = 2

// maxString bounds every decoded string; the longest legitimate one is an
// address or a name.
const maxString = 1 << 12

// EncodeChanges appends the binary form of a change batch to b: version,
// count, then each change as its op byte and its op's fields (uvarints and
// length-prefixed strings). The same batch always gives the same bytes.
// RouteIDs are not encoded: the table assigns them when it applies the batch.
func EncodeChanges(b []byte, changes []Change) []byte {
	acct := changesHaveAccounts(changes)
	if acct {
		b = append(b, ChangesVersionAccounts)
	} else {
		b = append(b, ChangesVersion)
	}
	b = binary.AppendUvarint(b, uint64(len(changes)))
	for i := range changes {
		b = appendChange(b, &changes[i], acct)
	}
	return b
}

func changesHaveAccounts(changes []Change) bool {
	for i := range changes {
		c := &changes[i]
		if c.Op == OpPutSP && c.SP.Account != nil {
			return true
		}
		if c.Op == OpReplace && c.Replace != nil && spsHaveAccounts(c.Replace.SPs) {
			return true
		}
	}
	return false
}

func spsHaveAccounts(sps []SP) bool {
	for i := range sps {
		if sps[i].Account != nil {
			return true
		}
	}
	return false
}

func appendChange(b []byte, c *Change, acct bool) []byte {
	b = append(b, byte(c.Op))
	switch c.Op {
	case OpPutGateway:
		b = appendGateway(b, &c.Gateway)
	case OpPutSegment:
		b = appendSegment(b, &c.Segment)
	case OpPutPorted:
		b = appendStr(appendStr(b, c.Ported.MSISDN), c.Ported.Gateway)
	case OpPutSP:
		b = appendSP(b, &c.SP, false, acct)
	case OpReplace:
		b = appendContents(b, c.Replace, acct)
	default: // the deletes, and unknown ops which Apply rejects
		b = appendStr(b, c.Key)
	}
	return b
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendStrs(b []byte, ss []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = appendStr(b, s)
	}
	return b
}

func appendGateway(b []byte, g *Gateway) []byte {
	b = appendStr(b, g.Code)
	b = appendStr(b, g.Name)
	b = appendStr(b, g.Region)
	b = appendStr(b, g.FwdAddr)
	return appendStr(b, g.Province)
}

func appendSegment(b []byte, s *Segment) []byte {
	b = appendStr(b, s.Prefix)
	b = appendStr(b, s.Gateway)
	b = appendStr(b, s.SMSC)
	b = appendStr(b, s.AreaCode)
	return append(b, s.UserType)
}

// appendSP writes an SP; withIDs adds the MO RouteIDs (snapshots only),
// withAcct the account (versions that carry accounts).
func appendSP(b []byte, s *SP, withIDs, withAcct bool) []byte {
	b = appendStr(b, s.ID)
	b = appendStr(b, s.Name)
	b = appendStr(b, s.Gateway)
	b = appendStr(b, s.DefaultGateway)
	b = appendStrs(b, s.Mirrors)
	b = binary.AppendUvarint(b, uint64(len(s.Partitions)))
	for i := range s.Partitions {
		p := &s.Partitions[i]
		b = appendStr(b, p.Name)
		b = appendStrs(b, p.Regions)
		b = appendStr(b, p.Gateway)
	}
	b = binary.AppendUvarint(b, uint64(len(s.ServiceCodes)))
	for _, sc := range s.ServiceCodes {
		b = appendStr(b, sc.Code)
		if withIDs {
			b = binary.AppendUvarint(b, uint64(sc.RouteID))
		}
	}
	if withAcct {
		b = appendAccount(b, s.Account)
	}
	return b
}

// appendAccount writes a presence byte and, if present, the account.
func appendAccount(b []byte, a *SPAccount) []byte {
	if a == nil {
		return append(b, 0)
	}
	b = append(b, 1)
	b = appendStr(b, a.Secret)
	b = appendStrs(b, a.AllowedIPs)
	b = binary.AppendUvarint(b, uint64(a.MaxConnections))
	b = binary.AppendUvarint(b, uint64(a.Window))
	b = binary.BigEndian.AppendUint64(b, math.Float64bits(a.SubmitRate))
	return binary.AppendUvarint(b, uint64(a.Burst))
}

func appendContents(b []byte, c *Contents, acct bool) []byte {
	if c == nil {
		c = &Contents{}
	}
	b = binary.AppendUvarint(b, uint64(len(c.Gateways)))
	for i := range c.Gateways {
		b = appendGateway(b, &c.Gateways[i])
	}
	b = binary.AppendUvarint(b, uint64(len(c.Segments)))
	for i := range c.Segments {
		b = appendSegment(b, &c.Segments[i])
	}
	b = binary.AppendUvarint(b, uint64(len(c.Ported)))
	for _, p := range c.Ported {
		b = appendStr(appendStr(b, p.MSISDN), p.Gateway)
	}
	b = binary.AppendUvarint(b, uint64(len(c.SPs)))
	for i := range c.SPs {
		b = appendSP(b, &c.SPs[i], false, acct)
	}
	return b
}

// DecodeChanges parses a batch made by EncodeChanges. It checks framing
// only; Apply checks the values. Trailing bytes are an error.
func DecodeChanges(b []byte) ([]Change, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("routing: decode changes: %w: empty", ErrBadEncoding)
	}
	if b[0] != ChangesVersion && b[0] != ChangesVersionAccounts {
		return nil, fmt.Errorf("routing: decode changes: %w: version %d, want %d or %d", ErrBadEncoding, b[0], ChangesVersion, ChangesVersionAccounts)
	}
	d := &dec{b: b[1:], acct: b[0] == ChangesVersionAccounts}
	n := d.count(1)
	var out []Change
	for i := 0; i < n && d.err == nil; i++ {
		var c Change
		c.Op = Op(d.byte())
		switch c.Op {
		case OpPutGateway:
			c.Gateway = d.gateway()
		case OpPutSegment:
			c.Segment = d.segment()
		case OpPutPorted:
			c.Ported = Ported{MSISDN: d.str(), Gateway: d.str()}
		case OpPutSP:
			c.SP = d.sp()
		case OpReplace:
			c.Replace = d.contents()
		case OpDeleteGateway, OpDeleteSegment, OpDeletePorted, OpDeleteSP:
			c.Key = d.str()
		default:
			d.fail(fmt.Errorf("%w: unknown op %d", ErrBadEncoding, c.Op))
		}
		if d.err != nil {
			return nil, fmt.Errorf("routing: decode changes: change %d: %w", i, d.err)
		}
		out = append(out, c)
	}
	if d.err != nil {
		return nil, fmt.Errorf("routing: decode changes: %w", d.err)
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("routing: decode changes: %w: %d trailing bytes", ErrBadEncoding, len(d.b))
	}
	return out, nil
}

// dec reads from a byte slice; the first error sticks and later reads return zero values.
type dec struct {
	b    []byte
	err  error
	acct bool // SPs carry accounts
}

func (d *dec) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.b = nil
}

func (d *dec) byte() byte {
	if len(d.b) == 0 {
		d.fail(errShort)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *dec) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(errBadVarint)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads an element count; every element takes at least minSize bytes,
// so a count beyond what the remaining bytes can hold is a lie and is
// refused before any allocation is sized by it.
func (d *dec) count(minSize int) int {
	v := d.uvarint()
	if v > uint64(len(d.b)/minSize) {
		d.fail(fmt.Errorf("%w: count %d exceeds the %d remaining bytes", ErrBadEncoding, v, len(d.b)))
		return 0
	}
	return int(v)
}

func (d *dec) str() string {
	n := d.uvarint()
	if n > maxString || n > uint64(len(d.b)) {
		d.fail(fmt.Errorf("%w: string of %d bytes", ErrBadEncoding, n))
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *dec) strs() []string {
	n := d.count(1)
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.str()
	}
	return out
}

func (d *dec) gateway() Gateway {
	return Gateway{Code: d.str(), Name: d.str(), Region: d.str(), FwdAddr: d.str(), Province: d.str()}
}

func (d *dec) segment() Segment {
	return Segment{Prefix: d.str(), Gateway: d.str(), SMSC: d.str(), AreaCode: d.str(), UserType: d.byte()}
}

func (d *dec) sp() SP {
	s := SP{ID: d.str(), Name: d.str(), Gateway: d.str(), DefaultGateway: d.str(), Mirrors: d.strs()}
	if n := d.count(3); n > 0 {
		s.Partitions = make([]Partition, n)
		for i := range s.Partitions {
			s.Partitions[i] = Partition{Name: d.str(), Regions: d.strs(), Gateway: d.str()}
		}
	}
	if n := d.count(1); n > 0 {
		s.ServiceCodes = make([]ServiceCode, n)
		for i := range s.ServiceCodes {
			s.ServiceCodes[i].Code = d.str()
		}
	}
	if d.acct {
		s.Account = d.account()
	}
	return s
}

func (d *dec) account() *SPAccount {
	switch d.byte() {
	case 0:
		return nil
	case 1:
	default:
		d.fail(fmt.Errorf("%w: bad account presence byte", ErrBadEncoding))
		return nil
	}
	a := &SPAccount{Secret: d.str(), AllowedIPs: d.strs()}
	a.MaxConnections, a.Window = d.limit(), d.limit()
	if len(d.b) < 8 {
		d.fail(errShort)
		return nil
	}
	a.SubmitRate = math.Float64frombits(binary.BigEndian.Uint64(d.b))
	d.b = d.b[8:]
	a.Burst = d.limit()
	return a
}

// limit reads an account limit; values beyond an int's range are refused
// here, the table's checks bound them further.
func (d *dec) limit() int {
	v := d.uvarint()
	if v > maxAccountLimit {
		d.fail(fmt.Errorf("%w: account limit %d", ErrBadEncoding, v))
		return 0
	}
	return int(v)
}

func (d *dec) contents() *Contents {
	c := &Contents{}
	if n := d.count(5); n > 0 {
		c.Gateways = make([]Gateway, n)
		for i := range c.Gateways {
			c.Gateways[i] = d.gateway()
		}
	}
	if n := d.count(5); n > 0 {
		c.Segments = make([]Segment, n)
		for i := range c.Segments {
			c.Segments[i] = d.segment()
		}
	}
	if n := d.count(2); n > 0 {
		c.Ported = make([]Ported, n)
		for i := range c.Ported {
			c.Ported[i] = Ported{MSISDN: d.str(), Gateway: d.str()}
		}
	}
	if n := d.count(7); n > 0 {
		c.SPs = make([]SP, n)
		for i := range c.SPs {
			c.SPs[i] = d.sp()
		}
	}
	return c
}
