package ismg

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/tandem-sms/tandem/internal/buildinfo"
	"github.com/tandem-sms/tandem/ismg/smsclink"
)

// GET /status: the node's state as JSON for scripts and the console,
// built from the node's own state through its parts' accessors (Status,
// Counters, Len), never from the metrics text. Keys are snake_case,
// numbers are numbers, times RFC 3339, and every key is present (empty
// lists as []).

// Status is /status's answer.
type Status struct {
	Node     StatusNode      `json:"node"`
	Health   StatusHealth    `json:"health"`
	Routes   StatusRoutes    `json:"routes"`
	GNS      *StatusGNS      `json:"gns"` // null without routes.gns
	Gateways []StatusGateway `json:"gateways"`
	Peers    []StatusPeer    `json:"peers"`
	Members  []StatusMember  `json:"members"`
	// Siblings are the live nodes serving this gateway's code, this one
	// included (Region HA, sibling.go).
	Siblings   []SiblingNode `json:"siblings"`
	SMSCLinks  []StatusLink  `json:"smsc_links"`
	SPs        []StatusSP    `json:"sps"`
	Queues     []StatusQueue `json:"queues"`
	Stores     []StoreView   `json:"stores"` // region HA: own and adoptable stores, their owners (adoptadmin.go)
	Rates      StatusRates   `json:"rates"`
	RecentLogs []LogRecord   `json:"recent_errors"` // warn and error records, newest first
}

// StatusNode says which node answers.
type StatusNode struct {
	Gateway string `json:"gateway"`
	// NodeName, NodeIndex and NodeBits are this node's place among the
	// nodes of its gateway.
	NodeName      string    `json:"node_name"`
	NodeIndex     int       `json:"node_index"`
	NodeBits      int       `json:"node_bits"`
	Region        string    `json:"region"`
	Name          string    `json:"name"`
	Version       string    `json:"version"`
	Revision      string    `json:"revision"` // the VCS revision built
	GoVersion     string    `json:"go_version"`
	Started       time.Time `json:"started"`
	UptimeSeconds float64   `json:"uptime_seconds"`
	Now           time.Time `json:"now"`
}

// StatusHealth is /healthz's verdict.
type StatusHealth struct {
	OK       bool     `json:"ok"`
	Problems []string `json:"problems"`
}

// StatusRoutes is the route table the node answers from.
type StatusRoutes struct {
	Source   string `json:"source"` // "gns" (the route cache) or "file"
	Revision uint64 `json:"revision"`
	// ConnectedGNS is the GNS node the cache follows ("" when none).
	ConnectedGNS      string  `json:"connected_gns"`
	SecondsSinceEvent float64 `json:"seconds_since_event"` // since the cache last heard from the GNS
	Gateways          int     `json:"gateways"`
	Segments          int     `json:"segments"`
	SPs               int     `json:"sps"`
}

// StatusGNS is the GNS cluster as the node the route cache follows sees
// it (ClusterStatus), refreshed at most every gnsStatusTTL.
type StatusGNS struct {
	LeaderID  string            `json:"leader_id"`
	Revision  uint64            `json:"revision"`
	AskedNode string            `json:"asked_node"`
	Members   []StatusGNSMember `json:"members"`
	Error     string            `json:"error"` // why the last ask failed
	Fetched   *time.Time        `json:"fetched"`
}

// StatusGNSMember is one GNS node.
type StatusGNSMember struct {
	ID                  string `json:"id"`
	GRPCAddr            string `json:"grpc_addr"`
	Suffrage            string `json:"suffrage"`
	Leader              bool   `json:"leader"`
	State               string `json:"state"`
	AppliedIndex        uint64 `json:"applied_index"`
	TableDigest         string `json:"table_digest"`
	TableDigestRevision uint64 `json:"table_digest_revision"`
	Error               string `json:"error"`
}

// StatusGateway is a gateway of the route table.
type StatusGateway struct {
	RouteGateway
	Self bool `json:"self"`
	// Link is this node's CMPP_FWD link to it: "up", "down" or "" (this
	// gateway, or no federation).
	Link string `json:"link"`
	// Nodes are the gossip members serving it, alive (any health), by
	// name; empty without membership or for a gateway that does not
	// gossip.
	Nodes []string `json:"nodes"`
}

