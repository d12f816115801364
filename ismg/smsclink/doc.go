// Package smsclink is the ISMG's SMPP 3.4 link layer towards one SMSC
// (DESIGN.md, protocols.md §2): a pool of bind slots kept connected, with
// submits load-shared across them, windowed per bind, rate capped across
// the link, and paused when the SMSC throttles. It knows nothing of CMPP,
// queues or routing; the ISMG core calls Submit and implements Handler.
//
// # Submitting
//
// Submit fails fast with ErrNoBind when nothing is bound (the ISMG keeps
// the message queued; WaitReady tells it when to try again). Otherwise it
// waits out a throttling pause, takes a token from the rate cap (Rate per
// second across the link, each submit_sm counting as one segment), picks
// the bound transmitter with the fewest submits outstanding (round-robin
// among equals; never more than Window on one bind), sends and waits for
// submit_sm_resp. ESME_RTHROTTLED and ESME_RMSGQFUL (protocols.md §2.7-2.8)
// fail that submit with an error matching smpp.ErrThrottled or
// smpp.ErrQueueFull and pause every bind for ThrottleBackoff, doubling
// while the SMSC keeps throttling and reset by a success. Temporary and
// Classify sort errors into retry-later and fail-the-message.
//
// SubmitBy takes the deadline that decides ErrPaused/ErrRateWait as a
// time rather than a context deadline; SubmitAsync does the same checks
// and waits, queues the submit_sm and returns, and calls back with the
// message_id or error (no goroutine, channel or timer of the caller's per
// submit_sm).
//
// # Receiving
//
// Every deliver_sm (receipt or MO) and data_sm from any bind goes to
// Handler.HandleDeliver; the response carries the status it returns and
// is sent only when it returns, so the ISMG persists before acknowledging.
// At most MaxDeliverInFlight calls run per bind; beyond that the SMSC gets
// ESME_RX_T_APPN and retries later. A Handler that also implements
// ReceiptHandler gets receipts through HandleReceipt, already parsed
// (smpp.ParseDeliverReceipt) on the bind's reader.
// An AsyncReceiptHandler may take a receipt on the reader instead
// (HandleReceiptAsync) and answer it from a callback, such as its store's
// commit callback, with no goroutine waiting.
//
// # Goroutines
//
//   - Run's caller: waits for ctx, then marks the link closing (new submits
//     get ErrClosed), waits for the slot goroutines, cancels the Handler
//     context and waits for the Handler goroutines. Nothing of the link
//     runs after Run returns.
//   - one goroutine per slot (Binds of them, 2×Binds for tx+rx), started
//     by Run: dial, bind, wait for the session's Done, back off with full
//     jitter, repeat. A slot owns at most one socket at a time: it dials
//     again only after the previous session's Done (a failed bind is closed
//     and waited for too). On ctx's end it shuts its session down
//     gracefully (drain outstanding submits and deliveries, unbind), bounded
//     by ShutdownTimeout.
//   - two goroutines per session (reader and writer), owned by package
//     smpp; the slot goroutine waits for them through Done.
//   - Handler goroutines: a deliver_sm goes to the most recently idle one
//     of its slot (so few of them run and keep grown stacks) or
//     a new one is started from the session's reader (which must not
//     block); they stay until the Handler context ends, so their stacks
//     are reused. At most MaxDeliverInFlight per slot, tracked by a
//     WaitGroup that Run waits for.
//   - Submit, SubmitBy, SubmitAsync and WaitReady run in their callers'
//     goroutines and start none; SubmitAsync's callback runs on the
//     session's reader, a timer or the closing session.
//
// # Locks
//
// Link.mu guards the slots' current sessions and states, each session's
// outstanding count, the round-robin cursor and the throttling state. It is
// a leaf lock: no other lock is taken and nothing blocks while it is held
// (waiters get a channel that is closed under it). The rate.Limiter's mutex is
// also a leaf, never taken under Link.mu. Counters are atomics.
package smsclink
