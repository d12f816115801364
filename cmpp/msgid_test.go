package cmpp

import (
	"errors"
	"sync"
	"testing"
	"time"
)

func TestMsgIDExamples(t *testing.T) {
	for _, c := range []struct {
		id   uint64
		want MsgID
	}{
		{0xA7B9E14134FD0001, MsgID{Month: 10, Day: 15, Hour: 14, Minute: 30, Second: 5, Gateway: 79101, Seq: 1}},
		{0xB2B9DA8000010000, MsgID{Month: 11, Day: 5, Hour: 14, Minute: 29, Second: 42, Gateway: 1, Seq: 0}},
	} {
		if got := UnpackMsgID(c.id); got != c.want {
			t.Errorf("UnpackMsgID(%#x) = %+v, want %+v", c.id, got, c.want)
		}
		if got := c.want.Pack(); got != c.id {
			t.Errorf("%+v.Pack() = %#x, want %#x", c.want, got, c.id)
		}
	}
	at := time.Date(2024, 10, 15, 14, 30, 5, 999, time.UTC)
	if got := MakeMsgID(at, 79101, 1); got != 0xA7B9E14134FD0001 {
		t.Errorf("MakeMsgID = %#x", got)
	}
	if s := UnpackMsgID(0xA7B9E14134FD0001).String(); s != "10-15 14:30:05 gw 079101 seq 1" {
		t.Errorf("String() = %q", s)
	}
	// Every field at its maximum survives a round trip; wider values are masked.
	max := MsgID{Month: 15, Day: 31, Hour: 31, Minute: 63, Second: 63, Gateway: 1<<22 - 1, Seq: 65535}
	if got := UnpackMsgID(max.Pack()); got != max || max.Pack() != ^uint64(0) {
		t.Errorf("max: %+v %#x", got, max.Pack())
	}
	if got := UnpackMsgID(MsgID{Gateway: 1 << 22}.Pack()); got.Gateway != 0 || got.Seq != 0 {
		t.Errorf("gateway not masked: %+v", got)
	}
}

