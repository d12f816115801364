package lincheck

import (
	"cmp"
	"slices"
	"time"
)

// Kind is what an operation does.
type Kind uint8

const (
	// Write puts a Value under a key.
	Write Kind = iota + 1
	// Read reads a key linearizably.
	Read
	// StaleRead reads a key from the node asked, without confirming that
	// it leads. Counted, never checked.
	StaleRead
)

func (k Kind) String() string {
	switch k {
	case Write:
		return "write"
	case Read:
		return "read"
	case StaleRead:
		return "stale read"
	}
	return "kind?"
}

// Outcome is what became of an operation.
type Outcome uint8

const (
	// OK: the cluster answered.
	OK Outcome = iota + 1
	// Failed: the operation certainly had no effect (every failed read; a
	// write the cluster refused before it reached the log).
	Failed
	// Unknown: a write that may take effect, then or later, or never.
	Unknown
)

func (o Outcome) String() string {
	switch o {
	case OK:
		return "ok"
	case Failed:
		return "failed"
	case Unknown:
		return "unknown"
	}
	return "outcome?"
}

// Value is what a write puts under a key and a read finds there. The zero
// Value is an empty key.
type Value struct {
	Choice string `json:"choice"` // one of Config.Choices (for the GNS, a gateway code)
	Tag    string `json:"tag"`    // unique to the write that put the value
}

func (v Value) String() string {
	if v == (Value{}) {
		return "(none)"
	}
	return v.Choice + "/" + v.Tag
}

// Op is one operation of a history.
type Op struct {
	Client  int // which client ran it
	Node    int // the node asked, an index into History.Nodes
	Kind    Kind
	Key     string
	Value   Value // written; for a read that answered, the value seen
	Outcome Outcome
	// Call and Return are offsets from the start of the run, read from
	// the monotonic clock. An Unknown write's Return only says when the
	// client gave up; the write may take effect at any time after Call.
	Call, Return time.Duration
	Err          string // why a Failed or Unknown operation ended so
}

// History is what a run recorded.
type History struct {
	Nodes   []string      // names of the nodes that Op.Node indexes
	Clients int           // how many clients ran
	Ops     []Op          // in the order of their Call
	Elapsed time.Duration // from the start of the run to its last answer
}

// Counts are operations by kind and outcome.
type Counts struct {
	WritesOK      int `json:"writes_ok"`
	WritesFailed  int `json:"writes_failed"`  // certainly not applied: left out of the check
	WritesUnknown int `json:"writes_unknown"` // may have been applied: checked as taking effect any time after their call, or never
	ReadsOK       int `json:"reads_ok"`
	ReadsFailed   int `json:"reads_failed"`
	StaleOK       int `json:"stale_reads_ok"` // counted, not checked
	StaleFailed   int `json:"stale_reads_failed"`
}

func (c *Counts) add(op *Op) {
	switch {
	case op.Kind == Write && op.Outcome == OK:
		c.WritesOK++
	case op.Kind == Write && op.Outcome == Unknown:
		c.WritesUnknown++
	case op.Kind == Write:
		c.WritesFailed++
	case op.Kind == Read && op.Outcome == OK:
		c.ReadsOK++
	case op.Kind == Read:
		c.ReadsFailed++
	case op.Outcome == OK:
		c.StaleOK++
	default:
		c.StaleFailed++
	}
}

// NodeCounts are the operations sent to one node.
type NodeCounts struct {
	Node string `json:"node"`
	Counts
}

// ErrorCount is one error message and how often it ended an operation.
type ErrorCount struct {
	Err   string `json:"error"`
	Count int    `json:"count"`
}

// maxErrors is how many distinct error messages a Result lists.
const maxErrors = 5

// tally counts h's operations in all and per node, and its most frequent
// errors.
func (h *History) tally() (Counts, []NodeCounts, []ErrorCount) {
	var all Counts
	nodes := make([]NodeCounts, len(h.Nodes))
	for i, name := range h.Nodes {
		nodes[i].Node = name
	}
	errs := map[string]int{}
	for i := range h.Ops {
		op := &h.Ops[i]
		all.add(op)
		if op.Node >= 0 && op.Node < len(nodes) {
			nodes[op.Node].add(op)
		}
		if op.Err != "" {
			errs[op.Err]++
		}
	}
	var top []ErrorCount
	for e, n := range errs {
		top = append(top, ErrorCount{Err: e, Count: n})
	}
	slices.SortFunc(top, func(a, b ErrorCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Err, b.Err))
	})
	return all, nodes, top[:min(len(top), maxErrors)]
}
