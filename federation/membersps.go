package federation

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// SP presence: which SPs are logged in to which node, and with how many
// sessions. The nodes of one gateway (siblings) need it to pass a status
// report or an MO to the node its SP is logged in to, and to count an SP's
// connections across the gateway. It is too large for a node's meta (a
// gateway serves hundreds of SPs; memberlist's meta holds 512 bytes), so
// it travels as memberlist user data:
//
//   - each change of this node's count for an SP is broadcast (memberlist's
//     TransmitLimitedQueue: retransmitted a few times to random members;
//     a newer count for the same SP replaces one not yet sent);
//   - the push/pull state sync (on join and every PushPullInterval) carries
//     every entry this node knows, so a lost broadcast is repaired within
//     one interval.
//
// Each entry (node, SP) is a last-writer-wins register: its owner stamps
// it with a sequence that only grows (the wall clock in nanoseconds, or
// one more than the last), and a receiver keeps the highest. A node's
// entries carry its incarnation (its start time): entries of an older
// incarnation are dropped when a newer one is heard, so a restarted node
// is not credited with the sessions of its previous life. Entries are read
// only for members alive in the gossip view, and dropped when a member
// leaves or dies.

// SPPresence is one node's sessions of one SP.
type SPPresence struct {
	Node     string // memberlist node name
	Gateway  string
	Sessions int
	Health   Health // the node's gossiped health
}

type spCount struct {
	n   uint16
	seq uint64
}

type nodeSPs struct {
	inc uint64
	sps map[string]spCount
}

// spTable holds the presence entries of every node; mu is a leaf.
type spTable struct {
	mu      sync.Mutex
	nodes   map[string]*nodeSPs
	lastSeq uint64
	changed chan struct{}
}

func newSPTable() *spTable {
	return &spTable{nodes: map[string]*nodeSPs{}, changed: make(chan struct{})}
}

// notifyLocked closes the changed channel. t.mu is held.
func (t *spTable) notifyLocked() {
	close(t.changed)
	t.changed = make(chan struct{})
}

const (
	spMsgVersion = 1
	maxSPIDLen   = 21 // an SP_Id is 6 digits; room for others' longer ids
	maxNodeLen   = 255
)

var errBadSPMsg = errors.New("federation: bad SP presence message")

// appendSPRecord appends one node's entries: node name, incarnation, the
// entry count and each entry (SP_Id, sessions, sequence).
func appendSPRecord(b []byte, node string, ns *nodeSPs, only string) []byte {
	b = append(b, byte(len(node)))
	b = append(b, node...)
	b = binary.BigEndian.AppendUint64(b, ns.inc)
	if only != "" {
		c := ns.sps[only]
		b = binary.BigEndian.AppendUint16(b, 1)
		return appendSPEntry(b, only, c)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(ns.sps)))
	for sp, c := range ns.sps {
		b = appendSPEntry(b, sp, c)
	}
	return b
}

func appendSPEntry(b []byte, sp string, c spCount) []byte {
	b = append(b, byte(len(sp)))
	b = append(b, sp...)
	b = binary.BigEndian.AppendUint16(b, c.n)
	return binary.BigEndian.AppendUint64(b, c.seq)
}

// merge applies a message of records (a broadcast or a push/pull state);
// self's own entries are never taken from others. It reports whether
// anything changed.
func (t *spTable) merge(msg []byte, self string) (bool, error) {
	if len(msg) < 1 || msg[0] != spMsgVersion {
		return false, fmt.Errorf("%w: version", errBadSPMsg)
	}
	b := msg[1:]
	t.mu.Lock()
	defer t.mu.Unlock()
	changed := false
	for len(b) > 0 {
		node, rest, ok := lenPrefixedBytes(b)
		if !ok || len(rest) < 10 {
			return changed, fmt.Errorf("%w: record header", errBadSPMsg)
		}
		inc := binary.BigEndian.Uint64(rest)
		count := int(binary.BigEndian.Uint16(rest[8:]))
		b = rest[10:]
		mine := string(node) == self
		ns := t.nodes[string(node)]
		if !mine {
			switch {
			case ns == nil || inc > ns.inc:
				ns = &nodeSPs{inc: inc, sps: map[string]spCount{}}
				t.nodes[string(node)] = ns
				changed = true
			case inc < ns.inc:
				ns = nil // an older life: skip its entries
			}
		}
		for range count {
			sp, rest, ok := lenPrefixedBytes(b)
			if !ok || len(rest) < 10 || len(sp) > maxSPIDLen {
				return changed, fmt.Errorf("%w: entry", errBadSPMsg)
			}
			c := spCount{n: binary.BigEndian.Uint16(rest), seq: binary.BigEndian.Uint64(rest[2:])}
			b = rest[10:]
			if mine || ns == nil {
				continue
			}
			if old, ok := ns.sps[string(sp)]; !ok || c.seq > old.seq {
				ns.sps[string(sp)] = c
				changed = changed || old.n != c.n || !ok
			}
		}
	}
	if changed {
		t.notifyLocked()
	}
	return changed, nil
}