func TestGatewayCode(t *testing.T) {
	for s, want := range map[string]uint32{"079101": 79101, "001001": 1001, "999999": 999999, "4194303": 4194303} {
		if got, err := GatewayCode(s); err != nil || got != want {
			t.Errorf("GatewayCode(%q) = %d, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "07910a", "4194304", "12345678", "-1"} {
		if _, err := GatewayCode(s); !errors.Is(err, ErrBadGatewayCode) {
			t.Errorf("GatewayCode(%q) err = %v", s, err)
		}
	}
}

// fakeClock is a settable clock for the generator.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

var genStart = time.Date(2024, 10, 15, 14, 30, 5, 0, time.UTC)

// msgIDSecond returns the unix second a Msg_Id was stamped with, assuming
// year 2024 in UTC as the tests' clocks do.
func msgIDSecond(id uint64) int64 {
	m := UnpackMsgID(id)
	return time.Date(2024, time.Month(m.Month), int(m.Day), int(m.Hour), int(m.Minute), int(m.Second), 0, time.UTC).Unix()
}

func TestMsgIDGeneratorFields(t *testing.T) {
	clk := &fakeClock{t: genStart}
	g := NewMsgIDGenerator(79101, clk.now, time.Time{})
	if id := g.Next(); id != 0xA7B9E14134FD0000 {
		t.Fatalf("first id %#x (%v)", id, UnpackMsgID(id))
	}
	if id := g.Next(); id != 0xA7B9E14134FD0001 {
		t.Fatalf("second id %#x", id)
	}
	clk.set(genStart.Add(time.Minute))
	if m := UnpackMsgID(g.Next()); m.Minute != 31 || m.Second != 5 || m.Seq != 0 {
		t.Fatalf("after a minute: %v", m)
	}
}

// TestMsgIDGeneratorExhaustsSecond: with the clock stopped, the 65537th id
// moves to the next second instead of wrapping onto the first.
func TestMsgIDGeneratorExhaustsSecond(t *testing.T) {
	clk := &fakeClock{t: genStart}
	g := NewMsgIDGenerator(79101, clk.now, time.Time{})
	seen := make(map[uint64]bool, 3*65536)
	prev := uint64(0)
	for i := range 3*65536 + 10 {
		id := g.Next()
		if seen[id] {
			t.Fatalf("id %d repeated: %v", i, UnpackMsgID(id))
		}
		seen[id] = true
		if i > 0 && id <= prev && msgIDSecond(id) <= msgIDSecond(prev) {
			t.Fatalf("id %d went backwards: %v after %v", i, UnpackMsgID(id), UnpackMsgID(prev))
		}
		prev = id
	}
	if got, want := msgIDSecond(prev)-genStart.Unix(), int64(3); got != want {
		t.Errorf("borrowed %d seconds, want %d", got, want)
	}
	if hw := g.HighWater(); !hw.Equal(genStart.Add(3 * time.Second)) {
		t.Errorf("HighWater = %v", hw)
	}
}

// TestMsgIDGeneratorClockBack: a clock stepped backwards does not reissue.
func TestMsgIDGeneratorClockBack(t *testing.T) {
	clk := &fakeClock{t: genStart}
	g := NewMsgIDGenerator(1, clk.now, time.Time{})
	a := g.Next()
	clk.set(genStart.Add(-time.Hour))
	b := g.Next()
	if b == a || msgIDSecond(b) != genStart.Unix() || UnpackMsgID(b).Seq != 1 {
		t.Errorf("after clock step back: %v then %v", UnpackMsgID(a), UnpackMsgID(b))
	}
}

// TestMsgIDGeneratorRestart: a new generator built with the previous one's
// HighWater never repeats its ids, also within the same second and after
// the previous run borrowed from the future.
func TestMsgIDGeneratorRestart(t *testing.T) {
	for _, n := range []int{1, 1000, 70000} {
		clk := &fakeClock{t: genStart}
		g1 := NewMsgIDGenerator(79101, clk.now, time.Time{})
		seen := map[uint64]bool{}
		for range n {
			seen[g1.Next()] = true
		}
		g2 := NewMsgIDGenerator(79101, clk.now, g1.HighWater()) // restart within the same second
		for range 1000 {
			if id := g2.Next(); seen[id] {
				t.Fatalf("n=%d: restarted generator repeated %v", n, UnpackMsgID(id))
			}
		}
		if first, _ := NewMsgIDGenerator(79101, clk.now, g1.HighWater()).NextN(1); msgIDSecond(first) != g1.HighWater().Unix()+1 {
			t.Errorf("n=%d: restart resumed at %v, HighWater %v", n, UnpackMsgID(first), g1.HighWater())
		}
	}
}

// TestMsgIDGeneratorConcurrent hands out ids from several goroutines and
// checks they are all distinct, with the clock frozen so that the
// sequence space runs out and the carry path is raced too.
func TestMsgIDGeneratorConcurrent(t *testing.T) {
	clk := &fakeClock{t: genStart}
	g := NewMsgIDGenerator(79101, clk.now, time.Time{})
	const workers, each = 4, 40000
	out := make([][]uint64, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			ids := make([]uint64, 0, each)
			for i := range each {
				if i%10 == 0 {
					first, err := g.NextN(5)
					if err != nil {
						t.Error(err)
						return
					}
					for k := range uint64(5) {
						ids = append(ids, first+k)
					}
					continue
				}
				ids = append(ids, g.Next())
			}
			out[w] = ids
		})
	}
	wg.Wait()
	seen := map[uint64]bool{}
	for _, ids := range out {
		for _, id := range ids {
			if seen[id] {
				t.Fatalf("duplicate %v", UnpackMsgID(id))
			}
			seen[id] = true
		}
	}
}

