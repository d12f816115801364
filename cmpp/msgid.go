package cmpp

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// MsgID is the decoded form of a CMPP Msg_Id (protocols.md §1.7): the
// generation time to the second (no year), the generating ISMG's code and a
// 16-bit sequence.
type MsgID struct {
	Month   uint8  // 1..12, 4 bits
	Day     uint8  // 1..31, 5 bits
	Hour    uint8  // 0..23, 5 bits
	Minute  uint8  // 6 bits
	Second  uint8  // 6 bits
	Gateway uint32 // 22 bits: the ISMG code as an integer, "079101" → 79101
	Seq     uint16
}

const gatewayMask = 1<<22 - 1

// Pack returns the 8-byte Msg_Id value. Out-of-range fields are masked to
// their widths.
func (m MsgID) Pack() uint64 {
	return timeBits(m.Month, m.Day, m.Hour, m.Minute, m.Second) |
		uint64(m.Gateway&gatewayMask)<<16 | uint64(m.Seq)
}

func timeBits(month, day, hour, minute, second uint8) uint64 {
	return uint64(month&0xf)<<60 | uint64(day&0x1f)<<55 | uint64(hour&0x1f)<<50 |
		uint64(minute&0x3f)<<44 | uint64(second&0x3f)<<38
}

// UnpackMsgID splits a Msg_Id into its parts.
func UnpackMsgID(id uint64) MsgID {
	return MsgID{
		Month:   uint8(id >> 60 & 0xf),
		Day:     uint8(id >> 55 & 0x1f),
		Hour:    uint8(id >> 50 & 0x1f),
		Minute:  uint8(id >> 44 & 0x3f),
		Second:  uint8(id >> 38 & 0x3f),
		Gateway: uint32(id >> 16 & gatewayMask),
		Seq:     uint16(id),
	}
}

// MakeMsgID packs a Msg_Id for time t (in t's location), gateway and seq.
func MakeMsgID(t time.Time, gateway uint32, seq uint16) uint64 {
	return msgIDTimeBits(t) | uint64(gateway&gatewayMask)<<16 | uint64(seq)
}

func msgIDTimeBits(t time.Time) uint64 {
	_, mo, d := t.Date()
	h, mi, s := t.Clock()
	return timeBits(uint8(mo), uint8(d), uint8(h), uint8(mi), uint8(s))
}

// String formats m as "MM-DD hh:mm:ss gw GGGGGG seq N".
func (m MsgID) String() string {
	return fmt.Sprintf("%02d-%02d %02d:%02d:%02d gw %06d seq %d",
		m.Month, m.Day, m.Hour, m.Minute, m.Second, m.Gateway, m.Seq)
}

// ErrBadGatewayCode reports an ISMG code that is not 1–7 decimal digits
// fitting in 22 bits.
var ErrBadGatewayCode = errors.New("cmpp: bad gateway code")

// GatewayCode converts an ISMG code such as "079101" to the integer that
// Msg_Id carries.
func GatewayCode(s string) (uint32, error) {
	if len(s) == 0 || len(s) > 7 {
		return 0, fmt.Errorf("%w: %q", ErrBadGatewayCode, s)
	}
	var n uint32
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: %q", ErrBadGatewayCode, s)
		}
		n = n*10 + uint32(c-'0')
	}
	if n > gatewayMask {
		return 0, fmt.Errorf("%w: %q exceeds 22 bits", ErrBadGatewayCode, s)
	}
	return n, nil
}

// ErrMsgIDCount reports a NextN count outside 1..65536.
var ErrMsgIDCount = errors.New("cmpp: Msg_Id count out of range")

// MsgIDGenerator hands out Msg_Ids that are unique for one gateway code,
// under concurrency and across restarts.
//
// Its state is one atomic "tick", unix second<<shift | sequence, of the
// last id handed out (shift is 16, or 16 minus the node bits of a gateway
// served by several nodes). The next tick is max(last+1, now<<shift),
// claimed with a CAS:
//   - 65536 ids in one second carry into the next second, so a burst
//     borrows time from the future rather than wrapping onto an id already
//     used;
//   - a clock stepped backwards never moves the tick back;
//   - a restart resumes after notBefore, the HighWater the previous run
//     persisted, so ids of that second are not reissued even if the process
//     restarts within it, or after running ahead of the clock.
//
// Msg_Id has no year field: ids repeat after a year, as in every CMPP
// implementation.
type MsgIDGenerator struct {
	gateway uint64
	// The node split (NewNodeMsgIDGenerator): the sequence's top
	// 16-shift bits carry the node's index, the low shift bits the
	// node's own count; a single node has shift 16 and node 0.
	shift uint
	node  uint64
	now   func() time.Time
	loc   *time.Location
	tick  atomic.Uint64
	// ceiling is the last tick that may be handed out: (reserved second+1)<<shift - 1,
	// or 0 for none (see SetCeiling).
	ceiling atomic.Uint64
	// prefix caches the time bits of the current second, so Next does not
	// split a time into calendar fields for every id.
	prefix atomic.Pointer[msgIDPrefix]
}

type msgIDPrefix struct {
	sec  uint64
	bits uint64
}

// NewMsgIDGenerator returns a generator for gateway (masked to 22 bits).
// now is the clock (time.Now in production); the Msg_Id time fields are
// taken in the location of the time it returns. notBefore is the HighWater
// persisted by the previous run, or the zero Time on first start: every id
// handed out is in a later second than notBefore.
func NewMsgIDGenerator(gateway uint32, now func() time.Time, notBefore time.Time) *MsgIDGenerator {
	g, _ := NewNodeMsgIDGenerator(gateway, 0, 0, now, notBefore)
	return g
}

