package ismg

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/bits"
	"strings"
	"sync"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/ismg/queue"
)

// The CMPP_QUERY counters (protocols.md §1.9): per SP, local day and
// Service_Id, and per SP and day over all services (service ""). MT
// messages are counted when accepted (SUBMIT_RESP 0), as forwarded once an
// SMSC took them (their move to await is durable) and as failed when they
// end without an SMSC taking them (expired, refused, cancelled); MO when
// queued for the SP, delivered (DELIVER_RESP 0) or dropped (deliver_ttl).
// Waiting is what is neither forwarded nor failed yet. Distinct MT users
// are estimated with a HyperLogLog (about 1.6% standard error).
//
// The counters live in memory and are saved to the store's KV bucket
// "stats" every statsFlush and when the node stops; a crash loses at most
// that much counting (the CDRs stay the billing record). Days older than
// statsKeepDays are dropped.
const (
	statsBucket   = "stats"
	statsFlush    = 5 * time.Second
	statsKeepDays = 8
	// statsMaxServices bounds the Service_Ids counted apart per SP and
	// day (each costs a 4 KB user estimate); an SP using more has the
	// rest counted in its totals only, so no SP can grow the node's
	// memory without bound.
	statsMaxServices = 256
)

type statKey struct{ sp, day, svc string }

type statCounts struct {
	mtIn, mtFwd, mtFail uint64
	moIn, moOK, moFail  uint64
	users               hll
	dirty               bool
}

type statsBook struct {
	mu       sync.Mutex
	m        map[statKey]*statCounts
	services map[statKey]int // per SP and day (svc ""): Service_Ids counted apart
	loc      *time.Location
	days     map[int64]string // day number in loc → YYYYMMDD, a few recent ones
}

func newStatsBook(loc *time.Location) *statsBook {
	return &statsBook{m: map[statKey]*statCounts{}, services: map[statKey]int{}, loc: loc, days: map[int64]string{}}
}

// entry returns the counters of k, creating them unless k is one
// Service_Id too many for its SP and day; mu is held.
func (b *statsBook) entry(k statKey) *statCounts {
	if c := b.m[k]; c != nil {
		return c
	}
	if k.svc != "" {
		day := statKey{k.sp, k.day, ""}
		if b.services[day] >= statsMaxServices {
			return nil
		}
		b.services[day]++
	}
	c := &statCounts{}
	b.m[k] = c
	return c
}

// dayOf is YYYYMMDD of t in the book's zone; mu is held.
func (b *statsBook) dayOf(t time.Time) string {
	t = t.In(b.loc)
	_, off := t.Zone()
	n := (t.Unix() + int64(off)) / 86400
	d, ok := b.days[n]
	if !ok {
		if len(b.days) > 4*statsKeepDays {
			clear(b.days)
		}
		d = t.Format("20060102")
		b.days[n] = d
	}
	return d
}

// update applies f to the SP's day total and, for a named service, to the
// service's counters.
func (b *statsBook) update(sp, svc string, at time.Time, f func(*statCounts)) {
	b.mu.Lock()
	day := b.dayOf(at)
	for _, s := range [2]string{"", svc} {
		if c := b.entry(statKey{sp, day, s}); c != nil {
			f(c)
			c.dirty = true
		}
		if svc == "" {
			break
		}
	}
	b.mu.Unlock()
}

func (b *statsBook) mtAccepted(sp, svc string, at time.Time, dest string) {
	h := hllHash(dest)
	b.update(sp, svc, at, func(c *statCounts) { c.mtIn++; c.users.add(h) })
}

func (b *statsBook) mtForwarded(sp, svc string, submitted time.Time) {
	b.update(sp, svc, submitted, func(c *statCounts) { c.mtFwd++ })
}

func (b *statsBook) mtFailed(sp, svc string, submitted time.Time) {
	b.update(sp, svc, submitted, func(c *statCounts) { c.mtFail++ })
}

func (b *statsBook) moQueued(sp string, at time.Time) {
	b.update(sp, "", at, func(c *statCounts) { c.moIn++ })
}

func (b *statsBook) moDone(sp string, queued time.Time, ok bool) {
	b.update(sp, "", queued, func(c *statCounts) {
		if ok {
			c.moOK++
		} else {
			c.moFail++
		}
	})
}

