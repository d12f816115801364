package federation

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tandem-sms/tandem/cmpp"
)

// Reasons a peer's CONNECT to the FWD server was refused, the values of
// the reason label of federation_fwd_logins_refused_total.
const (
	LoginBlocked      = "blocked"               // locked out after repeated failures
	LoginUnknownPeer  = "unknown_peer"          // not a gateway code, our own, or no secret for it
	LoginIP           = "ip"                    // source address not on the peer's allow list
	LoginAuth         = "auth"                  // AuthenticatorSource does not match the secret
	LoginPending      = cmpp.RefusePending      // too many connections not logged in
	LoginPendingPerIP = cmpp.RefusePendingPerIP // too many from that address
)

// Reasons a FWD was answered by the server itself rather than by the
// receiver, the values of the reason label of
// federation_fwd_rejected_total.
const (
	RejectDestination = "destination" // Destination_Id is not this gateway (Result 9)
	RejectSource      = "source"      // Source_Id is not the logged-in peer (Result 1)
	RejectWindow      = "window"      // the peer's window was full (Result 8)
	RejectCommand     = "command"     // a request other than FWD (Result 2)
	RejectBadPDU      = "bad_pdu"     // a PDU that did not decode (answered by the session)
)

// PeerMetrics are the Prometheus metrics of the FWD server, the peer links
// and membership. Labels are bounded: peer and gateway take gateway codes
// that logged in or that the ISMG made links for, result the names of
// ResultName and Kind, reason the constants above.
type PeerMetrics struct {
	Received       *prometheus.CounterVec // FWDs answered by our server, by peer and result
	Rejected       *prometheus.CounterVec // of which the server refused itself, by peer and reason
	LoginsRefused  *prometheus.CounterVec // peer CONNECTs refused, by reason
	ServerSessions *prometheus.GaugeVec   // peer sessions logged in to our server, by peer
	Sent           *prometheus.CounterVec // FWDs our links sent, by peer and result (or error kind)
	LinkSessions   *prometheus.GaugeVec   // link sessions up, by peer
	WindowInUse    *prometheus.GaugeVec   // FWDs awaiting FWD_RESP on a link, by peer
	LinkConnects   *prometheus.CounterVec // failed link logins and dials, by peer and reason
	MembersAlive   *prometheus.GaugeVec   // alive members, by gateway
	MembersReady   *prometheus.GaugeVec   // alive members reporting health ok, by gateway
	MemberEvents   *prometheus.CounterVec // membership events, by event (join, leave, update, bad_meta, join_failed)
}

// NewPeerMetrics creates the metrics and registers them on reg; nil means
// a private registry.
func NewPeerMetrics(reg prometheus.Registerer) *PeerMetrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	const ns = "federation"
	cv := func(sub, name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help}, labels)
	}
	gv := func(sub, name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help}, labels)
	}
	m := &PeerMetrics{
		Received:       cv("fwd", "received_total", "CMPP_FWDs received from peer gateways and answered, by peer and FWD_RESP result.", "peer", "result"),
		Rejected:       cv("fwd", "rejected_total", "CMPP_FWDs the FWD server refused itself, by peer and reason.", "peer", "reason"),
		LoginsRefused:  cv("fwd", "logins_refused_total", "Peer gateway logins (CONNECT) refused by the FWD server, by reason.", "reason"),
		ServerSessions: gv("fwd", "server_sessions", "Peer gateway sessions logged in to the FWD server, by peer.", "peer"),
		Sent:           cv("fwd", "sent_total", "CMPP_FWDs sent over peer links, by peer and FWD_RESP result or error kind.", "peer", "result"),
		LinkSessions:   gv("peer_link", "sessions_up", "Sessions of the peer link logged in, by peer.", "peer"),
		WindowInUse:    gv("peer_link", "window_in_use", "CMPP_FWDs awaiting their FWD_RESP on the peer link, by peer.", "peer"),
		LinkConnects:   cv("peer_link", "connect_failures_total", "Failed dials and logins of the peer link, by peer and reason.", "peer", "reason"),
		MembersAlive:   gv("members", "alive", "Gossip members alive, by gateway code.", "gateway"),
		MembersReady:   gv("members", "ready", "Gossip members alive and reporting health ok, by gateway code.", "gateway"),
		MemberEvents:   cv("members", "events_total", "Membership events, by event.", "event"),
	}
	reg.MustRegister(m.Received, m.Rejected, m.LoginsRefused, m.ServerSessions, m.Sent,
		m.LinkSessions, m.WindowInUse, m.LinkConnects, m.MembersAlive, m.MembersReady, m.MemberEvents)
	return m
}

// forgetLink drops a removed link's series.
func (m *PeerMetrics) forgetLink(code string) {
	m.LinkSessions.DeleteLabelValues(code)
	m.WindowInUse.DeleteLabelValues(code)
}

// resultNames are the result labels of FWD_RESP results 0..9.
var resultNames = [...]string{
	"ok", "structure", "command", "duplicate_seq", "length",
	"fee_code", "too_long", "service_code", "flow_control", "decision",
}

// ResultName is the metric label of a FWD_RESP Result: its meaning for
// 0..9 (protocols.md §1.11), "other" for the rest.
func ResultName(result uint32) string {
	if result < uint32(len(resultNames)) {
		return resultNames[result]
	}
	return "other"
}
