package billing

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

// fedSet is a small federation: SP A submits at Beijing, one MT local and
// delivered, one forwarded to Guangzhou (whose records are here too) and
// delivered there, one local that fails, one expired, one pending; SP B
// one local MT whose REPORT was read before it. Submit and done times are
// in the 14h and 15h of 2026-11-22 UTC.
func fedSet() []Record {
	at := func(s string) time.Time { return mustTime("2026-11-22T" + s + "Z") }
	mtAt := func(gw string, id uint64, sp, submit string) Record {
		return Record{Kind: KindMT, MsgID: id, SPID: sp, FeeType: "02", FeeCode: "10", Segments: 1, SegmentNo: 1,
			SubmitTime: at(submit), HandlingGateway: gw}
	}
	rep := func(m Record, stat, done string) Record {
		m.Kind, m.FinalStatus, m.DoneTime = KindReport, stat, at(done)
		return m
	}
	local := mtAt(gwBJ, 1, spA, "14:00:05.000")
	out := mtAt(gwBJ, 2, spA, "14:10:00.000")
	out.Direction, out.NextGateway = DirFwdOut, gwGZ
	in := mtAt(gwGZ, 2, spA, "14:10:00.100")
	in.Direction, in.PrevGateway = DirFwdIn, gwBJ
	bad := mtAt(gwBJ, 3, spA, "14:20:00.000")
	exp := mtAt(gwBJ, 4, spA, "15:00:00.000")
	pend := mtAt(gwBJ, 5, spA, "15:30:00.000")
	b := mtAt(gwBJ, 6, spB, "15:40:00.000")
	atOnce := mtAt(gwBJ, 7, spB, "15:50:00.000")
	atOnce.FinalStatus, atOnce.DoneTime = "REJECTD", at("15:50:00.000")
	mo := Record{Kind: KindMO, Direction: DirFwdIn, MsgID: 8, SPID: spA, SubmitTime: at("14:30:00.000"),
		FinalStatus: "DELIVRD", HandlingGateway: gwBJ, PrevGateway: gwGZ}
	return []Record{
		local, rep(local, "DELIVRD", "14:01:00.000"), // 55 s
		out, in,
		rep(in, "DELIVRD", "14:12:00.000"), rep(out, "DELIVRD", "14:12:00.000"), // 2 min
		bad, rep(bad, "UNDELIV", "14:20:00.000"), // 0
		exp, rep(exp, "EXPIRED", "15:00:00.000"), // 0
		pend,
		rep(b, "MA:0001", "15:40:00.000"), b, // REPORT first; 0
		atOnce, // 0
		mo,
	}
}

