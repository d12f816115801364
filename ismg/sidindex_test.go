package ismg

import "testing"

// remap restores only the parts of an await record not yet receipted.
func TestSIDIndexRemap(t *testing.T) {
	var x sidIndex
	x.init()
	x.remap(7, "a1 a2 a3", "a2")
	x.remap(8, "b1", "")
	for sid, want := range map[string]uint64{"a1": 7, "a3": 7, "b1": 8} {
		if id, ok := x.mappedID(sid); !ok || id != want {
			t.Errorf("mappedID(%q) = %d, %v; want %d", sid, id, ok, want)
		}
	}
	if _, ok := x.mappedID("a2"); ok {
		t.Error("a receipted part was mapped again")
	}
}
