package lincheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Hand-made histories. Times are in milliseconds from the start of the
// run; every op is client i's, through node 0 unless set.
func w(client int, key, tag string, call, ret int) Op {
	return Op{Client: client, Kind: Write, Key: key, Value: Value{Choice: "001001", Tag: tag}, Outcome: OK, Call: ms(call), Return: ms(ret)}
}

func r(client int, key, tag string, call, ret int) Op {
	v := Value{}
	if tag != "" {
		v = Value{Choice: "001001", Tag: tag}
	}
	return Op{Client: client, Kind: Read, Key: key, Value: v, Outcome: OK, Call: ms(call), Return: ms(ret)}
}

func unknown(op Op) Op {
	op.Outcome, op.Err = Unknown, "deadline exceeded"
	return op
}

func failed(op Op) Op {
	op.Outcome, op.Err = Failed, "connection refused"
	return op
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func history(ops ...Op) *History {
	h := &History{Nodes: []string{"n1", "n2", "n3"}, Clients: 3, Ops: ops}
	for _, op := range ops {
		h.Elapsed = max(h.Elapsed, op.Return)
	}
	return h
}

// The violation the checker exists for: a write is acknowledged, and a
// read that starts after the acknowledgement still sees the old value (a
// follower answering from its own lagging table). The check must say so,
// and draw it.
func TestCheckCatchesStaleRead(t *testing.T) {
	h := history(
		r(0, "k", "", 0, 5),        // the key is empty
		w(1, "k", "a", 10, 20),     // write a, acknowledged at 20
		r(2, "k", "", 30, 40),      // starts after the ack, sees nothing: stale
		w(0, "other", "x", 0, 100), // another key, fine on its own
	)
	out := filepath.Join(t.TempDir(), "history.html")
	res, err := Check(h, CheckOptions{VisualizePath: out})
	if err != nil {
		t.Fatal(err)
	}
	if res.Linearizable || res.Verdict != NotLinearizable {
		t.Fatalf("verdict %q (linearizable %v), want %q", res.Verdict, res.Linearizable, NotLinearizable)
	}
	if res.Checked != 4 || res.WritesOK != 2 || res.ReadsOK != 2 {
		t.Errorf("counts: checked %d, writes ok %d, reads ok %d; want 4, 2, 2", res.Checked, res.WritesOK, res.ReadsOK)
	}
	if res.Visualization != out {
		t.Errorf("Visualization = %q, want %q", res.Visualization, out)
	}
	html, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("visualization not written: %v", err)
	}
	for _, want := range []string{"<html", "put(k, 001001/a)", "get(k) → (none)"} {
		if !strings.Contains(string(html), want) {
			t.Errorf("visualization lacks %q", want)
		}
	}
	if !strings.HasPrefix(res.Summary(), "NOT LINEARIZABLE: 4 ops checked") {
		t.Errorf("summary: %s", res.Summary())
	}
}

