// Package billing writes an ISMG's original bill records (CDRs) and reports
// over them. It is a leaf package: standard library only.
//
// # Writing
//
// Every MT segment, MO message and status report a gateway handles leaves one
// Record (DESIGN.md flow 5). A Writer appends them, as CSV, to one file per
// period (hourly by default, aligned to midnight in Config.Location, the
// ISMG's timezone; a name carries that zone's UTC offset unless it is zero,
// e.g. cdr-001001-2026112222+0800.csv):
//
//	cdr-<gateway>-<YYYYMMDDHH>.csv        e.g. cdr-001001-2026112214.csv
//	cdr-<gateway>-<YYYYMMDDHH>-<n>.csv    a second file of the same hour (after a restart)
//
// A file is written as <name>.csv.part and renamed to <name>.csv only after
// it is flushed and fsynced (on rotation and Close), and the directory is
// fsynced after the rename, so a reader of *.csv never sees half a file.
// Write only buffers; Sync flushes and fsyncs, and the ISMG calls it in its
// group-commit cycle before acknowledging, which makes those messages' CDRs
// durable at the cost of one fsync per batch. Rotation happens on the first
// Write after the period boundary, by the Config.Now clock. Open finalizes
// .part files a crash left behind, cutting a torn last line.
//
// # File format
//
// CSV (RFC 4180, "\n" line ends, quoting as encoding/csv; text fields are
// the bytes given, usually ASCII).
// The first line is the header, exactly Header:
//
//	kind,direction,msg_id,msg_id_hex,sp_id,service_id,fee_user_type,fee_type,fee_code,
//	fee_terminal_id,src,dest,pk_total,pk_number,submit_time,done_time,final_status,
//	handling_gateway,prev_gateway,next_gateway,smsc_msg_id,msg_fmt,msg_length
//
//	kind              MT | MO | REPORT
//	direction         LOCAL | FWD_OUT (sent to next_gateway) | FWD_IN (from prev_gateway)
//	msg_id            CMPP Msg_Id, unsigned decimal
//	msg_id_hex        the same, 16 upper-case hex digits (as CMPP tools print it)
//	sp_id             Msg_src / SP_Id
//	service_id        Service_Id
//	fee_user_type     Fee_UserType 0-3, decimal
//	fee_type          FeeType as sent: 01 free, 02 per message, 03 monthly, ...
//	fee_code          FeeCode as sent: tariff in fen
//	fee_terminal_id   Fee_terminal_Id
//	src, dest         source and destination address
//	pk_total          Pk_total (segments of the message)
//	pk_number         Pk_number (this segment, from 1)
//	submit_time       when the gateway accepted it; UTC "2006-01-02T15:04:05.000Z", empty if unknown
//	done_time         when the final state was known; same format
//	final_status      Stat: DELIVRD, UNDELIV, EXPIRED, ..., or a gateway code like MA:0001
//	handling_gateway  6-digit code of the ISMG that wrote the record
//	prev_gateway      6-digit code of the ISMG a FWD_IN came from, else empty
//	next_gateway      6-digit code of the ISMG a FWD_OUT went to, else empty
//	smsc_msg_id       the SMSC's message_id
//	msg_fmt           Msg_Fmt, decimal
//	msg_length        Msg_Length of this segment in octets
//
// FORMAT.md in this directory is the longer description, with examples and
// the rules a reader must follow. Readers map columns by header name and
// ignore unknown ones, so a later version may append columns.
//
// # Reading and reports
//
// Reader and ReadFile parse files strictly (errors are *ParseError, naming
// file, line, column and field). Summarize and SummarizeDir total records
// per SP per day; the fee rule is documented on Summary. cmd/billing prints
// them. SummarizeDir reads the open .part files too (the current hour's
// while the gateway runs, or one a crash left), so that a report during
// operation or right after a crash counts what was delivered: their
// complete records count, an incomplete last record is skipped and
// reported (SummarizeDirInfo), not refused.
//
// TrafficDirs (and TrafficOf) count traffic rather than fees: submitted,
// delivered, failed by final state, expired, pending, MO, forwarded per
// peer, and the submit-to-final-state latency (a sketch: exact up to 512
// samples, then within 1 %), grouped by any of SP, gateway, region, hour
// and day (Dim). They stream the records; see Traffic for each column and
// trafficer for the memory bound.
//
// # Concurrency
//
// A Writer is safe for concurrent use. Lock order: Writer.syncMu, then
// Writer.mu. No goroutines are started. A Reader is not safe for concurrent
// use.
package billing
