package check

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Counts are the numbers of one spsim run, or of all of them. Every count
// is of client keys (SUBMITs) unless its name says otherwise.
type Counts struct {
	Sent    int `json:"sent"`    // keys an SP sent (a resend counts once)
	Submits int `json:"submits"` // SUBMIT PDUs, resends included
	Resent  int `json:"resent"`  // keys sent more than once (their connection dropped unanswered)

	Acked      int `json:"acked"`      // SUBMIT_RESP Result 0
	Rejected   int `json:"rejected"`   // never acked, refused with a Result
	Unanswered int `json:"unanswered"` // never acked nor refused

	Delivered               int `json:"delivered"`                  // accepted by an SMSC at least once
	DeliveredUnacked        int `json:"delivered_unacked"`          // of them never acked (the SUBMIT_RESP was lost)
	Duplicated              int `json:"duplicated"`                 // accepted by SMSCs more than once
	DuplicatedAfterResend   int `json:"duplicated_after_resend"`    // of them sent more than once by the SP, at most once per SUBMIT
	DuplicateCopies         int `json:"duplicate_copies"`           // accepts beyond the first
	Lost                    int `json:"lost"`                       // acked, never accepted by an SMSC
	LostWithReport          int `json:"lost_with_report"`           // of them with a status report at the SP (a failure the gateway reported)
	ReportsExpected         int `json:"reports_expected"`           // acked, delivered, and the run asked for reports
	Reports                 int `json:"reports"`                    // of them with a report at the SP
	ReportsMissing          int `json:"reports_missing"`            // of them without
	ReportsMissingNoReceipt int `json:"reports_missing_no_receipt"` // of them the SMSC never had a receipt answered for
	ReportsRepeated         int `json:"reports_repeated"`           // reports beyond the first for a Msg_Id
	ReportsUnknown          int `json:"reports_unknown"`            // reports for a Msg_Id the run never had acked
	MsgIDsReused            int `json:"msg_ids_reused"`             // Msg_Ids acked for more than one key (total only)

	Reconnects    int           `json:"reconnects"`
	LongestAckGap time.Duration `json:"longest_ack_gap_ns"` // longest time between two acks of a run
	AckGapFrom    time.Time     `json:"longest_ack_gap_from,omitzero"`
}

// RunCounts are one spsim run's counts.
type RunCounts struct {
	Run   string `json:"run"`
	SP    string `json:"sp"`
	File  string `json:"file"`
	Ended bool   `json:"ended"` // false: spsim crashed, or still runs
	Counts
}

// SMSCCounts are the SMSC records' own totals.
type SMSCCounts struct {
	Runs           int `json:"runs"`
	Accepted       int `json:"accepted"`        // submit_sm accepted
	Unkeyed        int `json:"unkeyed"`         // of them without a client key
	Foreign        int `json:"foreign_keys"`    // keys of no spsim run read
	Receipts       int `json:"receipts"`        // receipts answered OK
	ReceiptsFailed int `json:"receipts_failed"` // receipts given up
}

// Limits are what a check tolerates beyond zero.
type Limits struct {
	// MaxDuplicates is how many duplicated keys are allowed: a crash
	// between an SMSC's submit_sm_resp and the gateway's record of it, or
	// an SP resending a SUBMIT whose SUBMIT_RESP a crash ate, delivers a
	// message twice.
	MaxDuplicates int
}

// Report is the outcome of a check.
type Report struct {
	Files    []FileInfo  `json:"files"`
	Runs     []RunCounts `json:"runs"`
	Total    Counts      `json:"total"`
	SMSC     SMSCCounts  `json:"smsc"`
	Failures []string    `json:"failures"` // why the check fails; empty when it passes
}

// OK reports whether nothing failed.
func (r *Report) OK() bool { return len(r.Failures) == 0 }

// ErrNoSMSCRecord: no smscsim record among the files, so deliveries
// cannot be counted.
var ErrNoSMSCRecord = errors.New("check: no smscsim record among the files")

// Report counts what the files read so far hold. It fails the check
// (Report.Failures) on any lost message, missing report or reused Msg_Id,
// and on more duplicates than l allows.
func (c *Checker) Report(l Limits) (*Report, error) {
	if len(c.runs) == 0 {
		return nil, ErrNoSPRecord
	}
	if c.smscRuns == 0 {
		return nil, ErrNoSMSCRecord
	}
	rep := &Report{
		Files: slices.Clone(c.files),
		SMSC: SMSCCounts{Runs: c.smscRuns, Accepted: c.accepted, Unkeyed: c.unkeyed,
			Receipts: c.receipts, ReceiptsFailed: c.receiptsFailed},
		Failures: []string{},
	}
	counts := make(map[*spRun]*Counts, len(c.runs))
	for _, run := range c.runs {
		counts[run] = &Counts{}
	}
	reports := c.matchReports(counts)
	for k, ks := range c.keys {
		run := ks.run
		if run == nil && len(k) > 8 {
			run = c.byRun[k[:8]] // delivered, but its spsim died before recording it
		}
		if run == nil {
			rep.SMSC.Foreign++
			continue
		}
		countKey(counts[run], ks, run, reports[ks])
	}
	for _, run := range c.runs {
		n := counts[run]
		n.Reconnects = run.reconnects
		n.LongestAckGap, n.AckGapFrom = longestGap(run.acks)
		rep.Runs = append(rep.Runs, RunCounts{Run: run.id, SP: run.sp, File: run.file, Ended: run.ended, Counts: *n})
	}
	slices.SortStableFunc(rep.Runs, func(a, b RunCounts) int { return cmp.Compare(a.File, b.File) })
	for i := range rep.Runs {
		rep.Total.add(&rep.Runs[i].Counts)
	}
	rep.Total.MsgIDsReused = len(c.reused)
	rep.Failures = failures(&rep.Total, l)
	return rep, nil
}

