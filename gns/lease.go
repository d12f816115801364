package gns

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"
)

// Store leases (region HA): the GNS records which ISMG node owns which
// durable store, so that two nodes never drain the same store. A lease is
// granted through Raft; its fencing token is the Raft index of the grant,
// so tokens only grow. Time is the leader's: the leader stamps its clock
// into every lease command, and Apply compares stamped times only, never
// the replica's own clock, so every replica decides expiry alike. The FSM
// keeps the largest stamp it has applied (leaseTable.clock) and uses
// max(stamp, clock), so a new leader whose clock is behind cannot move
// lease time backwards.

// Sentinel errors of the lease commands (FAILED_PRECONDITION at the API).
var (
	// ErrLeaseHeld: another holder's lease has not lapsed (long enough).
	ErrLeaseHeld = errors.New("gns: store lease held by another node")
	// ErrLeaseLost: a renewal or release by a holder that no longer holds
	// the lease with that token (lapsed, taken over, or released).
	ErrLeaseLost = errors.New("gns: store lease lost")
)

// Bounds of the lease fields, checked at the API and again in decode.
const (
	maxLeaseField = 128
	minLeaseTTL   = 100 * time.Millisecond
	maxLeaseTTL   = time.Hour
)

// leaseOp is the operation of a cmdLease command.
type leaseOp byte

const (
	leaseAcquire leaseOp = 1
	leaseRenew   leaseOp = 2
	leaseRelease leaseOp = 3
)

// storeLease is one store's lease; values are copied, never shared.
type storeLease struct {
	Store   string
	Holder  string
	Gateway string // the ISMG gateway code the store serves ("" if not given)
	Token   uint64 // Raft index of the grant
	Granted int64  // stamped unix nanos of the grant
	Renewed int64  // stamped unix nanos of the last grant or renewal
	Expires int64  // stamped unix nanos the lease lapses at
	TTL     time.Duration
}

// leaseTable is the immutable lease state the FSM publishes atomically.
type leaseTable struct {
	leases map[string]storeLease
	clock  int64 // the largest stamped time applied
}

var emptyLeases = &leaseTable{leases: map[string]storeLease{}}

// sorted returns the leases by store id.
func (t *leaseTable) sorted() []storeLease {
	out := make([]storeLease, 0, len(t.leases))
	for _, k := range slices.Sorted(maps.Keys(t.leases)) {
		out = append(out, t.leases[k])
	}
	return out
}

// leaseCmd is a decoded cmdLease command.
type leaseCmd struct {
	op         leaseOp
	store      string
	holder     string
	gateway    string // acquire only
	token      uint64
	ttl        time.Duration
	minExpired time.Duration
	now        int64 // the leader's stamp
}

func encodeLease(c leaseCmd) []byte {
	b := appendHeader(nil, cmdLease)
	b = append(b, byte(c.op))
	b = binary.AppendUvarint(b, uint64(len(c.store)))
	b = append(b, c.store...)
	b = binary.AppendUvarint(b, uint64(len(c.holder)))
	b = append(b, c.holder...)
	b = binary.AppendUvarint(b, c.token)
	b = binary.AppendUvarint(b, uint64(c.ttl))
	b = binary.AppendUvarint(b, uint64(c.minExpired))
	b = binary.AppendUvarint(b, uint64(c.now))
	if c.gateway == "" {
		return b
	}
	b = binary.AppendUvarint(b, uint64(len(c.gateway)))
	return append(b, c.gateway...)
}

func decodeLease(b []byte) (leaseCmd, error) {
	var c leaseCmd
	if len(b) < 3 || b[1] != cmdVersion {
		return c, fmt.Errorf("%w: lease: short or wrong version", errBadCommand)
	}
	c.op = leaseOp(b[2])
	p := b[3:]
	var err error
	if c.store, p, err = readString(p); err != nil {
		return c, fmt.Errorf("%w: lease store: %w", errBadCommand, err)
	}
	if c.holder, p, err = readString(p); err != nil {
		return c, fmt.Errorf("%w: lease holder: %w", errBadCommand, err)
	}
	var vals [4]uint64
	for i := range vals {
		v, n := binary.Uvarint(p)
		if n <= 0 {
			return c, fmt.Errorf("%w: lease field %d", errBadCommand, i)
		}
		vals[i], p = v, p[n:]
	}
	if len(p) != 0 { // the gateway, optional and last
		if c.gateway, p, err = readString(p); err != nil {
			return c, fmt.Errorf("%w: lease gateway: %w", errBadCommand, err)
		}
	}
	if len(p) != 0 {
		return c, fmt.Errorf("%w: lease: %d trailing bytes", errBadCommand, len(p))
	}
	c.token, c.ttl, c.minExpired, c.now = vals[0], time.Duration(vals[1]), time.Duration(vals[2]), int64(vals[3])
	if c.op < leaseAcquire || c.op > leaseRelease {
		return c, fmt.Errorf("%w: lease op %d", errBadCommand, c.op)
	}
	if c.store == "" || c.holder == "" {
		return c, fmt.Errorf("%w: lease needs a store and a holder", errBadCommand)
	}
	return c, nil
}

