// Package smscsim is an SMPP 3.4 SMSC simulator: the far end of an ISMG's
// SMSC links in tests, in `make demo` and in `make bench` (through
// cmd/smscsim).
//
// It accepts binds (any, or a fixed set of system_id/password pairs),
// answers submit_sm with a message id and, when registered_delivery asks
// for it, sends a delivery receipt after ReceiptDelay: a deliver_sm with
// esm_class 0x04, the Appendix B text and the receipted_message_id and
// message_state TLVs (protocols.md §2.6). The final state is drawn from a
// weighted StatusMix (or chosen by a StatusFor hook). Receipts go to a
// receiver or transceiver bind of the submitting system_id, round robin;
// while none is bound they are parked and released by the next such bind,
// and failed attempts are retried after ReceiptRetry, up to
// ReceiptAttempts. MaxPendingReceipts bounds what is held.
//
// Faults it can play, to exercise an ISMG:
//   - message ids in hex or decimal, with the receipt text quoting the id
//     in another format than submit_sm_resp (IDFormat, ReceiptIDFormat),
//     or without the TLVs (OmitReceiptTLVs) — protocols.md §5.2 item 8;
//   - throttling: every Nth submit_sm, or above a rate, answered
//     ESME_RTHROTTLED; queue full (ESME_RMSGQFUL);
//   - down: sessions closed and binds refused with ESME_RBINDFAIL;
//   - receipts held back (HoldReceipts) or sent before the submit_sm_resp
//     (ReceiptFirst), so the receipt races ahead of the id mapping.
//
// With Config.Record the simulator keeps a ledger (package sim/record):
// every accepted submit_sm with its message id and the client key found
// in its text, and every receipt answered (or given up), for
// cmd/tandem-check to join with the SP clients' records.
//
// InjectMO sends mobile-originated messages (split into UDH segments when
// long) to a bound receiver. Everything is recorded for test assertions:
// Submitted, Refused, Stats, and Wait/WaitSubmits/WaitReceipts, which wait
// on a condition instead of polling.
//
// # Goroutines
//
// New starts a scheduler (a heap of receipts by due time, one timer) and a
// few senders that hand due receipts to the sessions with
// Session.SendAsync, at most ReceiptWorkers awaiting their answer at once
// (the outcome is handled on the session's reader);
// Start adds an accept loop; each accepted session gets a watcher that
// unregisters it when it ends; ReceiptFirst answers run in a goroutine per
// submit_sm. All of them go through goTrack, which refuses new ones once
// Shutdown or Close has begun, and both wait for them. The SMPP Handler
// runs on the session's reader goroutine and never blocks on anything but
// the session's own write queue.
//
// # Locks
//
// SMSC.mu guards the bind registry, parked receipts and records; the
// receipt queue's mutex is taken after it when both are needed, never
// before. Counters are atomics. No lock is held while calling into a
// session except for reading its state.
package smscsim