// StatusPeer is a CMPP_FWD link to a peer gateway.
type StatusPeer struct {
	Gateway     string              `json:"gateway"`
	Up          bool                `json:"up"`
	Ready       int                 `json:"ready"` // sessions taking FWDs
	Addrs       []string            `json:"addrs"`
	Sessions    []StatusPeerSession `json:"sessions"`
	Sent        uint64              `json:"sent"`
	OK          uint64              `json:"ok"`
	Errors      uint64              `json:"errors"`
	Reconnects  uint64              `json:"reconnects"`
	QueueDepth  int                 `json:"queue_depth"` // fwd:<gw>
	LastError   string              `json:"last_error"`
	HTTPAddress string              `json:"http_addr"` // federation.peers[].http_addr (the trace asks it)
}

// StatusPeerSession is one session slot of a peer link.
type StatusPeerSession struct {
	Addr        string     `json:"addr"`
	Slot        int        `json:"slot"`
	State       string     `json:"state"`
	Since       *time.Time `json:"since"`
	Outstanding int        `json:"outstanding"`
	Reconnects  uint64     `json:"reconnects"`
	LastError   string     `json:"last_error"`
}

// StatusMember is a node of the gossip membership.
type StatusMember struct {
	Name    string `json:"name"`
	Addr    string `json:"addr"`
	Self    bool   `json:"self"`
	Gateway string `json:"gateway"`
	Region  string `json:"region"`
	FwdAddr string `json:"fwd_addr"`
	Health  string `json:"health"`
}

// StatusLink is an SMSC link and its binds.
type StatusLink struct {
	Name        string       `json:"name"`
	Address     string       `json:"address"`
	Ready       int          `json:"ready"`
	PausedUntil *time.Time   `json:"paused_until"`
	Binds       []StatusBind `json:"binds"`
	Submits     uint64       `json:"submits"`
	SubmitOK    uint64       `json:"submit_ok"`
	Throttled   uint64       `json:"throttled"`
	Delivers    uint64       `json:"delivers"` // deliver_sm received: receipts and MO
	QueueDepth  int          `json:"queue_depth"`
}

// StatusBind is one bind slot.
type StatusBind struct {
	Slot           int        `json:"slot"`
	Mode           string     `json:"mode"`
	State          string     `json:"state"`
	Remote         string     `json:"remote"`
	ConnectedSince *time.Time `json:"connected_since"`
	Outstanding    int        `json:"outstanding"`
	Reconnects     uint64     `json:"reconnects"`
	LastError      string     `json:"last_error"`
}

// StatusSP is an SP account and its logged-in sessions.
type StatusSP struct {
	SPID       string   `json:"sp_id"`
	Name       string   `json:"name"`
	Sessions   int      `json:"sessions"`
	Remotes    []string `json:"remotes"`
	QueueDepth int      `json:"queue_depth"` // out:<sp>: reports and MO waiting for it
}

// StatusQueue is one queue of the store.
type StatusQueue struct {
	Name  string `json:"name"`
	Depth int    `json:"depth"`
}

// StatusRates are per-second rates over the last WindowSeconds (0 until
// two /status calls at least half a second apart).
type StatusRates struct {
	WindowSeconds float64 `json:"window_seconds"`
	Submits       float64 `json:"submits_per_second"`       // SUBMITs accepted from SPs
	SMSCSubmits   float64 `json:"smsc_submits_per_second"`  // submit_sm the SMSCs took
	SMSCDelivers  float64 `json:"smsc_delivers_per_second"` // receipts and MO from the SMSCs
	FwdSent       float64 `json:"fwd_sent_per_second"`      // CMPP_FWD sent to peers
	SPDelivers    float64 `json:"sp_delivers_per_second"`   // DELIVERs SPs answered
}

func (n *Node) serveStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, n.Status(r.Context()))
}