// query answers CMPP_QUERY for sp; an unknown day or service, or a
// malformed Time, gets zero counters.
func (b *statsBook) query(sp string, q *cmpp.Query) *cmpp.QueryResp {
	resp := &cmpp.QueryResp{Time: q.Time, QueryType: q.QueryType, QueryCode: q.QueryCode}
	svc := ""
	if q.QueryType == cmpp.QueryByService {
		svc = strings.TrimSpace(q.QueryCode)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.m[statKey{sp, q.Time, svc}]
	if c == nil {
		return resp
	}
	u32 := func(v uint64) uint32 { return uint32(min(v, math.MaxUint32)) }
	wait := func(in, done1, done2 uint64) uint64 {
		if done1+done2 > in {
			return 0
		}
		return in - done1 - done2
	}
	// The estimate may overshoot by its error; a user had at least one
	// message, so there are never more users than messages.
	resp.MTTLMsg, resp.MTTLUsr = u32(c.mtIn), u32(min(c.users.estimate(), c.mtIn))
	resp.MTScs, resp.MTWT, resp.MTFL = u32(c.mtFwd), u32(wait(c.mtIn, c.mtFwd, c.mtFail)), u32(c.mtFail)
	resp.MOScs, resp.MOWT, resp.MOFL = u32(c.moOK), u32(wait(c.moIn, c.moOK, c.moFail)), u32(c.moFail)
	return resp
}

func (k statKey) encode() []byte { return []byte(k.sp + "|" + k.day + "|" + k.svc) }

func decodeStatKey(b []byte) (statKey, bool) {
	sp, rest, ok1 := strings.Cut(string(b), "|")
	day, svc, ok2 := strings.Cut(rest, "|")
	return statKey{sp, day, svc}, ok1 && ok2 && len(day) == 8
}

const statsVersion = 1

func (c *statCounts) encode() []byte {
	v := make([]byte, 0, 1+6*8+hllRegisters)
	v = append(v, statsVersion)
	for _, n := range [...]uint64{c.mtIn, c.mtFwd, c.mtFail, c.moIn, c.moOK, c.moFail} {
		v = binary.BigEndian.AppendUint64(v, n)
	}
	return append(v, c.users[:]...)
}

func decodeStatCounts(v []byte) (*statCounts, error) {
	if len(v) != 1+6*8+hllRegisters || v[0] != statsVersion {
		return nil, fmt.Errorf("ismg: stats record: %d bytes, version %d", len(v), v[0])
	}
	c := &statCounts{}
	for i, p := range [...]*uint64{&c.mtIn, &c.mtFwd, &c.mtFail, &c.moIn, &c.moOK, &c.moFail} {
		*p = binary.BigEndian.Uint64(v[1+8*i:])
	}
	copy(c.users[:], v[1+6*8:])
	return c, nil
}

// load reads the saved counters (start-up), dropping unreadable ones.
func (b *statsBook) load(st *queue.Store) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return st.ScanKV(statsBucket, func(k, v []byte) bool {
		key, ok := decodeStatKey(k)
		if c, err := decodeStatCounts(v); ok && err == nil {
			b.m[key] = c
			if key.svc != "" {
				b.services[statKey{key.sp, key.day, ""}]++
			}
		}
		return true
	})
}

// flushOps are the puts of the counters changed since the last flush and
// the deletes of days past statsKeepDays (which leave memory too). done
// must be called with the outcome of their commit: a failed one marks the
// entries dirty again.
func (b *statsBook) flushOps(now time.Time) (ops []queue.Op, done func(error)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	oldest := b.dayOf(now.AddDate(0, 0, -(statsKeepDays - 1)))
	var flushed []*statCounts
	for k, c := range b.m {
		switch {
		case k.day < oldest:
			delete(b.m, k)
			delete(b.services, statKey{k.sp, k.day, ""})
			ops = append(ops, queue.Delete(statsBucket, k.encode()))
		case c.dirty:
			c.dirty = false
			flushed = append(flushed, c)
			ops = append(ops, queue.Put(statsBucket, k.encode(), c.encode()))
		}
	}
	return ops, func(err error) {
		if err == nil {
			return
		}
		b.mu.Lock()
		for _, c := range flushed {
			c.dirty = true
		}
		b.mu.Unlock()
	}
}

// runStats saves the counters every statsFlush and once more at the end.
func (n *Node) runStats(ctx context.Context) error {
	t := time.NewTicker(statsFlush)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-ctx.Done():
			n.flushStats(context.WithoutCancel(ctx))
			return nil
		}
		n.flushStats(ctx)
	}
}

func (n *Node) flushStats(ctx context.Context) {
	ops, done := n.stats.flushOps(time.Now())
	if len(ops) == 0 {
		return
	}
	err := n.commit(ctx, ops...)
	done(err)
	if err != nil && !errors.Is(err, context.Canceled) {
		n.log.Warn("save CMPP_QUERY counters", LogKeyErr, err)
	}
}

// hll is a HyperLogLog of 2^12 one-byte registers.
const (
	hllP         = 12
	hllRegisters = 1 << hllP
)

type hll [hllRegisters]uint8

// hllHash is FNV-1a of s, finalised so that every bit depends on every
// input bit (HyperLogLog reads the top and the bottom of the hash).
func hllHash(s string) uint64 {
	f := fnv.New64a()
	f.Write([]byte(s))
	h := f.Sum64()
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

func (r *hll) add(h uint64) {
	i := h >> (64 - hllP)
	rank := uint8(bits.LeadingZeros64(h<<hllP|1<<(hllP-1)) + 1)
	if rank > r[i] {
		r[i] = rank
	}
}

func (r *hll) estimate() uint64 {
	const m = float64(hllRegisters)
	sum, zeros := 0.0, 0
	for _, v := range r {
		sum += math.Ldexp(1, -int(v))
		if v == 0 {
			zeros++
		}
	}
	e := 0.7213 / (1 + 1.079/m) * m * m / sum
	if e <= 2.5*m && zeros > 0 {
		e = m * math.Log(m/float64(zeros)) // linear counting for small sets
	}
	return uint64(math.Round(e))
}
