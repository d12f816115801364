package federation_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tandem-sms/tandem/federation"
	"github.com/tandem-sms/tandem/internal/waitfor"
	"github.com/tandem-sms/tandem/routing"
)

func gossipKey(tb testing.TB) string {
	tb.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		tb.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(k)
}

// memberConfig is a membership on loopback with quick probing: a silent
// member is suspected after 50 ms and dead 2 probe intervals later.
func memberConfig(tb testing.TB, name, gw, key string, seeds ...string) federation.MembershipConfig {
	c := federation.DefaultMembershipConfig()
	c.NodeName, c.Gateway, c.Region = name, gw, "north"
	c.FwdAddr = "127.0.0.1:79" + gw[4:]
	c.Bind = "127.0.0.1:0"
	c.Seeds = seeds
	c.Key = key
	c.Cluster = "tandem-test"
	c.ProbeInterval, c.ProbeTimeout, c.SuspicionMult = 100*time.Millisecond, 50*time.Millisecond, 2
	c.GossipInterval, c.PushPullInterval = 20*time.Millisecond, time.Second
	c.RejoinInterval = 100 * time.Millisecond
	c.Logger = testLog(tb)
	c.Metrics = federation.NewPeerMetrics(prometheus.NewRegistry())
	return c
}

// runningMember is a Membership whose Run goes until stop.
type runningMember struct {
	*federation.Membership
	cfg    federation.MembershipConfig
	cancel context.CancelFunc
	done   chan error
}