// Status gathers the node's state.
func (n *Node) Status(ctx context.Context) Status {
	now := time.Now()
	bi := buildinfo.Read()
	st := Status{
		Node: StatusNode{Gateway: n.gw, NodeName: n.nodeName(), NodeIndex: n.cfg.Gateway.NodeIndex, NodeBits: n.cfg.Gateway.NodeBits,
			Region: n.cfg.Gateway.Region, Name: n.cfg.Gateway.Name,
			Version: bi.Version, Revision: bi.Revision, GoVersion: bi.GoVersion,
			Started: n.console.started, UptimeSeconds: now.Sub(n.console.started).Seconds(), Now: now},
		Gateways: []StatusGateway{}, Peers: []StatusPeer{}, Members: []StatusMember{}, SMSCLinks: []StatusLink{},
		SPs: []StatusSP{}, Queues: []StatusQueue{}, Stores: append([]StoreView{}, n.Stores()...),
	}
	probs := n.healthProblems()
	st.Health = StatusHealth{OK: len(probs) == 0, Problems: append([]string{}, probs...)}
	t := n.table()
	st.Routes = StatusRoutes{Source: "file", Revision: t.Revision(), Gateways: t.NumGateways(), Segments: t.NumSegments(), SPs: t.NumSPs()}
	if n.cache != nil {
		st.Routes.Source, st.Routes.ConnectedGNS, st.Routes.SecondsSinceEvent = "gns", n.cache.ConnectedAddr(), n.cache.SecondsSinceEvent()
		g := n.console.cluster.get(ctx, n)
		st.GNS = &g
	}
	peerUp := map[string]bool{}
	if n.peers != nil {
		for _, ls := range n.peers.Status() {
			p := n.statusPeer(ls.Peer)
			peerUp[p.Gateway] = p.Up
			st.Peers = append(st.Peers, p)
		}
	}
	for _, g := range t.Gateways() {
		sg := StatusGateway{RouteGateway: routeGateway(g), Self: g.Code == n.gw, Nodes: []string{}}
		if n.members != nil {
			for _, m := range n.members.Members() {
				if m.Gateway == g.Code {
					sg.Nodes = append(sg.Nodes, m.Name)
				}
			}
		}
		if up, ok := peerUp[g.Code]; ok {
			sg.Link = map[bool]string{true: "up", false: "down"}[up]
		}
		st.Gateways = append(st.Gateways, sg)
	}
	st.Siblings = n.Siblings()
	if n.members != nil {
		for _, m := range n.members.Members() {
			st.Members = append(st.Members, StatusMember{Name: m.Name, Addr: m.Addr, Self: m.Self, Gateway: m.Gateway,
				Region: m.Region, FwdAddr: m.FwdAddr, Health: m.Health.String()})
		}
	}
	for _, name := range n.linkOrder {
		st.SMSCLinks = append(st.SMSCLinks, n.statusLink(n.links[name]))
	}
	for _, sp := range n.spsSorted() {
		st.SPs = append(st.SPs, n.statusSP(sp))
	}
	for _, q := range n.st.Queues() {
		st.Queues = append(st.Queues, StatusQueue{Name: q, Depth: n.st.Len(q)})
	}
	st.Rates = n.console.rates.rates(now, n.rateSample(now))
	st.RecentLogs = n.console.errs.recent()
	return st
}

func (n *Node) statusPeer(code string) StatusPeer {
	l := n.peers.Link(code)
	p := StatusPeer{Gateway: code, Addrs: []string{}, Sessions: []StatusPeerSession{}, QueueDepth: n.st.Len(n.fwdQueueOf(code).queue())}
	p.HTTPAddress, _ = n.peerHTTPAddr(code)
	if l == nil {
		return p
	}
	ls, c := l.Status(), l.Counters()
	p.Ready, p.Up = ls.Ready, ls.Ready > 0
	p.Addrs = append(p.Addrs, ls.Addrs...)
	p.Sent, p.OK, p.Reconnects = c.Sent, c.OK, c.Reconnects
	for _, e := range c.Errors {
		p.Errors += e
	}
	for _, s := range ls.Sessions {
		p.Sessions = append(p.Sessions, StatusPeerSession{Addr: s.Addr, Slot: s.Slot, State: s.State.String(), Since: tp(s.Since),
			Outstanding: s.Outstanding, Reconnects: s.Reconnects, LastError: s.LastError})
		if s.LastError != "" {
			p.LastError = s.LastError
		}
	}
	return p
}

func (n *Node) statusLink(lr *linkRuntime) StatusLink {
	ls, c := lr.link.Status(), lr.link.Counters()
	sl := StatusLink{Name: ls.Name, Address: ls.Address, Ready: ls.Ready, PausedUntil: tp(ls.PausedUntil), Binds: []StatusBind{},
		Submits: c.Submits, SubmitOK: c.SubmitOK, Throttled: c.Throttled, Delivers: c.Delivers, QueueDepth: n.st.Len(lr.q.queue())}
	for _, b := range ls.Binds {
		sl.Binds = append(sl.Binds, statusBind(b))
	}
	return sl
}

func statusBind(b smsclink.BindStatus) StatusBind {
	return StatusBind{Slot: b.Slot, Mode: b.Mode.String(), State: b.State.String(), Remote: b.Remote,
		ConnectedSince: tp(b.ConnectedSince), Outstanding: b.Outstanding, Reconnects: b.Reconnects, LastError: b.LastError}
}

func (n *Node) spsSorted() []*spRuntime {
	var out []*spRuntime
	for _, sp := range *n.sps.Load() {
		out = append(out, sp)
	}
	slices.SortFunc(out, func(a, b *spRuntime) int { return cmp.Compare(a.id, b.id) })
	return out
}

