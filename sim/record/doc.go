// Package record is the ledger the simulators keep so that a crash can be
// counted: spsim and smscsim write one line per event to a record file
// (-record FILE), and sim/check (cmd/tandem-check) joins the files of
// every SP client and every SMSC of a run to say what was sent, acked,
// delivered, duplicated, lost, and which status reports went missing or
// came twice. Counting is done from the simulators' own records, never
// from Tandem's metrics.
//
// # The client key
//
// Every SUBMIT an spsim that records sends carries a client key at the
// start of its text, in whatever coding the text uses:
//
//	TK:<run>-<message>[.<segment>]<space><text>
//	TK:3f9a1c2b-17 Tandem spsim test message.
//	TK:3f9a1c2b-18.2 <the second segment's text>
//
// <run> is 8 lower-case hex digits drawn at random per spsim run,
// <message> the message's number in the run (from 0), and .<segment> the
// UDH segment number of a long message (each segment is its own SUBMIT,
// Msg_Id and status report, so each has its own key). A resent SUBMIT
// keeps its key. The key uses only characters every SMS alphabet holds
// (GSM 03.38 default, IA5, Latin-1, UCS2, GBK), so it survives the
// gateway's transcoding; smscsim finds it with FindKey in the decoded
// text of each accepted submit_sm.
//
// # File format
//
// A record file is JSON lines (UTF-8, one object per line, "\n" ends every
// line), appended to: several runs may share a file, each starting with a
// "run" line. Every object has "ev" (the event) and "t" (when it
// happened, RFC 3339 with nanoseconds, UTC). Msg_Ids are unsigned decimal
// numbers written as JSON strings (they exceed 2^53, which JSON tools
// would round). Fields that do not apply are left out.
//
// spsim writes:
//
//	{"ev":"run","t":…,"tool":"spsim","run":"3f9a1c2b","sp":"901234","addr":"127.0.0.1:7890","rd":1}
//	{"ev":"sub","t":…,"key":"3f9a1c2b-17","dest":"13800138000","conn":1}             SUBMIT sent
//	{"ev":"sub","t":…,"key":"3f9a1c2b-17","dest":"13800138000","conn":2,"resend":true} sent again after its connection dropped
//	{"ev":"ack","t":…,"key":"3f9a1c2b-17","msg_id":"1234567890123456789","dest":"13800138000","sub_t":…}
//	{"ev":"rej","t":…,"key":"3f9a1c2b-17","result":8}                                 SUBMIT_RESP Result ≠ 0
//	{"ev":"noresp","t":…,"key":"3f9a1c2b-17","err":"…","resend":true}                  no SUBMIT_RESP; resend: it will be sent again
//	{"ev":"rpt","t":…,"msg_id":"1234567890123456789","stat":"DELIVRD","dest":"13800138000"}
//	{"ev":"conn","t":…,"conn":1,"state":"lost","err":"…"}                              also "up" (reconnected) and "gave_up"
//	{"ev":"end","t":…}                                                                 the run ended (no crash)
//
// smscsim writes:
//
//	{"ev":"run","t":…,"tool":"smscsim","run":"0c1d2e3f","sys":"smscsim","addr":"127.0.0.1:2775"}
//	{"ev":"acc","t":…,"id":"1a2b3c","esme":"ismg001001","src":"10657001","dest":"13800138000","key":"3f9a1c2b-17","rd":1}
//	{"ev":"rcpt","t":…,"id":"1a2b3c","key":"3f9a1c2b-17","stat":"DELIVRD","dest":"13800138000"}  receipt answered OK
//	{"ev":"rcpt_fail","t":…,"id":"1a2b3c","key":"3f9a1c2b-17","err":"…"}                           receipt given up
//
// "key" is absent on an accepted submit_sm whose text holds none (another
// client's traffic, or the second part of a message the gateway had to
// split again after transcoding).
//
// # Crashes
//
// A Writer appends (O_APPEND) whole lines and hands them to the kernel in
// batches as soon as it can, so a process killed with SIGKILL leaves every
// line written before its last moments whole; at worst the last line is
// torn. Close flushes and fsyncs. Read skips a torn last line (one without
// its "\n") and reports it; a bad line anywhere else is an error naming
// the file, line and field.
//
// # Goroutines and locks
//
// A Writer runs one flusher goroutine, started by NewWriter and ended by
// Close. Writer.mu (the pending buffer) is taken inside Writer.fileMu (the
// file writes) when both are needed, never the other way round.
package record
