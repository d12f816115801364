package ismg

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/federation"
	"github.com/tandem-sms/tandem/ismg/queue"
)

// Region HA: several nodes (siblings) serve one gateway code, all active,
// each with its own store, SMSC accounts and share of the Msg_Id sequence
// (siblingconfig.go). An SMSC returns each receipt to the node that
// submitted the message, so a status report is made on the node that
// accepted its MT; an MO is taken by whichever node its SMSC or peer
// gateway reached. Both wait in that node's out:<sp> queue. When the SP
// has no session on this node but gossip says it is logged in to a live
// sibling (federation.Membership.SPSessions), the SP's deliverer moves
// what waits there to sib:<node>/<sp>, and a forwarder (fwdsend.go, the
// same durable FWD machinery as between gateways) sends each as CMPP_FWD
// to that node: Msg_Fwd_Type 2 for a status report, 1 for an MO, Source_Id
// = Destination_Id = our gateway code, Msg_Src the SP_Id. The sibling
// stores it in its own out:<sp> (durable before its FWD_RESP) and delivers
// it; ours is removed on FWD_RESP Result 0. If the SP is logged in
// nowhere, reports and MO wait here as before.
//
// Fields a sibling FWD carries beyond a peer's: Fee_terminal_Id holds an
// MO's origin gateway (where its MO report goes once the SP answers),
// At_Time the time the record was first queued (deliver_ttl keeps
// counting from it), NodesCount the sibling hops so far.
//
// Sibling hops. An SP that moves between nodes while its reports travel
// may send one back and forth; each sibling hop adds one to the record's
// Nodes (NodesCount on the wire), a record is handed on at most
// maxSiblingHops times (then it waits where it is for its SP), and the
// receiver's dedup key of a sibling FWD includes NodesCount, so the same
// report coming back to a node after a round trip is a new FWD there, not
// a duplicate.
//
// Dedup across siblings. A peer gateway that resends a FWD after a lost
// FWD_RESP may reach another node of this gateway than the first time
// (it spreads over the live ones); that node has not seen the key and
// takes it too. For a status report that is harmless (the second node
// does not hold the MT in await, counts it in ismg_fwd_reports_unknown and
// drops it); an MO taken twice is delivered twice. The window is one lost
// FWD_RESP; such duplicates are counted by the receiving node as
// ismg_fwd_received_total{outcome="ok"} like any other and cannot be told
// apart without shared dedup state.
const maxSiblingHops = 8

// relaySP names the sibling queues of relayed peer reports
// (sib:<node>/-): a peer gateway spreads its FWDs over the live nodes of
// this gateway, so the type 2 report of an MT that node A forwarded may
// reach node B. B finds no MT waiting for it in its await; the Msg_Id's
// node index (its sequence's top node_bits bits) names A, so B stores the
// report for A (durably, its dedup key with it, before the peer's
// FWD_RESP) and passes it on as a sibling FWD type 2 with an empty
// Msg_Src and the peer's code in Fee_terminal_Id; A applies it as if the
// peer had sent it there. While A is not alive, B answers the peer Result
// 8, and the peer resends later.
const relaySP = "-"

// siblingsOn reports whether this node passes reports and MO to siblings.
func (n *Node) siblingsOn() bool {
	return n.members != nil && n.peers != nil && n.peers.SiblingsEnabled()
}

// noteSPSessions gossips this node's session count of sp (for the
// siblings' deliverers and connection limits).
func (n *Node) noteSPSessions(sp *spRuntime) {
	if n.members == nil {
		return
	}
	sp.mu.Lock()
	c := len(sp.sessions)
	sp.mu.Unlock()
	n.members.SetSPSessions(sp.id, c)
}

// siblingSessions is the number of sessions SP spID has on the other live
// nodes of this gateway, as gossip knows it: a CONNECT is refused when
// these and ours reach max_connections. Gossip lags a login by about a
// gossip interval (200 ms by default), so two nodes taking CONNECTs of one
// SP at the same moment may each admit one more than the limit allows;
// the excess is bounded by the number of siblings.
func (n *Node) siblingSessions(spID string) int {
	if n.members == nil {
		return 0
	}
	c := 0
	for _, p := range n.members.SPSessions(n.gw, spID) {
		if p.Node != n.members.NodeName() {
			c += p.Sessions
		}
	}
	return c
}