func (n *Node) statusSP(sp *spRuntime) StatusSP {
	s := StatusSP{SPID: sp.id, Remotes: []string{}, QueueDepth: n.st.Len(sp.q.queue())}
	if a := sp.acct.Load(); a != nil {
		s.Name = a.Name
	}
	sp.mu.Lock()
	for _, sess := range sp.sessions {
		s.Remotes = append(s.Remotes, sess.RemoteAddr().String())
	}
	sp.mu.Unlock()
	s.Sessions = len(s.Remotes)
	return s
}

// rateSample is the node's cumulative counts at one instant.
type rateSample struct {
	at                                                  time.Time
	submits, smscSubmits, smscDelivers, fwdSent, spDone float64
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if c.Write(&m) != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}

func (n *Node) rateSample(now time.Time) rateSample {
	s := rateSample{at: now}
	for _, sp := range *n.sps.Load() {
		s.submits += counterValue(sp.mSubmitOK)
		s.spDone += counterValue(sp.mReportOK) + counterValue(sp.mMOOK)
	}
	for _, lr := range n.links {
		c := lr.link.Counters()
		s.smscSubmits += float64(c.SubmitOK)
		s.smscDelivers += float64(c.Delivers)
	}
	if n.peers != nil {
		for _, ls := range n.peers.Status() {
			if l := n.peers.Link(ls.Peer); l != nil {
				s.fwdSent += float64(l.Counters().Sent)
			}
		}
	}
	return s
}

// rateWindow is the span /status rates are averaged over.
const rateWindow = 10 * time.Second

// rateSampler keeps the samples of recent /status calls to turn counts
// into rates.
type rateSampler struct {
	mu      sync.Mutex
	samples []rateSample // oldest first, at least rateWindow/10 apart
}

func (r *rateSampler) rates(now time.Time, cur rateSample) StatusRates {
	r.mu.Lock()
	defer r.mu.Unlock()
	// Keep one sample at or before the window's start, and those after.
	for len(r.samples) > 1 && !r.samples[1].at.After(now.Add(-rateWindow)) {
		r.samples = r.samples[1:]
	}
	var out StatusRates
	if len(r.samples) > 0 {
		base := r.samples[0]
		if dt := now.Sub(base.at).Seconds(); dt >= 0.5 {
			out = StatusRates{WindowSeconds: dt,
				Submits: (cur.submits - base.submits) / dt, SMSCSubmits: (cur.smscSubmits - base.smscSubmits) / dt,
				SMSCDelivers: (cur.smscDelivers - base.smscDelivers) / dt, FwdSent: (cur.fwdSent - base.fwdSent) / dt,
				SPDelivers: (cur.spDone - base.spDone) / dt}
		}
	}
	if len(r.samples) == 0 || now.Sub(r.samples[len(r.samples)-1].at) >= rateWindow/10 {
		r.samples = append(r.samples, cur)
	}
	return out
}

// gnsStatusTTL is how long a GNS ClusterStatus answer is reused: the
// console polls /status every 2 s, and ClusterStatus asks every member.
const gnsStatusTTL = 5 * time.Second

// clusterCache keeps the last ClusterStatus answer.
type clusterCache struct {
	mu   sync.Mutex
	last StatusGNS
	at   time.Time
}

func (c *clusterCache) get(ctx context.Context, n *Node) StatusGNS {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && time.Since(c.at) < gnsStatusTTL {
		return c.last
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	now := time.Now()
	g := StatusGNS{Members: []StatusGNSMember{}, Fetched: &now}
	resp, err := n.cache.ClusterStatus(ctx)
	if err != nil {
		g.Error = err.Error()
	} else {
		g.LeaderID, g.Revision, g.AskedNode = resp.GetLeaderId(), resp.GetRevision(), resp.GetNodeId()
		for _, m := range resp.GetMembers() {
			sm := StatusGNSMember{ID: m.GetId(), GRPCAddr: m.GetGrpcAddr(), Suffrage: m.GetSuffrage(), Leader: m.GetLeader(), Error: m.GetStatusError()}
			if s := m.GetStatus(); s != nil {
				sm.State, sm.AppliedIndex, sm.TableDigest, sm.TableDigestRevision = s.GetState(), s.GetAppliedIndex(), s.GetTableDigest(), s.GetTableDigestRevision()
			}
			g.Members = append(g.Members, sm)
		}
	}
	c.last, c.at = g, now
	return g
}