// applyLease applies one lease command at Raft index idx. The response is
// the lease (a storeLease) after acquire or renew, nil after release, or an
// error (ErrLeaseHeld, ErrLeaseLost, errBadCommand): the same on every
// replica, since it depends only on the log.
func (f *fsm) applyLease(data []byte, idx uint64) any {
	c, err := decodeLease(data)
	if err != nil {
		return err
	}
	old := f.leases.Load()
	now := max(c.now, old.clock)
	cur, held := old.leases[c.store]
	next := &leaseTable{leases: old.leases, clock: now}
	var resp any
	switch c.op {
	case leaseAcquire:
		lapsed := held && now >= cur.Expires+int64(c.minExpired)
		if held && cur.Holder != c.holder && !lapsed {
			err = fmt.Errorf("%w: store %s is held by %s (token %d) until %s", ErrLeaseHeld, c.store, cur.Holder, cur.Token,
				time.Unix(0, cur.Expires).UTC().Format(time.RFC3339Nano))
			break
		}
		l := storeLease{Store: c.store, Holder: c.holder, Gateway: c.gateway, Token: idx, Granted: now, Renewed: now, Expires: now + int64(c.ttl), TTL: c.ttl}
		next.leases = maps.Clone(old.leases)
		next.leases[c.store] = l
		resp = l
	case leaseRenew:
		if err = checkHolder(c, cur, held, now); err != nil {
			break
		}
		cur.Renewed, cur.Expires, cur.TTL = now, now+int64(c.ttl), c.ttl
		next.leases = maps.Clone(old.leases)
		next.leases[c.store] = cur
		resp = cur
	case leaseRelease:
		if err = checkHolder(c, cur, held, now); err != nil && !errors.Is(err, errLeaseLapsed) {
			break
		}
		// Releasing a lapsed lease nobody took is still the holder's
		// right: it says the store is free and drained.
		err = nil
		next.leases = maps.Clone(old.leases)
		delete(next.leases, c.store)
	}
	// The clock advances even when the command is refused: it is a stamp
	// the leader made, and time only moves forward.
	f.leases.Store(next)
	if err != nil {
		return err
	}
	return resp
}

var errLeaseLapsed = fmt.Errorf("%w: lapsed", ErrLeaseLost)

// checkHolder says whether c's holder still holds cur with c's token at
// time now.
func checkHolder(c leaseCmd, cur storeLease, held bool, now int64) error {
	switch {
	case !held:
		return fmt.Errorf("%w: store %s has no lease", ErrLeaseLost, c.store)
	case cur.Holder != c.holder || cur.Token != c.token:
		return fmt.Errorf("%w: store %s is held by %s with token %d, not %s with token %d",
			ErrLeaseLost, c.store, cur.Holder, cur.Token, c.holder, c.token)
	case now >= cur.Expires:
		return fmt.Errorf("%w: store %s lapsed at %s", errLeaseLapsed, c.store,
			time.Unix(0, cur.Expires).UTC().Format(time.RFC3339Nano))
	}
	return nil
}

// writeLeases appends the lease section of a snapshot: the clock, the
// count, then each lease.
func writeLeases(w io.Writer, t *leaseTable) error {
	if t == nil {
		t = emptyLeases
	}
	b := binary.AppendUvarint(nil, uint64(t.clock))
	ls := t.sorted()
	b = binary.AppendUvarint(b, uint64(len(ls)))
	for _, l := range ls {
		b = binary.AppendUvarint(b, uint64(len(l.Store)))
		b = append(b, l.Store...)
		b = binary.AppendUvarint(b, uint64(len(l.Holder)))
		b = append(b, l.Holder...)
		b = binary.AppendUvarint(b, uint64(len(l.Gateway)))
		b = append(b, l.Gateway...)
		for _, v := range []uint64{l.Token, uint64(l.Granted), uint64(l.Renewed), uint64(l.Expires), uint64(l.TTL)} {
			b = binary.AppendUvarint(b, v)
		}
	}
	_, err := w.Write(b)
	return err
}

func readLeases(br *bufio.Reader) (*leaseTable, error) {
	clock, err := binary.ReadUvarint(br)
	if err != nil {
		return nil, fmt.Errorf("lease clock: %w", err)
	}
	n, err := binary.ReadUvarint(br)
	if err != nil {
		return nil, fmt.Errorf("lease count: %w", err)
	}
	if n > 1<<20 {
		return nil, fmt.Errorf("%w: %d leases", errBadCommand, n)
	}
	t := &leaseTable{leases: make(map[string]storeLease, n), clock: int64(clock)}
	for range n {
		store, err := readSnapBytes(br, maxLeaseField)
		if err != nil {
			return nil, err
		}
		holder, err := readSnapBytes(br, maxLeaseField)
		if err != nil {
			return nil, err
		}
		gateway, err := readSnapBytes(br, maxLeaseField)
		if err != nil {
			return nil, err
		}
		var v [5]uint64
		for i := range v {
			if v[i], err = binary.ReadUvarint(br); err != nil {
				return nil, err
			}
		}
		t.leases[string(store)] = storeLease{Store: string(store), Holder: string(holder), Gateway: string(gateway), Token: v[0],
			Granted: int64(v[1]), Renewed: int64(v[2]), Expires: int64(v[3]), TTL: time.Duration(v[4])}
	}
	return t, nil
}
