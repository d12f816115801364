package federation

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"golang.org/x/time/rate"
)

// ErrInvalidMembershipConfig is wrapped by every MembershipConfig.Validate
// error.
var ErrInvalidMembershipConfig = errors.New("federation: invalid membership config")

// MembershipConfig configures gossip membership among the ISMG nodes
// (hashicorp/memberlist). Start from DefaultMembershipConfig and set at
// least NodeName, Gateway, FwdAddr, Key and, on all but the first node,
// Seeds.
type MembershipConfig struct {
	// NodeName names this node, unique in the federation ("bj-1").
	NodeName string
	// Gateway and Region are this node's gateway code and region.
	Gateway, Region string
	// FwdAddr is the FWD address peers dial for this node (its
	// listen.fwd as reachable from them); empty: the node takes no FWDs.
	FwdAddr string
	// NodeBits and NodeIndex are gossiped in the meta (NodeMeta): the
	// node's share of its gateway's Msg_Id sequence.
	NodeBits, NodeIndex uint8
	// Bind is the gossip address, UDP and TCP on one port (memberlist's
	// default port is 7946); port 0 picks a free one.
	Bind string
	// Advertise is the gossip address the others reach this node at, when
	// it differs from Bind (NAT, a Bind of 0.0.0.0); empty: Bind's, or
	// for an unspecified Bind host the first private address.
	Advertise string
	// Seeds are gossip addresses (host:port) of nodes to join through;
	// Run retries them while no other member is alive.
	Seeds []string
	// Key is the shared gossip key, base64 of 16, 24 or 32 bytes (AES-128,
	// -192, -256): every packet and stream is encrypted and authenticated
	// with it, and a node without it cannot join or be heard. OldKeys are
	// also accepted from others while a new key is rolled out (every node
	// gets the new key in OldKeys, then as Key, then the old one goes).
	Key     string
	OldKeys []string
	// Cluster, if set, is bound into every message (memberlist's label,
	// the GCM additional data): two federations sharing a key still do
	// not merge.
	Cluster string

	// ProbeInterval is how often a node probes a random member,
	// ProbeTimeout how long it waits for the ack before asking others to
	// probe; a member that stays silent is suspected and, after
	// SuspicionMult×max(1, log10 n)×ProbeInterval (longer while few
	// others confirm), declared dead. DeadWithin gives the bound.
	ProbeInterval, ProbeTimeout time.Duration
	SuspicionMult               int
	// GossipInterval is how often state changes are gossiped;
	// PushPullInterval how often a full state sync runs with a random
	// member.
	GossipInterval, PushPullInterval time.Duration
	// RejoinInterval is how often Run retries the seeds while no other
	// member is alive (the first node up, or a partition healed).
	RejoinInterval time.Duration
	// LeaveTimeout bounds the graceful leave when Run ends.
	LeaveTimeout time.Duration

	Logger  *slog.Logger // nil discards
	Metrics *PeerMetrics // nil: metrics on a private registry
}

// DefaultMembershipConfig returns memberlist's LAN timings.
func DefaultMembershipConfig() MembershipConfig {
	return MembershipConfig{
		Bind:             "0.0.0.0:7946",
		ProbeInterval:    time.Second,
		ProbeTimeout:     500 * time.Millisecond,
		SuspicionMult:    4,
		GossipInterval:   200 * time.Millisecond,
		PushPullInterval: 30 * time.Second,
		RejoinInterval:   10 * time.Second,
		LeaveTimeout:     2 * time.Second,
	}
}

