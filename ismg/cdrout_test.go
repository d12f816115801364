package ismg

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/billing"
	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/ismg/queue"
)

// cdrLines returns every record line of the node's CDR files.
func cdrLines(t *testing.T, dir string) [][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.csv"))
	if err != nil || len(files) == 0 {
		t.Fatalf("CDR files in %s: %v %v", dir, files, err)
	}
	var lines [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range bytes.SplitAfter(b, []byte("\n")) {
			if len(l) > 0 && string(l) != billing.Header {
				lines = append(lines, l)
			}
		}
	}
	return lines
}

// TestCDROutboxFilesOnce: a crash between the CDR file's fsync and the
// removal of those lines from the store leaves them in both. Here the
// store is given back the last three lines of the file (and one line never
// filed) while the node is down; the restarted node files the new line and
// drops the three, so every record is in the files exactly once.
func TestCDROutboxFilesOnce(t *testing.T) {
	e := newEnv(t, nil)
	c := mustSP(t, e.node.CMPPAddr(), cmpp.V30)
	for i := range 5 {
		if r := c.submit(t, submitPDU(bjNumber, 0, []byte(fmt.Sprintf("bill me %d", i)))); r.Result != 0 {
			t.Fatalf("SUBMIT %d: Result %d", i, r.Result)
		}
	}
	waitFiled(t, e.node)
	e.stop()
	before := cdrLines(t, e.cfg.Billing.Dir)
	if len(before) < 5 {
		t.Fatalf("%d CDR lines filed, want the 5 MT records at least", len(before))
	}

	fresh := billing.Record{
		Kind: billing.KindMT, Direction: billing.DirLocal, MsgID: 0x0102030405060708, SPID: testSP,
		Src: "1065", Dest: "13800138009", Segments: 1, SegmentNo: 1, HandlingGateway: e.cfg.Gateway.Code,
		SubmitTime: time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC),
	}
	freshLine, err := fresh.AppendCSV(nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := queue.Open(filepath.Join(e.cfg.DataDir, "ismg.db"), queue.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	var ops []queue.Op
	for i, l := range before[len(before)-3:] {
		ops = append(ops, queue.Enqueue(qCDR, uint64(i+1), time.Time{}, l))
	}
	ops = append(ops, queue.Enqueue(qCDR, 4, time.Time{}, freshLine))
	if err := st.Commit(t.Context(), ops...); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	e2 := startNode(t, e.cfg)
	waitFiled(t, e2.node)
	e2.stop()
	seen := map[string]int{}
	for _, l := range cdrLines(t, e.cfg.Billing.Dir) {
		seen[string(l)]++
	}
	for _, l := range append(before, freshLine) {
		if seen[string(l)] != 1 {
			t.Errorf("CDR line filed %d times, want once: %s", seen[string(l)], l)
		}
	}
}
