package spsim

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Result is what a run did. Counts are of SUBMIT PDUs unless named
// otherwise: a long message is one Message and several SUBMITs.
type Result struct {
	Connections int    `json:"connections"`
	Version     string `json:"version"`
	RunID       string `json:"run_id"` // the run's id in its record and client keys

	Messages  uint64            `json:"messages"`  // messages started
	Submitted uint64            `json:"submitted"` // SUBMITs sent
	Acked     uint64            `json:"acked"`     // SUBMIT_RESP Result 0
	Rejected  map[uint32]uint64 `json:"rejected"`  // SUBMIT_RESP by non-zero Result (8 = flow control)
	Errors    uint64            `json:"errors"`    // SUBMITs without a response, not sent again: timeout, connection lost
	Resent    uint64            `json:"resent"`    // SUBMITs sent again after their connection dropped unanswered (counted in Submitted)

	Reconnects uint64 `json:"reconnects"` // connections dialled again after a drop
	LastError  string `json:"last_error,omitempty"`

	Reports          uint64            `json:"reports"`           // status reports matched to an acked SUBMIT
	ReportsByStat    map[string]uint64 `json:"reports_by_stat"`   // matched reports by Stat
	DuplicateReports uint64            `json:"duplicate_reports"` // further reports for an already reported Msg_Id
	UnknownReports   uint64            `json:"unknown_reports"`   // reports for a Msg_Id no SUBMIT_RESP carried
	BadReports       uint64            `json:"bad_reports"`       // reports whose body did not parse
	NoReport         uint64            `json:"no_report"`         // acked SUBMITs still without a report at the end
	DuplicateMsgIDs  uint64            `json:"duplicate_msg_ids"` // SUBMIT_RESPs repeating a Msg_Id already handed out
	MO               uint64            `json:"mo"`                // DELIVERs that were not status reports

	SubmitLatency Latency `json:"submit_latency"` // SUBMIT sent → SUBMIT_RESP (any Result)
	ReportLatency Latency `json:"report_latency"` // SUBMIT sent → its status report
	// SendLag is, with Rate, how late SUBMITs went out after their due
	// time (the window was full, or this client did not get the CPU): a
	// large lag means the figures above measure the client too.
	SendLag Latency `json:"send_lag"`

	SendDuration time.Duration `json:"send_duration_ns"` // first SUBMIT → last SUBMIT_RESP
	Duration     time.Duration `json:"duration_ns"`      // the whole run, report wait included
	Throughput   float64       `json:"throughput"`       // Acked per second of SendDuration
}

// resultNames are the SUBMIT_RESP results of protocols.md §1.6.
var resultNames = map[uint32]string{
	1: "structure error", 2: "command error", 3: "duplicate sequence", 4: "length error",
	5: "fee code error", 6: "too long", 7: "service code error", 8: "flow control",
	9: "not served", 10: "Src_Id error", 11: "Msg_src error", 12: "Fee_terminal_Id error",
	13: "Dest_terminal_Id error",
}

// Print writes a readable summary.
func (r *Result) Print(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "spsim: %d messages, %d SUBMITs over %d connection(s), CMPP %s, in %v\n",
		r.Messages, r.Submitted, r.Connections, r.Version, round(r.Duration))
	fmt.Fprintf(&b, "  acked          %8d  (%.1f/s over %v)\n", r.Acked, r.Throughput, round(r.SendDuration))
	fmt.Fprintf(&b, "  rejected       %8d%s\n", sum(r.Rejected), rejectedText(r.Rejected))
	fmt.Fprintf(&b, "  no response    %8d%s\n", r.Errors, lastErr(r.LastError))
	fmt.Fprintf(&b, "  reconnects     %8d   resent %d\n", r.Reconnects, r.Resent)
	fmt.Fprintf(&b, "  reports        %8d%s\n", r.Reports, statText(r.ReportsByStat))
	fmt.Fprintf(&b, "  no report      %8d\n", r.NoReport)
	fmt.Fprintf(&b, "  dup reports    %8d   unknown Msg_Id %d   unparsable %d   dup Msg_Id in SUBMIT_RESP %d\n",
		r.DuplicateReports, r.UnknownReports, r.BadReports, r.DuplicateMsgIDs)
	fmt.Fprintf(&b, "  MO             %8d\n", r.MO)
	fmt.Fprintf(&b, "  submit→resp    %v\n", r.SubmitLatency)
	if r.SendLag.Count > 0 {
		fmt.Fprintf(&b, "  send lag       %v\n", r.SendLag)
	}
	fmt.Fprintf(&b, "  submit→report  %v\n", r.ReportLatency)
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the result as one indented JSON object.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func sum(m map[uint32]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}

func rejectedText(m map[uint32]uint64) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]uint32, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		name := resultNames[k]
		if name == "" {
			name = "other"
		}
		parts[i] = fmt.Sprintf("result %d (%s): %d", k, name, m[k])
	}
	return "  " + strings.Join(parts, ", ")
}

func statText(m map[string]uint64) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return "  " + strings.Join(parts, ", ")
}

func lastErr(s string) string {
	if s == "" {
		return ""
	}
	return "  last: " + s
}