// Validate reports the first invalid field.
func (c MembershipConfig) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s %s", ErrInvalidMembershipConfig, field, fmt.Sprintf(format, args...))
	}
	if c.NodeName == "" {
		return bad("NodeName", "is empty")
	}
	if _, err := (NodeMeta{Gateway: c.Gateway, Region: c.Region, FwdAddr: c.FwdAddr}).encode(); err != nil {
		return bad("Gateway/Region/FwdAddr", "%v", err)
	}
	if c.FwdAddr != "" {
		if _, _, err := net.SplitHostPort(c.FwdAddr); err != nil {
			return bad("FwdAddr", "%q is not host:port", c.FwdAddr)
		}
	}
	if _, _, err := splitHostPort(c.Bind); err != nil {
		return bad("Bind", "%v", err)
	}
	if c.Advertise != "" {
		if _, _, err := splitHostPort(c.Advertise); err != nil {
			return bad("Advertise", "%v", err)
		}
	}
	for i, s := range c.Seeds {
		if _, _, err := net.SplitHostPort(s); err != nil {
			return bad(fmt.Sprintf("Seeds[%d]", i), "%q is not host:port", s)
		}
	}
	if c.Key == "" {
		return bad("Key", "is empty: gossip must be encrypted (base64 of 16, 24 or 32 random bytes)")
	}
	if _, err := decodeKey(c.Key); err != nil {
		return bad("Key", "%v", err)
	}
	for i, k := range c.OldKeys {
		if _, err := decodeKey(k); err != nil {
			return bad(fmt.Sprintf("OldKeys[%d]", i), "%v", err)
		}
	}
	switch {
	case len(c.Cluster) > memberlist.LabelMaxSize:
		return bad("Cluster", "is %d bytes, at most %d", len(c.Cluster), memberlist.LabelMaxSize)
	case c.ProbeInterval <= 0:
		return bad("ProbeInterval", "must be > 0, got %v", c.ProbeInterval)
	case c.ProbeTimeout <= 0 || c.ProbeTimeout >= c.ProbeInterval:
		return bad("ProbeTimeout", "must be > 0 and < ProbeInterval (%v), got %v", c.ProbeInterval, c.ProbeTimeout)
	case c.SuspicionMult < 1:
		return bad("SuspicionMult", "must be >= 1, got %d", c.SuspicionMult)
	case c.GossipInterval <= 0:
		return bad("GossipInterval", "must be > 0, got %v", c.GossipInterval)
	case c.PushPullInterval <= 0:
		return bad("PushPullInterval", "must be > 0, got %v", c.PushPullInterval)
	case c.RejoinInterval <= 0:
		return bad("RejoinInterval", "must be > 0, got %v", c.RejoinInterval)
	case c.LeaveTimeout <= 0:
		return bad("LeaveTimeout", "must be > 0, got %v", c.LeaveTimeout)
	}
	return nil
}

// Constants of memberlist's failure detector that DeadWithin accounts
// for: the suspicion timeout starts at suspicionMaxMult times its minimum
// and shrinks as others confirm; a node that misses its own deadlines
// (awareness) stretches its probe interval and timeout up to
// awarenessMax times.
const (
	suspicionMaxMult = 6
	awarenessMax     = 8
)

// DeadWithin bounds how long after a node of a federation of n members
// stops (crash, cut off) the others report it dead: every other member
// is probed before it again (n-1 probe rounds, each stretched at most
// awarenessMax times on a struggling prober), then the suspicion timeout
// at its longest. Typical detection is far quicker: about a probe round
// plus SuspicionMult×max(1, log10 n)×ProbeInterval; with the defaults and
// three nodes, a few seconds.
func (c MembershipConfig) DeadWithin(n int) time.Duration {
	n = max(n, 2)
	probing := time.Duration(n-1)*c.ProbeInterval + c.ProbeTimeout
	suspicion := time.Duration(float64(c.SuspicionMult) * math.Max(1, math.Log10(float64(n))) * float64(c.ProbeInterval))
	return awarenessMax*probing + suspicionMaxMult*suspicion
}

func decodeKey(s string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not base64: %v", err)
	}
	if err := memberlist.ValidateKey(k); err != nil {
		return nil, fmt.Errorf("%d bytes: want 16, 24 or 32", len(k))
	}
	return k, nil
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%q is not host:port", addr)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("%q: bad port", addr)
	}
	return host, port, nil
}

// Member is one gateway node as gossip knows it.
type Member struct {
	Name     string // memberlist node name, unique
	Addr     string // gossip address
	Self     bool   // this node
	NodeMeta        // gateway, region, FWD address and health it gossips

}

