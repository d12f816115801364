package smstext

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func newTestReassembler(t testing.TB) *Reassembler {
	t.Helper()
	cfg := DefaultReassemblerConfig()
	cfg.TTL = time.Minute
	r, err := NewReassembler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func part(ref uint16, total, seq uint8, data string) Segment {
	return Segment{Data: []byte(data), Ref: ref, Total: total, Seq: seq}
}

func TestReassemblerConfigValidate(t *testing.T) {
	if err := DefaultReassemblerConfig().Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	for _, mut := range []func(*ReassemblerConfig){
		func(c *ReassemblerConfig) { c.TTL = 0 },
		func(c *ReassemblerConfig) { c.MaxPending = 0 },
		func(c *ReassemblerConfig) { c.MaxParts = 0 },
		func(c *ReassemblerConfig) { c.MaxParts = 256 },
		func(c *ReassemblerConfig) { c.MaxBytes = -1 },
	} {
		cfg := DefaultReassemblerConfig()
		mut(&cfg)
		if _, err := NewReassembler(cfg); err == nil {
			t.Errorf("config %+v accepted", cfg)
		}
	}
}

func TestReassemblerBasics(t *testing.T) {
	r := newTestReassembler(t)
	now := time.Unix(100, 0)

	// A single-part message completes at once and is copied.
	data := []byte("whole")
	msg, done, err := r.Add("a", Segment{Data: data, Total: 1, Seq: 1}, now)
	if err != nil || !done || string(msg) != "whole" {
		t.Fatalf("single: %q %v %v", msg, done, err)
	}
	data[0] = 'X'
	if string(msg) != "whole" {
		t.Fatal("single-part result aliases the input")
	}

	// Parts are copied on Add: the caller may reuse its read buffer.
	buf := []byte("one-")
	if _, done, err := r.Add("b", Segment{Data: buf, Ref: 9, Total: 3, Seq: 1}, now); done || err != nil {
		t.Fatalf("part 1: %v %v", done, err)
	}
	copy(buf, "XXXX")
	if _, _, err := r.Add("b", part(9, 3, 3, "three"), now); err != nil {
		t.Fatal(err)
	}
	// Duplicate: ignored and counted, even with other data.
	if msg, done, err := r.Add("b", part(9, 3, 3, "other"), now); msg != nil || done || err != nil {
		t.Fatalf("duplicate: %q %v %v", msg, done, err)
	}
	msg, done, err = r.Add("b", part(9, 3, 2, "two-"), now)
	if err != nil || !done || string(msg) != "one-two-three" {
		t.Fatalf("complete: %q %v %v", msg, done, err)
	}
	// A late duplicate after completion starts a new set (and would expire).
	if _, done, err := r.Add("b", part(9, 3, 2, "two-"), now); done || err != nil {
		t.Fatalf("late duplicate: %v %v", done, err)
	}
	st := r.Stats()
	want := ReassemblerStats{Pending: 1, PendingBytes: 4 + setCost("b", 3), Completed: 2, Duplicates: 1}
	if st != want {
		t.Fatalf("stats = %+v, want %+v", st, want)
	}
}

func TestReassemblerRejects(t *testing.T) {
	cfg := DefaultReassemblerConfig()
	cfg.MaxPending, cfg.MaxParts = 2, 4
	cfg.MaxBytes = setCost("a", 3) + 2*setCost("b", 2) + 10
	r, err := NewReassembler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(0, 0)
	if _, _, err := r.Add("a", part(1, 3, 1, "aa"), now); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		key  string
		p    Segment
		is   error
	}{
		{"total 0", "x", part(1, 0, 1, ""), ErrBadPart},
		{"seq 0", "x", part(1, 2, 0, ""), ErrBadPart},
		{"seq beyond total", "x", part(1, 2, 3, ""), ErrBadPart},
		{"too many parts", "x", part(1, 5, 1, ""), ErrBadPart},
		{"conflicting total", "a", part(1, 2, 2, "b"), ErrConflict},
		{"conflicting ref", "a", part(2, 3, 2, "b"), ErrConflict},
		{"byte budget", "a", part(1, 3, 2, strings.Repeat("x", cfg.MaxBytes-setCost("a", 3)-2+1)), ErrFull},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, done, err := r.Add(tt.key, tt.p, now)
			if !errors.Is(err, tt.is) || msg != nil || done {
				t.Fatalf("err = %v, want %v", err, tt.is)
			}
		})
	}
	if _, _, err := r.Add("b", part(1, 2, 1, "bb"), now); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Add("c", part(1, 2, 1, "cc"), now); !errors.Is(err, ErrFull) || !strings.Contains(err.Error(), "sets pending") {
		t.Fatalf("MaxPending: err = %v", err)
	}
	st := r.Stats()
	if st.Rejected != uint64(len(tests))+1 || st.Pending != 2 || st.PendingBytes != setCost("a", 3)+setCost("b", 2)+4 {
		t.Fatalf("stats = %+v", st)
	}
	// Completing a set frees its room.
	if _, done, err := r.Add("b", part(1, 2, 2, "BB"), now); !done || err != nil {
		t.Fatalf("complete b: %v %v", done, err)
	}
	if _, _, err := r.Add("c", part(1, 2, 1, "cc"), now); err != nil {
		t.Fatalf("after completion: %v", err)
	}
}