// siblingFor picks the sibling a DELIVER for SP spID goes to: a healthy
// node with a link up that has the SP logged in, the one with most
// sessions (then by name); "" when there is none.
func (n *Node) siblingFor(spID string) string {
	if !n.siblingsOn() {
		return ""
	}
	best, most := "", 0
	for _, p := range n.members.SPSessions(n.gw, spID) {
		if p.Node == n.members.NodeName() || p.Health != federation.HealthOK || n.peers.Sibling(p.Node) == nil {
			continue
		}
		if p.Sessions > most || p.Sessions == most && p.Node < best {
			best, most = p.Node, p.Sessions
		}
	}
	return best
}

// siblingWatch returns channels closed when SP presence or the member view
// changes (nil without membership): a deliverer without a session waits
// on them for its SP to appear on a sibling.
func (n *Node) siblingWatch() (presence, view <-chan struct{}) {
	if !n.siblingsOn() {
		return nil, nil
	}
	return n.members.SPsChanged(), n.members.Changed()
}

// handOff moves what is due in the SP's out queue to the sibling the SP is
// logged in to, in batches, until nothing due is left; it runs on the
// deliverer, which holds no lease while the SP has no session here. It
// reports whether there was a sibling to hand to, and the watch of the out
// queue to wait on for more.
func (d *deliverer) handOff(hard context.Context) (<-chan struct{}, bool, error) {
	sp, n := d.sp, d.sp.n
	node := n.siblingFor(sp.id)
	if node == "" {
		return nil, false, nil
	}
	to := sibQueue(node, sp.id)
	watch := n.st.Watch(sp.q.queue())
	moved := 0
	defer func() {
		if moved > 0 {
			n.m.SiblingHandoffs.WithLabelValues(n.gw, n.nodeName()).Add(float64(moved))
			n.ensureFwdQueue(to)
		}
	}()
	for {
		items, err := n.st.Lease(sp.q.queue(), time.Now(), 256)
		if err != nil || len(items) == 0 {
			return watch, true, err
		}
		ops := make([]queue.Op, 0, len(items))
		ids := make([]uint64, 0, len(items))
		d.expired = d.expired[:0]
		for _, it := range items {
			o, err := decodeOut(it.Value)
			switch {
			case err != nil:
				n.log.Error("dropping undecodable DELIVER", LogKeyQueue, sp.q.queue(), LogKeyMsgID, it.ID, LogKeyErr, err)
				ops = append(ops, queue.Remove(sp.q.queue(), it.ID))
			case sp.expired(&o):
				ops = append(ops, queue.Remove(sp.q.queue(), it.ID))
				d.expired = append(d.expired, expiredOut{it.ID, o})
			case int(o.Nodes) >= maxSiblingHops+int(n.cfg.Federation.MaxNodes):
				// Handed around enough: it waits here for its SP.
				n.m.SiblingHopLimit.Inc()
				o.InFlight = false
				ops = append(ops, queue.Update(sp.q.queue(), it.ID, time.Now().Add(n.cfg.Delivery.ExpirySweep), o.Append(nil)))
				ids = append(ids, it.ID)
			default:
				o.InFlight = false
				ops = append(ops, queue.Move(sp.q.queue(), to.queue(), it.ID, time.Time{}, o.Append(nil)))
				moved++
			}
		}
		if err := n.commit(hard, ops...); err != nil {
			n.log.Error("hand DELIVERs to a sibling", LogKeySP, sp.id, "sibling", node, LogKeyErr, err)
			for _, it := range items {
				n.st.Release(sp.q.queue(), it.ID)
			}
			moved = 0
			d.expired = d.expired[:0]
			return watch, true, nil // the next round tries again
		}
		for _, id := range ids {
			n.st.Release(sp.q.queue(), id)
		}
		for i := range d.expired {
			sp.noteExpired(d.expired[i].id, &d.expired[i].o)
		}
		d.expired = d.expired[:0]
	}
}

// reportOwner names the node of this gateway that issued Msg_Id id (and
// so forwarded its MT and waits for its report): "" and mine when it is
// this node, or the id is not of this gateway or siblings are off; ""
// and not mine when that node is not alive now.
func (n *Node) reportOwner(id uint64) (node string, mine bool) {
	bits := n.cfg.Gateway.NodeBits
	m := cmpp.UnpackMsgID(id)
	if !n.siblingsOn() || bits == 0 || m.Gateway != n.gwNum {
		return "", true
	}
	index := int(m.Seq >> (16 - bits))
	if index == n.cfg.Gateway.NodeIndex {
		return "", true
	}
	for _, mb := range n.members.Members() {
		if mb.Gateway == n.gw && !mb.Self && int(mb.NodeBits) == bits && int(mb.NodeIndex) == index {
			if mb.Health == federation.HealthOK && n.peers.Sibling(mb.Name) != nil {
				return mb.Name, false
			}
		}
	}
	return "", false
}

