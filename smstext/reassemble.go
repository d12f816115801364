package smstext

import (
	"container/heap"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// ReassemblerConfig bounds a Reassembler. Every field must be positive.
type ReassemblerConfig struct {
	// TTL is how long a set may wait for its missing parts, counted from
	// its first part.
	TTL time.Duration
	// MaxPending caps the number of incomplete sets held at once.
	MaxPending int
	// MaxParts caps Total of a set (at most 255).
	MaxParts int
	// MaxBytes caps the memory held by pending sets: payload octets plus
	// an estimate of each set's bookkeeping (setCost), so that a flood of
	// one-part sets with a large Total is bounded too.
	MaxBytes int
}

// DefaultReassemblerConfig returns limits suited to one gateway node: parts
// normally arrive within seconds, so 5 minutes leaves room for SMSC
// retries while 64 MiB bounds what a flood of half-sets can pin.
func DefaultReassemblerConfig() ReassemblerConfig {
	return ReassemblerConfig{
		TTL:        5 * time.Minute,
		MaxPending: 100_000,
		MaxParts:   32,
		MaxBytes:   64 << 20,
	}
}

// Validate reports the first field out of range.
func (c ReassemblerConfig) Validate() error {
	switch {
	case c.TTL <= 0:
		return fmt.Errorf("smstext: reassembler: TTL %v must be > 0", c.TTL)
	case c.MaxPending <= 0:
		return fmt.Errorf("smstext: reassembler: MaxPending %d must be > 0", c.MaxPending)
	case c.MaxParts <= 0 || c.MaxParts > MaxSegments:
		return fmt.Errorf("smstext: reassembler: MaxParts %d outside 1..%d", c.MaxParts, MaxSegments)
	case c.MaxBytes <= 0:
		return fmt.Errorf("smstext: reassembler: MaxBytes %d must be > 0", c.MaxBytes)
	}
	return nil
}

// ReassemblerStats are cumulative counters (and the current pending
// figures) for the caller to export as metrics.
type ReassemblerStats struct {
	Pending      int    // incomplete sets held now
	PendingBytes int    // memory held now, as counted against MaxBytes
	Completed    uint64 // messages returned complete (single-part included)
	Duplicates   uint64 // parts ignored because their Seq had arrived
	Rejected     uint64 // parts refused with an error
	Expired      uint64 // sets returned by Expire
}

// Incomplete is a set that expired before all its parts arrived.
type Incomplete struct {
	Key   string
	Ref   uint16
	Total uint8
	First time.Time // arrival of the first part
	Parts []Segment // received parts in Seq order; Data is owned by the caller now
}

// Missing lists the sequence numbers that never arrived.
func (in Incomplete) Missing() []uint8 {
	var miss []uint8
	j := 0
	for seq := 1; seq <= int(in.Total); seq++ {
		if j < len(in.Parts) && int(in.Parts[j].Seq) == seq {
			j++
			continue
		}
		miss = append(miss, uint8(seq))
	}
	return miss
}

// Reassembler collects the parts of concatenated messages. The caller
// builds the key from sender, receiver, reference and total (and the
// link, if references are per link) and drives time, so expiry is
// deterministic in tests. It is safe for concurrent use; a single mutex
// guards all state and no method blocks on anything else.
type Reassembler struct {
	cfg ReassemblerConfig

	mu    sync.Mutex
	sets  map[string]*partSet
	queue expiryQueue
	bytes int
	stats ReassemblerStats
}

type partSet struct {
	key      string
	ref      uint16
	total    uint8
	have     [4]uint64 // bit seq-1 set once that part arrived
	n        int
	parts    [][]byte // index seq-1
	bytes    int
	first    time.Time
	deadline time.Time
	index    int // position in the expiry heap
}

func (s *partSet) has(seq uint8) bool { return s.have[(seq-1)/64]&(1<<((seq-1)%64)) != 0 }
func (s *partSet) mark(seq uint8)     { s.have[(seq-1)/64] |= 1 << ((seq - 1) % 64) }

// ReassemblyKey builds the usual key for a set: parts belong together when
// sender, receiver, reference and total all match. NUL separators keep
// ("a|b", "c") and ("a", "b|c") apart. Callers with per-link references
// should put the link name into sender or receiver.
func ReassemblyKey(sender, receiver string, ref uint16, total uint8) string {
	b := make([]byte, 0, len(sender)+len(receiver)+12)
	b = append(b, sender...)
	b = append(b, 0)
	b = append(b, receiver...)
	b = append(b, 0)
	b = strconv.AppendUint(b, uint64(ref), 10)
	b = append(b, 0)
	b = strconv.AppendUint(b, uint64(total), 10)
	return string(b)
}

// setCost estimates the memory of an empty set: the struct, its map entry
// and heap slot, the key, and one slice header per expected part.
func setCost(key string, total uint8) int {
	return 160 + len(key) + 24*int(total)
}

// NewReassembler returns a Reassembler with cfg, which must be valid.
func NewReassembler(cfg ReassemblerConfig) (*Reassembler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Reassembler{cfg: cfg, sets: make(map[string]*partSet)}, nil
}

// Add records part p of the set named key at time now. When p completes
// the set, Add returns the payload (parts concatenated in Seq order, UDH
// excluded) and done=true. A part whose Seq already arrived is ignored and
// counted (nil, false, nil). Errors wrap ErrBadPart (Total/Seq out of
// range), ErrConflict (Total or Ref differ from the set's first part) or
// ErrFull (MaxPending or MaxBytes reached); the caller should reject the
// part with a protocol status rather than drop it silently.
//
// Add copies p.Data, so the caller may reuse its buffer.
func (r *Reassembler) Add(key string, p Segment, now time.Time) (msg []byte, done bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case p.Total == 0:
		return r.reject(fmt.Errorf("%w: total segments 0", ErrBadPart))
	case p.Seq == 0 || p.Seq > p.Total:
		return r.reject(fmt.Errorf("%w: sequence %d outside 1..%d", ErrBadPart, p.Seq, p.Total))
	case int(p.Total) > r.cfg.MaxParts:
		return r.reject(fmt.Errorf("%w: total segments %d above limit %d", ErrBadPart, p.Total, r.cfg.MaxParts))
	}
	if p.Total == 1 {
		r.stats.Completed++
		return append([]byte(nil), p.Data...), true, nil
	}

	s, ok := r.sets[key]
	if ok {
		if s.total != p.Total {
			return r.reject(fmt.Errorf("%w: total segments %d, set %q has %d", ErrConflict, p.Total, key, s.total))
		}
		if s.ref != p.Ref {
			return r.reject(fmt.Errorf("%w: reference %d, set %q has %d", ErrConflict, p.Ref, key, s.ref))
		}
		if s.has(p.Seq) {
			r.stats.Duplicates++
			return nil, false, nil
		}
	}
	cost := len(p.Data)
	if !ok {
		cost += setCost(key, p.Total)
	}
	if r.bytes+cost > r.cfg.MaxBytes {
		return r.reject(fmt.Errorf("%w: %d octets pending, limit %d", ErrFull, r.bytes, r.cfg.MaxBytes))
	}
	if !ok {
		if len(r.sets) >= r.cfg.MaxPending {
			return r.reject(fmt.Errorf("%w: %d sets pending, limit %d", ErrFull, len(r.sets), r.cfg.MaxPending))
		}
		s = &partSet{
			key: key, ref: p.Ref, total: p.Total,
			parts: make([][]byte, p.Total),
			first: now, deadline: now.Add(r.cfg.TTL),
			bytes: setCost(key, p.Total),
		}
		r.sets[key] = s
		heap.Push(&r.queue, s)
	}
	s.parts[p.Seq-1] = append([]byte(nil), p.Data...)
	s.mark(p.Seq)
	s.n++
	s.bytes += len(p.Data)
	r.bytes += cost
	if s.n < int(s.total) {
		return nil, false, nil
	}

	r.remove(s)
	msg = make([]byte, 0, s.bytes-setCost(key, s.total))
	for _, d := range s.parts {
		msg = append(msg, d...)
	}
	r.stats.Completed++
	return msg, true, nil
}

