package ismg

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/tandem-sms/tandem/billing"
	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/ismg/queue"
	"github.com/tandem-sms/tandem/msgtrace"
	"github.com/tandem-sms/tandem/routing"
)

// The message trace (GET /trace, traceserve.go): this gateway's part of a
// message's path, from what it keeps anyway — its CDRs (the files and the
// outbox not yet moved to them) and its queue store (where the message
// waits now) — plus two times no durable record holds: when an SMSC link
// took an MT and when the SP answered its status report's DELIVER. Those
// are noted in a small in-memory ring (traceNotes), lost at a restart.

// traceNoteCap is how many recent submit/deliver times the ring keeps.
const traceNoteCap = 4096

type traceNote struct {
	id    uint64
	stage msgtrace.Stage
	link  string
	at    time.Time
}

// traceNotes is the ring of recent step times. note takes a mutex and
// allocates nothing.
type traceNotes struct {
	mu   sync.Mutex
	ring [traceNoteCap]traceNote
	next int
}

func (t *traceNotes) note(id uint64, stage msgtrace.Stage, link string) {
	now := time.Now()
	t.mu.Lock()
	t.ring[t.next] = traceNote{id, stage, link, now}
	t.next = (t.next + 1) % traceNoteCap
	t.mu.Unlock()
}

func (t *traceNotes) find(id uint64) []traceNote {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []traceNote
	for _, n := range t.ring {
		if n.id == id {
			out = append(out, n)
		}
	}
	return out
}

// noteSubmitted and noteDelivered feed the ring (smscsubmit.go, deliver.go).
func (n *Node) noteSubmitted(id uint64, link string) {
	n.console.notes.note(id, msgtrace.StageSubmitted, link)
}

func (n *Node) noteDelivered(id uint64) { n.console.notes.note(id, msgtrace.StageDelivered, "") }

// errTraceBusy refuses a trace while another one reads the CDR files.
var errTraceBusy = errors.New("ismg: another trace is reading the CDR files; retry")

// traceWindow is how far around a Msg_Id's time the CDR files are read
// (billing widens it by DirMargin for the reports that come later).
const traceWindow = time.Hour

// msgIDTime is the time a Msg_Id was issued, in loc: the id holds month
// to second but no year, so the latest such time not after now (+1 day
// for clocks apart).
func msgIDTime(id uint64, now time.Time, loc *time.Location) time.Time {
	m := cmpp.UnpackMsgID(id)
	t := time.Date(now.Year(), time.Month(m.Month), int(m.Day), int(m.Hour), int(m.Minute), int(m.Second), 0, loc)
	if t.After(now.Add(24 * time.Hour)) {
		t = t.AddDate(-1, 0, 0)
	}
	return t
}

// scanCDRs calls fn with this gateway's records in the CDR files that may
// hold records of [from, to), then with those still in the outbox.
func (n *Node) scanCDRs(from, to time.Time, fn func(r *billing.Record)) error {
	if !n.console.traceMu.TryLock() {
		return errTraceBusy
	}
	defer n.console.traceMu.Unlock()
	mine := func(r *billing.Record) {
		if r.HandlingGateway == n.gw {
			fn(r)
		}
	}
	o := billing.ReadOptions{From: from, To: to, SkipBad: func(*billing.ParseError) {}}
	if _, err := billing.ScanDir([]string{n.cfg.Billing.Dir}, o, mine); err != nil {
		return err
	}
	// Lines a move has not taken yet; a line moved meanwhile is read twice
	// at worst, which the caller's merging absorbs.
	var lines bytes.Buffer
	lines.WriteString(billing.Header)
	err := n.st.Scan(qCDR, func(it queue.Item) bool {
		lines.Write(it.Value)
		return true
	})
	if err != nil {
		return err
	}
	rd := billing.NewReader(&lines, "cdr outbox")
	for {
		r, err := rd.Read()
		if err != nil {
			var pe *billing.ParseError
			if errors.As(err, &pe) && rd.Resume() {
				continue
			}
			break
		}
		mine(&r)
	}
	return nil
}

// traceRecords are this gateway's CDRs of message id, oldest kind first.
func (n *Node) traceRecords(id uint64) ([]billing.Record, error) {
	t := msgIDTime(id, time.Now(), n.loc)
	var recs []billing.Record
	err := n.scanCDRs(t.Add(-traceWindow), t.Add(traceWindow), func(r *billing.Record) {
		if r.MsgID == id && !slices.ContainsFunc(recs, func(o billing.Record) bool { return o == *r }) {
			recs = append(recs, *r)
		}
	})
	slices.SortStableFunc(recs, func(a, b billing.Record) int { return int(a.Kind) - int(b.Kind) })
	return recs, err
}

