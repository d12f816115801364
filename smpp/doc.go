// Package smpp implements SMPP 3.4 (protocols.md §2): a codec for every PDU
// with TLVs and delivery receipts, and ESME/SMSC sessions over TCP with a
// window, keep-alive, throttling errors and graceful unbind.
//
// # Codec
//
// Each PDU is a typed struct (SubmitSM, DeliverSM, BindResp, ...) that
// implements PDU. Encoding appends: AppendPDU(b, p, seq, status) writes the
// header and body into b and patches command_length, without allocating
// when b has room. Decode and DecodeBody are the inverse. Decoding is
// zero-copy where it is safe: byte fields (short_message, TLV values)
// alias the input buffer, which must therefore not be modified while the
// PDU is in use; all C-octet strings of one PDU share a single string
// copy, so decoding a submit_sm into a reused struct costs at most two
// allocations (the strings and the TLV list). TLVs are an ordered slice;
// unknown tags are kept and re-encoded byte for byte. Error responses may
// come header-only (as the spec says) or with a body (as many SMSCs send);
// both decode, and the ErrBody field makes re-encoding exact. Decode errors
// are *FieldError values naming the PDU and field; StatusFor maps them to
// the command_status to answer with.
//
// Receipt parses and formats the Appendix B delivery receipt text;
// ParseDeliverReceipt prefers the receipted_message_id and message_state
// TLVs; NormalizeMessageID reconciles hex and decimal message ids. No text
// encoding is done here: data_coding and the bytes are carried as is.
//
// # Sessions
//
// A Session runs over one net.Conn as ESME (Dial, Bind, Submit) or SMSC
// (Server, Handler). Sequence numbers belong to the session. Requests we
// send occupy a bounded window (Config.Window): Send fails fast with
// ErrWindowFull, SendWait waits for a slot. Responses with a non-zero
// status come back as *StatusError, which matches ErrThrottled,
// ErrQueueFull and ErrTemporary through errors.Is. The session answers
// enquire_link and unbind itself, enforces bind states (ESME_RINVBNDSTS,
// ESME_RALYBND), answers unknown commands with generic_nack ESME_RINVCMDID,
// and sends enquire_link when the link is idle, closing with ErrPeerDead
// when the peer does not answer. A request whose body does not decode is
// answered with the status StatusFor gives and the session reads on; only
// a PDU that cannot be framed, or that does not arrive whole within
// Config.PDUTimeout of its first byte, closes it (see BadPDUField and its
// neighbours, and BadPDUObserver for counting them).
//
// A session runs over any net.Conn: Dialer.TLS dials an SMSC over TLS,
// and a Server serves a tls.NewListener.
//
// # Goroutines
//
// Each Session owns exactly three goroutines, started by NewSession and
// ended together:
//
//   - the reader: the only caller of Read on the conn. It frames PDUs with
//     Peek/Discard, checks command_length against Config.MaxPDU before
//     allocating, matches responses to waiters, answers enquire_link and
//     unbind, and calls the Handler (so a Handler must not block; it may
//     keep the Request and Respond later from any goroutine).
//   - the writer: the only caller of Write on the conn. Every PDU goes
//     through a bounded channel (Config.WriteQueue) into a bufio.Writer
//     that is flushed when the channel is momentarily empty. Each network
//     write has a deadline (Config.WriteTimeout), so a peer that stops
//     reading fails the session instead of growing our memory. The writer
//     also runs the keep-alive and bind timers.
//   - the sweeper: fails requests unanswered past Config.RequestTimeout,
//     looking every eighth of it, instead of a timer per request.
//
// When either goroutine fails it records the cause, cancels the session
// context and closes the conn, which unblocks the other. The last one out
// fails outstanding requests with ErrClosed and closes Done(). Memory per
// session is bounded by Window outstanding requests, WriteQueue queued
// frames and one PDU being read; a reader blocked on a full write queue
// stops reading, pushing back on the peer.
//
// A Server runs one accept loop per Serve call (in the caller's
// goroutine) and tracks every session in a WaitGroup, so Close and
// Shutdown return only when no session goroutine is left.
//
// # Locks
//
// Lock order: Server.mu → (nothing). Session.mu (the close cause) and the
// window's mu are leaf locks: no other lock is taken while they are held,
// and no channel send that can block happens under them (waiter channels
// have a buffer of one and get exactly one result). Session state, bind
// mode, sequence numbers and timestamps are atomics. Server.mu is never
// held while calling into a Session.
//
// Unbind, Shutdown and Wait block until the session's goroutines have
// exited, so they must not be called from a Handler (which runs on the
// reader goroutine); Close and Respond may be.
package smpp