// TestMsgIDGeneratorNextN: a group never straddles a sequence wrap, so the
// ids really are first..first+n-1.
func TestMsgIDGeneratorNextN(t *testing.T) {
	clk := &fakeClock{t: genStart}
	g := NewMsgIDGenerator(79101, clk.now, time.Time{})
	for range 65530 {
		g.Next()
	}
	first, err := g.NextN(99)
	if err != nil {
		t.Fatal(err)
	}
	m := UnpackMsgID(first)
	if m.Seq != 0 || msgIDSecond(first) != genStart.Unix()+1 {
		t.Errorf("group start %v, want seq 0 of the next second", m)
	}
	if last := UnpackMsgID(first + 98); last.Seq != 98 || last.Second != m.Second {
		t.Errorf("group end %v", last)
	}
	if next := UnpackMsgID(g.Next()); next.Seq != 99 || next.Second != m.Second {
		t.Errorf("after group %v", next)
	}
	if full, err := g.NextN(65536); err != nil || UnpackMsgID(full).Seq != 0 {
		t.Errorf("NextN(65536) = %v, %v", UnpackMsgID(full), err)
	}
	for _, n := range []int{0, -1, 65537} {
		if _, err := g.NextN(n); !errors.Is(err, ErrMsgIDCount) {
			t.Errorf("NextN(%d) err = %v", n, err)
		}
	}
}

func TestMsgIDGeneratorHighWaterZero(t *testing.T) {
	g := NewMsgIDGenerator(1, time.Now, time.Time{})
	if hw := g.HighWater(); !hw.IsZero() {
		t.Errorf("HighWater before any id = %v, want zero", hw)
	}
}

func TestMsgIDGeneratorLocation(t *testing.T) {
	cst := time.FixedZone("CST", 8*3600)
	at := time.Date(2024, 10, 15, 22, 0, 0, 0, cst) // 14:00 UTC
	g := NewMsgIDGenerator(1, func() time.Time { return at }, time.Time{})
	if m := UnpackMsgID(g.Next()); m.Hour != 22 {
		t.Errorf("hour %d, want the clock's local 22", m.Hour)
	}
}

// With a ceiling, no id is handed out in a second beyond it: the 65,537th
// id of the last reserved second is refused, and raising the ceiling lets
// the generator carry on into the next second.
func TestMsgIDGeneratorCeiling(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	g := NewMsgIDGenerator(79101, func() time.Time { return now }, time.Time{})
	g.SetCeiling(now)
	for i := range 1 << 16 {
		if _, err := g.NextN(1); err != nil {
			t.Fatalf("id %d of the reserved second: %v", i, err)
		}
	}
	if _, err := g.NextN(1); !errors.Is(err, ErrMsgIDReserve) {
		t.Fatalf("id past the ceiling: err %v, want ErrMsgIDReserve", err)
	}
	if id := g.Next(); id != 0 {
		t.Fatalf("Next past the ceiling = %#x, want 0", id)
	}
	g.SetCeiling(now.Add(-time.Hour)) // lowering is ignored
	if !g.Ceiling().Equal(now) {
		t.Fatalf("ceiling %v, want %v", g.Ceiling(), now)
	}
	g.SetCeiling(now.Add(time.Second))
	id, err := g.NextN(1)
	if err != nil {
		t.Fatal(err)
	}
	if m := UnpackMsgID(id); m.Second != 1 || m.Seq != 0 {
		t.Fatalf("first id after raising the ceiling: %v, want second 1 seq 0", m)
	}
	// A clock beyond the ceiling (the reservation fell behind) is refused
	// too, not issued.
	now = now.Add(time.Minute)
	if _, err := g.NextN(3); !errors.Is(err, ErrMsgIDReserve) {
		t.Fatalf("clock past the ceiling: err %v", err)
	}
}