// matchReports pairs each run's reports with the keys its acks named.
func (c *Checker) matchReports(counts map[*spRun]*Counts) map[*keyState]reportSeen {
	out := map[*keyState]reportSeen{}
	for _, run := range c.runs {
		n := counts[run]
		for id, r := range run.reports {
			ks := c.msgIDs[id]
			if ks == nil || ks.run != run {
				n.ReportsUnknown += r.n
				continue
			}
			n.ReportsRepeated += r.n - 1
			out[ks] = r
		}
	}
	return out
}

func countKey(n *Counts, ks *keyState, run *spRun, rpt reportSeen) {
	n.Sent++
	n.Submits += ks.subs
	if ks.subs > 1 {
		n.Resent++
	}
	switch {
	case ks.acked:
		n.Acked++
	case ks.rejected:
		n.Rejected++
	default:
		n.Unanswered++
	}
	if ks.accepts > 0 {
		n.Delivered++
		if !ks.acked {
			n.DeliveredUnacked++
		}
	}
	if ks.accepts > 1 {
		n.Duplicated++
		n.DuplicateCopies += ks.accepts - 1
		if ks.accepts <= ks.subs {
			n.DuplicatedAfterResend++
		}
	}
	if !ks.acked {
		return
	}
	if ks.accepts == 0 {
		n.Lost++
		if rpt.n > 0 {
			n.LostWithReport++
		}
		return
	}
	if run.rd != 1 {
		return
	}
	n.ReportsExpected++
	switch {
	case rpt.n > 0:
		n.Reports++
	case ks.receipts == 0:
		n.ReportsMissing++
		n.ReportsMissingNoReceipt++
	default:
		n.ReportsMissing++
	}
}

// longestGap is the longest time between two consecutive acks, and when
// it began.
func longestGap(acks []time.Time) (time.Duration, time.Time) {
	ts := slices.Clone(acks)
	slices.SortFunc(ts, time.Time.Compare)
	var gap time.Duration
	var from time.Time
	for i := 1; i < len(ts); i++ {
		if d := ts[i].Sub(ts[i-1]); d > gap {
			gap, from = d, ts[i-1]
		}
	}
	return gap, from
}

func (n *Counts) add(o *Counts) {
	n.Sent += o.Sent
	n.Submits += o.Submits
	n.Resent += o.Resent
	n.Acked += o.Acked
	n.Rejected += o.Rejected
	n.Unanswered += o.Unanswered
	n.Delivered += o.Delivered
	n.DeliveredUnacked += o.DeliveredUnacked
	n.Duplicated += o.Duplicated
	n.DuplicatedAfterResend += o.DuplicatedAfterResend
	n.DuplicateCopies += o.DuplicateCopies
	n.Lost += o.Lost
	n.LostWithReport += o.LostWithReport
	n.ReportsExpected += o.ReportsExpected
	n.Reports += o.Reports
	n.ReportsMissing += o.ReportsMissing
	n.ReportsMissingNoReceipt += o.ReportsMissingNoReceipt
	n.ReportsRepeated += o.ReportsRepeated
	n.ReportsUnknown += o.ReportsUnknown
	n.MsgIDsReused += o.MsgIDsReused
	n.Reconnects += o.Reconnects
	if o.LongestAckGap > n.LongestAckGap {
		n.LongestAckGap, n.AckGapFrom = o.LongestAckGap, o.AckGapFrom
	}
}

func failures(t *Counts, l Limits) []string {
	out := []string{}
	if t.Lost > 0 {
		out = append(out, fmt.Sprintf("lost %d", t.Lost))
	}
	if t.ReportsMissing > 0 {
		out = append(out, fmt.Sprintf("reports missing %d", t.ReportsMissing))
	}
	if t.Duplicated > l.MaxDuplicates {
		out = append(out, fmt.Sprintf("duplicated %d (at most %d allowed)", t.Duplicated, l.MaxDuplicates))
	}
	if t.MsgIDsReused > 0 {
		out = append(out, fmt.Sprintf("Msg_Ids reused %d", t.MsgIDsReused))
	}
	return out
}
