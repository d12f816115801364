package msgtrace

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func at(min int) *time.Time {
	t := time.Date(2026, 1, 2, 3, min, 0, 0, time.UTC)
	return &t
}

// A three-gateway path: Beijing → Tianjin → Guangzhou, the report back.
var chain = map[string]Hop{
	"001001": {Found: true, NextGateway: "022001", FinalStatus: "DELIVRD", Steps: []Step{
		{Gateway: "001001", Stage: StageAccepted, Time: at(0)},
		{Gateway: "001001", Stage: StageForwarded, Peer: "022001"},
		{Gateway: "001001", Stage: StageReportReceived, Time: at(9), Peer: "022001"},
		{Gateway: "001001", Stage: StageReportQueued, Time: at(9)},
		{Gateway: "001001", Stage: StageDelivered, Time: at(10)},
	}},
	"022001": {Found: true, PrevGateway: "001001", NextGateway: "020001", Steps: []Step{
		{Gateway: "022001", Stage: StageReceived, Time: at(1), Peer: "001001"},
		{Gateway: "022001", Stage: StageForwarded, Peer: "020001"},
		{Gateway: "022001", Stage: StageReportReceived, Time: at(8), Peer: "020001"},
		{Gateway: "022001", Stage: StageReportForwarded, Time: at(8), Peer: "001001"},
	}},
	"020001": {Found: true, PrevGateway: "022001", Steps: []Step{
		{Gateway: "020001", Stage: StageReceived, Time: at(2), Peer: "022001"},
		{Gateway: "020001", Stage: StageSubmitted, Time: at(3), Link: "south"},
		{Gateway: "020001", Stage: StageReceipt, Time: at(7), Status: "DELIVRD"},
		{Gateway: "020001", Stage: StageReportForwarded, Time: at(7), Peer: "022001"},
	}},
}

// id of gateway 001001 (bits 16-37).
const bjID = uint64(1001)<<16 | 7

func fake(hops map[string]Hop) Fetcher {
	return func(_ context.Context, gw string, _ uint64) (Hop, error) {
		h, ok := hops[gw]
		if !ok {
			return Hop{}, errors.New("connection refused")
		}
		return h, nil
	}
}

func TestFollowChain(t *testing.T) {
	tr, err := Follow(context.Background(), bjID, fake(chain))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range tr.Steps {
		got = append(got, s.Gateway[:3]+":"+string(s.Stage))
	}
	want := "001:accepted 001:forwarded 022:received 022:forwarded 020:received 020:submitted 020:receipt 020:report_forwarded " +
		"022:report_received 022:report_forwarded 001:report_received 001:report_queued 001:delivered"
	if strings.Join(got, " ") != want {
		t.Fatalf("steps\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	if !tr.Complete || tr.Origin != "001001" || len(tr.Hops) != 3 {
		t.Errorf("trace %+v", tr)
	}
	// A forward takes the time the next gateway received it.
	if f := tr.Steps[1]; f.Time == nil || !f.Time.Equal(*at(1)) {
		t.Errorf("forwarded at %v, want %v", f.Time, at(1))
	}
}

func TestFollowUnreachable(t *testing.T) {
	hops := map[string]Hop{"001001": chain["001001"]}
	tr, err := Follow(context.Background(), bjID, fake(hops))
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Hops) != 2 || tr.Hops[1].Gateway != "022001" || tr.Hops[1].Error == "" || tr.Complete {
		t.Fatalf("trace %+v", tr)
	}
}

func TestFollowLoopEnds(t *testing.T) {
	loop := map[string]Hop{
		"001001": {Found: true, NextGateway: "022001"},
		"022001": {Found: true, NextGateway: "001001"},
	}
	tr, err := Follow(context.Background(), bjID, fake(loop))
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Hops) != 2 || tr.Complete {
		t.Fatalf("trace %+v", tr)
	}
}

func TestParseMsgID(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		ok   bool
	}{{"12345", 12345, true}, {"0x3039", 12345, true}, {"0", 0, false}, {"abc", 0, false}, {"-1", 0, false}} {
		got, err := ParseMsgID(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseMsgID(%q) = %d, %v", tc.in, got, err)
		}
	}
	if o := Origin(bjID); o != "001001" {
		t.Errorf("Origin = %s", o)
	}
}
