package cmpp

import (
	"errors"
	"testing"
	"time"
)

// TestNodeMsgIDsNeverCollide: two nodes of one gateway (1 node bit), run
// through 3 seconds' worth of ids each with the clock stopped, issue no
// id twice between them; each carries its index in the sequence's top
// bit and borrows the next second after 32,768 ids.
func TestNodeMsgIDsNeverCollide(t *testing.T) {
	clk := &fakeClock{t: genStart}
	a, err := NewNodeMsgIDGenerator(79101, 0, 1, clk.now, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewNodeMsgIDGenerator(79101, 1, 1, clk.now, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if a.PerSecond() != 32768 {
		t.Fatalf("PerSecond = %d, want 32768", a.PerSecond())
	}
	seen := make(map[uint64]string, 6*32768)
	for i := range 3*32768 + 5 {
		for _, g := range []struct {
			name  string
			gen   *MsgIDGenerator
			index uint16
		}{{"a", a, 0}, {"b", b, 1}} {
			id, err := g.gen.NextN(1)
			if err != nil {
				t.Fatal(err)
			}
			if who, dup := seen[id]; dup {
				t.Fatalf("id %v of %s (draw %d) already issued by %s", UnpackMsgID(id), g.name, i, who)
			}
			seen[id] = g.name
			m := UnpackMsgID(id)
			if m.Seq>>15 != g.index || m.Gateway != 79101 {
				t.Fatalf("%s's id %v: want node %d in the top bit", g.name, m, g.index)
			}
		}
	}
	if got := msgIDSecond(a.Next()) - genStart.Unix(); got != 3 {
		t.Errorf("node a borrowed %d seconds, want 3", got)
	}
}

// TestNodeMsgIDGroupAndCeiling: a group send stays within one node's
// share of a second, and the ceiling holds with node bits as without.
func TestNodeMsgIDGroupAndCeiling(t *testing.T) {
	clk := &fakeClock{t: genStart}
	g, err := NewNodeMsgIDGenerator(79101, 3, 2, clk.now, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	g.SetCeiling(genStart)
	first, err := g.NextN(16000)
	if err != nil {
		t.Fatal(err)
	}
	if m := UnpackMsgID(first); m.Seq != 3<<14 {
		t.Fatalf("first of group: %v", m)
	}
	// 16384 per second: the next 1000 do not fit in this second, which is
	// the last reserved one.
	if _, err := g.NextN(1000); !errors.Is(err, ErrMsgIDReserve) {
		t.Fatalf("past the ceiling: err %v, want ErrMsgIDReserve", err)
	}
	if _, err := g.NextN(16385); !errors.Is(err, ErrMsgIDCount) {
		t.Fatalf("group larger than a node's second: err %v", err)
	}
	g.SetCeiling(genStart.Add(time.Second))
	id, err := g.NextN(1000)
	if err != nil || msgIDSecond(id) != genStart.Unix()+1 || UnpackMsgID(id).Seq != 3<<14 {
		t.Fatalf("after raising the ceiling: %v, %v", UnpackMsgID(id), err)
	}
	// A restart resumes after the persisted second.
	r, _ := NewNodeMsgIDGenerator(79101, 3, 2, clk.now, g.HighWater())
	if id := r.Next(); msgIDSecond(id) != genStart.Unix()+2 {
		t.Fatalf("restart: %v", UnpackMsgID(id))
	}
	for _, c := range []struct{ index, bits uint }{{2, 1}, {0, 9}, {4, 2}} {
		if _, err := NewNodeMsgIDGenerator(1, c.index, c.bits, clk.now, time.Time{}); !errors.Is(err, ErrBadNodeIndex) {
			t.Errorf("index %d bits %d: err %v", c.index, c.bits, err)
		}
	}
}
