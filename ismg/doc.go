// Package ismg is the gateway node: the CMPP server SPs log in to, the
// durable message queue, the dispatcher, the SMSC links, status reports and
// billing. cmd/ismg wires it from a YAML file (LoadConfig).
//
// # How a message moves through ismg
//
// An MT, file by file, in the order the code runs:
//
//	SP ─CMPP_SUBMIT─► spserver.go   login (firewall.go), the request on the session's reader
//	                  accept.go     the SUBMIT's own fields (checkSubmit, a pure function)
//	                  submit.go     destination (routeMT → a queueRef, queues.go), Msg_Id
//	                                (msgid.go), MT CDR (cdr.go), one group commit, SUBMIT_RESP
//	mt:<link> ──────► dispatch.go   the link's dispatcher leases, marks in flight (inflight.go)
//	                  smscsubmit.go submit_sm on the link (smsclink/), Move to await with
//	                                the SMSC id (sidindex.go holds the id → Msg_Id map)
//	SMSC ─receipt───► receipt.go    the link's runtime is its Handler: receipt → Msg_Id
//	                  report.go     the MT leaves await, its status report enters out:<sp>
//	out:<sp> ───────► deliver.go    the SP's deliverer sends CMPP_DELIVER ─► SP
//
// An MO enters at mo.go (to out:<sp>, or fwd:<gw> for another gateway's
// SP) and leaves through deliver.go. What waits too long is ended by
// sweep.go; recover.go picks up what a crash left in flight; node.go builds
// the node (New) and runs it (Run).
//
// Across gateways (federation.go, listen.fwd set):
//
//	submit.go ─► fwd:<gw> ─► fwdsend.go   the forwarder sends CMPP_FWD type 0; on FWD_RESP 0
//	                                      the MT moves to await, its report to come
//	peer ─CMPP_FWD─► fwdrecv.go           type 0 into mt:<link>, type 1 into out:<sp>,
//	                                      type 2 ends an await MT (report.go), type 3
//	                                      counted; the dedup key in the same commit
//	report.go (an MT from a peer) ─► fwd:<its gateway>   the report goes back as type 2
//	deliver.go (an MO from a peer) ─► fwd:<its gateway>  the MO report goes back as type 3
//
// Routes come from routes.file or from the route cache following the GNS
// (routes.go).
//
// # Message life cycle
//
// Everything a message goes through is a queue item or key in one bbolt
// store (package queue), changed only by atomic, fsynced group commits.
// Values are versioned binary records (message.go).
//
//	SUBMIT ──► mt:<link>   Enqueue, one item per destination (Msg_Id),
//	                       due = At_Time or now, the MT CDR in the same
//	                       commit (cdr queue); SUBMIT_RESP after the commit
//	       └─► fwd:<gw>    number homed at another gateway: forwarded with
//	                       CMPP_FWD (fwdsend.go), resent until Valid_Time,
//	                       then an EXPIRED report; without listen.fwd it
//	                       waits for Valid_Time and expires
//	mt:<link> ─ dispatcher: Lease; Valid_Time past → EXPIRED report
//	                       (while the link is down, a sweep every
//	                       delivery.expiry_sweep reports the expired ones);
//	                       Put inflight:mt:<link> batch record (one per
//	                       leased batch, see below); submit_sm
//	    ok   ──► await     Move (the value now carries the normalised SMSC
//	                       id, Attempts+1); due = report deadline
//	    temp ──► mt:<link> Update due = now + backoff (jittered), until
//	                       MaxAttempts → MA:0001 / MB:xxxx report
//	    perm ──► report    MB:xxxx
//	    (the batch's last outcome deletes its inflight record)
//	receipt ─► await       sid → Msg_Id from the in-memory index (every
//	                       await record's SMSC ids not yet receipted; rebuilt
//	                       from await at start-up: there is no sid KV);
//	                       Remove await + Enqueue out:<spid> (if
//	                       Registered_Delivery=1), one commit; REPORT CDR;
//	                       only then deliver_sm_resp. A part of a
//	                       multi-part MT: Update await, Pending-1, its id
//	                       added to Done (so a restart does not map it)
//	    no mapping yet ─► orphan  (durable, due = now + orphan_ttl); matched
//	                       by the dispatcher once the mapping commits, or
//	                       dropped with a log when it expires
//	await past its deadline ─► MC:0001 report
//	MO deliver_sm ─► out:<spid> (local SP) or fwd:<gw>; MO CDR
//	out:<spid> ─ deliverer: Lease up to the SP window, Put
//	                       inflight:out:<spid> batch record, CMPP_DELIVER
//	                       round robin over the SP's sessions; Remove on
//	                       DELIVER_RESP Result 0 (in the next round's
//	                       commit, with the next batch record and the
//	                       deletion of the records all of whose DELIVERs
//	                       settled), else retry with backoff
//	KV meta/msgid_hw       the last second reserved for Msg_Ids: written
//	                       before any id of a second is handed out (a
//	                       lease of 10 s renewed ahead, msgid.go), so a
//	                       restart never reissues an id
//
// Long messages: each SUBMIT the SP sends (one per segment, with its UDH)
// is its own Msg_Id and gets its own report. When transcoding (GBK → UCS2)
// makes one Msg_Id overflow a message, it goes out as several submit_sm
// and its report follows the last receipt (the first failure wins).
//
// # Crash semantics
//
// Nothing acknowledged is lost: SUBMIT_RESP follows the fsync.
//
// In-flight batch records (inflight.go) replace rewriting every leased
// value with an in-flight flag: KV bucket inflight:<queue>, key = batch
// number, value = per item its id and the due time it was leased with
// (8 + 8 bytes). An item listed there that is still in its queue with that
// due time had no outcome yet (a temporary failure or a refused DELIVER
// reschedules it, which changes its due time; success moves or removes
// it). At start-up those items are counted — ismg_smsc_resends_total (in
// mt:<link>: the submit_sm may have reached the SMSC, so it may be a
// duplicate) and ismg_sp_report_repeats_total (in out:<spid>) — their
// Attempts incremented and every record deleted, in one commit; then they
// are sent again. Because a dispatcher keeps a slot from lease
// until the outcome is durable, at most the link's resend_bound MTs
// (default 4 × binds × window) are in flight; the deliverer keeps at most the SP's window. A receipt whose
// mapping was not yet durable at the crash comes back from the SMSC and
// is parked as an orphan; the resent copy gets its own id and receipt.
//
// # Goroutines
//
// New opens the store, billing and listeners; Run owns every goroutine and
// stops them in order: cmpp.Server.Shutdown (CMPP_TERMINATE, windows
// drain) → dispatchers, deliverers and sweepers end (work context); the
// submits they started finish on the hard context, cancelled only at
// delivery.shutdown_timeout → SMSC links unbind → queue and billing close.
//
//   - cmpp.Server: per SP connection one reader and one writer. Requests
//     are handled on the reader (cmpp.Config.InlineHandler) and never wait:
//     a SUBMIT is answered from the callback of its queue commit
//     (submitWait.finish), a CANCEL from its commit callback.
//   - per SMSC link: smsclink's bind goroutines and deliver handlers
//     (receipts/MO commit before answering; receipts are parsed on the
//     bind's reader). The final receipt of a mapped single-part MT takes no
//     goroutine (smsclink.AsyncReceiptHandler): its status report is
//     committed with CommitAsync and the deliver_sm_resp sent from the
//     commit callback; the other cases (no mapping yet, orphans, several
//     parts, MO) run on a deliver handler goroutine. One dispatcher. A
//     single-segment MT has no goroutine: the dispatcher calls
//     smsclink.Link.SubmitAsync, the submit_sm_resp callback queues the
//     Move to await (CommitAsync) and its commit callback frees the slot.
//     MTs split into several submit_sm, failures and orphan receipts to
//     apply run on submit goroutines (kept for the next MT until the
//     dispatcher ends). At most binds × window MTs are in flight; at
//     shutdown the dispatcher waits for their responses (bounded by the
//     link's response timeout).
//   - per SP account: one deliverer (out:<spid>); DELIVER_RESP callbacks run
//     on the session's reader and only hand the answer to the deliverer
//     (a refusal starts a goroutine that reschedules the DELIVER).
//   - sweepers: await (MC:0001), orphan (expiry), fwd:<gw> (EXPIRED), the
//     CDR mover and the Msg_Id reserver.
//
// # CDRs
//
// A CDR is committed with what it bills, as a line of the cdr queue: the
// MT record with the SUBMIT, the REPORT with the end of its message, the
// MO with its queueing (cdrout.go). One fsync covers both, so SUBMIT_RESP
// follows a single durable commit, a commit that fails bills nothing, and
// no crash separates a message from its CDR. The CDR mover takes the
// lines to the hourly files every billing.move_interval (write, fsync,
// then remove them from the store) and once more at shutdown; at start it
// drops the lines a crash caught after they were filed. Before, each
// SUBMIT waited for a CDR fsync too (run by the committer before each
// transaction), and a crash could leave a CDR for a SUBMIT never stored.
// TestSIGKILL checks every acknowledged message's MT and REPORT records.
//
// # HTTP
//
// listen.http serves /metrics and /healthz (listen.go, health.go), and the
// web console with its read-only API (console.go; listen.http_token guards
// the API): /status (status.go), /route, and /trace, a message's path from
// the CDRs and the live store (trace.go), followed across the gateways
// through federation.peers[].http_addr (traceserve.go, package msgtrace).
// The node's logger keeps its recent warn/error records (consolelog.go).
// Profiling (net/http/pprof) is off unless listen.pprof names a loopback
// address, where it gets a listener of its own: profiles expose the
// process's memory and must not share the metrics port.
//
// # Locks
//
// All leaves, none held across I/O except: linkRuntime.idx.mu (the pending
// mapping / orphan index) is taken alone; Node.msgLocks has a mutex per
// Msg_Id that serialises the receipts of one message's parts and is held
// across that message's commit (never with another one; unrelated
// receipts never wait for each other); spRuntime.mu guards the
// session list; firewall.mu the auth-failure table.
//
// # Limits and refusals
//
// CONNECT: unknown SP_Id → status 2; bad authenticator → 3; source IP not
// allowed, too many connections, or an IP blocked after limits.auth_failures
// failures within limits.auth_fail_window → 5. SUBMIT: Msg_src → 11, Src_Id
// → 10, bad destination or no route → 13, length → 4/6, Pk or time fields
// → 1, and Result 8 (flow control) for the SP's window per connection, its
// token bucket across connections, limits.queue_depth across mt queues, a
// store or billing failure. Every refusal is counted with its reason.
//
// # Administration
//
// listen.admin serves the admin gRPC API (adminserver.go, adminservice.go;
// admin.go maps the admin*.go files): SP accounts as an overlay over the
// file's sps kept in the store (adminsp.go; a suspended SP's CONNECT gets
// 5 and its SUBMITs 8, a deleted one's CONNECT 2), destination lists
// (adminlist.go: Result 13, a REJECTD MT CDR), drain (Result 8), log
// level and SMSC link stop/start (admindrain.go), the reload report
// (adminreload.go) and the audit log (adminaudit.go).
package ismg