func TestReassemblerExpiryOrder(t *testing.T) {
	r := newTestReassembler(t)
	t0 := time.Unix(0, 0)
	// Times slightly out of order, as from several goroutines.
	for i, off := range []time.Duration{3, 1, 2, 0} {
		key := fmt.Sprintf("k%d", i)
		if _, _, err := r.Add(key, part(uint16(i), 3, 1, key), t0.Add(off*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	// A second part refreshes nothing: TTL counts from the first part.
	if _, _, err := r.Add("k3", part(3, 3, 2, "two"), t0.Add(50*time.Second)); err != nil {
		t.Fatal(err)
	}
	got := r.Expire(t0.Add(time.Minute + 1500*time.Millisecond))
	var keys []string
	for _, in := range got {
		keys = append(keys, in.Key)
		want := "[2 3]"
		if in.Key == "k3" {
			want = "[3]"
		}
		if m := fmt.Sprint(in.Missing()); m != want {
			t.Fatalf("%s missing %v, want %v", in.Key, m, want)
		}
	}
	if fmt.Sprint(keys) != "[k3 k1]" {
		t.Fatalf("expired %v, want [k3 k1]", keys)
	}
	if got := r.Expire(t0.Add(time.Hour)); len(got) != 2 || r.Len() != 0 {
		t.Fatalf("second expiry: %d sets, %d left", len(got), r.Len())
	}
	if st := r.Stats(); st.Expired != 4 || st.PendingBytes != 0 {
		t.Fatalf("stats = %+v", st)
	}
}

// Many goroutines feeding interleaved sets; run with -race.
func TestReassemblerConcurrent(t *testing.T) {
	r := newTestReassembler(t)
	now := time.Unix(0, 0)
	const sets, parts = 64, 5
	results := make(chan []byte, sets)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for s := range sets {
				for p := range parts {
					if (s+p)%4 != w {
						continue
					}
					data := fmt.Sprintf("%02d.%d;", s, p)
					msg, done, err := r.Add(fmt.Sprint(s), part(uint16(s), parts, uint8(p+1), data), now)
					if err != nil {
						t.Error(err)
						return
					}
					if done {
						results <- msg
					}
				}
			}
		})
	}
	wg.Wait()
	close(results)
	n := 0
	for msg := range results {
		n++
		var s int
		if _, err := fmt.Sscanf(string(msg), "%02d.", &s); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("%02d.0;%02d.1;%02d.2;%02d.3;%02d.4;", s, s, s, s, s)
		if !bytes.Equal(msg, []byte(want)) {
			t.Fatalf("set %d = %q", s, msg)
		}
	}
	if n != sets || r.Len() != 0 {
		t.Fatalf("%d sets completed, %d pending", n, r.Len())
	}
}

func TestReassemblyKey(t *testing.T) {
	a := ReassemblyKey("8613800138000", "10661234", 0xA5, 2)
	if a != "8613800138000\x0010661234\x00165\x002" {
		t.Fatalf("key = %q", a)
	}
	if ReassemblyKey("a|b", "c", 1, 2) == ReassemblyKey("a", "b|c", 1, 2) {
		t.Fatal("separator ambiguity")
	}
	if ReassemblyKey("a", "b", 1, 2) == ReassemblyKey("a", "b", 1, 3) || ReassemblyKey("a", "b", 1, 2) == ReassemblyKey("a", "b", 2, 2) {
		t.Fatal("ref/total not in key")
	}
}

// A flood of first parts that never complete is bounded by MaxBytes even
// though each part is tiny.
func TestReassemblerFloodBounded(t *testing.T) {
	cfg := DefaultReassemblerConfig()
	cfg.MaxParts = MaxSegments
	cfg.MaxBytes = 1 << 20
	r, err := NewReassembler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(0, 0)
	accepted := 0
	for i := range 100_000 {
		_, _, err := r.Add(fmt.Sprint(i), part(uint16(i), 255, 1, "x"), now)
		if errors.Is(err, ErrFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		accepted++
	}
	st := r.Stats()
	if accepted == 0 || accepted == 100_000 || st.PendingBytes > cfg.MaxBytes {
		t.Fatalf("accepted %d sets, %d bytes pending (limit %d)", accepted, st.PendingBytes, cfg.MaxBytes)
	}
	// Expiry gives the room back.
	if got := r.Expire(now.Add(cfg.TTL)); len(got) != accepted {
		t.Fatalf("expired %d of %d", len(got), accepted)
	}
	if st := r.Stats(); st.PendingBytes != 0 || st.Pending != 0 {
		t.Fatalf("after expiry: %+v", st)
	}
}