// relayReport takes a peer's MT report (type 2) for an MT another node of
// this gateway forwarded: queued for that node (relaySP). relayed is
// false when the MT was this node's (the caller drops the report).
func (n *Node) relayReport(peer string, f *cmpp.Fwd, rep *cmpp.Report) (fwdIntake, refusal, bool) {
	node, mine := n.reportOwner(f.MsgID)
	if mine {
		return fwdIntake{}, accepted, false
	}
	if node == "" {
		return fwdIntake{}, refusal{cmpp.ResultFlowControl, reasonFwdOwnerDown}, true
	}
	o := outRecord{
		Report: true, DestID: f.DestID, ServiceID: f.ServiceID, TPPID: f.TPPID, SrcTerminalID: f.SrcID, LinkID: f.LinkID,
		Created: time.Now(), OrigMsgID: rep.MsgID, Stat: rep.Stat, SubmitTime: rep.SubmitTime, DoneTime: rep.DoneTime,
		DestTerminalID: rep.DestTerminalID, SMSCSequence: rep.SMSCSequence,
		fedFields: fedFields{FromGW: peer, FwdType: cmpp.FwdMTReport},
	}
	q := sibQueue(node, relaySP)
	in := fwdIntake{ops: []queue.Op{queue.Enqueue(q.queue(), f.MsgID, time.Time{}, o.Append(nil))}}
	in.done = func() {
		n.m.SiblingHandoffs.WithLabelValues(n.gw, n.nodeName()).Inc()
		n.ensureFwdQueue(q)
	}
	return in, accepted, true
}

// splitSibQueue reads the node and SP of a sib:<node>/<sp> queue.
func splitSibQueue(q queueRef) (node, sp string, ok bool) {
	i := strings.LastIndexByte(q.name, '/')
	if i <= 0 || i == len(q.name)-1 {
		return "", "", false
	}
	return q.name[:i], q.name[i+1:], true
}

// sibFwd is the FWD of an out record going to a sibling node.
func (n *Node) sibFwd(sp string, id uint64, o *outRecord) *cmpp.Fwd {
	if sp == relaySP {
		sp = "" // a relayed peer report: Fee_terminal_Id is the peer
	}
	f := &cmpp.Fwd{
		SourceID: n.gw, DestinationID: n.gw, NodesCount: o.Nodes + 1, MsgID: id, PkTotal: 1, PkNumber: 1,
		MsgSrc: sp, ServiceID: o.ServiceID, TPPID: o.TPPID, LinkID: o.LinkID,
		FeeTerminalID: o.FromGW, AtTime: cmpp.FormatTime(o.Created, n.loc),
		SrcID: o.SrcTerminalID, DestID: o.DestID,
	}
	if o.Report {
		rep := cmpp.Report{MsgID: o.OrigMsgID, Stat: o.Stat, SubmitTime: o.SubmitTime, DoneTime: o.DoneTime,
			DestTerminalID: o.DestTerminalID, SMSCSequence: o.SMSCSequence}
		f.SetReport(&rep, cmpp.V30)
		return f
	}
	f.MsgFwdType = cmpp.FwdMO
	f.TPUDHI, f.MsgFmt, f.MsgContent = o.TPUDHI, o.MsgFmt, string(o.Content)
	return f
}