// Membership is this node's part in the gossip among the ISMG nodes: it
// tells the others its gateway, region, FWD address and health, and keeps
// the live members of every gateway. NewMembership binds the gossip port;
// Run joins the seeds and leaves gracefully at the end; Close stops at
// once (the others see a crash). The view methods are safe for concurrent
// use and take no lock.
type Membership struct {
	cfg     MembershipConfig
	log     *slog.Logger
	m       *PeerMetrics
	ml      *memberlist.Memberlist
	meta    atomic.Pointer[[]byte] // encoded NodeMeta with the current health
	health  atomic.Uint32
	view    atomic.Pointer[memberView]
	started atomic.Bool

	// Written by memberlist's event delegate (never called concurrently);
	// the mutex covers the reads in publish and the gauges' gateway set.
	mu       sync.Mutex
	members  map[string]Member
	gateways map[string]bool // every gateway seen, so its gauges fall to 0

	stopMu  sync.Mutex
	stopped bool // Shutdown was called: Leave would panic

	// SP presence (membersps.go): who is logged in where.
	sps     *spTable
	spQueue *memberlist.TransmitLimitedQueue
}

// memberView is one published set of alive members and the channel
// closed when it is replaced.
type memberView struct {
	all       []Member
	byGateway map[string][]Member
	changed   chan struct{}
}

// NewMembership validates cfg and starts memberlist on the gossip port: it
// answers probes from now on, but joins nobody until Run.
func NewMembership(cfg MembershipConfig) (*Membership, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewPeerMetrics(nil)
	}
	m := &Membership{
		cfg:      cfg,
		log:      cfg.Logger,
		m:        cfg.Metrics,
		members:  map[string]Member{},
		gateways: map[string]bool{},
		sps:      newSPTable(),
	}
	m.sps.nodes[cfg.NodeName] = &nodeSPs{inc: uint64(time.Now().UnixNano()), sps: map[string]spCount{}}
	m.spQueue = &memberlist.TransmitLimitedQueue{NumNodes: func() int { return max(1, len(m.Members())) }, RetransmitMult: 3}
	if err := m.setMeta(HealthOK); err != nil {
		return nil, err
	}
	m.view.Store(&memberView{byGateway: map[string][]Member{}, changed: make(chan struct{})})

	mc := memberlist.DefaultLANConfig()
	mc.Name = cfg.NodeName
	mc.BindAddr, mc.BindPort, _ = splitHostPort(cfg.Bind)
	mc.AdvertisePort = mc.BindPort
	if cfg.Advertise != "" {
		mc.AdvertiseAddr, mc.AdvertisePort, _ = splitHostPort(cfg.Advertise)
	}
	primary, _ := decodeKey(cfg.Key)
	keys := [][]byte{primary}
	for _, k := range cfg.OldKeys {
		old, _ := decodeKey(k)
		keys = append(keys, old)
	}
	ring, err := memberlist.NewKeyring(keys, primary)
	if err != nil {
		return nil, fmt.Errorf("federation: gossip keyring: %w", err)
	}
	mc.Keyring = ring
	mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = true, true
	mc.Label = cfg.Cluster
	mc.ProbeInterval, mc.ProbeTimeout, mc.SuspicionMult = cfg.ProbeInterval, cfg.ProbeTimeout, cfg.SuspicionMult
	mc.SuspicionMaxTimeoutMult, mc.AwarenessMaxMultiplier = suspicionMaxMult, awarenessMax
	mc.GossipInterval, mc.PushPullInterval = cfg.GossipInterval, cfg.PushPullInterval
	mc.GossipToTheDeadTime = cfg.PushPullInterval
	mc.Delegate = (*memberDelegate)(m)
	mc.Events = (*memberEvents)(m)
	mc.Logger = log.New(&memberlistLog{log: cfg.Logger, loud: rate.Sometimes{First: 10, Interval: time.Second}}, "", 0)
	if m.ml, err = memberlist.Create(mc); err != nil {
		return nil, fmt.Errorf("federation: start gossip on %s: %w", cfg.Bind, err)
	}
	m.log.Info("gossip started", keyMember, cfg.NodeName, keyAddr, m.ml.LocalNode().Address(), keyGateway, cfg.Gateway)
	return m, nil
}

func (m *Membership) setMeta(h Health) error {
	b, err := NodeMeta{Gateway: m.cfg.Gateway, Region: m.cfg.Region, FwdAddr: m.cfg.FwdAddr, Health: h,
		NodeBits: m.cfg.NodeBits, NodeIndex: m.cfg.NodeIndex}.encode()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidMembershipConfig, err)
	}
	m.meta.Store(&b)
	m.health.Store(uint32(h))
	return nil
}