// liveItem is where message id waits in the store now.
type liveItem struct {
	q   queueRef
	due time.Time
	mt  *mtRecord  // an MT (mt:<link>, fwd:<gw>, await)
	out *outRecord // a report or MO (out:<sp>, fwd:<gw>)
}

// traceLive finds id in the store's message queues.
func (n *Node) traceLive(id uint64) []liveItem {
	var out []liveItem
	for _, name := range n.st.Queues() {
		q, err := parseQueue(name)
		if err != nil || q.kind == queueCDR || q.kind == queueOrphan {
			continue
		}
		it, err := n.st.Get(name, id)
		if err != nil {
			continue
		}
		li := liveItem{q: q, due: it.Due}
		if q.kind != queueOut {
			if r, err := decodeMT(it.Value); err == nil {
				li.mt = &r
			}
		}
		if li.mt == nil {
			if o, err := decodeOut(it.Value); err == nil {
				li.out = &o
			}
		}
		out = append(out, li)
	}
	return out
}

// hopBuilder assembles a Hop's steps, one per stage: a stage seen twice
// (a CDR and the store) is merged, the store's pending state winning.
type hopBuilder struct {
	h msgtrace.Hop
}

func tp(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (b *hopBuilder) add(s msgtrace.Step) {
	for i := range b.h.Steps {
		o := &b.h.Steps[i]
		if o.Stage != s.Stage {
			continue
		}
		if o.Time == nil {
			o.Time = s.Time
		}
		o.Pending = o.Pending || s.Pending
		for _, f := range []struct{ dst, src *string }{{&o.Queue, &s.Queue}, {&o.Link, &s.Link}, {&o.Peer, &s.Peer}, {&o.Status, &s.Status}, {&o.Detail, &s.Detail}} {
			if *f.dst == "" {
				*f.dst = *f.src
			}
		}
		return
	}
	b.h.Steps = append(b.h.Steps, s)
}

// has says whether a step of stage is there.
func (b *hopBuilder) has(stage msgtrace.Stage) bool {
	return slices.ContainsFunc(b.h.Steps, func(s msgtrace.Step) bool { return s.Stage == stage })
}

// traceHop is this gateway's answer about message id.
func (n *Node) traceHop(id uint64) (msgtrace.Hop, error) {
	recs, err := n.traceRecords(id)
	if err != nil {
		return msgtrace.Hop{}, err
	}
	live := n.traceLive(id)
	notes := n.console.notes.find(id)
	b := &hopBuilder{h: msgtrace.Hop{Gateway: n.gw, MsgID: strconv.FormatUint(id, 10), Steps: []msgtrace.Step{}}}
	b.h.Found = len(recs) > 0 || len(live) > 0 || len(notes) > 0
	gw := n.gw
	reportHere := false // a REPORT record says the message ended
	for _, r := range recs {
		b.fromRecord(gw, &r)
		reportHere = reportHere || r.Kind == billing.KindReport
	}
	for _, li := range live {
		b.fromLive(gw, li, n.cfg.Delivery.ReportTimeout)
	}
	for _, nt := range notes {
		switch nt.stage {
		case msgtrace.StageSubmitted:
			b.add(msgtrace.Step{Gateway: gw, Stage: nt.stage, Time: tp(nt.at), Link: nt.link})
		case msgtrace.StageDelivered:
			b.add(msgtrace.Step{Gateway: gw, Stage: nt.stage, Time: tp(nt.at)})
		}
	}
	// A report that reached this gateway's SP and is no longer queued
	// was delivered (or dropped): say so even when the ring forgot when.
	if reportHere && b.h.PrevGateway == "" && b.h.Kind == "MT" && b.has(msgtrace.StageReportQueued) && !b.has(msgtrace.StageDelivered) {
		if !slices.ContainsFunc(live, func(li liveItem) bool { return li.q.kind == queueOut }) {
			b.add(msgtrace.Step{Gateway: gw, Stage: msgtrace.StageDelivered,
				Detail: "no longer queued for the SP: delivered (time not kept since the restart or too many since), or dropped after delivery.deliver_ttl"})
		}
	}
	// The link an MT went out on, when nothing noted it: where its
	// number routes from here now.
	for i := range b.h.Steps {
		s := &b.h.Steps[i]
		if (s.Stage == msgtrace.StageSubmitted || s.Stage == msgtrace.StageReceipt) && s.Link == "" && b.h.Dest != "" {
			if q, _, ok := n.routeMT(n.table(), b.h.Dest); ok && q.kind == queueMT {
				s.Link = q.name
			}
		}
	}
	return b.h, nil
}

// fromRecord adds what one CDR of gateway gw says.
func (b *hopBuilder) fromRecord(gw string, r *billing.Record) {
	h := &b.h
	if h.SPID == "" {
		h.SPID, h.Src, h.Dest = r.SPID, r.Src, r.Dest
	}
	if r.PrevGateway != "" {
		h.PrevGateway = r.PrevGateway
	}
	if r.NextGateway != "" {
		h.NextGateway = r.NextGateway
	}
	switch r.Kind {
	case billing.KindMT, billing.KindMO:
		h.Kind = r.Kind.String()
		switch {
		case r.PrevGateway != "":
			b.add(msgtrace.Step{Gateway: gw, Stage: msgtrace.StageReceived, Time: tp(r.SubmitTime), Peer: r.PrevGateway})
		case r.Kind == billing.KindMT:
			b.add(msgtrace.Step{Gateway: gw, Stage: msgtrace.StageAccepted, Time: tp(r.SubmitTime),
				Detail: fmt.Sprintf("SUBMIT from SP %s (%s) to %s", r.SPID, r.Src, r.Dest)})
		default:
			b.add(msgtrace.Step{Gateway: gw, Stage: msgtrace.StageMOReceived, Time: tp(r.SubmitTime),
				Detail: fmt.Sprintf("from %s to %s (SP %s)", r.Src, r.Dest, r.SPID)})
		}
		if r.NextGateway != "" {
			b.add(msgtrace.Step{Gateway: gw, Stage: msgtrace.StageForwarded, Peer: r.NextGateway})
		} else if r.Kind == billing.KindMO {
			b.add(msgtrace.Step{Gateway: gw, Stage: msgtrace.StageReportQueued, Time: tp(r.SubmitTime), Detail: "MO queued for SP " + r.SPID})
		}
	case billing.KindReport:
		if h.Kind == "" {
			h.Kind = "MT"
		}
		h.FinalStatus, h.SMSCMsgID = r.FinalStatus, r.SMSCMsgID
		// A gateway that forwarded the MT bills the report that came back
		// (its REPORT record names no SMSC id; one that expired before it
		// went names the next gateway).
		if next := cmp.Or(r.NextGateway, h.NextGateway); next != "" && r.SMSCMsgID == "" {
			b.add(msgtrace.Step{Gateway: gw, Stage: msgtrace.StageReportReceived, Time: tp(r.DoneTime), Peer: next, Status: r.FinalStatus,
				Detail: "time: when this gateway received the report"})
		} else {
			if r.SMSCMsgID != "" {
				b.add(msgtrace.Step{Gateway: gw, Stage: msgtrace.StageSubmitted, Detail: "SMSC message_id " + r.SMSCMsgID})
			}
			b.add(msgtrace.Step{Gateway: gw, Stage: msgtrace.StageReceipt, Time: tp(r.DoneTime), Status: r.FinalStatus,
				Detail: receiptDetail(r)})
		}
		if r.PrevGateway != "" {
			b.add(msgtrace.Step{Gateway: gw, Stage: msgtrace.StageReportForwarded, Time: tp(r.DoneTime), Peer: r.PrevGateway, Status: r.FinalStatus})
		} else {
			b.add(msgtrace.Step{Gateway: gw, Stage: msgtrace.StageReportQueued, Time: tp(r.DoneTime), Status: r.FinalStatus,
				Detail: "status report for SP " + r.SPID + " (if it asked for one)"})
		}
	}
}

func receiptDetail(r *billing.Record) string {
	if r.SMSCMsgID == "" {
		return "ended by this gateway: " + r.FinalStatus
	}
	return "SMSC message_id " + r.SMSCMsgID + "; time: when this gateway received the receipt"
}

// fromLive adds where the message waits in gw's store.
func (b *hopBuilder) fromLive(gw string, li liveItem, reportTimeout time.Duration) {
	h := &b.h
	qn := li.q.queue()
	if r := li.mt; r != nil {
		if h.Dest == "" {
			h.Kind, h.SPID, h.Src, h.Dest = "MT", r.SPID, r.SrcID, r.Dest
		}
		if r.FromGW != "" {
			h.PrevGateway = r.FromGW
			b.add(msgtrace.Step{Gateway: gw, Stage: msgtrace.StageReceived, Time: tp(r.Submitted), Peer: r.FromGW})
		} else {
			b.add(msgtrace.Step{Gateway: gw, Stage: msgtrace.StageAccepted, Time: tp(r.Submitted),
				Detail: fmt.Sprintf("SUBMIT from SP %s (%s) to %s", r.SPID, r.SrcID, r.Dest)})
		}
		switch li.q.kind {
		case queueMT:
			b.add(msgtrace.Step{Gateway: gw, Stage: msgtrace.StageQueued, Pending: true, Queue: qn, Link: li.q.name,
				Detail: fmt.Sprintf("waiting for SMSC link %s, due %s, %d attempts so far", li.q.name, li.due.Format(time.RFC3339), r.Attempts)})
		case queueFwd:
			h.NextGateway = li.q.name
			b.add(msgtrace.Step{Gateway: gw, Stage: msgtrace.StageForwarded, Pending: true, Queue: qn, Peer: li.q.name,
				Detail: "waiting for the peer's FWD_RESP (resent with backoff until Valid_Time)"})
		case queueAwait:
			if r.Peer != "" {
				h.NextGateway = r.Peer
				b.add(msgtrace.Step{Gateway: gw, Stage: msgtrace.StageForwarded, Peer: r.Peer})
				b.add(msgtrace.Step{Gateway: gw, Stage: msgtrace.StageReportReceived, Pending: true, Queue: qn, Peer: r.Peer,
					Detail: "waiting for the status report from " + r.Peer})
			} else {
				b.add(msgtrace.Step{Gateway: gw, Stage: msgtrace.StageSubmitted, Time: tp(li.due.Add(-reportTimeout)), Link: r.Link,
					Detail: "SMSC message_id " + r.SMSCID})
				b.add(msgtrace.Step{Gateway: gw, Stage: msgtrace.StageReceipt, Pending: true, Queue: qn, Link: r.Link,
					Detail: "waiting for the SMSC's receipt until " + li.due.Format(time.RFC3339)})
			}
		}
		return
	}
	o := li.out
	if o == nil {
		return
	}
	stage, detail := msgtrace.StageReportQueued, "waiting for the SP's DELIVER_RESP"
	if li.q.kind == queueFwd {
		stage, detail = msgtrace.StageReportForwarded, "waiting for "+li.q.name+"'s FWD_RESP"
	}
	if !o.Report && h.Kind == "" {
		h.Kind = "MO"
	}
	b.add(msgtrace.Step{Gateway: gw, Stage: stage, Time: tp(o.Created), Pending: true, Queue: qn, Peer: peerOf(li.q), Status: o.Stat, Detail: detail})
}

func peerOf(q queueRef) string {
	if q.kind == queueFwd {
		return q.name
	}
	return ""
}

// traceSearch finds this gateway's CDRs of messages to dest in [from, to).
func (n *Node) traceSearch(dest string, from, to time.Time) (msgtrace.SearchResult, error) {
	res := msgtrace.SearchResult{Gateway: n.gw, Matches: []msgtrace.Match{}}
	if num, err := routing.NormalizeMSISDN(dest); err == nil {
		dest = num
	}
	err := n.scanCDRs(from, to, func(r *billing.Record) {
		t := r.AccountingTime()
		if r.Dest != dest || (!from.IsZero() && t.Before(from)) || (!to.IsZero() && !t.Before(to)) {
			return
		}
		if len(res.Matches) >= msgtrace.MaxMatches {
			res.Truncated = true
			return
		}
		res.Matches = append(res.Matches, msgtrace.Match{
			MsgID: strconv.FormatUint(r.MsgID, 10), Kind: r.Kind.String(), Direction: r.Direction.String(),
			SPID: r.SPID, Src: r.Src, Dest: r.Dest, SubmitTime: tp(r.SubmitTime), DoneTime: tp(r.DoneTime),
			FinalStatus: r.FinalStatus, PrevGateway: r.PrevGateway, NextGateway: r.NextGateway,
		})
	})
	return res, err
}
