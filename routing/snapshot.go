package routing

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"slices"
	"strings"
	"unsafe"
)

// Snapshot format, version 1 (all varints are unsigned LEB128):
//
//	"TDRT" 1                      magic and version
//	revision                      8 bytes big-endian
//	nextMT nextMO                 varints: the next route ids to assign
//	gateways: n, n × gateway      by code; referred to below by position
//	segments: n, n × {rid delta, prefix, attr}
//	    rid delta = rid - previous rid - 1 (rids ascend, the first counts from -1)
//	    prefix    = digits<<4 | number of digits
//	    attr      = reference to a segment attribute; a reference equal to
//	                the number defined so far defines the next one inline:
//	                gateway position, smsc, area code, user type byte
//	ported: n, n × {msisdn delta, gateway position}   ascending MSISDN
//	sps: n, n × sp with each service code's MO route id, by SP_Id
//	CRC-32C of everything above, 4 bytes big-endian
//
// Version 2 is the same with each SP followed by its account (a presence
// byte, then the fields: see appendAccount). A table without accounts is
// still written as version 1, which the previous release reads.
//
// Everything is written in a canonical order, so equal tables give equal
// bytes whatever history produced them.
var (
	snapMagic     = [5]byte{'T', 'D', 'R', 'T', 1}
	snapMagicAcct = [5]byte{'T', 'D', 'R', 'T', 2}
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

var (
	errShort     = fmt.Errorf("%w: unexpected end of data", ErrBadEncoding)
	errBadVarint = fmt.Errorf("%w: bad varint", ErrBadEncoding)
)

type crcWriter struct {
	w   io.Writer
	crc uint32
}

func (c *crcWriter) Write(p []byte) (int, error) {
	c.crc = crc32.Update(c.crc, crcTable, p)
	return c.w.Write(p)
}

// WriteSnapshot streams the whole table to w. It never blocks writers of
// newer tables: it reads only this immutable version.
func (t *Table) WriteSnapshot(w io.Writer) error {
	cw := &crcWriter{w: w}
	bw := bufio.NewWriterSize(cw, 64<<10)
	var b []byte
	flush := func() error {
		_, err := bw.Write(b)
		b = b[:0]
		return err
	}
	sps := t.SPs()
	acct := spsHaveAccounts(sps)
	if acct {
		b = append(b, snapMagicAcct[:]...)
	} else {
		b = append(b, snapMagic[:]...)
	}
	b = binary.BigEndian.AppendUint64(b, t.rev)
	b = binary.AppendUvarint(b, uint64(t.nextMT))
	b = binary.AppendUvarint(b, uint64(t.nextMO))

	gws := t.Gateways()
	gwPos := make([]uint32, len(t.gws))
	b = binary.AppendUvarint(b, uint64(len(gws)))
	for i := range gws {
		gwPos[t.gwByCode[gws[i].Code]] = uint32(i)
		b = appendGateway(b, &gws[i])
	}

	attrRef := make([]int32, len(t.attrs))
	for i := range attrRef {
		attrRef[i] = -1
	}
	var defined int32
	b = binary.AppendUvarint(b, uint64(t.nSeg))
	prev := int64(-1)
	var err error
	t.mtVec.scan(0, func(rid uint32, e segEnt) bool {
		b = binary.AppendUvarint(b, uint64(int64(rid)-prev-1))
		prev = int64(rid)
		b = binary.AppendUvarint(b, e.digits()<<4|uint64(e.length()))
		if r := attrRef[e.attr()]; r >= 0 {
			b = binary.AppendUvarint(b, uint64(r))
		} else {
			attrRef[e.attr()] = defined
			b = binary.AppendUvarint(b, uint64(defined))
			defined++
			a := &t.attrs[e.attr()]
			b = binary.AppendUvarint(b, uint64(gwPos[a.gw]))
			b = appendStr(b, a.smsc)
			b = appendStr(b, a.area)
			b = append(b, a.userType)
		}
		if len(b) >= 32<<10 {
			err = flush()
		}
		return err == nil
	})
	if err != nil {
		return fmt.Errorf("routing: write snapshot: %w", err)
	}

	type kv struct {
		num uint64
		gw  uint32
	}
	ported := make([]kv, 0, t.ported.n)
	t.ported.each(func(num uint64, gw uint32) bool {
		ported = append(ported, kv{num, gw})
		return true
	})
	slices.SortFunc(ported, func(a, b kv) int { return cmp.Compare(a.num, b.num) })
	b = binary.AppendUvarint(b, uint64(len(ported)))
	var prevNum uint64
	for _, p := range ported {
		b = binary.AppendUvarint(b, p.num-prevNum)
		prevNum = p.num
		b = binary.AppendUvarint(b, uint64(gwPos[p.gw]))
		if len(b) >= 32<<10 {
			if err := flush(); err != nil {
				return fmt.Errorf("routing: write snapshot: %w", err)
			}
		}
	}

	b = binary.AppendUvarint(b, uint64(len(sps)))
	for i := range sps {
		b = appendSP(b, &sps[i], true, acct)
	}
	if err := flush(); err != nil {
		return fmt.Errorf("routing: write snapshot: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("routing: write snapshot: %w", err)
	}
	if _, err := w.Write(binary.BigEndian.AppendUint32(nil, cw.crc)); err != nil {
		return fmt.Errorf("routing: write snapshot: %w", err)
	}
	return nil
}

// sreader is a buffered reader that checksums the bytes it hands out, so the
// trailer can be verified without a second pass or a copy of the stream. It
// may read past the end of the snapshot.
type sreader struct {
	r      io.Reader
	buf    []byte
	pos    int // next byte to hand out
	end    int // end of valid data in buf
	hashed int // buf[:hashed] is already in crc
	crc    uint32
	err    error
}

func (s *sreader) fill() bool {
	if s.err != nil {
		return false
	}
	s.crc = crc32.Update(s.crc, crcTable, s.buf[s.hashed:s.pos])
	n := copy(s.buf, s.buf[s.pos:s.end])
	s.pos, s.end, s.hashed = 0, n, 0
	for s.end < len(s.buf) {
		m, err := s.r.Read(s.buf[s.end:])
		s.end += m
		if err != nil {
			if err == io.EOF {
				err = errShort
			}
			s.err = err
			break
		}
		if m > 0 {
			break
		}
	}
	return s.end > s.pos
}

func (s *sreader) fail(err error) {
	if s.err == nil || s.err == errShort {
		s.err = err
	}
}

func (s *sreader) ReadByte() (byte, error) {
	if s.pos == s.end && !s.fill() {
		return 0, s.errOr()
	}
	c := s.buf[s.pos]
	s.pos++
	return c, nil
}

func (s *sreader) errOr() error {
	if s.err != nil {
		return s.err
	}
	return errShort
}

func (s *sreader) uvarint() uint64 {
	if s.end-s.pos >= binary.MaxVarintLen64 {
		v, n := binary.Uvarint(s.buf[s.pos:s.end])
		if n <= 0 {
			s.fail(errBadVarint)
			s.pos = s.end
			return 0
		}
		s.pos += n
		return v
	}
	v, err := binary.ReadUvarint(s)
	if err != nil {
		if s.err == nil {
			s.err = errBadVarint // overflow; read errors are already in s.err
		}
		s.pos = s.end
		return 0
	}
	return v
}

func (s *sreader) byte() byte {
	c, err := s.ReadByte()
	if err != nil {
		s.fail(err)
	}
	return c
}

func (s *sreader) str() string {
	n := s.uvarint()
	if n > maxString {
		s.fail(fmt.Errorf("%w: string of %d bytes", ErrBadEncoding, n))
		return ""
	}
	for s.end-s.pos < int(n) {
		if !s.fill() || s.end-s.pos < int(n) && s.err != nil {
			s.fail(s.errOr())
			return ""
		}
	}
	str := string(s.buf[s.pos : s.pos+int(n)])
	s.pos += int(n)
	return str
}

func (s *sreader) strs() []string {
	n := s.uvarint()
	if n > maxListElements {
		s.fail(fmt.Errorf("%w: list of %d", ErrBadEncoding, n))
		return nil
	}
	var out []string
	for i := uint64(0); i < n && s.err == nil; i++ {
		out = append(out, s.str())
	}
	return out
}

func (s *sreader) account() *SPAccount {
	switch s.byte() {
	case 0:
		return nil
	case 1:
	default:
		s.fail(fmt.Errorf("%w: bad account presence byte", ErrBadEncoding))
		return nil
	}
	a := &SPAccount{Secret: s.str(), AllowedIPs: s.strs()}
	a.MaxConnections, a.Window = s.limit(), s.limit()
	var rb [8]byte
	for i := range rb {
		rb[i] = s.byte()
	}
	a.SubmitRate = math.Float64frombits(binary.BigEndian.Uint64(rb[:]))
	a.Burst = s.limit()
	return a
}

func (s *sreader) limit() int {
	v := s.uvarint()
	if v > maxAccountLimit {
		s.fail(fmt.Errorf("%w: account limit %d", ErrBadEncoding, v))
		return 0
	}
	return int(v)
}

func (s *sreader) gateway() Gateway {
	return Gateway{Code: s.str(), Name: s.str(), Region: s.str(), FwdAddr: s.str(), Province: s.str()}
}

// ReadSnapshot reads a table written by WriteSnapshot, checking every value
// and reference and the checksum. Bad input gives an error wrapping
// ErrBadEncoding (or the value's own sentinel), never a panic.
func ReadSnapshot(r io.Reader) (*Table, error) {
	t, err := readSnapshot(r)
	if err != nil {
		return nil, fmt.Errorf("routing: read snapshot: %w", err)
	}
	return t, nil
}

func readSnapshot(r io.Reader) (*Table, error) {
	s := &sreader{r: r, buf: make([]byte, 64<<10)}
	wrap := func(where string, err error) error { return fmt.Errorf("%s: %w", where, err) }
	var magic [5]byte
	for i := range magic {
		magic[i] = s.byte()
	}
	if s.err != nil {
		return nil, wrap("header", s.err)
	}
	if magic != snapMagic && magic != snapMagicAcct {
		return nil, fmt.Errorf("header: %w: magic/version %x", ErrBadEncoding, magic)
	}
	acct := magic == snapMagicAcct
	var rb [8]byte
	for i := range rb {
		rb[i] = s.byte()
	}
	b := NewBuilder()
	b.t.rev = binary.BigEndian.Uint64(rb[:])
	nextMT, nextMO := s.uvarint(), s.uvarint()
	if s.err != nil {
		return nil, wrap("header", s.err)
	}
	if nextMT > MaxRouteID+1 || nextMO > MaxRouteID+1 {
		return nil, fmt.Errorf("header: %w: next route ids %d/%d", ErrBadEncoding, nextMT, nextMO)
	}
	b.t.nextMT, b.t.nextMO = uint32(nextMT), uint32(nextMO)

	nGW := s.uvarint()
	var gwIdx []uint32 // snapshot position → builder index
	prevCode := ""
	for i := uint64(0); i < nGW && s.err == nil; i++ {
		g := s.gateway()
		if s.err != nil {
			break
		}
		if g.Code <= prevCode && i > 0 {
			return nil, fmt.Errorf("gateway %d: %w: codes not ascending", i, ErrBadEncoding)
		}
		prevCode = g.Code
		if err := b.PutGateway(g); err != nil {
			return nil, wrap(fmt.Sprintf("gateway %d", i), err)
		}
		gwIdx = append(gwIdx, b.t.gwByCode[g.Code])
	}
	if s.err != nil {
		return nil, wrap("gateways", s.err)
	}
	gwRef := func(v uint64) (uint32, error) {
		if v >= uint64(len(gwIdx)) {
			return 0, fmt.Errorf("%w: gateway reference %d of %d", ErrBadEncoding, v, len(gwIdx))
		}
		return gwIdx[v], nil
	}

	nSeg := s.uvarint()
	var attrs []segAttr
	prev := int64(-1)
	var pbuf [MaxPrefixLen]byte
	for i := uint64(0); i < nSeg && s.err == nil; i++ {
		delta := s.uvarint()
		pv := s.uvarint()
		ref := s.uvarint()
		if s.err != nil {
			break
		}
		if delta >= uint64(b.t.nextMT) || prev+1+int64(delta) >= int64(b.t.nextMT) {
			return nil, fmt.Errorf("segment %d: %w: route id beyond next %d", i, ErrBadEncoding, b.t.nextMT)
		}
		rid := prev + 1 + int64(delta)
		prev = rid
		n := int(pv & 15)
		digits := pv >> 4
		if n < MinPrefixLen || n > MaxPrefixLen || digits >= pow10[n] {
			return nil, fmt.Errorf("segment %d: %w: bad prefix", i, ErrBadEncoding)
		}
		for j := n - 1; j >= 0; j-- {
			pbuf[j] = byte('0' + digits%10)
			digits /= 10
		}
		// Only the first definition of an attribute keeps a copy; the trie
		// and route array store digits, not this string.
		prefix := unsafe.String(&pbuf[0], n)
		switch {
		case ref < uint64(len(attrs)):
		case ref == uint64(len(attrs)):
			gw, err := gwRef(s.uvarint())
			a := segAttr{gw: gw, smsc: s.str(), area: s.str(), userType: s.byte()}
			if s.err != nil {
				return nil, wrap(fmt.Sprintf("segment %d", i), s.err)
			}
			if err != nil {
				return nil, fmt.Errorf("segment %d: %w", i, err)
			}
			seg := Segment{Prefix: strings.Clone(prefix), Gateway: b.t.gws[gw].Code, SMSC: a.smsc, AreaCode: a.area}
			if _, errs := b.checkSegment(&seg); len(errs) > 0 {
				return nil, fmt.Errorf("segment %d: %s: %w", i, errs[0].field, errs[0].err)
			}
			attrs = append(attrs, a)
		default:
			return nil, fmt.Errorf("segment %d: %w: attribute reference %d of %d", i, ErrBadEncoding, ref, len(attrs))
		}
		if b.t.mt.get(prefix) != 0 {
			return nil, fmt.Errorf("segment %d: %w: duplicate prefix %s", i, ErrBadEncoding, strings.Clone(prefix))
		}
		if err := b.putSegment(prefix, attrs[ref], uint32(rid)); err != nil {
			return nil, fmt.Errorf("segment %d: %w", i, err)
		}
	}
	if s.err != nil {
		return nil, wrap("segments", s.err)
	}

	nPorted := s.uvarint()
	var num uint64
	for i := uint64(0); i < nPorted && s.err == nil; i++ {
		d := s.uvarint()
		gw, err := gwRef(s.uvarint())
		if s.err != nil {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("ported %d: %w", i, err)
		}
		if (d == 0 && i > 0) || d >= pow10[MSISDNLen] || num+d >= pow10[MSISDNLen] {
			return nil, fmt.Errorf("ported %d: %w: numbers not ascending 11-digit", i, ErrBadEncoding)
		}
		num += d
		if b.t.mt.get(formatMSISDN(num)) != 0 {
			return nil, fmt.Errorf("ported %d: %w: %s is also a segment", i, ErrConflict, formatMSISDN(num))
		}
		b.putPorted(num, gw)
	}
	if s.err != nil {
		return nil, wrap("ported", s.err)
	}

	nSP := s.uvarint()
	prevID := ""
	for i := uint64(0); i < nSP && s.err == nil; i++ {
		sp := SP{ID: s.str(), Name: s.str(), Gateway: s.str(), DefaultGateway: s.str(), Mirrors: s.strs()}
		nPart := s.uvarint()
		if nPart > maxListElements {
			return nil, fmt.Errorf("sp %d: %w: %d partitions", i, ErrBadEncoding, nPart)
		}
		for j := uint64(0); j < nPart && s.err == nil; j++ {
			sp.Partitions = append(sp.Partitions, Partition{Name: s.str(), Regions: s.strs(), Gateway: s.str()})
		}
		nCodes := s.uvarint()
		if nCodes > maxListElements {
			return nil, fmt.Errorf("sp %d: %w: %d service codes", i, ErrBadEncoding, nCodes)
		}
		ids := map[string]uint32{}
		for j := uint64(0); j < nCodes && s.err == nil; j++ {
			sc := ServiceCode{Code: s.str()}
			rid := s.uvarint()
			if rid >= uint64(b.t.nextMO) {
				return nil, fmt.Errorf("sp %d: %w: mo route id %d beyond next %d", i, ErrBadEncoding, rid, b.t.nextMO)
			}
			sc.RouteID = uint32(rid)
			ids[sc.Code] = uint32(rid)
			sp.ServiceCodes = append(sp.ServiceCodes, sc)
		}
		if acct {
			sp.Account = s.account()
		}
		if s.err != nil {
			break
		}
		if i > 0 && sp.ID <= prevID {
			return nil, fmt.Errorf("sp %d: %w: ids not ascending", i, ErrBadEncoding)
		}
		prevID = sp.ID
		rec, errs := b.checkSP(&sp)
		if len(errs) > 0 {
			return nil, fmt.Errorf("sp %d: %s: %w", i, errs[0].field, errs[0].err)
		}
		if err := b.putSP(sp, rec, ids); err != nil {
			return nil, fmt.Errorf("sp %d: %w", i, err)
		}
	}
	if s.err != nil {
		return nil, wrap("sps", s.err)
	}

	s.crc = crc32.Update(s.crc, crcTable, s.buf[s.hashed:s.pos])
	s.hashed = s.pos
	want := s.crc
	var cb [4]byte
	for i := range cb {
		cb[i] = s.byte()
	}
	if s.err != nil {
		return nil, wrap("checksum", s.err)
	}
	if got := binary.BigEndian.Uint32(cb[:]); got != want {
		return nil, fmt.Errorf("checksum: %w: crc %08x, computed %08x", ErrBadEncoding, got, want)
	}
	return b.Table(b.t.rev), nil
}

var pow10 = [...]uint64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12}
