package federation

import (
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/tandem-sms/tandem/cmpp"
)

// FwdReceiver takes the CMPP_FWDs peer gateways send; the ISMG implements
// it (durable store, dedup, the four flows).
type FwdReceiver interface {
	// ReceiveFwd is called for every FWD that passed the checks (the
	// Destination_Id is this gateway, the Source_Id the peer that logged
	// in, the peer's window not exceeded), with peer the logged-in
	// gateway code. It runs on the session's reader goroutine, so it must
	// not block: it hands f on (f is the receiver's to keep) and calls
	// respond later, from any goroutine, once the FWD is durable (Result
	// 0) or refused (Result 8 to have it resent later, 9 when it is not
	// ours to take, ...). respond never blocks; the FWD_RESP echoes
	// Msg_Id, Pk_total and Pk_number, with Result 1 byte wide in 2.x and 4
	// in 3.0 as the session's version says. Calls after the first are
	// ignored, as is one after the session closed (the peer resends what
	// it did not see answered). Until respond is called the FWD holds a
	// slot of the peer's window. NodesCount is passed on as received: the
	// ISMG enforces the hop limit.
	ReceiveFwd(peer string, f *cmpp.Fwd, respond func(result uint32))
}

// FwdReceiverFunc adapts a function to FwdReceiver.
type FwdReceiverFunc func(peer string, f *cmpp.Fwd, respond func(result uint32))

// ReceiveFwd calls f.
func (fn FwdReceiverFunc) ReceiveFwd(peer string, f *cmpp.Fwd, respond func(result uint32)) {
	fn(peer, f, respond)
}

// peerSession is one logged-in session of a peer gateway, ours (a link)
// or theirs (on the server): who it is and its FWDs being received.
type peerSession struct {
	code     string
	window   int32
	inflight atomic.Int32
	ok       prometheus.Counter // Received{peer, "ok"}, looked up once
}

func (ps *peerSession) acquire() bool {
	if ps.inflight.Add(1) > ps.window {
		ps.inflight.Add(-1)
		return false
	}
	return true
}

func (ps *peerSession) release() { ps.inflight.Add(-1) }

// fwdIntake checks the FWDs a peer sends and hands them to the receiver.
// The FWD server runs one for its sessions and each link one for its own
// (a peer may send FWDs on the session we opened: either side may be
// client between gateways).
type fwdIntake struct {
	self  string
	recv  FwdReceiver
	m     *PeerMetrics
	log   *slog.Logger
	logs  *rate.Sometimes // rate-limits the log lines of refusals
	tasks *tracker        // replies that wait for room in a full write queue
}

func newFwdIntake(self string, recv FwdReceiver, m *PeerMetrics, log *slog.Logger) *fwdIntake {
	return &fwdIntake{
		self: self, recv: recv, m: m, log: log,
		logs:  &rate.Sometimes{First: 10, Interval: time.Second},
		tasks: new(tracker),
	}
}

func (in *fwdIntake) newPeerSession(code string, window int) *peerSession {
	return &peerSession{code: code, window: int32(window), ok: in.m.Received.WithLabelValues(code, ResultName(cmpp.ResultOK))}
}

// serve takes one request of ps's session. It runs on the reader (inline
// handler) and never blocks.
func (in *fwdIntake) serve(s *cmpp.Session, ps *peerSession, h cmpp.Header, req cmpp.PDU) {
	f, ok := req.(*cmpp.Fwd)
	switch {
	case !ok:
		in.refuse(s, ps, h, req, RejectCommand, cmpp.ResultBadCommand)
	case f.DestinationID != in.self:
		in.refuse(s, ps, h, req, RejectDestination, cmpp.ResultFwdDecision)
	case f.SourceID != ps.code:
		in.refuse(s, ps, h, req, RejectSource, cmpp.ResultBadStructure)
	case !ps.acquire():
		in.refuse(s, ps, h, req, RejectWindow, cmpp.ResultFlowControl)
	default:
		in.recv.ReceiveFwd(ps.code, f, in.responder(s, ps, h, f))
	}
}

// responder is the respond function of one FWD.
func (in *fwdIntake) responder(s *cmpp.Session, ps *peerSession, h cmpp.Header, f *cmpp.Fwd) func(uint32) {
	var done atomic.Bool
	msgID, total, number := f.MsgID, f.PkTotal, f.PkNumber
	return func(result uint32) {
		if !done.CompareAndSwap(false, true) {
			return
		}
		ps.release()
		if result == cmpp.ResultOK {
			ps.ok.Inc()
		} else {
			in.m.Received.WithLabelValues(ps.code, ResultName(result)).Inc()
		}
		in.reply(s, h, &cmpp.FwdResp{MsgID: msgID, PkTotal: total, PkNumber: number, Result: result})
	}
}

// refuse answers a request the receiver will not see.
func (in *fwdIntake) refuse(s *cmpp.Session, ps *peerSession, h cmpp.Header, req cmpp.PDU, reason string, result uint32) {
	in.m.Rejected.WithLabelValues(ps.code, reason).Inc()
	in.logs.Do(func() {
		args := []any{keyPeerCode, ps.code, cmpp.LogKeyPeer, s.RemoteAddr().String(), cmpp.LogKeyReason, reason,
			cmpp.LogKeyCommand, h.Command.String(), cmpp.LogKeySeq, h.Seq}
		if f, ok := req.(*cmpp.Fwd); ok {
			args = append(args, "source_id", f.SourceID, "destination_id", f.DestinationID, cmpp.LogKeyMsgID, f.MsgID)
		}
		in.log.Warn("FWD refused", args...)
	})
	var resp cmpp.PDU
	if er, ok := req.(cmpp.ErrorResponder); ok {
		resp = er.ErrorResponse(result)
		if _, isFwd := req.(*cmpp.Fwd); isFwd {
			in.m.Received.WithLabelValues(ps.code, ResultName(result)).Inc()
		}
	} else if p, err := cmpp.New(h.Command.Response()); err == nil {
		// No result field (QUERY): an empty response still frees the
		// request's inbound slot, which nothing else would.
		resp = p
	} else {
		return
	}
	in.reply(s, h, resp)
}

// reply answers without blocking; when the session's write queue is full
// (a peer that stopped reading) a tracked goroutine waits for room.
func (in *fwdIntake) reply(s *cmpp.Session, h cmpp.Header, resp cmpp.PDU) {
	if err := s.ReplyNoWait(h, resp); errors.Is(err, cmpp.ErrWriteQueueFull) {
		in.tasks.Go(func() { _ = s.Reply(h, resp) })
	}
}

// badPDU counts a PDU from a peer that did not decode; the session has
// answered it already (FWD_RESP Result 1) or closes on a bad length.
func (in *fwdIntake) badPDU(s *cmpp.Session, code string, h cmpp.Header, reason string, err error) {
	in.m.Rejected.WithLabelValues(code, RejectBadPDU).Inc()
	in.logs.Do(func() {
		in.log.Warn("bad PDU from a peer gateway", keyPeerCode, code, cmpp.LogKeyPeer, s.RemoteAddr().String(),
			cmpp.LogKeyCommand, h.Command.String(), cmpp.LogKeyReason, reason, cmpp.LogKeyErr, err)
	})
}

// tracker runs goroutines that must be waited for, refusing new ones once
// closed (etcd GoAttach).
type tracker struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// Go runs f in a goroutine unless the tracker is closed.
func (t *tracker) Go(f func()) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.wg.Go(f)
	return true
}

// close refuses new goroutines and waits for the running ones.
func (t *tracker) close() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.wg.Wait()
}
