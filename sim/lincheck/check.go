package lincheck

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// Verdict is what Check concluded.
type Verdict string

const (
	// Linearizable: porcupine found an order.
	Linearizable Verdict = "linearizable"
	// NotLinearizable: no order exists; the visualization shows the
	// longest orders porcupine found and where each got stuck.
	NotLinearizable Verdict = "not linearizable"
	// Undecided: the search ran out of CheckOptions.Timeout.
	Undecided Verdict = "undecided"
)

// CheckOptions tune Check.
type CheckOptions struct {
	// Timeout bounds porcupine's search, which is NP-hard in the number
	// of concurrent operations on a key; past it the verdict is
	// Undecided. Zero means no bound.
	Timeout time.Duration
	// VisualizePath, if set, is where porcupine's HTML visualization of
	// the history is written when it is not shown linearizable.
	VisualizePath string
}

// Result is a checked history.
type Result struct {
	Verdict      Verdict `json:"verdict"`
	Linearizable bool    `json:"linearizable"`
	Checked      int     `json:"checked_ops"` // the operations porcupine had to order
	Counts
	Nodes         []NodeCounts  `json:"nodes"`
	Clients       int           `json:"clients"`
	Elapsed       time.Duration `json:"run_ns"`
	CheckTime     time.Duration `json:"check_ns"`
	Visualization string        `json:"visualization,omitempty"` // the HTML file written
	Errors        []ErrorCount  `json:"errors,omitempty"`        // the most frequent failures
}

// Check runs porcupine over h. The error is about the visualization only
// (it could not be written); the Result is valid either way.
func Check(h *History, opts CheckOptions) (Result, error) {
	counts, nodes, errs := h.tally()
	r := Result{Counts: counts, Nodes: nodes, Clients: h.Clients, Elapsed: h.Elapsed, Errors: errs}
	ops := porcupineOps(h)
	r.Checked = len(ops)
	model := registerModel()
	start := time.Now()
	var res porcupine.CheckResult
	var info porcupine.LinearizationInfo
	if opts.VisualizePath != "" {
		// Verbose keeps the partial orders the visualization draws.
		res, info = porcupine.CheckOperationsVerbose(model, ops, opts.Timeout)
	} else {
		res = porcupine.CheckOperationsTimeout(model, ops, opts.Timeout)
	}
	r.CheckTime = time.Since(start)
	switch res {
	case porcupine.Ok:
		r.Verdict, r.Linearizable = Linearizable, true
		return r, nil
	case porcupine.Illegal:
		r.Verdict = NotLinearizable
	default:
		r.Verdict = Undecided
	}
	if opts.VisualizePath == "" {
		return r, nil
	}
	if err := porcupine.VisualizePath(model, info, opts.VisualizePath); err != nil {
		return r, fmt.Errorf("lincheck: write visualization: %w", err)
	}
	r.Visualization = opts.VisualizePath
	return r, nil
}

// porcupineOps turns the checked part of h into porcupine operations.
//
// Unknown writes end after everything else: porcupine may then order
// them anywhere after their call, last included (not applied). Each
// client's operations form a row of the visualization, which expects one
// operation at a time per row, so a client whose write was left open
// continues on a new row (as etcd's robustness tests do).
func porcupineOps(h *History) []porcupine.Operation {
	ops := slices.Clone(h.Ops)
	slices.SortStableFunc(ops, func(a, b Op) int {
		return cmp.Or(cmp.Compare(a.Client, b.Client), cmp.Compare(a.Call, b.Call))
	})
	var end time.Duration
	for _, op := range ops {
		end = max(end, op.Call, op.Return)
	}
	end++
	row := map[int]int{} // client → its current row
	nextRow := 0
	var out []porcupine.Operation
	for _, op := range ops {
		checked := (op.Kind == Write && op.Outcome != Failed) || (op.Kind == Read && op.Outcome == OK)
		if !checked {
			continue
		}
		r, ok := row[op.Client]
		if !ok {
			r = nextRow
			nextRow++
			row[op.Client] = r
		}
		pop := porcupine.Operation{
			ClientId: r,
			Input:    regInput{write: op.Kind == Write, key: op.Key, value: op.Value},
			Call:     int64(op.Call),
			Output:   regOutput{value: op.Value},
			Return:   int64(op.Return),
			Metadata: opMeta{node: nodeName(h, op.Node), err: op.Err},
		}
		if op.Kind == Read {
			pop.Input = regInput{key: op.Key}
		}
		if op.Outcome == Unknown {
			pop.Output = regOutput{unknown: true}
			pop.Return = int64(end)
			delete(row, op.Client)
		}
		out = append(out, pop)
	}
	return out
}

func nodeName(h *History, i int) string {
	if i >= 0 && i < len(h.Nodes) {
		return h.Nodes[i]
	}
	return fmt.Sprintf("node %d", i)
}

// Summary is the result in one line.
func (r *Result) Summary() string {
	var b strings.Builder
	switch r.Verdict {
	case Linearizable:
		b.WriteString("linearizable")
	case NotLinearizable:
		b.WriteString("NOT LINEARIZABLE")
	default:
		b.WriteString("UNDECIDED (the check timed out)")
	}
	fmt.Fprintf(&b, ": %d ops checked; writes %d ok, %d failed, %d unknown; reads %d ok, %d failed",
		r.Checked, r.WritesOK, r.WritesFailed, r.WritesUnknown, r.ReadsOK, r.ReadsFailed)
	if r.StaleOK+r.StaleFailed > 0 {
		fmt.Fprintf(&b, "; stale reads (unchecked) %d ok, %d failed", r.StaleOK, r.StaleFailed)
	}
	fmt.Fprintf(&b, "; %d clients over %d nodes for %v; check took %v",
		r.Clients, len(r.Nodes), r.Elapsed.Round(time.Millisecond), roundDuration(r.CheckTime))
	if r.Visualization != "" {
		fmt.Fprintf(&b, "; see %s", r.Visualization)
	}
	return b.String()
}

// roundDuration keeps two or three significant digits: a check of a small
// history takes microseconds.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
