package ismg

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
)

// authenticate decides a CONNECT. Refusals: unknown SP_Id → status 2
// (illegal source address); bad AuthenticatorSource → 3; source IP not
// on the SP's allow list, too many connections, or an IP blocked after
// repeated failures → 5 ("other"), because statuses 2 and 3 would tell a
// scanner which half of its guess was right. Each refusal is logged and
// counted by reason.
func (n *Node) authenticate(_ context.Context, remote net.Addr, c *cmpp.Connect) (string, uint32) {
	now := time.Now()
	lim := n.limits.Load()
	ip := remoteIP(remote)
	refuse := func(reason string, status uint32) (string, uint32) {
		n.m.ConnectRejected.WithLabelValues(reason).Inc()
		n.connLog.Do(func() {
			n.log.Warn("CONNECT refused", "reason", reason, LogKeySP, c.SourceAddr, LogKeyPeer, remote.String())
		})
		return "", status
	}
	if n.fw.Blocked(ip, c.SourceAddr, now, loginLimits(lim)) {
		return refuse("blocked", cmpp.ConnectOther)
	}
	sp := (*n.sps.Load())[c.SourceAddr]
	var acct *SPAccount
	if sp != nil {
		acct = sp.acct.Load()
	}
	if acct == nil {
		n.fw.Fail(ip, c.SourceAddr, now, loginLimits(lim))
		return refuse("unknown_sp", cmpp.ConnectBadSource)
	}
	if !acct.Allows(ip) {
		return refuse("ip", cmpp.ConnectOther)
	}
	if !c.VerifySource(acct.Secret) {
		n.fw.Fail(ip, c.SourceAddr, now, loginLimits(lim))
		return refuse("auth", cmpp.ConnectAuthFailed)
	}
	if sp.suspended.Load() {
		return refuse(reasonSuspended, cmpp.ConnectOther)
	}
	// max_connections counts the SP's sessions on the gateway's other
	// nodes too (sibling.go: as gossip knows them).
	if !sp.reserve(remote.String(), acct.MaxConnections-n.siblingSessions(sp.id), now, lim.ConnectTimeout) {
		return refuse("connections", cmpp.ConnectOther)
	}
	return acct.Secret, cmpp.ConnectOK
}

func (n *Node) onSession(s *cmpp.Session) {
	sp := (*n.sps.Load())[s.SourceAddr()]
	if sp == nil {
		// Removed by a Reload between CONNECT and now.
		_ = s.Close()
		return
	}
	n.conns.Store(s, &spConn{sp: sp})
	sp.addSession(s)
	n.noteSPSessions(sp)
	n.m.SPConnections.WithLabelValues(sp.id).Inc()
	n.log.Info("SP logged in", LogKeySP, sp.id, LogKeyPeer, s.RemoteAddr().String(), "version", s.Version().String())
}

func (n *Node) onClose(s *cmpp.Session, err error) {
	v, ok := n.conns.LoadAndDelete(s)
	if !ok {
		return
	}
	c := v.(*spConn)
	c.sp.removeSession(s)
	n.noteSPSessions(c.sp)
	n.m.SPConnections.WithLabelValues(c.sp.id).Dec()
	n.log.Info("SP session closed", LogKeySP, c.sp.id, LogKeyPeer, s.RemoteAddr().String(), LogKeyErr, err)
}

// serveCMPP handles an SP's requests. It runs inline on the session's
// reader goroutine (cmpp.Config.InlineHandler), so nothing here may wait:
// a SUBMIT is answered from the callbacks of its queue commit and CDR
// fsync (submitWait.finish), a CANCEL from its commit callback, a QUERY at
// once. A refusal answers with Reply, which blocks the reader while the
// session's write queue is full — back-pressure on an SP that sends but
// does not read; the callbacks use replyNoWait instead.
func (n *Node) serveCMPP(s *cmpp.Session, h cmpp.Header, req cmpp.PDU) {
	v, ok := n.conns.Load(s)
	if !ok {
		if er, ok := req.(cmpp.ErrorResponder); ok {
			_ = s.Reply(h, er.ErrorResponse(cmpp.ResultBadCommand))
		}
		return
	}
	c := v.(*spConn)
	switch p := req.(type) {
	case *cmpp.Submit:
		n.submit(s, h, p, c)
	case *cmpp.Query:
		_ = s.Reply(h, n.stats.query(c.sp.id, p))
	case *cmpp.Cancel:
		n.cancel(s, h, p, c)
	default:
		if er, ok := req.(cmpp.ErrorResponder); ok {
			_ = s.Reply(h, er.ErrorResponse(cmpp.ResultBadCommand))
		}
	}
}

// replyNoWait answers from a callback that must not block, leaving the
// answer to a goroutine when the session's write queue is full.
func (n *Node) replyNoWait(s *cmpp.Session, h cmpp.Header, resp cmpp.PDU) {
	if err := s.ReplyNoWait(h, resp); errors.Is(err, cmpp.ErrWriteQueueFull) {
		n.tasks.Go(func() { _ = s.Reply(h, resp) })
	}
}

// onBadPDU counts a PDU from an SP that did not decode (the session has
// answered it with Result 1 already, or closes on a bad length) and logs
// it, rate-limited: a peer can send them as fast as it likes.
func (n *Node) onBadPDU(s *cmpp.Session, h cmpp.Header, reason string, err error) {
	n.m.BadPDUs.WithLabelValues(reason).Inc()
	n.connLog.Do(func() {
		n.log.Warn("bad PDU from an SP", LogKeySP, s.SourceAddr(), LogKeyPeer, s.RemoteAddr().String(),
			"command", h.Command.String(), "reason", reason, LogKeyErr, err)
	})
}
