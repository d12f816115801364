package gns

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"math/bits"
	"sync"

	"github.com/tandem-sms/tandem/routing"
)

// The table digest says whether two nodes hold the same table: a hash of
// its content (gateways, segments with their route ids, ported numbers,
// SPs with theirs), not of its revision, so nodes that applied different
// entries at the same revision differ, whatever the cause (a forged entry
// on an insecure Raft port, a bug, a damaged disk).
//
// It is a multiset hash: the sum, modulo 2^256, of the SHA-256 of each
// item's canonical encoding. Sums do not depend on order, so the FSM keeps
// it up to date per change batch by subtracting the old versions of the
// items a batch touched and adding the new ones, O(batch) rather than
// O(table). A table that appears whole (an import, a snapshot restore) has
// its sum computed once, lazily, off the FSM's goroutine, by the first
// reader. It detects divergence; it is not a MAC against someone who can
// choose log entries (mutual TLS on the Raft port keeps them out).

// sum256 is a 256-bit integer in four little-endian 64-bit limbs.
type sum256 [4]uint64

func limbs(h [32]byte) sum256 {
	var s sum256
	for i := range s {
		s[i] = binary.LittleEndian.Uint64(h[8*i:])
	}
	return s
}

func (s *sum256) add(x sum256) {
	var c uint64
	for i := range s {
		s[i], c = bits.Add64(s[i], x[i], c)
	}
}

func (s *sum256) sub(x sum256) {
	var b uint64
	for i := range s {
		s[i], b = bits.Sub64(s[i], x[i], b)
	}
}

// hex is the sum as 64 hex digits, most significant first.
func (s sum256) hex() string {
	var b [32]byte
	for i := range s {
		binary.BigEndian.PutUint64(b[8*(3-i):], s[i])
	}
	return hex.EncodeToString(b[:])
}

// itemHasher hashes table items; its buffer is reused between items.
type itemHasher struct{ b []byte }

func (h *itemHasher) str(s string) {
	h.b = binary.AppendUvarint(h.b, uint64(len(s)))
	h.b = append(h.b, s...)
}

func (h *itemHasher) num(v uint64) { h.b = binary.AppendUvarint(h.b, v) }

func (h *itemHasher) sum() sum256 { return limbs(sha256.Sum256(h.b)) }

// Each kind starts with its own tag byte, so items of different kinds
// never encode alike.
func (h *itemHasher) gateway(g routing.Gateway) sum256 {
	h.b = append(h.b[:0], 'G')
	h.str(g.Code)
	h.str(g.Name)
	h.str(g.Region)
	h.str(g.FwdAddr)
	h.str(g.Province)
	return h.sum()
}

func (h *itemHasher) segment(s routing.Segment) sum256 {
	h.b = append(h.b[:0], 'S')
	h.str(s.Prefix)
	h.str(s.Gateway)
	h.str(s.SMSC)
	h.str(s.AreaCode)
	h.num(uint64(s.UserType))
	h.num(uint64(s.RouteID))
	return h.sum()
}

func (h *itemHasher) ported(p routing.Ported) sum256 {
	h.b = append(h.b[:0], 'P')
	h.str(p.MSISDN)
	h.str(p.Gateway)
	return h.sum()
}

func (h *itemHasher) sp(s routing.SP) sum256 {
	h.b = append(h.b[:0], 'X')
	h.str(s.ID)
	h.str(s.Name)
	h.num(uint64(len(s.ServiceCodes)))
	for _, c := range s.ServiceCodes {
		h.str(c.Code)
		h.num(uint64(c.RouteID))
	}
	h.str(s.Gateway)
	h.num(uint64(len(s.Mirrors)))
	for _, m := range s.Mirrors {
		h.str(m)
	}
	h.str(s.DefaultGateway)
	h.num(uint64(len(s.Partitions)))
	for _, p := range s.Partitions {
		h.str(p.Name)
		h.num(uint64(len(p.Regions)))
		for _, r := range p.Regions {
			h.str(r)
		}
		h.str(p.Gateway)
	}
	// An SP without an account hashes as before accounts existed, so a
	// mixed-version cluster compares equal tables as equal.
	if a := s.Account; a != nil {
		h.b = append(h.b, 'A')
		h.str(a.Secret)
		h.num(uint64(len(a.AllowedIPs)))
		for _, ip := range a.AllowedIPs {
			h.str(ip)
		}
		h.num(uint64(a.MaxConnections))
		h.num(uint64(a.Window))
		h.num(math.Float64bits(a.SubmitRate))
		h.num(uint64(a.Burst))
	}
	return h.sum()
}