// MaxNodeBits is the most bits of the 16-bit sequence a gateway may give
// to its node index: up to 2^MaxNodeBits nodes, each with 65536>>bits ids
// a second.
const MaxNodeBits = 8

// ErrBadNodeIndex reports a node index or node bits out of range.
var ErrBadNodeIndex = errors.New("cmpp: bad Msg_Id node index")

// NewNodeMsgIDGenerator returns the generator of node index of a gateway
// served by up to 2^bits nodes (bits 0..MaxNodeBits): the 16-bit sequence
// of its ids carries index in its top bits and the node's own count in
// other 16-bits bits, so two nodes of one gateway never issue the same
// id, and each has 65536>>bits ids a second. Past them a burst borrows
// the next second, as a single node does past 65,536.
func NewNodeMsgIDGenerator(gateway uint32, index, bits uint, now func() time.Time, notBefore time.Time) (*MsgIDGenerator, error) {
	if bits > MaxNodeBits || index >= 1<<bits {
		return nil, fmt.Errorf("%w: index %d with %d node bits (want index < 2^bits, bits <= %d)", ErrBadNodeIndex, index, bits, MaxNodeBits)
	}
	shift := 16 - bits
	g := &MsgIDGenerator{
		gateway: uint64(gateway&gatewayMask) << 16,
		shift:   shift,
		node:    uint64(index) << shift,
		now:     now,
		loc:     now().Location(),
	}
	if !notBefore.IsZero() {
		if s := notBefore.Unix(); s >= 0 {
			g.tick.Store(uint64(s+1)<<shift - 1)
		}
	}
	return g, nil
}

// PerSecond is how many ids the generator hands out in one second before
// it borrows the next: 65536 for a single node, 65536>>bits for a node of
// a gateway split 2^bits ways.
func (g *MsgIDGenerator) PerSecond() int { return 1 << g.shift }

// ErrMsgIDReserve reports that the next Msg_Id would fall in a second
// beyond the ceiling (SetCeiling): the owner has not yet durably reserved
// that second, so handing it out could repeat an id after a crash.
var ErrMsgIDReserve = errors.New("cmpp: Msg_Id second not reserved yet")

// SetCeiling limits the ids handed out to seconds up to and including
// last: an owner that must never reissue an id after a crash durably
// records a second before raising the ceiling to it (reserve ahead), and
// restarts with notBefore = the last second it recorded. The ceiling only
// rises; a lower value is ignored.
func (g *MsgIDGenerator) SetCeiling(last time.Time) {
	s := last.Unix()
	if s < 0 {
		return
	}
	c := uint64(s+1)<<g.shift - 1
	for {
		cur := g.ceiling.Load()
		if c <= cur || g.ceiling.CompareAndSwap(cur, c) {
			return
		}
	}
}

// Ceiling returns the last second ids may be handed out in, or the zero
// Time when there is no ceiling.
func (g *MsgIDGenerator) Ceiling() time.Time {
	c := g.ceiling.Load()
	if c == 0 {
		return time.Time{}
	}
	return time.Unix(int64(c>>g.shift), 0).In(g.loc)
}

// Next returns a new Msg_Id, or 0 (never a valid Msg_Id: its month is 0)
// when a ceiling is set and the id would pass it. Owners that set a
// ceiling use NextN, which says why.
func (g *MsgIDGenerator) Next() uint64 {
	id, err := g.NextN(1)
	if err != nil {
		return 0
	}
	return id
}

// NextN reserves n consecutive Msg_Ids for a group send and returns the
// first: the ids are first..first+n-1, all in one second, so the sequence
// part never wraps inside the group.
func (g *MsgIDGenerator) NextN(n int) (uint64, error) {
	if n < 1 || n > 1<<g.shift {
		return 0, fmt.Errorf("%w: %d", ErrMsgIDCount, n)
	}
	span := uint64(n - 1)
	now := g.nowTick()
	mask := uint64(1)<<g.shift - 1
	for {
		cur := g.tick.Load()
		start := max(cur+1, now)
		if start&mask+span > mask {
			start = (start>>g.shift + 1) << g.shift
		}
		if c := g.ceiling.Load(); c != 0 && start+span > c {
			return 0, fmt.Errorf("%w: %d ids from %v, reserved up to %v", ErrMsgIDReserve, n,
				time.Unix(int64(start>>g.shift), 0).In(g.loc).Format(time.TimeOnly), g.Ceiling().Format(time.TimeOnly))
		}
		if g.tick.CompareAndSwap(cur, start+span) {
			return g.pack(start), nil
		}
	}
}

// HighWater returns the second of the last id handed out, or the zero Time
// if none was. Persist it (at shutdown, and periodically with a margin for
// a crash: pass persisted.Add(interval) if it was saved every interval) and
// give it to NewMsgIDGenerator on restart.
func (g *MsgIDGenerator) HighWater() time.Time {
	t := g.tick.Load()
	if t == 0 {
		return time.Time{}
	}
	return time.Unix(int64(t>>g.shift), 0).In(g.loc)
}

func (g *MsgIDGenerator) nowTick() uint64 {
	s := g.now().Unix()
	if s < 0 {
		s = 0
	}
	return uint64(s) << g.shift
}

func (g *MsgIDGenerator) pack(tick uint64) uint64 {
	sec := tick >> g.shift
	p := g.prefix.Load()
	if p == nil || p.sec != sec {
		p = &msgIDPrefix{sec: sec, bits: msgIDTimeBits(time.Unix(int64(sec), 0).In(g.loc)) | g.gateway | g.node}
		g.prefix.Store(p)
	}
	return p.bits | tick&(1<<g.shift-1)
}