func TestCheckHistories(t *testing.T) {
	cases := []struct {
		name string
		ops  []Op
		want Verdict
	}{
		{"empty", nil, Linearizable},
		{"read your write", []Op{w(0, "k", "a", 0, 10), r(0, "k", "a", 11, 20)}, Linearizable},
		{"concurrent read sees the old value", []Op{r(1, "k", "", 0, 1), w(0, "k", "a", 5, 20), r(1, "k", "", 10, 15)}, Linearizable},
		{"concurrent read sees the new value", []Op{r(1, "k", "", 0, 1), w(0, "k", "a", 5, 20), r(1, "k", "a", 10, 15)}, Linearizable},
		{"the initial value is whatever the first read saw", []Op{r(0, "k", "old", 0, 1), r(1, "k", "old", 2, 3), w(0, "k", "a", 4, 5), r(1, "k", "a", 6, 7)}, Linearizable},
		{"reads disagree on the initial value", []Op{r(0, "k", "old", 0, 1), r(1, "k", "older", 2, 3)}, NotLinearizable},
		{"read of a value never written, after a write", []Op{w(0, "k", "a", 0, 10), r(1, "k", "zz", 20, 30)}, NotLinearizable},
		{"reads go back in time", []Op{w(0, "k", "a", 0, 10), w(0, "k", "b", 20, 30), r(1, "k", "b", 40, 50), r(2, "k", "a", 60, 70)}, NotLinearizable},
		{"a later write wins", []Op{w(0, "k", "a", 0, 10), w(1, "k", "b", 20, 30), r(2, "k", "b", 40, 50)}, Linearizable},
		{"concurrent writes, either order", []Op{w(0, "k", "a", 0, 30), w(1, "k", "b", 10, 20), r(2, "k", "a", 40, 50), r(2, "k", "a", 60, 70)}, Linearizable},
		{"unknown write never seen", []Op{w(0, "k", "a", 0, 10), unknown(w(1, "k", "b", 20, 30)), r(2, "k", "a", 40, 50)}, Linearizable},
		{"unknown write seen long after its client gave up", []Op{w(0, "k", "a", 0, 10), unknown(w(1, "k", "b", 20, 30)), r(2, "k", "a", 40, 50), r(2, "k", "b", 90, 95)}, Linearizable},
		{"unknown write seen, then unseen", []Op{w(0, "k", "a", 0, 10), unknown(w(1, "k", "b", 20, 30)), r(2, "k", "b", 40, 50), r(2, "k", "a", 60, 70)}, NotLinearizable},
		{"a failed write is left out, so seeing it is a violation", []Op{w(0, "k", "a", 0, 10), failed(w(1, "k", "b", 20, 30)), r(2, "k", "b", 40, 50)}, NotLinearizable},
		{"failed and stale reads are not checked", []Op{w(0, "k", "a", 0, 10), failed(r(1, "k", "", 20, 30)), {Kind: StaleRead, Key: "k", Outcome: OK, Call: ms(40), Return: ms(50)}}, Linearizable},
		{"keys are independent", []Op{w(0, "k", "a", 0, 10), r(1, "j", "", 20, 30), r(1, "k", "a", 40, 50)}, Linearizable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := Check(history(c.ops...), CheckOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != c.want {
				t.Fatalf("verdict %q, want %q", res.Verdict, c.want)
			}
		})
	}
}

func TestCheckCounts(t *testing.T) {
	ops := []Op{
		w(0, "k", "a", 0, 10), unknown(w(1, "k", "b", 20, 30)), failed(w(2, "k", "c", 0, 1)),
		r(0, "k", "a", 11, 12), failed(r(1, "k", "", 40, 41)),
		{Client: 2, Node: 2, Kind: StaleRead, Key: "k", Outcome: OK, Call: ms(2), Return: ms(3)},
	}
	ops[1].Node, ops[3].Node = 1, 2
	res, err := Check(history(ops...), CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := Counts{WritesOK: 1, WritesUnknown: 1, WritesFailed: 1, ReadsOK: 1, ReadsFailed: 1, StaleOK: 1}
	if res.Counts != want {
		t.Errorf("counts %+v, want %+v", res.Counts, want)
	}
	if res.Checked != 3 {
		t.Errorf("checked %d, want 3 (ok write, unknown write, ok read)", res.Checked)
	}
	perNode := map[string]Counts{}
	for _, n := range res.Nodes {
		perNode[n.Node] = n.Counts
	}
	if perNode["n2"].WritesUnknown != 1 || perNode["n3"].ReadsOK != 1 || perNode["n3"].StaleOK != 1 || perNode["n1"].WritesOK != 1 {
		t.Errorf("per node: %+v", res.Nodes)
	}
	if len(res.Errors) != 2 || res.Errors[0] != (ErrorCount{Err: "connection refused", Count: 2}) {
		t.Errorf("errors: %+v", res.Errors)
	}
}