// fullSum hashes every item of t.
func fullSum(t *routing.Table) sum256 {
	var s sum256
	var h itemHasher
	for _, g := range t.Gateways() {
		s.add(h.gateway(g))
	}
	for seg := range t.Segments() {
		s.add(h.segment(seg))
	}
	for _, p := range t.PortedNumbers() {
		s.add(h.ported(p))
	}
	for _, sp := range t.SPs() {
		s.add(h.sp(sp))
	}
	return s
}

// changeDelta is what a batch did to the sum: for every item it touched,
// minus its version in old (if any), plus its version in new (if any).
// Items a batch does not name do not change (routing keeps every other
// item, and its route id, as it was).
func changeDelta(old, new *routing.Table, changes []routing.Change) (plus, minus sum256) {
	type key struct {
		op  routing.Op // the put op of the item's kind
		key string
	}
	seen := make(map[key]bool, len(changes))
	var h itemHasher
	for _, c := range changes {
		var k key
		switch c.Op {
		case routing.OpPutGateway:
			k = key{routing.OpPutGateway, c.Gateway.Code}
		case routing.OpDeleteGateway:
			k = key{routing.OpPutGateway, c.Key}
		case routing.OpPutSegment:
			k = key{routing.OpPutSegment, c.Segment.Prefix}
		case routing.OpDeleteSegment:
			k = key{routing.OpPutSegment, c.Key}
		case routing.OpPutPorted:
			k = key{routing.OpPutPorted, c.Ported.MSISDN}
		case routing.OpDeletePorted:
			k = key{routing.OpPutPorted, c.Key}
		case routing.OpPutSP:
			k = key{routing.OpPutSP, c.SP.ID}
		case routing.OpDeleteSP:
			k = key{routing.OpPutSP, c.Key}
		default:
			continue // OpReplace never reaches a change batch (decodeCommand refuses it)
		}
		if seen[k] {
			continue
		}
		seen[k] = true
		for i, t := range []*routing.Table{old, new} {
			acc := &minus
			if i == 1 {
				acc = &plus
			}
			switch k.op {
			case routing.OpPutGateway:
				if g, ok := t.Gateway(k.key); ok {
					acc.add(h.gateway(g))
				}
			case routing.OpPutSegment:
				if s, ok := t.Segment(k.key); ok {
					acc.add(h.segment(s))
				}
			case routing.OpPutPorted:
				if gw, ok := t.PortedGateway(k.key); ok {
					acc.add(h.ported(routing.Ported{MSISDN: k.key, Gateway: gw}))
				}
			case routing.OpPutSP:
				if sp, ok := t.SP(k.key); ok {
					acc.add(h.sp(sp))
				}
			}
		}
	}
	return plus, minus
}

// digestBase is the sum of a table that appeared whole, computed by the
// first reader.
type digestBase struct {
	once  sync.Once
	table *routing.Table // dropped once summed
	sum   sum256
}

func (b *digestBase) value() sum256 {
	b.once.Do(func() {
		b.sum = fullSum(b.table)
		b.table = nil
	})
	return b.sum
}

// tableDigest is the digest of the table at rev: its base's sum plus the
// deltas of the batches applied since. Values are immutable once published.
type tableDigest struct {
	rev   uint64
	base  *digestBase
	delta sum256
}

func wholeTableDigest(t *routing.Table) *tableDigest {
	return &tableDigest{rev: t.Revision(), base: &digestBase{table: t}}
}

// next is the digest after a change batch that turned old into new.
func (d *tableDigest) next(old, new *routing.Table, changes []routing.Change) *tableDigest {
	plus, minus := changeDelta(old, new, changes)
	n := &tableDigest{rev: new.Revision(), base: d.base, delta: d.delta}
	n.delta.add(plus)
	n.delta.sub(minus)
	return n
}

func (d *tableDigest) sum() sum256 {
	s := d.base.value()
	s.add(d.delta)
	return s
}

// Digest returns the hex digest of this node's current table and the
// revision it belongs to.
func (n *Node) Digest() (digest string, revision uint64) {
	d := n.fsm.digest.Load()
	return d.sum().hex(), d.rev
}

// digestGauge is the digest's low 52 bits, which a float64 holds exactly.
func (d *tableDigest) gauge() float64 {
	return float64(d.sum()[0] & (1<<52 - 1))
}
