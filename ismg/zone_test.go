package ismg

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/billing"
	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/internal/waitfor"
	"github.com/tandem-sms/tandem/internal/zone"
	"github.com/tandem-sms/tandem/sim/smscsim"
)

// One node in Asia/Shanghai and one in UTC, each with an SMSC writing its
// receipt dates in the same zone: a zoneless ValId_Time is read in the
// node's zone (so it expires at the instant the SP meant), the report's
// Submit_time and Done_time are local, and the CDR file is named by the
// local hour.
func TestNodeTimezone(t *testing.T) {
	for _, name := range []string{"Asia/Shanghai", "UTC"} {
		t.Run(strings.ReplaceAll(name, "/", "_"), func(t *testing.T) {
			loc := zone.MustLoad(name)
			s := startSMSC(t, func(c *smscsim.Config) { c.Location = loc })
			dir := t.TempDir()
			cfg := loadYAML(t, dir, nodeYAML(t, dir, s.Addr(), replace("data_dir:", "timezone: "+name+"\ndata_dir:")))
			e := startNode(t, cfg)
			c := mustSP(t, e.node.CMPPAddr(), cmpp.V30)

			// 12-digit absolute ValId_Time (no offset): local wall clock.
			local := func(d time.Duration) string { return time.Now().Add(d).In(loc).Format("060102150405") }
			past := submitPDU(bjNumber, 0, []byte("valid until a minute ago"))
			past.ValidTime = local(-time.Minute)
			soon := submitPDU(bjNumber, 0, []byte("valid for ten minutes"))
			soon.ValidTime = local(10 * time.Minute)
			rel := submitPDU(bjNumber, 0, []byte("valid for ten minutes, relative"))
			rel.ValidTime = "000000001000000R"
			before := time.Now()
			rp, rs, rr := c.submit(t, past), c.submit(t, soon), c.submit(t, rel)
			ds := c.waitDelivers(t, 15*time.Second, func(ds []*cmpp.Deliver) bool { return len(reports(ds)) == 3 })
			after := time.Now()
			reps := reports(ds)
			if got := reps[rp.MsgID].Stat; got != cmpp.StatExpired {
				t.Errorf("ValId_Time a minute ago in %s: report %s, want EXPIRED", name, got)
			}
			for _, id := range []uint64{rs.MsgID, rr.MsgID} {
				r := reps[id]
				if r.Stat != cmpp.StatDelivered {
					t.Errorf("ValId_Time in ten minutes: report %s, want DELIVRD", r.Stat)
				}
				// Submit_time and Done_time are the node's local minutes.
				for field, v := range map[string]string{"Submit_time": r.SubmitTime, "Done_time": r.DoneTime} {
					lo := before.In(loc).Truncate(time.Minute).Format("0601021504")
					hi := after.In(loc).Format("0601021504")
					if v < lo || v > hi {
						t.Errorf("%s %q, want the local minute in [%s, %s]", field, v, lo, hi)
					}
				}
			}
			// Msg_Id's MMDDHHMMSS is local too.
			if m := cmpp.UnpackMsgID(rs.MsgID); int(m.Hour) != before.In(loc).Hour() && int(m.Hour) != after.In(loc).Hour() {
				t.Errorf("Msg_Id hour %d, want the local hour %d", m.Hour, before.In(loc).Hour())
			}
			// The CDR file of the hour being written is named by the local hour.
			want := map[string]bool{}
			for _, tm := range []time.Time{before, after} {
				p := tm.In(loc).Truncate(time.Hour)
				want[billing.FileName("001001", p, time.Hour, 0)+".part"] = true
			}
			var names []string
			waitfor.Cond(t, "the CDR file of the local hour", func() bool {
				ents, _ := os.ReadDir(cfg.Billing.Dir)
				names = names[:0]
				found := false
				for _, en := range ents {
					names = append(names, en.Name())
					found = found || want[en.Name()]
				}
				return found
			})
			if name != "UTC" && !strings.Contains(strings.Join(names, " "), "+0800") {
				t.Errorf("CDR files %v carry no +0800", names)
			}
		})
	}
}

