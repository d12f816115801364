package billing

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// wantSample is the sample set's summary, worked out by hand:
//
// 2026-11-22 SP A: MTs #1 (02/10 DELIVRD), #2 and #3 (two segments of one
// message, 02/000005 each, DELIVRD), #4 (FWD_OUT, UNDELIV), #5 (FWD_OUT,
// monthly, DELIVRD); MOs #7 (local) and #8 (FWD_IN); reports #9 (local) and
// #10 (FWD_IN). Fee 10+5+5 = 20 fen.
//
// 2026-11-22 SP B: #6 (FWD_IN, DELIVRD: not billed here), #11 (free), #12
// (fee code "abc": fee error), #13 (pending), #14 (EXPIRED), #15 (DELIVRD at
// 23:59:59.999 though written after midnight: 10 fen).
//
// 2026-11-23 SP A: #16 (DELIVRD, 10 fen), #17 (MA:0001).
var wantSample = []Summary{
	{Day: "2026-11-22", SPID: spA, MT: 5, MTMessages: 4, MO: 2, Reports: 2, Delivered: 4, Failed: 1,
		Charged: 3, Monthly: 1, FeeFen: 20, Gateways: []GatewayCount{
			{Gateway: gwGZ, Direction: DirFwdOut, MT: 2, Delivered: 1},
			{Gateway: gwGZ, Direction: DirFwdIn, MO: 1, Reports: 1},
		}},
	{Day: "2026-11-22", SPID: spB, MT: 6, MTMessages: 6, Delivered: 4, Failed: 1, Pending: 1,
		Charged: 1, FeeFen: 10, FeeErrors: 1, Gateways: []GatewayCount{
			{Gateway: gwGZ, Direction: DirFwdIn, MT: 1, Delivered: 1},
		}},
	{Day: "2026-11-23", SPID: spA, MT: 2, MTMessages: 2, Delivered: 1, Failed: 1, Charged: 1, FeeFen: 10},
}

func TestSummarizeKnownSet(t *testing.T) {
	got := Summarize(sampleRecords())
	if !reflect.DeepEqual(got, wantSample) {
		t.Fatalf("Summarize:\n got %+v\nwant %+v", got, wantSample)
	}
}

func TestSummarizeFeeRule(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rec     Record
		fee     int64
		charged int64
		monthly int64
		feeErr  int64
	}{
		{"per message", mt(1, spA, "02", "000150", "DELIVRD", "2026-11-22T13:00:00.000Z"), 150, 1, 0, 0},
		{"per message spaces", mt(1, spA, "02", " 15 ", "DELIVRD", "2026-11-22T13:00:00.000Z"), 15, 1, 0, 0},
		{"zero tariff", mt(1, spA, "02", "0", "DELIVRD", "2026-11-22T13:00:00.000Z"), 0, 1, 0, 0},
		{"empty tariff", mt(1, spA, "02", "", "DELIVRD", "2026-11-22T13:00:00.000Z"), 0, 0, 0, 1},
		{"negative tariff", mt(1, spA, "02", "-5", "DELIVRD", "2026-11-22T13:00:00.000Z"), 0, 0, 0, 1},
		{"free", mt(1, spA, "01", "100", "DELIVRD", "2026-11-22T13:00:00.000Z"), 0, 0, 0, 0},
		{"monthly", mt(1, spA, "03", "500", "DELIVRD", "2026-11-22T13:00:00.000Z"), 0, 0, 1, 0},
		{"capped", mt(1, spA, "04", "500", "DELIVRD", "2026-11-22T13:00:00.000Z"), 0, 0, 0, 0},
		{"undelivered", mt(1, spA, "02", "100", "UNDELIV", "2026-11-22T13:00:00.000Z"), 0, 0, 0, 0},
		{"pending", mt(1, spA, "02", "100", "ACCEPTD", "2026-11-22T13:00:00.000Z"), 0, 0, 0, 0},
		{"fwd in", func() Record {
			r := mt(1, spA, "02", "100", "DELIVRD", "2026-11-22T13:00:00.000Z")
			r.Direction, r.PrevGateway = DirFwdIn, gwGZ
			return r
		}(), 0, 0, 0, 0},
		{"fwd out", func() Record {
			r := mt(1, spA, "02", "100", "DELIVRD", "2026-11-22T13:00:00.000Z")
			r.Direction, r.NextGateway = DirFwdOut, gwGZ
			return r
		}(), 100, 1, 0, 0},
		{"mo", Record{Kind: KindMO, SPID: spA, FeeType: "02", FeeCode: "100", FinalStatus: "DELIVRD"}, 0, 0, 0, 0},
	} {
		s := Summarize([]Record{tc.rec})
		if len(s) != 1 || s[0].FeeFen != tc.fee || s[0].Charged != tc.charged || s[0].Monthly != tc.monthly ||
			s[0].FeeErrors != tc.feeErr {
			t.Errorf("%s: %+v, want fee %d charged %d monthly %d errors %d", tc.name, s, tc.fee, tc.charged,
				tc.monthly, tc.feeErr)
		}
	}
}