func (r *Reassembler) reject(err error) ([]byte, bool, error) {
	r.stats.Rejected++
	return nil, false, err
}

// remove forgets s; r.mu must be held.
func (r *Reassembler) remove(s *partSet) {
	delete(r.sets, s.key)
	heap.Remove(&r.queue, s.index)
	r.bytes -= s.bytes
}

// Expire removes and returns the sets whose TTL has run out at now, oldest
// first. Call it periodically; the caller decides whether to deliver the
// partial text, fail the message, or log it.
func (r *Reassembler) Expire(now time.Time) []Incomplete {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Incomplete
	for len(r.queue) > 0 && !now.Before(r.queue[0].deadline) {
		s := r.queue[0]
		r.remove(s)
		in := Incomplete{Key: s.key, Ref: s.ref, Total: s.total, First: s.first, Parts: make([]Segment, 0, s.n)}
		for i, d := range s.parts {
			if s.has(uint8(i + 1)) {
				in.Parts = append(in.Parts, Segment{Data: d, Ref: s.ref, Total: s.total, Seq: uint8(i + 1)})
			}
		}
		out = append(out, in)
		r.stats.Expired++
	}
	return out
}

// Len returns the number of incomplete sets held.
func (r *Reassembler) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sets)
}

// Stats returns a snapshot of the counters.
func (r *Reassembler) Stats() ReassemblerStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.stats
	st.Pending, st.PendingBytes = len(r.sets), r.bytes
	return st
}

// expiryQueue is a min-heap of sets by deadline. A heap rather than a list
// because callers may pass slightly out-of-order times from several
// goroutines.
type expiryQueue []*partSet

func (q expiryQueue) Len() int           { return len(q) }
func (q expiryQueue) Less(i, j int) bool { return q[i].deadline.Before(q[j].deadline) }
func (q expiryQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *expiryQueue) Push(x any) {
	s := x.(*partSet)
	s.index = len(*q)
	*q = append(*q, s)
}
func (q *expiryQueue) Pop() any {
	old := *q
	s := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return s
}
