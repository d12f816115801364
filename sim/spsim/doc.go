// Package spsim is a CMPP SP load client: it plays an SP application (say
// Sina) against an ISMG, for tests, `make demo` and `make bench` (through
// cmd/spsim).
//
// A run opens Connections CMPP 2.0/2.1/3.0 connections, keeps up to Window
// SUBMITs outstanding on each, optionally paced to Rate SUBMITs per second
// over all of them, and sends Total messages or sends for Duration.
// Destinations come from a list or from a prefix plus random digits. Text
// is encoded in ASCII, UCS2 or GBK; a text longer than one message goes as
// UDH segments (TP_udhi=1, Pk_total/Pk_number), one SUBMIT and one Msg_Id
// each, as an SP does (protocols.md §1.6, §1.10).
//
// Every CMPP_DELIVER is answered with DELIVER_RESP Result 0. Status reports
// are matched to SUBMITs by the report body's Msg_Id (§1.8), also when a
// report overtakes its SUBMIT_RESP; reports for a Msg_Id already reported
// count as duplicates, reports never matched as unknown. With WaitReports
// Run waits after the last SUBMIT_RESP until every acked SUBMIT has its
// report or ReportTimeout passes.
//
// With ReconnectTimeout a connection that drops (the gateway crashed,
// restarted, or closed it) is dialled again with backoff, and the SUBMITs
// it left without a SUBMIT_RESP are sent again as new SUBMITs on the new
// session — what a real SP does, since CMPP cannot ask whether the
// gateway kept them; status reports are awaited across reconnects.
// Without it a dropped connection stays down, as before.
//
// With Record, the run keeps a ledger (package sim/record): every SUBMIT,
// its answer, every status report and every reconnect, one line each, and
// every SUBMIT's text starts with its client key so that an SMSC's record
// can be joined to it (sim/check, cmd/tandem-check).
//
// Result counts submitted, acked and rejected SUBMITs (by Result code, 8
// being flow control), resends and reconnects, reports by Stat, MO,
// duplicates and unknowns, and latency percentiles of SUBMIT→SUBMIT_RESP
// and SUBMIT→report from a fixed log-linear Histogram (about 3% precision,
// constant memory). Print writes it for people, WriteJSON for scripts.
//
// # Goroutines and locks
//
// Run starts one goroutine per connection (runConn) and waits for them;
// each owns its connection's session across reconnects: it keeps up to
// Window SUBMITs outstanding with Session.SendAsync (a slot semaphore of
// Window), then holds the session for status reports until Run stops it.
// Answers are accounted for on the session's reader as they arrive; an
// answer that is the session's end hands its SUBMIT back to the
// connection (conn.mu, a leaf) for the next session. DELIVERs are handled
// on the session's reader too (InlineHandler). Client.mu (report
// bookkeeping and the maps) and the Histogram mutex are leaves; counters
// and the pacer are atomics. Run terminates every connection before it
// returns.
package spsim