func lenPrefixedBytes(b []byte) ([]byte, []byte, bool) {
	if len(b) < 1 || len(b) < 1+int(b[0]) {
		return nil, b, false
	}
	n := int(b[0])
	return b[1 : 1+n], b[1+n:], true
}

// spBroadcast is one change of this node's count for an SP; a newer one
// for the same SP replaces it in the queue (NamedBroadcast).
type spBroadcast struct {
	sp  string
	msg []byte
}

func (b *spBroadcast) Invalidates(o memberlist.Broadcast) bool {
	ob, ok := o.(*spBroadcast)
	return ok && ob.sp == b.sp
}
func (b *spBroadcast) Name() string    { return "sp:" + b.sp }
func (b *spBroadcast) Message() []byte { return b.msg }
func (b *spBroadcast) Finished()       {}

// SetSPSessions sets this node's number of logged-in sessions of SP spID
// and gossips it. Safe for concurrent use; cheap enough to call on every
// login and logout.
func (m *Membership) SetSPSessions(spID string, sessions int) {
	if len(spID) == 0 || len(spID) > maxSPIDLen {
		return
	}
	sessions = min(max(sessions, 0), 1<<16-1)
	t := m.sps
	t.mu.Lock()
	self := t.nodes[m.cfg.NodeName]
	if old, ok := self.sps[spID]; ok && int(old.n) == sessions {
		t.mu.Unlock()
		return
	}
	seq := max(t.lastSeq+1, uint64(time.Now().UnixNano()))
	t.lastSeq = seq
	self.sps[spID] = spCount{n: uint16(sessions), seq: seq}
	msg := appendSPRecord([]byte{spMsgVersion}, m.cfg.NodeName, self, spID)
	t.notifyLocked()
	t.mu.Unlock()
	m.spQueue.QueueBroadcast(&spBroadcast{sp: spID, msg: msg})
}

// SPSessions returns where SP spID is logged in among the alive members
// of gateway (this node included if it has sessions), with each node's
// session count; nodes with none are left out.
func (m *Membership) SPSessions(gateway, spID string) []SPPresence {
	var out []SPPresence
	members := m.view.Load().byGateway[gateway]
	t := m.sps
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, mb := range members {
		ns := t.nodes[mb.Name]
		if ns == nil {
			continue
		}
		if c := ns.sps[spID]; c.n > 0 {
			out = append(out, SPPresence{Node: mb.Name, Gateway: mb.Gateway, Sessions: int(c.n), Health: mb.Health})
		}
	}
	return out
}

// SPsChanged returns a channel closed when any presence entry changes.
// Take it before reading, then wait on it.
func (m *Membership) SPsChanged() <-chan struct{} {
	m.sps.mu.Lock()
	defer m.sps.mu.Unlock()
	return m.sps.changed
}

// NodeName is this node's memberlist name.
func (m *Membership) NodeName() string { return m.cfg.NodeName }

// forgetSPs drops a gone member's entries.
func (t *spTable) forget(node string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.nodes[node]; ok {
		delete(t.nodes, node)
		t.notifyLocked()
	}
}

// state encodes every entry known: the push/pull payload.
func (t *spTable) state() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := []byte{spMsgVersion}
	for node, ns := range t.nodes {
		if len(node) > maxNodeLen {
			continue
		}
		b = appendSPRecord(b, node, ns, "")
	}
	return b
}