func (nm NodeMeta) encode() ([]byte, error) { return AppendNodeMeta(nil, nm) }

// LocalAddr is this node's gossip address as the others see it.
func (m *Membership) LocalAddr() string { return m.ml.LocalNode().Address() }

// Run joins the seeds, retrying every RejoinInterval while no other
// member is alive, until ctx is done; then it leaves gracefully (the
// others learn it at once rather than by probing) and stops gossip.
func (m *Membership) Run(ctx context.Context) error {
	if !m.started.CompareAndSwap(false, true) {
		return ErrRunning
	}
	for {
		if len(m.cfg.Seeds) > 0 && m.ml.NumMembers() <= 1 {
			if n, err := m.ml.Join(m.cfg.Seeds); err != nil {
				m.m.MemberEvents.WithLabelValues("join_failed").Inc()
				// memberlist's multierror spans lines; one line reads better.
				m.log.Warn("gossip join failed", "seeds", m.cfg.Seeds, "retry_in", m.cfg.RejoinInterval,
					keyErr, strings.Join(strings.Fields(err.Error()), " "))
			} else {
				m.log.Info("gossip joined", "contacted", n, "members", m.ml.NumMembers())
			}
		}
		t := time.NewTimer(m.cfg.RejoinInterval)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			m.stopMu.Lock()
			defer m.stopMu.Unlock()
			if !m.stopped {
				if err := m.ml.Leave(m.cfg.LeaveTimeout); err != nil {
					m.log.Warn("gossip leave", keyErr, err)
				}
				m.stopped = true
				_ = m.ml.Shutdown()
			}
			return nil
		}
	}
}

// Close stops gossip at once, without leaving: the others find this node
// dead by probing, as after a crash. Run (if running) returns when its
// ctx ends, as usual.
func (m *Membership) Close() error {
	m.stopMu.Lock()
	defer m.stopMu.Unlock()
	if m.stopped {
		return nil
	}
	m.stopped = true
	return m.ml.Shutdown()
}

// SetHealth changes the health this node gossips (draining before a
// shutdown, unhealthy when it cannot take FWDs); peers stop sending new
// FWDs to a node that is not HealthOK. It returns once the change is
// broadcast to a member or after LeaveTimeout.
func (m *Membership) SetHealth(h Health) error {
	if err := m.setMeta(h); err != nil {
		return err
	}
	m.stopMu.Lock()
	defer m.stopMu.Unlock()
	if m.stopped {
		return nil
	}
	if err := m.ml.UpdateNode(m.cfg.LeaveTimeout); err != nil {
		return fmt.Errorf("federation: gossip health %v: %w", h, err)
	}
	return nil
}

// Health is the health this node gossips.
func (m *Membership) Health() Health { return Health(m.health.Load()) }

// Live returns the alive members of gateway whose health is ok: where its
// FWDs may go.
func (m *Membership) Live(gateway string) []Member {
	var out []Member
	for _, mb := range m.view.Load().byGateway[gateway] {
		if mb.Health == HealthOK {
			out = append(out, mb)
		}
	}
	return out
}

// Members returns every alive member (any health), sorted by name.
func (m *Membership) Members() []Member { return slices.Clone(m.view.Load().all) }

// Changed returns a channel closed when the view (members, their meta or
// health) changes. Take it before reading the view, then wait on it.
func (m *Membership) Changed() <-chan struct{} { return m.view.Load().changed }