func TestSummarizeInLocation(t *testing.T) {
	// 23:59:59.999 UTC on the 22nd is the 23rd in Beijing.
	cst := time.FixedZone("CST", 8*3600)
	s := SummarizeIn(sampleRecords(), cst)
	var days []string
	for _, x := range s {
		days = append(days, x.Day+"/"+x.SPID)
	}
	want := "2026-11-22/901234 2026-11-22/902001 2026-11-23/901234 2026-11-23/902001"
	if got := strings.Join(days, " "); got != want {
		t.Fatalf("days %s, want %s", got, want)
	}
	if tot := Total(s); !reflect.DeepEqual(tot, Total(wantSample)) {
		t.Fatalf("moving days changed the totals: %+v", tot)
	}
}

func TestRollups(t *testing.T) {
	by := BySP(wantSample)
	if len(by) != 2 || by[0].SPID != spA || by[0].Day != "" || by[0].MT != 7 || by[0].FeeFen != 30 ||
		by[1].SPID != spB || by[1].FeeFen != 10 {
		t.Fatalf("BySP = %+v", by)
	}
	tot := Total(wantSample)
	if tot.MT != 13 || tot.MO != 2 || tot.Reports != 2 || tot.FeeFen != 40 || tot.Delivered != 9 ||
		tot.Failed != 3 || tot.Pending != 1 {
		t.Fatalf("Total = %+v", tot)
	}
	wantGW := []GatewayCount{
		{Gateway: gwGZ, Direction: DirFwdOut, MT: 2, Delivered: 1},
		{Gateway: gwGZ, Direction: DirFwdIn, MT: 1, Delivered: 1, MO: 1, Reports: 1},
	}
	if gw := GatewayTotals(wantSample); !reflect.DeepEqual(gw, wantGW) {
		t.Fatalf("GatewayTotals = %+v, want %+v", gw, wantGW)
	}
	// The inputs are not modified by the rollups.
	if wantSample[0].Gateways[1].MT != 0 {
		t.Fatal("GatewayTotals wrote into its input")
	}
}