// TestConfigTimezone: the default is explicit, and a bad name is an error
// naming the key and its line.
func TestConfigTimezone(t *testing.T) {
	dir := t.TempDir()
	cfg := loadYAML(t, dir, nodeYAML(t, dir, "127.0.0.1:1"))
	if cfg.Timezone != "Asia/Shanghai" || cfg.Location().String() != "Asia/Shanghai" {
		t.Errorf("default timezone %q (%v), want Asia/Shanghai", cfg.Timezone, cfg.Location())
	}
	p := filepath.Join(dir, "bad.yaml")
	y := nodeYAML(t, dir, "127.0.0.1:1", replace("data_dir:", "timezone: Asia/Shanghia\ndata_dir:"))
	if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadConfig(p)
	if err == nil || !strings.Contains(err.Error(), p+":5: timezone: unknown time zone \"Asia/Shanghia\"") {
		t.Errorf("LoadConfig with a bad zone: %v", err)
	}
}

// CMPP_QUERY's day turns at local midnight: 16:00 UTC in Shanghai, 00:00
// UTC in UTC.
func TestQueryDayLocalMidnight(t *testing.T) {
	before, after := time.Date(2026, 11, 22, 15, 59, 59, 0, time.UTC), time.Date(2026, 11, 22, 16, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		zone              string
		dayBefore, dayAft string
	}{
		{"Asia/Shanghai", "20261122", "20261123"},
		{"UTC", "20261122", "20261122"},
	} {
		b := newStatsBook(zone.MustLoad(tc.zone))
		b.mtAccepted(testSP, "", before, bjNumber)
		b.mtAccepted(testSP, "", after, bjNumber)
		for day, want := range map[string]uint32{tc.dayBefore: 1, tc.dayAft: 1} {
			if tc.dayBefore == tc.dayAft {
				want = 2
			}
			r := b.query(testSP, &cmpp.Query{Time: day})
			if r.MTTLMsg != want {
				t.Errorf("%s: CMPP_QUERY %s: MT_TLMsg %d, want %d", tc.zone, day, r.MTTLMsg, want)
			}
		}
	}
}

// TestMsgIDClockIgnoresDST: in a zone with daylight saving, the Msg_Id
// clock stays at standard time, so the autumn's repeated hour cannot
// repeat Msg_Id time fields; Asia/Shanghai keeps +08:00.
func TestMsgIDClockIgnoresDST(t *testing.T) {
	for _, tc := range []struct {
		zone string
		off  int
	}{{"America/New_York", -5 * 3600}, {"Europe/Berlin", 3600}, {"Australia/Sydney", 10 * 3600}, {"Asia/Shanghai", 8 * 3600}} {
		loc, err := time.LoadLocation(tc.zone)
		if err != nil {
			t.Fatal(err)
		}
		if _, off := time.Date(2026, 1, 1, 0, 0, 0, 0, standardZone(loc, 2026)).Zone(); off != tc.off {
			t.Errorf("%s: standard offset %d, want %d", tc.zone, off, tc.off)
		}
		// The two instants an hour apart that share 01:30 local time on
		// New York's fall-back night get different fields.
		if tc.zone == "America/New_York" {
			a := time.Date(2026, time.November, 1, 5, 30, 0, 0, time.UTC) // 01:30 EDT
			b := a.Add(time.Hour)                                         // 01:30 EST
			if a.In(loc).Hour() != b.In(loc).Hour() {
				t.Fatal("the test's instants should share the local hour")
			}
			z := standardZone(loc, 2026)
			if a.In(z).Hour() == b.In(z).Hour() {
				t.Fatalf("Msg_Id clock repeats the hour: %v %v", a.In(z), b.In(z))
			}
		}
	}
}
