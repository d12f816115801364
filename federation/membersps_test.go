package federation_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/tandem-sms/tandem/federation"
	"github.com/tandem-sms/tandem/internal/waitfor"
)

// spAt says how many sessions m's gossip credits node with for sp.
func spAt(m *federation.Membership, gw, sp, node string) int {
	for _, p := range m.SPSessions(gw, sp) {
		if p.Node == node {
			return p.Sessions
		}
	}
	return 0
}

// waitSPAt waits, woken by the presence change signal, until m credits
// node with n sessions of sp.
func waitSPAt(tb testing.TB, m *federation.Membership, gw, sp, node string, n int) {
	tb.Helper()
	waitfor.Signalled(tb, fmt.Sprintf("%s: %s has %d sessions of %s", m.NodeName(), node, n, sp), func() (bool, []<-chan struct{}) {
		ch, view := m.SPsChanged(), m.Changed()
		return spAt(m, gw, sp, node) == n, []<-chan struct{}{ch, view}
	})
}

// TestSPPresenceGossip: the nodes of one gateway learn each other's SP
// session counts over real memberlist gossip (broadcasts), a member that
// joins later learns them by the push/pull sync, a change replaces the
// older count, and a node that leaves takes its sessions with it.
func TestSPPresenceGossip(t *testing.T) {
	key := gossipKey(t)
	a := startMember(t, memberConfig(t, "bj-a", gwBJ, key))
	b := startMember(t, memberConfig(t, "bj-b", gwBJ, key, a.LocalAddr()))
	waitMembers(t, a.Membership, "bj-a", "bj-b")

	a.SetSPSessions("901234", 2)
	b.SetSPSessions("901234", 1)
	b.SetSPSessions("901235", 3)
	waitSPAt(t, b.Membership, gwBJ, "901234", "bj-a", 2)
	waitSPAt(t, a.Membership, gwBJ, "901234", "bj-b", 1)
	waitSPAt(t, a.Membership, gwBJ, "901235", "bj-b", 3)
	if got := spAt(a.Membership, gwBJ, "901234", "bj-a"); got != 2 {
		t.Errorf("a's own count: %d", got)
	}

	// A late joiner gets the counts by state sync, not broadcasts (sent
	// before it existed).
	c := startMember(t, memberConfig(t, "bj-c", gwBJ, key, a.LocalAddr()))
	waitSPAt(t, c.Membership, gwBJ, "901235", "bj-b", 3)
	waitSPAt(t, c.Membership, gwBJ, "901234", "bj-a", 2)

	b.SetSPSessions("901235", 0)
	waitSPAt(t, a.Membership, gwBJ, "901235", "bj-b", 0)
	waitSPAt(t, c.Membership, gwBJ, "901235", "bj-b", 0)

	b.stop()
	waitSPAt(t, a.Membership, gwBJ, "901234", "bj-b", 0)
	waitfor.Cond(t, "c to forget bj-b", func() bool {
		var nodes []string
		for _, p := range c.SPSessions(gwBJ, "901234") {
			nodes = append(nodes, p.Node)
		}
		return slices.Equal(nodes, []string{"bj-a"})
	})
}