func startMember(tb testing.TB, cfg federation.MembershipConfig) *runningMember {
	tb.Helper()
	m, err := federation.NewMembership(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rm := &runningMember{Membership: m, cfg: cfg, cancel: cancel, done: make(chan error, 1)}
	go func() { rm.done <- m.Run(ctx) }()
	tb.Cleanup(rm.stop)
	return rm
}

// stop leaves gracefully and waits for Run; idempotent.
func (m *runningMember) stop() {
	m.cancel()
	if _, ok := <-m.done; ok {
		close(m.done)
	}
}

// names lists the members m sees alive.
func names(m *federation.Membership) []string {
	var out []string
	for _, mb := range m.Members() {
		out = append(out, mb.Name)
	}
	return out
}

// waitMembers waits, woken by the view's change signal, until m sees
// exactly want.
func waitMembers(tb testing.TB, m *federation.Membership, want ...string) {
	tb.Helper()
	slices.Sort(want)
	waitfor.Signalled(tb, "members "+strings.Join(want, ","), func() (bool, []<-chan struct{}) {
		ch := m.Changed()
		return slices.Equal(names(m), want), []<-chan struct{}{ch}
	})
}

// TestMembershipJoinMetaAndDeath: three members with a shared key join
// through a seed, each sees the others' gateway, region, FWD address and
// health; one that stops without leaving is reported dead within the
// configured bound, and one that changes its health is skipped by Live.
func TestMembershipJoinMetaAndDeath(t *testing.T) {
	key := gossipKey(t)
	a := startMember(t, memberConfig(t, "bj-1", gwBJ, key))
	b := startMember(t, memberConfig(t, "gz-1", gwGZ, key, a.LocalAddr()))
	c := startMember(t, memberConfig(t, "gz-2", gwGZ, key, a.LocalAddr()))
	for _, m := range []*runningMember{a, b, c} {
		waitMembers(t, m.Membership, "bj-1", "gz-1", "gz-2")
	}
	live := a.Live(gwGZ)
	if len(live) != 2 {
		t.Fatalf("Live(%s) = %+v", gwGZ, live)
	}
	want := federation.Member{Name: "gz-1", Addr: b.LocalAddr(), NodeMeta: federation.NodeMeta{Gateway: gwGZ, Region: "north", FwdAddr: "127.0.0.1:7901"}}
	if live[0] != want {
		t.Fatalf("member %+v, want %+v", live[0], want)
	}
	if self := a.Live(gwBJ); len(self) != 1 || !self[0].Self {
		t.Fatalf("Live(%s) = %+v", gwBJ, self)
	}
	if n := value(t, a.cfg.Metrics.MembersAlive.WithLabelValues(gwGZ)); n != 2 {
		t.Fatalf("members_alive{%s} = %v", gwGZ, n)
	}

	// Draining: still a member, no longer a target.
	if err := c.SetHealth(federation.HealthDraining); err != nil {
		t.Fatal(err)
	}
	waitfor.Signalled(t, "gz-2 draining at bj-1", func() (bool, []<-chan struct{}) {
		ch := a.Changed()
		l := a.Live(gwGZ)
		return len(l) == 1 && l[0].Name == "gz-1" && len(a.Members()) == 3, []<-chan struct{}{ch}
	})
	if n := value(t, a.cfg.Metrics.MembersReady.WithLabelValues(gwGZ)); n != 1 {
		t.Fatalf("members_ready{%s} = %v", gwGZ, n)
	}

	// A crash: no leave message, found by probing.
	stopped := time.Now()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	bound := a.cfg.DeadWithin(3)
	waitfor.Within(t, bound, "gz-1 reported dead", func() bool {
		return !slices.Contains(names(a.Membership), "gz-1") && !slices.Contains(names(c.Membership), "gz-1")
	})
	t.Logf("dead after %v (bound %v)", time.Since(stopped), bound)
	if n := value(t, a.cfg.Metrics.MembersAlive.WithLabelValues(gwGZ)); n != 1 {
		t.Fatalf("members_alive{%s} = %v", gwGZ, n)
	}

	// A graceful stop is known at once through its leave message.
	c.stop()
	waitMembers(t, a.Membership, "bj-1")
}

// TestMembershipWrongKeyCannotJoin: a node with another key cannot join,
// and the members never see it.
func TestMembershipWrongKeyCannotJoin(t *testing.T) {
	key := gossipKey(t)
	a := startMember(t, memberConfig(t, "bj-1", gwBJ, key))
	b := startMember(t, memberConfig(t, "gz-1", gwGZ, key, a.LocalAddr()))
	waitMembers(t, a.Membership, "bj-1", "gz-1")

	icfg := memberConfig(t, "evil", "099001", gossipKey(t), a.LocalAddr())
	i2 := startMember(t, icfg)
	waitfor.Cond(t, "the intruder's join attempts to fail", func() bool {
		return value(t, icfg.Metrics.MemberEvents.WithLabelValues("join_failed")) >= 2
	})
	if got := names(i2.Membership); !slices.Equal(got, []string{"evil"}) {
		t.Fatalf("intruder sees %v", got)
	}
	// Gossip goes on among the members; a later change is seen, the
	// intruder never is.
	if err := b.SetHealth(federation.HealthUnhealthy); err != nil {
		t.Fatal(err)
	}
	waitfor.Signalled(t, "gz-1 unhealthy at bj-1", func() (bool, []<-chan struct{}) {
		ch := a.Changed()
		return len(a.Live(gwGZ)) == 0, []<-chan struct{}{ch}
	})
	if got := names(a.Membership); !slices.Equal(got, []string{"bj-1", "gz-1"}) {
		t.Fatalf("members see %v", got)
	}
}

// TestMembershipConfigValidate names the bad field.
func TestMembershipConfigValidate(t *testing.T) {
	good := memberConfig(t, "bj-1", gwBJ, gossipKey(t))
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for field, mutate := range map[string]func(*federation.MembershipConfig){
		"NodeName":      func(c *federation.MembershipConfig) { c.NodeName = "" },
		"Gateway":       func(c *federation.MembershipConfig) { c.Gateway = "BJ" },
		"FwdAddr":       func(c *federation.MembershipConfig) { c.FwdAddr = "nowhere" },
		"Bind":          func(c *federation.MembershipConfig) { c.Bind = "127.0.0.1" },
		"Seeds[0]":      func(c *federation.MembershipConfig) { c.Seeds = []string{"seed"} },
		"Key is empty":  func(c *federation.MembershipConfig) { c.Key = "" },
		"Key 5 bytes":   func(c *federation.MembershipConfig) { c.Key = base64.StdEncoding.EncodeToString([]byte("short")) },
		"OldKeys[0]":    func(c *federation.MembershipConfig) { c.OldKeys = []string{"!!"} },
		"ProbeTimeout":  func(c *federation.MembershipConfig) { c.ProbeTimeout = c.ProbeInterval },
		"SuspicionMult": func(c *federation.MembershipConfig) { c.SuspicionMult = 0 },
	} {
		c := good
		mutate(&c)
		err := c.Validate()
		if err == nil {
			t.Fatalf("%s: no error", field)
		}
		if !errors.Is(err, federation.ErrInvalidMembershipConfig) || !strings.Contains(err.Error(), strings.Fields(field)[0]) {
			t.Fatalf("%s: %v", field, err)
		}
	}
}

// TestPeerTargets: table gateways other than ours, at their live members'
// FWD addresses when gossip knows any, else at the table's fwd_addr.
func TestPeerTargets(t *testing.T) {
	gws := []routing.Gateway{
		{Code: gwBJ, FwdAddr: "bj:7930"},
		{Code: gwGZ, FwdAddr: "gz-vip:7930"},
		{Code: "030001", FwdAddr: "tj:7930"},
		{Code: "040001"},
	}
	live := func(code string) []federation.Member {
		if code == gwGZ {
			return []federation.Member{{Name: "gz-2", NodeMeta: federation.NodeMeta{FwdAddr: "gz-2:7930"}}, {Name: "gz-1", NodeMeta: federation.NodeMeta{FwdAddr: "gz-1:7930"}}}
		}
		return nil
	}
	got := federation.PeerTargets(gwBJ, gws, live)
	want := []federation.PeerTarget{
		{Code: gwGZ, Addrs: []string{"gz-1:7930", "gz-2:7930"}},
		{Code: "030001", Addrs: []string{"tj:7930"}},
		{Code: "040001"},
	}
	if !equalTargets(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if got := federation.PeerTargets(gwBJ, gws, nil); got[0].Addrs[0] != "gz-vip:7930" {
		t.Fatalf("without membership: %+v", got)
	}
}

func equalTargets(a, b []federation.PeerTarget) bool {
	return slices.EqualFunc(a, b, func(x, y federation.PeerTarget) bool {
		return x.Code == y.Code && slices.Equal(x.Addrs, y.Addrs)
	})
}
