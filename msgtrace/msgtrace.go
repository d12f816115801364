package msgtrace

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Stage is where a step sits in a message's life; Steps orders by it.
type Stage string

// The stages, in life-cycle order. An MT: accepted at the SP's gateway,
// forwarded hop by hop to its number's home (received there), queued for
// and submitted on an SMSC link, its receipt, the status report forwarded
// back hop by hop (report_received at each gateway on the way), queued for
// the SP and delivered to it. An MO: received from the SMSC (mo_received),
// forwarded like an MT, queued for the SP, delivered.
const (
	StageAccepted        Stage = "accepted"         // the SP's SUBMIT was acknowledged
	StageMOReceived      Stage = "mo_received"      // an MO came from an SMSC
	StageForwarded       Stage = "forwarded"        // sent on to Gateway's next gateway with CMPP_FWD
	StageReceived        Stage = "received"         // taken from the previous gateway's CMPP_FWD
	StageQueued          Stage = "queued"           // waiting in a queue here (Queue says which)
	StageSubmitted       Stage = "submitted"        // an SMSC link took it (submit_sm_resp)
	StageReceipt         Stage = "receipt"          // the SMSC's delivery receipt (or the gateway's own end: expired, failed)
	StageReportForwarded Stage = "report_forwarded" // the status report sent back towards the SP's gateway
	StageReportReceived  Stage = "report_received"  // the status report came back from the next gateway
	StageReportQueued    Stage = "report_queued"    // the status report (or MO) waits for the SP
	StageDelivered       Stage = "delivered"        // handed to the SP (CMPP_DELIVER answered)
)

var stageRank = map[Stage]int{
	StageAccepted: 0, StageMOReceived: 0, StageReceived: 0, StageForwarded: 1, StageQueued: 2, StageSubmitted: 3,
	StageReceipt: 4, StageReportReceived: 5, StageReportForwarded: 6, StageReportQueued: 7, StageDelivered: 8,
}

// returning says whether a stage belongs to the way back (the report).
func (s Stage) returning() bool { return stageRank[s] >= stageRank[StageReceipt] }

// Step is one thing that happened to a message at one gateway.
type Step struct {
	Gateway string `json:"gateway"`
	Stage   Stage  `json:"stage"`
	// Time is when it happened; null when no record of this gateway
	// holds it (Follow fills a forward's time from the next hop's
	// received step).
	Time *time.Time `json:"time"`
	// Pending marks a step not done yet: the message waits for it (in
	// Queue), so the trace covers messages in flight.
	Pending bool   `json:"pending"`
	Queue   string `json:"queue"`  // the store queue it waits in: fwd:<gw>, mt:<link>, await, out:<sp>
	Link    string `json:"link"`   // the SMSC link (submitted, receipt)
	Peer    string `json:"peer"`   // the other gateway (forwarded, received, report_*)
	Status  string `json:"status"` // the final state (receipt, report_*): DELIVRD, EXPIRED, MA:0001, …
	Detail  string `json:"detail"`
}

// Hop is one gateway's answer about one Msg_Id: what its CDRs and its
// store hold.
type Hop struct {
	Gateway string `json:"gateway"`
	// MsgID is the decimal Msg_Id, a string because it exceeds the
	// integers a JSON number carries exactly in JavaScript (2^53).
	MsgID       string `json:"msg_id"`
	Found       bool   `json:"found"`
	Kind        string `json:"kind"` // MT or MO
	SPID        string `json:"sp_id"`
	Src         string `json:"src"`
	Dest        string `json:"dest"`
	PrevGateway string `json:"prev_gateway"` // where it came from ("" when it entered here)
	NextGateway string `json:"next_gateway"` // where it went next ("" when it stayed)
	SMSCMsgID   string `json:"smsc_msg_id"`
	FinalStatus string `json:"final_status"`
	Steps       []Step `json:"steps"`
	// Error is why this gateway gave no answer (Follow records a failed
	// fetch here and stops).
	Error string `json:"error"`
}

