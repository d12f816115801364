// Package check joins the records (package sim/record) of SP clients
// (spsim) and SMSCs (smscsim) and counts what happened to every message:
// sent, acked, delivered, duplicated, lost, and the status reports that
// went missing or came twice. It is what cmd/tandem-check prints, and
// what a fault test counts with: the simulators' own ledgers, not the
// gateway's metrics.
//
// The unit is the SUBMIT, named by its client key (a long message is one
// key per segment, as it is one Msg_Id and one status report per
// segment). A key is
//
//   - sent when an SP record has it (a resend keeps it, so it counts once);
//   - acked when a SUBMIT_RESP with Result 0 carried a Msg_Id for it;
//   - delivered when an SMSC record shows a submit_sm carrying it, and
//     duplicated when SMSCs accepted it more than once (after an SP resend
//     of a SUBMIT whose SUBMIT_RESP a crash ate, that is the protocol's
//     doing: such duplicates are counted apart);
//   - lost when acked and never delivered;
//   - missing its report when acked, delivered, its run asked for reports,
//     and the run never got one for its Msg_Id.
//
// A report is matched by Msg_Id to the run that received it; a report of
// a Msg_Id its run never had acked is unknown, and reports beyond the
// first for a Msg_Id are repeats. A Msg_Id acked for two keys is reused,
// which a gateway must never do.
//
// A Checker is not safe for concurrent use.
package check

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/tandem-sms/tandem/sim/record"
)

// Checker accumulates record files; Report counts them.
type Checker struct {
	files  []FileInfo
	runs   []*spRun
	byRun  map[string]*spRun
	keys   map[string]*keyState
	msgIDs map[uint64]*keyState // acked Msg_Id → its key

	smscRuns       int
	accepted       int // submit_sm accepted at the SMSCs
	unkeyed        int // of them without a client key
	receipts       int // receipts answered OK
	receiptsFailed int // receipts given up
	reused         map[uint64]bool
}

// FileInfo is what a file held.
type FileInfo struct {
	Path   string       `json:"path"`
	Tool   string       `json:"tool"` // record.ToolSPSim or record.ToolSMSCSim
	Runs   int          `json:"runs"`
	Events int          `json:"events"`
	Torn   *record.Torn `json:"torn,omitempty"` // a torn last line, skipped
}

// spRun is one spsim run.
type spRun struct {
	id, sp, file string
	rd           uint8
	start        time.Time
	ended        bool
	reconnects   int
	acks         []time.Time
	reports      map[uint64]reportSeen // by Msg_Id; matched to keys in Report, as a report may be recorded before its ack
}

type reportSeen struct{ n int }

// keyState is what happened to one client key.
type keyState struct {
	run      *spRun // nil when no SP record names its run
	subs     int    // SUBMITs sent (resends included)
	sp       bool   // an SP record mentions it
	acked    bool
	rejected bool
	accepts  int // submit_sm carrying it at the SMSCs
	receipts int // receipts answered for it
}

// New returns an empty Checker.
func New() *Checker {
	return &Checker{
		byRun:  map[string]*spRun{},
		keys:   map[string]*keyState{},
		msgIDs: map[uint64]*keyState{},
		reused: map[uint64]bool{},
	}
}

// AddFile reads one record file (an spsim's or an smscsim's, told apart
// by its run lines). A torn last line is skipped and noted in the file's
// FileInfo; anything else wrong is an error naming the file.
func (c *Checker) AddFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	defer f.Close()
	return c.Add(f, path)
}

// Add reads one record stream; name identifies it in errors and in the
// report.
func (c *Checker) Add(r io.Reader, name string) error {
	fi := FileInfo{Path: name}
	var sp *spRun // the run the events belong to (spsim files)
	tool := ""
	torn, err := record.Read(r, name, func(e *record.Event) error {
		fi.Events++
		if e.Ev == record.EvRun {
			if tool != "" && e.Tool != tool {
				return fmt.Errorf("check: %s: a %s run after %s runs: one tool per file", name, e.Tool, tool)
			}
			tool = e.Tool
			fi.Runs++
			switch e.Tool {
			case record.ToolSPSim:
				if !record.ValidRunID(e.Run) {
					return fmt.Errorf("check: %s: run id %q: want 8 lower-case hex digits", name, e.Run)
				}
				if prev := c.byRun[e.Run]; prev != nil {
					return fmt.Errorf("check: %s: run %s already read from %s", name, e.Run, prev.file)
				}
				sp = &spRun{id: e.Run, sp: e.SP, file: name, rd: e.RD, start: e.T, reports: map[uint64]reportSeen{}}
				c.byRun[e.Run] = sp
				c.runs = append(c.runs, sp)
			case record.ToolSMSCSim:
				c.smscRuns++
			default:
				return fmt.Errorf("check: %s: unknown tool %q", name, e.Tool)
			}
			return nil
		}
		switch tool {
		case "":
			return fmt.Errorf("check: %s: event %d (%s) before any run line", name, fi.Events, e.Ev)
		case record.ToolSPSim:
			c.addSP(sp, e)
		default:
			c.addSMSC(e)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if torn.Line != 0 {
		fi.Torn = &torn
	}
	fi.Tool = tool
	c.files = append(c.files, fi)
	return nil
}

func (c *Checker) key(k string) *keyState {
	ks := c.keys[k]
	if ks == nil {
		ks = &keyState{}
		c.keys[k] = ks
	}
	return ks
}

// spKey is the key of an spsim event of run: the SP's record names the
// key's run.
func (c *Checker) spKey(run *spRun, k string) *keyState {
	ks := c.key(k)
	ks.sp, ks.run = true, run
	return ks
}

func (c *Checker) addSP(run *spRun, e *record.Event) {
	switch e.Ev {
	case record.EvSubmit:
		c.spKey(run, e.Key).subs++
	case record.EvAck:
		ks := c.spKey(run, e.Key)
		run.acks = append(run.acks, e.T)
		other := c.msgIDs[e.MsgID]
		if other == nil {
			c.msgIDs[e.MsgID] = ks // a reused id stays with the key it was first acked for
		} else if other != ks {
			c.reused[e.MsgID] = true
		}
		ks.acked = true
	case record.EvReject:
		c.spKey(run, e.Key).rejected = true
	case record.EvNoResp:
		c.spKey(run, e.Key)
	case record.EvReport:
		r := run.reports[e.MsgID]
		r.n++
		run.reports[e.MsgID] = r
	case record.EvConn:
		if e.State == record.StateUp {
			run.reconnects++
		}
	case record.EvEnd:
		run.ended = true
	}
}

func (c *Checker) addSMSC(e *record.Event) {
	switch e.Ev {
	case record.EvAccept:
		c.accepted++
		if e.Key == "" {
			c.unkeyed++
			return
		}
		c.key(e.Key).accepts++
	case record.EvReceipt:
		c.receipts++
		if e.Key != "" {
			c.key(e.Key).receipts++
		}
	case record.EvReceiptFailed:
		c.receiptsFailed++
	}
}

// ErrNoSPRecord: the files hold no spsim run, so nothing can be counted.
var ErrNoSPRecord = errors.New("check: no spsim record among the files")