// fwdInSibling takes a status report (type 2) or an MO (type 1) a sibling
// passes on for an SP: into our out:<sp>, delivered as if made here. An
// SP this node does not know is refused with Result 9; the sibling takes
// the record back into its own queue.
func (n *Node) fwdInSibling(f *cmpp.Fwd) (fwdIntake, refusal) {
	if f.MsgSrc == "" && f.MsgFwdType == cmpp.FwdMTReport {
		// A peer's report relayed by the sibling it reached (relaySP).
		peer := f.FeeTerminalID
		if peer == "" || peer == n.gw {
			return fwdIntake{}, refusal{cmpp.ResultBadStructure, reasonFwdStruct}
		}
		n.m.SiblingReceived.WithLabelValues(n.gw, n.nodeName(), "relayed_report").Inc()
		return n.fwdInReport(peer, f)
	}
	sp := (*n.sps.Load())[f.MsgSrc]
	if sp == nil || sp.acct.Load() == nil {
		return fwdIntake{}, refusal{cmpp.ResultFwdDecision, reasonFwdRoute}
	}
	created, err := cmpp.ParseTime(f.AtTime, time.Now(), n.loc)
	if err != nil || created.IsZero() {
		created = time.Now()
	}
	o := outRecord{
		DestID: f.DestID, ServiceID: f.ServiceID, TPPID: f.TPPID, SrcTerminalID: f.SrcID, LinkID: f.LinkID,
		Created: created, fedFields: fedFields{FromGW: f.FeeTerminalID, Nodes: f.NodesCount},
	}
	switch f.MsgFwdType {
	case cmpp.FwdMTReport:
		rep, err := f.Report()
		if err != nil {
			return fwdIntake{}, refusal{cmpp.ResultBadStructure, reasonFwdStruct}
		}
		o.Report, o.OrigMsgID, o.Stat, o.SubmitTime, o.DoneTime = true, rep.MsgID, rep.Stat, rep.SubmitTime, rep.DoneTime
		o.DestTerminalID, o.SMSCSequence = rep.DestTerminalID, rep.SMSCSequence
	case cmpp.FwdMO:
		o.TPUDHI, o.MsgFmt, o.Content = f.TPUDHI, f.MsgFmt, []byte(f.MsgContent)
		if o.FromGW != "" {
			o.FwdType = cmpp.FwdMO
		}
	default:
		return fwdIntake{}, refusal{cmpp.ResultBadStructure, reasonFwdStruct}
	}
	in := fwdIntake{ops: []queue.Op{queue.Enqueue(sp.q.queue(), f.MsgID, time.Time{}, o.Append(nil))}}
	in.done = func() { n.m.SiblingReceived.WithLabelValues(n.gw, n.nodeName(), fwdTypeName(f.MsgFwdType)).Inc() }
	return in, accepted
}

// returnHome moves every record of a sib:<node>/<sp> queue back to the
// SP's out queue: the sibling is gone (dead, draining, left), refused it,
// or siblings are off. The SP's deliverer decides again.
func (n *Node) returnHome(ctx context.Context, q queueRef) {
	_, spID, ok := splitSibQueue(q)
	if !ok {
		n.log.Error("sibling queue with a bad name left alone", LogKeyQueue, q.queue())
		return
	}
	if spID == relaySP {
		return // only its node can apply a relayed report: it waits for it
	}
	home := n.outQueueOf(spID)
	for {
		items, err := n.st.Lease(q.queue(), time.Now().Add(time.Hour), 256)
		if err != nil || len(items) == 0 {
			return
		}
		ops := make([]queue.Op, 0, len(items))
		for _, it := range items {
			ops = append(ops, queue.Move(q.queue(), home.queue(), it.ID, time.Time{}, nil))
		}
		if err := n.commit(ctx, ops...); err != nil {
			n.log.Error("take DELIVERs back from a sibling queue", LogKeyQueue, q.queue(), LogKeyErr, err)
			for _, it := range items {
				n.st.Release(q.queue(), it.ID)
			}
			return
		}
		n.m.SiblingReturned.Add(float64(len(items)))
	}
}

// returnOne moves one leased record of a sibling queue back to its SP's
// out queue (the sibling refused it: it does not know the SP, say), due
// after federation.retry_max.
func (n *Node) returnOne(ctx context.Context, q queueRef, id uint64) {
	_, spID, ok := splitSibQueue(q)
	if !ok {
		n.st.Release(q.queue(), id)
		return
	}
	if spID == relaySP {
		// The owner refused a relayed report for good: nothing else can
		// apply it.
		n.log.Warn("relayed MT report refused by its node: dropped", LogKeyQueue, q.queue(), LogKeyMsgID, id)
		if err := n.commit(ctx, queue.Remove(q.queue(), id)); err != nil {
			n.st.Release(q.queue(), id)
		}
		return
	}
	// Not due at once: the deliverer would hand it to the same sibling
	// again, which refuses it again.
	due := time.Now().Add(n.cfg.Federation.RetryMax)
	if err := n.commit(ctx, queue.Move(q.queue(), n.outQueueOf(spID).queue(), id, due, nil)); err != nil {
		if !errors.Is(err, queue.ErrNotFound) {
			n.log.Error("take a DELIVER back from a sibling queue", LogKeyQueue, q.queue(), LogKeyMsgID, id, LogKeyErr, err)
		}
		n.st.Release(q.queue(), id)
		return
	}
	n.m.SiblingReturned.Inc()
}

