package billing

import (
	"log/slog"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for Config.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(s string) *fakeClock { return &fakeClock{t: mustTime(s)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func mustTime(s string) time.Time {
	t, err := time.Parse(TimeLayout, s)
	if err != nil {
		panic(err)
	}
	return t
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func testConfig(t testing.TB, dir string, clock *fakeClock) Config {
	cfg := DefaultConfig()
	cfg.Dir = dir
	cfg.Gateway = "001001"
	cfg.Now = clock.Now
	cfg.Logger = testLogger(t)
	return cfg
}

func openWriter(t testing.TB, cfg Config) *Writer {
	t.Helper()
	w, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return w
}

// timed is a record and the writer clock at which it is written.
type timed struct {
	at  string
	rec Record
}

const (
	gwBJ = "001001"
	gwGZ = "020001"
	spA  = "901234"
	spB  = "902001"
)

func mt(id uint64, sp, feeType, feeCode, stat string, done string) Record {
	r := Record{
		Kind: KindMT, MsgID: id, SPID: sp, ServiceID: "NEWS", FeeType: feeType, FeeCode: feeCode,
		Src: "10657001", Dest: "13800100001", Segments: 1, SegmentNo: 1,
		FinalStatus: stat, HandlingGateway: gwBJ, SMSCMsgID: "s" + feeCode, MsgFmt: 8, Length: 20,
	}
	if done != "" {
		r.DoneTime = mustTime(done)
		r.SubmitTime = r.DoneTime.Add(-5 * time.Second)
	}
	return r
}

// sampleSet is the known set the summary, golden and CLI tests share; the
// expected totals are worked out in TestSummarizeKnownSet.
func sampleSet() []timed {
	var s []timed
	add := func(at string, r Record) { s = append(s, timed{at, r}) }

	// 2026-11-22, 13h: SP A's MTs, local and forwarded; SP B's MT from Guangzhou.
	add("2026-11-22T13:10:00.000Z", mt(0xA7B9E14134FD0001, spA, "02", "10", "DELIVRD", "2026-11-22T13:10:00.000Z"))
	r := mt(0xA7B9E14134FD0002, spA, "02", "000005", "DELIVRD", "2026-11-22T13:20:00.250Z")
	r.Segments, r.SegmentNo = 2, 1
	add("2026-11-22T13:20:00.250Z", r)
	r = mt(0xA7B9E14134FD0002, spA, "02", "000005", "DELIVRD", "2026-11-22T13:20:00.500Z")
	r.Segments, r.SegmentNo = 2, 2
	add("2026-11-22T13:20:00.500Z", r)
	r = mt(0xA7B9E14134FD0003, spA, "02", "20", "UNDELIV", "2026-11-22T13:30:00.000Z")
	r.Direction, r.NextGateway, r.Dest = DirFwdOut, gwGZ, "13900200002"
	add("2026-11-22T13:30:00.000Z", r)
	r = mt(0xA7B9E14134FD0004, spA, "03", "300", "DELIVRD", "2026-11-22T13:40:00.000Z")
	r.Direction, r.NextGateway, r.Dest = DirFwdOut, gwGZ, "13900200003"
	add("2026-11-22T13:40:00.000Z", r)
	r = mt(0xB2B9DA8000010000, spB, "02", "10", "DELIVRD", "2026-11-22T13:50:00.000Z")
	r.Direction, r.PrevGateway, r.Src = DirFwdIn, gwGZ, "10669999"
	add("2026-11-22T13:50:00.000Z", r)

	// 14h: MOs and reports for SP A.
	add("2026-11-22T14:00:00.000Z", Record{Kind: KindMO, MsgID: 0xA7B9E14134FD0010, SPID: spA,
		ServiceID: "NEWS", Src: "13800100009", Dest: "10657001", Segments: 1, SegmentNo: 1,
		SubmitTime: mustTime("2026-11-22T13:59:59.000Z"), DoneTime: mustTime("2026-11-22T14:00:00.000Z"),
		FinalStatus: "DELIVRD", HandlingGateway: gwBJ, MsgFmt: 15, Length: 4})
	add("2026-11-22T14:05:00.000Z", Record{Kind: KindMO, Direction: DirFwdIn, MsgID: 0xB2B9DA8000010001,
		SPID: spA, ServiceID: "NEWS", Src: "13900200005", Dest: "106570019", Segments: 1, SegmentNo: 1,
		SubmitTime: mustTime("2026-11-22T14:04:59.000Z"), DoneTime: mustTime("2026-11-22T14:05:00.000Z"),
		FinalStatus: "SB:0008", HandlingGateway: gwBJ, PrevGateway: gwGZ, Length: 2})
	add("2026-11-22T14:10:00.000Z", Record{Kind: KindReport, MsgID: 0xA7B9E14134FD0001, SPID: spA,
		Src: "13800100001", Dest: "10657001", SubmitTime: mustTime("2026-11-22T13:09:55.000Z"),
		DoneTime: mustTime("2026-11-22T14:10:00.000Z"), FinalStatus: "DELIVRD", HandlingGateway: gwBJ})
	add("2026-11-22T14:20:00.000Z", Record{Kind: KindReport, Direction: DirFwdIn, MsgID: 0xA7B9E14134FD0003,
		SPID: spA, Src: "13900200002", Dest: "10657001", SubmitTime: mustTime("2026-11-22T13:29:55.000Z"),
		DoneTime: mustTime("2026-11-22T14:20:00.000Z"), FinalStatus: "UNDELIV", HandlingGateway: gwBJ,
		PrevGateway: gwGZ})

	// 23h: SP B: free, a fee error, one pending, one expired with awkward text.
	add("2026-11-22T23:10:00.000Z", mt(0xA7B9E14134FD0020, spB, "01", "0", "DELIVRD", "2026-11-22T23:10:00.000Z"))
	add("2026-11-22T23:20:00.000Z", mt(0xA7B9E14134FD0021, spB, "02", "abc", "DELIVRD", "2026-11-22T23:20:00.000Z"))
	r = mt(0xA7B9E14134FD0022, spB, "02", "15", "", "")
	r.SubmitTime = mustTime("2026-11-22T23:30:00.000Z")
	add("2026-11-22T23:30:00.000Z", r)
	r = mt(0xA7B9E14134FD0023, spB, "02", "15", "EXPIRED", "2026-11-22T23:40:00.000Z")
	r.ServiceID = `He said "hi", ok`
	r.SMSCMsgID = "line1\nline2"
	r.FeeTerminalID = " 13800100001"
	add("2026-11-22T23:40:00.000Z", r)

	// 2026-11-23, 00h: SP A; and SP B's record of 22nd written after midnight.
	add("2026-11-23T00:00:01.000Z", mt(0xA7B9E14134FD0024, spB, "02", "10", "DELIVRD", "2026-11-22T23:59:59.999Z"))
	add("2026-11-23T00:30:00.000Z", mt(0xA7B9E14134FD0025, spA, "02", "10", "DELIVRD", "2026-11-23T00:30:00.000Z"))
	add("2026-11-23T00:40:00.000Z", mt(0xA7B9E14134FD0026, spA, "02", "10", "MA:0001", "2026-11-23T00:40:00.000Z"))
	return s
}

func sampleRecords() []Record {
	var out []Record
	for _, x := range sampleSet() {
		out = append(out, x.rec)
	}
	return out
}

// writeSample writes the sample set into dir with a fake clock and closes.
func writeSample(t testing.TB, dir string) {
	t.Helper()
	clock := newClock("2026-11-22T13:00:00.000Z")
	w := openWriter(t, testConfig(t, dir, clock))
	for _, x := range sampleSet() {
		clock.Set(mustTime(x.at))
		if err := w.Write(x.rec); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func timeHours(h int) time.Duration { return time.Duration(h) * time.Hour }