func TestTrafficGrouping(t *testing.T) {
	regions := map[string]string{gwBJ: "beijing", gwGZ: "guangdong"}
	peerOut := GatewayCount{Gateway: gwGZ, Direction: DirFwdOut, MT: 1, Delivered: 1, Reports: 1}
	peerIn := GatewayCount{Gateway: gwBJ, Direction: DirFwdIn, MT: 1, Delivered: 1, Reports: 1}
	moIn := GatewayCount{Gateway: gwGZ, Direction: DirFwdIn, MO: 1}
	type row struct {
		keys                                         [5]string // sp, gateway, region, hour, day
		sub, del, fail, exp, pend, mo, fwdIn, fwdOut int64
		failedBy                                     map[string]int64
		peers                                        []GatewayCount
		samples, p50, p99                            int64
	}
	for _, tc := range []struct {
		name string
		by   string
		want []row
	}{
		{"total", "", nil},
		{"sp", "sp", []row{
			{[5]string{spA}, 5, 2, 1, 1, 1, 1, 1, 1, map[string]int64{"UNDELIV": 1}, []GatewayCount{peerIn, peerOut, moIn}, 4, 0, 120000},
			{[5]string{spB}, 2, 0, 2, 0, 0, 0, 0, 0, map[string]int64{"MA:0001": 1, "REJECTD": 1}, nil, 2, 0, 0},
		}},
		{"gateway", "gateway", []row{
			{[5]string{"", gwBJ}, 7, 2, 3, 1, 1, 1, 0, 1, map[string]int64{"UNDELIV": 1, "MA:0001": 1, "REJECTD": 1},
				[]GatewayCount{peerOut, moIn}, 6, 0, 120000},
			{[5]string{"", gwGZ}, 0, 0, 0, 0, 0, 0, 1, 0, map[string]int64{}, []GatewayCount{peerIn}, 0, 0, 0},
		}},
		{"region,hour", "region,hour", []row{
			{[5]string{"", "", "beijing", "2026-11-22T14:00Z"}, 3, 2, 1, 0, 0, 1, 0, 1, map[string]int64{"UNDELIV": 1},
				[]GatewayCount{peerOut, moIn}, 3, 55000, 120000},
			{[5]string{"", "", "beijing", "2026-11-22T15:00Z"}, 4, 0, 2, 1, 1, 0, 0, 0, map[string]int64{"MA:0001": 1, "REJECTD": 1},
				nil, 3, 0, 0},
			{[5]string{"", "", "guangdong", "2026-11-22T14:00Z"}, 0, 0, 0, 0, 0, 0, 1, 0, map[string]int64{}, []GatewayCount{peerIn}, 0, 0, 0},
		}},
		{"day,sp", "day,sp", []row{
			{[5]string{spA, "", "", "", "2026-11-22"}, 5, 2, 1, 1, 1, 1, 1, 1, map[string]int64{"UNDELIV": 1},
				[]GatewayCount{peerIn, peerOut, moIn}, 4, 0, 120000},
			{[5]string{spB, "", "", "", "2026-11-22"}, 2, 0, 2, 0, 0, 0, 0, 0, map[string]int64{"MA:0001": 1, "REJECTD": 1}, nil, 2, 0, 0},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			by, err := ParseDims(tc.by)
			if err != nil {
				t.Fatal(err)
			}
			tr, err := TrafficOf(fedSet(), TrafficConfig{By: by, Regions: regions})
			if err != nil {
				t.Fatal(err)
			}
			tot := tr.Total
			if tot.Submitted != 7 || tot.Delivered != 2 || tot.Failed != 3 || tot.Expired != 1 || tot.Pending != 1 ||
				tot.FwdIn != 1 || tot.FwdOut != 1 || tot.MO != 1 || tot.Latency.Samples != 6 || tot.Latency.P99ms != 120000 {
				t.Errorf("total %+v", tot)
			}
			if tc.by == "" {
				if len(tr.Rows) != 1 {
					t.Fatalf("rows %+v, want one (everything)", tr.Rows)
				}
				return
			}
			if len(tr.Rows) != len(tc.want) {
				t.Fatalf("%d rows, want %d: %+v", len(tr.Rows), len(tc.want), tr.Rows)
			}
			for i, w := range tc.want {
				g := tr.Rows[i]
				keys := [5]string{g.SPID, g.Gateway, g.Region, g.Hour, g.Day}
				got := row{keys, g.Submitted, g.Delivered, g.Failed, g.Expired, g.Pending, g.MO, g.FwdIn, g.FwdOut,
					g.FailedBy, g.Peers, g.Latency.Samples, g.Latency.P50ms, g.Latency.P99ms}
				if len(got.peers) == 0 {
					got.peers = nil
				}
				if !reflect.DeepEqual(got, w) {
					t.Errorf("row %d:\n got %+v\nwant %+v", i, got, w)
				}
			}
		})
	}
}

func TestTrafficHoursAndWindow(t *testing.T) {
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err) // zone_test.go embeds tzdata
	}
	tr, err := TrafficOf(fedSet(), TrafficConfig{Loc: shanghai, From: mustTime("2026-11-22T15:00:00.000Z")})
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Hours) != 1 || tr.Hours[0].Hour != "2026-11-22T23:00+08:00" || tr.Hours[0].Submitted != 4 {
		t.Fatalf("hours %+v: want 23:00+08:00 with the 4 MTs of 15h UTC", tr.Hours)
	}
	// The REPORT of an MT before the window is outside it too (it carries
	// the MT's submit_time): nothing settles what was not counted.
	if tr.Total.Delivered != 0 || tr.Total.Pending != 1 || tr.Total.Submitted != 4 {
		t.Fatalf("total %+v", tr.Total)
	}
}

func TestTrafficConfigErrors(t *testing.T) {
	if _, err := TrafficOf(nil, TrafficConfig{By: []Dim{DimRegion}}); !errors.Is(err, ErrNoRegions) {
		t.Errorf("region without regions: %v", err)
	}
	for _, s := range []string{"sp,sp", "month", "sp,"} {
		if _, err := ParseDims(s); err == nil {
			t.Errorf("ParseDims(%q) succeeded", s)
		}
	}
	if d, err := ParseDims(" gateway , hour"); err != nil || !reflect.DeepEqual(d, []Dim{DimGateway, DimHour}) {
		t.Errorf("ParseDims = %v, %v", d, err)
	}
}