// nodeName is this node's name in its gateway: the gossip node name, else
// gateway.node, else the gateway code.
func (n *Node) nodeName() string {
	if n.members != nil {
		return n.members.NodeName()
	}
	if n.cfg.Gateway.Node != "" {
		return n.cfg.Gateway.Node
	}
	return n.gw
}

// SiblingNode is one node of this gateway as this node sees it.
type SiblingNode struct {
	Node      string `json:"node"`
	Self      bool   `json:"self,omitempty"`
	FwdAddr   string `json:"fwd_addr"`
	Health    string `json:"health"`
	NodeIndex int    `json:"node_index"`
	NodeBits  int    `json:"node_bits"`
	LinkUp    bool   `json:"link_up"` // a sibling session takes FWDs
	// Conflict names a misconfiguration: another live node with the same
	// node_index, or other node_bits.
	Conflict string `json:"conflict,omitempty"`
}

// Siblings lists the live nodes of this gateway, this one included, sorted
// by name; without membership, only this node.
func (n *Node) Siblings() []SiblingNode {
	self := SiblingNode{Node: n.nodeName(), Self: true, FwdAddr: n.FWDAddr(), Health: "ok",
		NodeIndex: n.cfg.Gateway.NodeIndex, NodeBits: n.cfg.Gateway.NodeBits}
	if n.members == nil {
		return []SiblingNode{self}
	}
	var links map[string]federation.LinkStatus
	if n.peers != nil {
		links = n.peers.SiblingStatus()
	}
	var out []SiblingNode
	for _, m := range n.members.Members() {
		if m.Gateway != n.gw {
			continue
		}
		s := SiblingNode{Node: m.Name, Self: m.Self, FwdAddr: m.FwdAddr, Health: m.Health.String(),
			NodeIndex: int(m.NodeIndex), NodeBits: int(m.NodeBits)}
		if ls, ok := links[m.Name]; ok {
			s.LinkUp = ls.Ready > 0
		}
		if !m.Self {
			switch {
			case int(m.NodeBits) != n.cfg.Gateway.NodeBits:
				s.Conflict = "node_bits differ from this node's"
			case int(m.NodeIndex) == n.cfg.Gateway.NodeIndex:
				s.Conflict = "same node_index as this node: their Msg_Ids collide"
			}
		}
		out = append(out, s)
	}
	if !slices.ContainsFunc(out, func(s SiblingNode) bool { return s.Self }) {
		out = append(out, self)
	}
	slices.SortFunc(out, func(a, b SiblingNode) int { return strings.Compare(a.Node, b.Node) })
	return out
}

// followSiblings keeps the sibling gauges and the conflict log in step
// with the member view until ctx ends.
func (n *Node) followSiblings(ctx context.Context) error {
	if n.members == nil {
		return nil
	}
	reported := map[string]bool{}
	for {
		ch := n.members.Changed()
		live, conflicts := 0, 0
		for _, s := range n.Siblings() {
			if s.Self {
				continue
			}
			if s.Health == federation.HealthOK.String() {
				live++
			}
			if s.Conflict != "" {
				conflicts++
				if !reported[s.Node+s.Conflict] {
					reported[s.Node+s.Conflict] = true
					n.log.Error("sibling misconfigured: gateway.node_index/node_bits", "sibling", s.Node,
						"conflict", s.Conflict, "node_index", s.NodeIndex, "node_bits", s.NodeBits)
				}
			}
		}
		n.m.SiblingsLive.WithLabelValues(n.gw, n.nodeName()).Set(float64(live))
		n.m.SiblingConflicts.WithLabelValues(n.gw, n.nodeName()).Set(float64(conflicts))
		select {
		case <-ch:
		case <-ctx.Done():
			return nil
		}
	}
}

// noteNodeInfo sets ismg_node_info for this node.
func (n *Node) noteNodeInfo() {
	g := n.cfg.Gateway
	n.m.NodeInfo.WithLabelValues(n.gw, n.nodeName(), strconv.Itoa(g.NodeIndex), strconv.Itoa(g.NodeBits)).Set(1)
}