func TestSummarizeDir(t *testing.T) {
	dir := t.TempDir()
	writeSample(t, dir)
	// Files being written and foreign files are skipped.
	if err := os.WriteFile(filepath.Join(dir, "cdr-001001-2026112301.csv.part"), []byte("torn"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "README"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	all, err := SummarizeDir(dir, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(all, wantSample) {
		t.Fatalf("SummarizeDir:\n got %+v\nwant %+v", all, wantSample)
	}
	day22, err := SummarizeDir(dir, mustTime("2026-11-22T00:00:00.000Z"), mustTime("2026-11-23T00:00:00.000Z"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(day22, wantSample[:2]) {
		t.Fatalf("22nd only:\n got %+v\nwant %+v", day22, wantSample[:2])
	}
	day23, err := SummarizeDir(dir, mustTime("2026-11-23T00:00:00.000Z"), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(day23, wantSample[2:]) {
		t.Fatalf("from the 23rd:\n got %+v\nwant %+v", day23, wantSample[2:])
	}
	none, err := SummarizeDir(dir, mustTime("2027-01-01T00:00:00.000Z"), time.Time{})
	if err != nil || len(none) != 0 {
		t.Fatalf("2027: %+v, %v", none, err)
	}
}

func TestSummarizeDirErrors(t *testing.T) {
	if _, err := SummarizeDir(filepath.Join(t.TempDir(), "missing"), time.Time{}, time.Time{}); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing dir: %v", err)
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "cdr-001001-2026112213.csv")
	if err := os.WriteFile(bad, []byte(Header+"MT,LOCAL,x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := SummarizeDir(dir, time.Time{}, time.Time{})
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), bad+":2:") {
		t.Fatalf("malformed file: %v", err)
	}
}

// The ISMG writes an MT record at submit, before its outcome is known, and
// a REPORT record with the final state later; the summary joins them by SP
// and Msg_Id at the same gateway, in either order, and across days.
func TestSummarizeSettlesMTFromReport(t *testing.T) {
	mtRec := func(id uint64, day string) Record {
		r := mt(1, spA, "02", "100", "", day+"T13:00:00.000Z")
		r.MsgID = id
		return r
	}
	report := func(id uint64, stat, day string) Record {
		r := Record{Kind: KindReport, SPID: spA, MsgID: id, FinalStatus: stat, HandlingGateway: gwBJ}
		r.DoneTime, _ = time.Parse(TimeLayout, day+"T23:59:00.000Z")
		return r
	}
	recs := []Record{
		mtRec(1, "2026-11-22"), report(1, "DELIVRD", "2026-11-23"), // report the next day
		report(2, "UNDELIV", "2026-11-22"), mtRec(2, "2026-11-22"), // report read first
		mtRec(3, "2026-11-22"),                                     // no report yet
		mtRec(4, "2026-11-22"), report(4, "ACCEPTD", "2026-11-22"), // intermediate only
	}
	tot := Total(Summarize(recs))
	if tot.MT != 4 || tot.Delivered != 1 || tot.Failed != 1 || tot.Pending != 2 || tot.FeeFen != 100 || tot.Charged != 1 || tot.Reports != 3 {
		t.Fatalf("total %+v: want 4 MT, 1 delivered (charged 100 fen), 1 failed, 2 pending, 3 reports", tot)
	}
	days := Summarize(recs)
	if days[0].Day != "2026-11-22" || days[0].Delivered != 1 {
		t.Errorf("the delivery belongs to the MT's day: %+v", days)
	}
}

// A forwarded MT has an MT and a REPORT record at each gateway it passed,
// all under one Msg_Id: read together (the directories of both gateways),
// each gateway's REPORT settles its own MT.
func TestSummarizeSettlesPerGateway(t *testing.T) {
	out := mt(1, spA, "02", "10", "", "2026-11-22T13:00:00.000Z")
	out.Direction, out.NextGateway = DirFwdOut, gwGZ
	in := out
	in.Direction, in.NextGateway, in.PrevGateway, in.HandlingGateway = DirFwdIn, "", gwBJ, gwGZ
	repOut, repIn := out, in
	repOut.Kind, repOut.FinalStatus = KindReport, "DELIVRD"
	repIn.Kind, repIn.FinalStatus = KindReport, "DELIVRD"
	tot := Total(Summarize([]Record{out, in, repIn, repOut}))
	if tot.MT != 2 || tot.Delivered != 2 || tot.Pending != 0 || tot.Charged != 1 {
		t.Fatalf("total %+v: want 2 MT records, both delivered, 1 charged (at the SP's gateway)", tot)
	}
}
