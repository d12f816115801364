package ismg

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/ismg/queue"
)

// Msg_Ids are never issued twice, across crashes: an id of second S is
// handed out only once S is durably reserved. The node keeps a lease of
// the next msgIDLease seconds in KV meta/msgid_hw (the last reserved
// second), written before the CMPP port serves and renewed by the
// reserver goroutine when less than half of it is left; the generator's
// ceiling (cmpp.MsgIDGenerator.SetCeiling) is raised only after the
// commit. A restart resumes after the stored second, so whatever the
// previous process handed out, even 0.1 s after start, cannot come again.
// The ids of a restarted node therefore run up to msgIDLease ahead of the
// clock; a clean stop stores the last second actually used, so a restart
// after one does not skip ahead.
//
// If the reservation falls behind (the store stalls, or a burst of more
// than 65,536 ids a second borrows future seconds up to the ceiling), a
// SUBMIT is refused with Result 8 (reason "msgid") and the reserver is
// woken, rather than an unreserved id handed out.
const msgIDLease = 10 * time.Second

var keyMsgIDHighWater = []byte("msgid_hw")

// msgIDs is the node's Msg_Id generator with its durable reservation.
type msgIDs struct {
	gen  *cmpp.MsgIDGenerator
	st   *queue.Store
	now  func() time.Time
	kick chan struct{}
}

// openMsgIDs reads the last reserved second and reserves the first lease,
// durably, before any id can be handed out.
//
// A node of a gateway served by several (gateway.node_bits > 0) issues
// only the ids whose sequence's top node_bits bits are its node_index
// (cmpp.NewNodeMsgIDGenerator): 65536>>node_bits a second, then it borrows
// the next second within its reservation, and past that SUBMITs get
// Result 8 as above.
func openMsgIDs(st *queue.Store, gateway uint32, index, bits int, now func() time.Time) (*msgIDs, error) {
	var last time.Time
	switch v, err := st.GetKV(kvMeta, keyMsgIDHighWater); {
	case err == nil && len(v) == 8:
		last = time.Unix(int64(binary.BigEndian.Uint64(v)), 0)
	case err == nil || errors.Is(err, queue.ErrNotFound):
	default:
		return nil, fmt.Errorf("ismg: read Msg_Id reservation: %w", err)
	}
	gen, err := cmpp.NewNodeMsgIDGenerator(gateway, uint(index), uint(bits), now, last)
	if err != nil {
		return nil, fmt.Errorf("ismg: gateway.node_index: %w", err)
	}
	m := &msgIDs{gen: gen, st: st, now: now, kick: make(chan struct{}, 1)}
	if err := m.reserve(context.Background()); err != nil {
		return nil, err
	}
	return m, nil
}

// next returns n consecutive Msg_Ids (see cmpp.MsgIDGenerator.NextN); an
// id beyond the reservation is refused with cmpp.ErrMsgIDReserve and
// wakes the reserver.
func (m *msgIDs) next(n int) (uint64, error) {
	id, err := m.gen.NextN(n)
	if errors.Is(err, cmpp.ErrMsgIDReserve) {
		select {
		case m.kick <- struct{}{}:
		default:
		}
	}
	return id, err
}

// reserve durably records the lease's last second, then raises the
// ceiling to it. The lease starts after whatever was handed out already
// (a burst may have run ahead of the clock).
func (m *msgIDs) reserve(ctx context.Context) error {
	from := m.now()
	if hw := m.gen.HighWater(); hw.After(from) {
		from = hw
	}
	last := from.Add(msgIDLease).Truncate(time.Second)
	v := binary.BigEndian.AppendUint64(nil, uint64(last.Unix()))
	if err := m.st.Commit(ctx, queue.Put(kvMeta, keyMsgIDHighWater, v)); err != nil {
		return fmt.Errorf("ismg: reserve Msg_Ids up to %v: %w", last.Format(time.TimeOnly), err)
	}
	m.gen.SetCeiling(last)
	return nil
}

// run renews the lease while ctx lives: when less than half of it is
// left, or at once when next found it exhausted.
func (m *msgIDs) run(ctx context.Context, onErr func(error)) error {
	t := time.NewTicker(msgIDLease / 10)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if m.gen.Ceiling().Sub(m.now()) > msgIDLease/2 {
				continue
			}
		case <-m.kick:
		}
		if err := m.reserve(ctx); err != nil && ctx.Err() == nil {
			onErr(err)
		}
	}
}

// saveUsed stores the last second actually used, once nothing can hand
// out ids any more (the end of Run), so a clean restart does not skip a
// lease ahead. The generator never hands out beyond its ceiling, so the
// stored second is at most the reservation.
func (m *msgIDs) saveUsed(ctx context.Context) error {
	hw := m.gen.HighWater()
	if hw.IsZero() {
		return nil
	}
	v := binary.BigEndian.AppendUint64(nil, uint64(hw.Unix()))
	return m.st.Commit(ctx, queue.Put(kvMeta, keyMsgIDHighWater, v))
}
