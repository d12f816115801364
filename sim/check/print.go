package check

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tandem-sms/tandem/sim/record"
)

// Print writes the report for people: the totals, notes on the files,
// one row per spsim run when there are several, and the verdict.
func (r *Report) Print(w io.Writer) error {
	var b strings.Builder
	t := &r.Total
	sp, smsc := 0, 0
	for _, f := range r.Files {
		if f.Tool == record.ToolSPSim {
			sp++
		} else {
			smsc++
		}
	}
	fmt.Fprintf(&b, "tandem-check: %d spsim run(s) in %d file(s), %d smscsim run(s) in %d file(s)\n", len(r.Runs), sp, r.SMSC.Runs, smsc)
	fmt.Fprintf(&b, "  sent              %8d   (%d SUBMITs, %d keys resent)\n", t.Sent, t.Submits, t.Resent)
	fmt.Fprintf(&b, "  acked             %8d   rejected %d, unanswered %d\n", t.Acked, t.Rejected, t.Unanswered)
	fmt.Fprintf(&b, "  delivered         %8d   (%d of them never acked)\n", t.Delivered, t.DeliveredUnacked)
	fmt.Fprintf(&b, "  duplicated        %8d   (%d after an SP resend; %d extra copies)\n", t.Duplicated, t.DuplicatedAfterResend, t.DuplicateCopies)
	fmt.Fprintf(&b, "  lost              %8d   (%d with a failure report)\n", t.Lost, t.LostWithReport)
	fmt.Fprintf(&b, "  reports           %8d   of %d expected\n", t.Reports, t.ReportsExpected)
	fmt.Fprintf(&b, "  reports missing   %8d   (%d never receipted by the SMSC)\n", t.ReportsMissing, t.ReportsMissingNoReceipt)
	fmt.Fprintf(&b, "  reports repeated  %8d   unknown Msg_Id %d\n", t.ReportsRepeated, t.ReportsUnknown)
	fmt.Fprintf(&b, "  Msg_Ids reused    %8d\n", t.MsgIDsReused)
	fmt.Fprintf(&b, "  reconnects        %8d   longest ack gap %v%s\n", t.Reconnects, round(t.LongestAckGap), gapFrom(t.AckGapFrom))
	fmt.Fprintf(&b, "  at the SMSCs: %d accepted (%d without a key, %d keys of no spsim run read), %d receipts answered, %d given up\n",
		r.SMSC.Accepted, r.SMSC.Unkeyed, r.SMSC.Foreign, r.SMSC.Receipts, r.SMSC.ReceiptsFailed)
	for _, f := range r.Files {
		if f.Torn != nil {
			fmt.Fprintf(&b, "  note: %s: torn last line %d (%d bytes) skipped\n", f.Path, f.Torn.Line, f.Torn.Bytes)
		}
	}
	for _, run := range r.Runs {
		if !run.Ended {
			fmt.Fprintf(&b, "  note: run %s (%s) has no end line: its spsim crashed or still runs\n", run.Run, run.File)
		}
	}
	if len(r.Runs) > 1 {
		b.WriteString("\n")
		tw := tabwriter.NewWriter(&b, 0, 8, 2, ' ', tabwriter.AlignRight)
		fmt.Fprint(tw, "RUN\tSP\tSENT\tACKED\tDELIVERED\tDUPLICATED\tLOST\tREPORTS\tMISSING\tREPEATED\tRECONNECTS\tACK GAP\tFILE\t\n")
		for _, run := range r.Runs {
			n := &run.Counts
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%v\t%s\t\n", run.Run, run.SP, n.Sent, n.Acked, n.Delivered,
				n.Duplicated, n.Lost, n.Reports, n.ReportsMissing, n.ReportsRepeated, n.Reconnects, round(n.LongestAckGap), run.File)
		}
		_ = tw.Flush()
		b.WriteString("\n")
	}
	if r.OK() {
		b.WriteString("verdict: ok\n")
	} else {
		b.WriteString("verdict: FAIL: " + strings.Join(r.Failures, ", ") + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the report as one indented JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d
}

func gapFrom(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return " (from " + t.UTC().Format("15:04:05.000") + " UTC)"
}