// publish replaces the view with the members map. m.mu is held.
func (m *Membership) publishLocked() {
	v := &memberView{byGateway: map[string][]Member{}, changed: make(chan struct{})}
	for _, mb := range m.members {
		v.all = append(v.all, mb)
	}
	slices.SortFunc(v.all, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	for _, mb := range v.all {
		v.byGateway[mb.Gateway] = append(v.byGateway[mb.Gateway], mb)
		m.gateways[mb.Gateway] = true
	}
	for gw := range m.gateways {
		ready := 0
		for _, mb := range v.byGateway[gw] {
			if mb.Health == HealthOK {
				ready++
			}
		}
		m.m.MembersAlive.WithLabelValues(gw).Set(float64(len(v.byGateway[gw])))
		m.m.MembersReady.WithLabelValues(gw).Set(float64(ready))
	}
	old := m.view.Swap(v)
	close(old.changed)
}

// memberEvents receives memberlist's join/leave/update events (never
// concurrently, and while memberlist holds its node lock: nothing here
// calls back into memberlist).
type memberEvents Membership

func (e *memberEvents) NotifyJoin(n *memberlist.Node)   { (*Membership)(e).upsert(n, "join") }
func (e *memberEvents) NotifyUpdate(n *memberlist.Node) { (*Membership)(e).upsert(n, "update") }

func (e *memberEvents) NotifyLeave(n *memberlist.Node) {
	m := (*Membership)(e)
	m.m.MemberEvents.WithLabelValues("leave").Inc()
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.members[n.Name]; !ok {
		return
	}
	delete(m.members, n.Name)
	m.sps.forget(n.Name)
	state := "dead"
	if n.State == memberlist.StateLeft {
		state = "left"
	}
	m.log.Info("gossip member gone", keyMember, n.Name, "state", state)
	m.publishLocked()
}

func (m *Membership) upsert(n *memberlist.Node, event string) {
	meta, err := DecodeNodeMeta(n.Meta)
	if err != nil {
		m.m.MemberEvents.WithLabelValues("bad_meta").Inc()
		m.log.Warn("gossip member with unreadable meta ignored", keyMember, n.Name, keyErr, err)
		m.mu.Lock()
		if _, ok := m.members[n.Name]; ok {
			delete(m.members, n.Name)
			m.publishLocked()
		}
		m.mu.Unlock()
		return
	}
	m.m.MemberEvents.WithLabelValues(event).Inc()
	mb := Member{Name: n.Name, Addr: n.Address(), Self: n.Name == m.cfg.NodeName, NodeMeta: meta}
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.members[n.Name]; ok && old == mb {
		return
	}
	m.members[n.Name] = mb
	m.log.Info("gossip member "+event, keyMember, n.Name, keyGateway, meta.Gateway, keyAddr, meta.FwdAddr, "health", meta.Health.String())
	m.publishLocked()
}

// memberDelegate gives memberlist this node's meta, and carries the SP
// presence entries (membersps.go) as user messages and push/pull state.
type memberDelegate Membership

func (d *memberDelegate) NodeMeta(limit int) []byte {
	b := *(*Membership)(d).meta.Load()
	if len(b) > limit {
		return nil // cannot happen: MaxMetaLen is under memberlist's limit
	}
	return b
}
func (d *memberDelegate) NotifyMsg(b []byte) { (*Membership)(d).mergeSPs(b, "broadcast") }
func (d *memberDelegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.spQueue.GetBroadcasts(overhead, limit)
}
func (d *memberDelegate) LocalState(bool) []byte { return d.sps.state() }
func (d *memberDelegate) MergeRemoteState(buf []byte, _ bool) {
	(*Membership)(d).mergeSPs(buf, "state")
}

// mergeSPs applies SP presence from another member.
func (m *Membership) mergeSPs(b []byte, kind string) {
	if len(b) == 0 {
		return
	}
	if _, err := m.sps.merge(b, m.cfg.NodeName); err != nil {
		m.m.MemberEvents.WithLabelValues("bad_sps").Inc()
		m.log.Warn("gossip SP presence unreadable", "kind", kind, keyErr, err)
	}
}

// memberlistLog turns memberlist's log lines ("[WARN] memberlist: ...")
// into slog records at the matching level. Warnings and errors are
// rate-limited: anyone can send the gossip port packets it cannot decrypt,
// each of which memberlist logs as an error.
type memberlistLog struct {
	log  *slog.Logger
	loud rate.Sometimes
}

func (w *memberlistLog) Write(p []byte) (int, error) {
	line := string(bytes.TrimSpace(p))
	level := slog.LevelInfo
	for prefix, l := range map[string]slog.Level{"[DEBUG]": slog.LevelDebug, "[INFO]": slog.LevelInfo, "[WARN]": slog.LevelWarn, "[ERR]": slog.LevelError, "[ERROR]": slog.LevelError} {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			line, level = strings.TrimSpace(rest), l
			break
		}
	}
	if level < slog.LevelWarn {
		w.log.Log(context.Background(), level, line)
	} else {
		w.loud.Do(func() { w.log.Log(context.Background(), level, line) })
	}
	return len(p), nil
}

var _ io.Writer = (*memberlistLog)(nil)
