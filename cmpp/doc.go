// Package cmpp implements CMPP 2.0/2.1/3.0 (China Mobile Peer to Peer): the
// codec for every PDU, including the inter-gateway CMPP_FWD and the GNS route
// PDUs, Msg_Id generation, and a session layer usable as client and server.
//
// It is a leaf package: it knows nothing about routing, storage or metrics.
//
// # Sessions
//
// A [Session] is one logged-in connection in either role: [Dial] makes a
// client (SP, or an ISMG calling a peer), [Server] accepts them. Requests go
// out with [Session.Send] (fails fast with [ErrWindowFull]),
// [Session.SendWait] (waits for a window slot) or [Session.SendAsync]; the
// peer's requests reach a [Handler], which answers with [Session.Reply].
// The session answers ACTIVE_TEST and TERMINATE itself, sends ACTIVE_TEST
// when nothing arrived for ActiveTestInterval and closes with [ErrPeerDead]
// after ActiveTestMisses unanswered ones. [Session.Terminate] and
// [Server.Shutdown] close gracefully: no new requests, CMPP_TERMINATE, the
// windows drain (bounded by ResponseTimeout and the caller's ctx), close.
// Over InboundWindow, a peer's requests are refused with ResultFlowControl
// (8) at once, never queued without bound.
//
// A session runs over any net.Conn: ClientConfig.TLS makes Dial speak TLS,
// and a Server serves a tls.NewListener, the handshake counted in the
// login deadline and the caps on connections not yet logged in.
//
// # Bad input
//
// Only a PDU that cannot be framed (Total_Length out of range), a
// connection that ends inside a PDU, or a PDU that does not arrive whole
// within Config.PDUTimeout of its first byte closes a session. A framed
// PDU whose body does not decode is answered by the session itself with
// the request's error result (SUBMIT_RESP Result 1 and the like) and the
// session reads on; see BadPDUField and its neighbours for each case, and
// Config.OnBadPDU for the hook that counts them.
//
// # Goroutine ownership
//
// Per connection there is exactly one reader and one writer goroutine. On a
// server the connection's goroutine (started by Serve through the server's
// tracker, which refuses new ones after Shutdown/Close) does the CONNECT
// handshake and then becomes the reader; Dial starts one that does the
// same. The reader starts the writer and waits for it; the two share a
// context whose cancellation closes the connection (context.AfterFunc),
// which is the only way to unblock a Read or Write. Whichever fails first
// sets the cause that Session.Err reports. The writer also owns the
// keepalive timer and state. A third goroutine, the sweeper, fails the
// requests left unanswered past ResponseTimeout, checking the window every
// eighth of it, instead of a timer per request. Handlers run in goroutines
// of their own, as many as requests are handled at once (at most
// InboundWindow unanswered per session); a handler goroutine that finishes
// stays for the next request until the session ends, so its grown stack is
// reused instead of a fresh goroutine per request. With
// Config.InlineHandler the reader runs the handler itself (for handlers
// that never wait, answering later with ReplyNoWait or Reply). Session.Done
// is closed only after they have returned, so a handler must return once
// Session.Context is done. The post-TERMINATE drain bound uses
// time.AfterFunc, stopped when the session ends. The package uses
// no x/sync errgroup because leaf packages import only the standard library;
// a WaitGroup plus context.WithCancelCause does the same job.
//
// # Locks
//
// Every mutex is a leaf: no code holds one while taking another or while
// blocking on a channel, and callbacks (SendAsync's fn, window removal
// hooks) run after the lock is released. The locks are window.mu (the
// Sequence_Id → waiter table), inbound.mu (peer requests being handled),
// Session.drainMu (the drain timer) and Server.mu (listeners, connections
// and sessions). Server.mu is never held while calling into a session
// except to cancel its context, which takes no session lock.
package cmpp