// Trace is a message's whole path.
type Trace struct {
	MsgID  string `json:"msg_id"`
	Origin string `json:"origin"` // the gateway code in the Msg_Id
	Hops   []Hop  `json:"hops"`
	Steps  []Step `json:"steps"` // every hop's steps in life-cycle order (Steps)
	// Complete says the message's life is over and every gateway on its
	// way answered: its report reached the SP (or there was none to send).
	Complete bool `json:"complete"`
}

// MaxHops bounds Follow: the federation's hop limit (federation.max_nodes)
// is at most 255, and a trace that long is a loop.
const MaxHops = 16

// ErrBadMsgID reports a Msg_Id that is not a decimal uint64.
var ErrBadMsgID = errors.New("msgtrace: bad msg_id")

// ParseMsgID reads a Msg_Id in decimal, or in hex with a 0x prefix (the
// CDRs' msg_id_hex column).
func ParseMsgID(s string) (uint64, error) {
	id, err := strconv.ParseUint(s, 0, 64)
	if err != nil || id == 0 {
		return 0, fmt.Errorf("%w: %q", ErrBadMsgID, s)
	}
	return id, nil
}

// Origin is the code of the gateway that issued id: bits 16-37 of a CMPP
// Msg_Id, as six digits.
func Origin(id uint64) string { return fmt.Sprintf("%06d", id>>16&(1<<22-1)) }

// Fetcher asks gateway about msgID.
type Fetcher func(ctx context.Context, gateway string, msgID uint64) (Hop, error)

// Follow gathers id's trace: it asks the Msg_Id's gateway first, then
// each answer's NextGateway, at most MaxHops gateways and none twice. A
// failed fetch ends the trace with that hop's Error set; the error
// returned is only ctx's.
func Follow(ctx context.Context, id uint64, fetch Fetcher) (Trace, error) {
	tr := Trace{MsgID: strconv.FormatUint(id, 10), Origin: Origin(id)}
	seen := map[string]bool{}
	for gw := tr.Origin; gw != "" && !seen[gw] && len(tr.Hops) < MaxHops; {
		seen[gw] = true
		h, err := fetch(ctx, gw, id)
		if err != nil {
			if ctx.Err() != nil {
				return tr, ctx.Err()
			}
			tr.Hops = append(tr.Hops, Hop{Gateway: gw, MsgID: tr.MsgID, Error: err.Error()})
			break
		}
		h.Gateway = gw
		tr.Hops = append(tr.Hops, h)
		if !h.Found {
			break
		}
		gw = h.NextGateway
	}
	tr.Steps = Steps(tr.Hops)
	tr.Complete = complete(tr)
	return tr, nil
}

// complete: every hop answered, the last one kept the message, and the
// first one has no pending step and handed the report (if any) over.
func complete(tr Trace) bool {
	if len(tr.Hops) == 0 {
		return false
	}
	for _, h := range tr.Hops {
		if !h.Found || h.Error != "" {
			return false
		}
	}
	if tr.Hops[len(tr.Hops)-1].NextGateway != "" {
		return false
	}
	for _, s := range tr.Steps {
		if s.Pending {
			return false
		}
	}
	return tr.Hops[0].FinalStatus != ""
}

// Steps merges the hops' steps in life-cycle order: along the forward
// path hop by hop up to the receipt, then back along it. Within one
// gateway steps keep their stage order. A forwarded step without a time
// takes the time the next hop received the message.
func Steps(hops []Hop) []Step {
	type ranked struct {
		s         Step
		back, hop int
	}
	var all []ranked
	for i, h := range hops {
		for _, s := range h.Steps {
			if s.Stage == StageForwarded && s.Time == nil && i+1 < len(hops) {
				for _, n := range hops[i+1].Steps {
					if n.Stage == StageReceived && n.Time != nil {
						s.Time = n.Time
					}
				}
			}
			r := ranked{s: s, hop: i}
			if s.Stage.returning() {
				r.back, r.hop = 1, -i
			}
			all = append(all, r)
		}
	}
	slices.SortStableFunc(all, func(a, b ranked) int {
		return cmp.Or(cmp.Compare(a.back, b.back), cmp.Compare(a.hop, b.hop), cmp.Compare(stageRank[a.s.Stage], stageRank[b.s.Stage]))
	})
	out := make([]Step, len(all))
	for i, r := range all {
		out[i] = r.s
	}
	return out
}
