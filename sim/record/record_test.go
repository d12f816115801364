package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/internal/waitfor"
)

var t0 = time.Date(2026, 11, 22, 14, 30, 0, 123456789, time.UTC)

// samples has one event of every kind, with every field it carries.
var samples = []Event{
	{Ev: EvRun, T: t0, Tool: ToolSPSim, Run: "3f9a1c2b", SP: "901234", Addr: "127.0.0.1:7890", RD: 1},
	{Ev: EvSubmit, T: t0, Key: "3f9a1c2b-17", Dest: "13800138000", Conn: 1},
	{Ev: EvSubmit, T: t0, Key: "3f9a1c2b-17", Dest: "13800138000", Conn: 2, Resend: true},
	{Ev: EvAck, T: t0, Key: "3f9a1c2b-17", MsgID: 1<<63 + 12345, Dest: "13800138000", SubmitT: t0.Add(-time.Millisecond)},
	{Ev: EvReject, T: t0, Key: "3f9a1c2b-18.2", Result: 8},
	{Ev: EvNoResp, T: t0, Key: "3f9a1c2b-19", Err: "cmpp: session closed: \"peer\"\n\x01", Resend: true},
	{Ev: EvReport, T: t0, MsgID: 42, Stat: "DELIVRD", Dest: "13800138000"},
	{Ev: EvConn, T: t0, Conn: 2, State: StateLost, Err: "EOF"},
	{Ev: EvEnd, T: t0},
	{Ev: EvRun, T: t0, Tool: ToolSMSCSim, Run: "0c1d2e3f", SystemID: "smscsim", Addr: "127.0.0.1:2775"},
	{Ev: EvAccept, T: t0, SMSCID: "1a2b3c", ESME: "ismg001001", Src: "10657001", Dest: "13800138000", Key: "3f9a1c2b-17", RD: 1},
	{Ev: EvReceipt, T: t0, SMSCID: "1a2b3c", Key: "3f9a1c2b-17", Stat: "UNDELIV", Dest: "13800138000"},
	{Ev: EvReceiptFailed, T: t0, SMSCID: "1a2b3c", Err: "短信 timeout"},
}

func TestAppendDecodeRoundTrip(t *testing.T) {
	for _, e := range samples {
		line := e.Append(nil)
		if !bytes.HasSuffix(line, []byte("}\n")) || bytes.Count(line, []byte("\n")) != 1 {
			t.Fatalf("%s: not one line: %q", e.Ev, line)
		}
		// It is JSON that encoding/json reads the same way.
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("%s: %q is not JSON: %v", e.Ev, line, err)
		}
		if m["ev"] != e.Ev || m["t"] != "2026-11-22T14:30:00.123456789Z" {
			t.Fatalf("%s: %q", e.Ev, line)
		}
		if e.MsgID != 0 && m["msg_id"] != fmt.Sprint(e.MsgID) {
			t.Fatalf("msg_id written as %v, want the decimal string %d", m["msg_id"], e.MsgID)
		}
		if e.Err != "" && m["err"] != e.Err {
			t.Fatalf("err %q came back as %q", e.Err, m["err"])
		}
		got, err := Decode(line[:len(line)-1])
		if err != nil {
			t.Fatalf("%s: decode %q: %v", e.Ev, line, err)
		}
		if !reflect.DeepEqual(got, e) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, e)
		}
	}
}

// Append allocates nothing once its buffer is large enough: it runs on
// the simulators' hot paths.
func TestAppendAllocs(t *testing.T) {
	buf := make([]byte, 0, 4096)
	e := samples[3]
	if n := testing.AllocsPerRun(1000, func() { buf = e.Append(buf[:0]) }); n != 0 {
		t.Fatalf("allocs = %v, want 0", n)
	}
}

func TestAppendInvalidUTF8(t *testing.T) {
	e := Event{Ev: EvNoResp, T: t0, Key: "k", Err: "a\xffb"}
	got, err := Decode(bytes.TrimSuffix(e.Append(nil), []byte("\n")))
	if err != nil || got.Err != "a\ufffdb" {
		t.Fatalf("%q, %v", got.Err, err)
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		line, field string
	}{
		{`not json`, ""},
		{`[1,2]`, ""},
		{`{"t":"2026-11-22T14:30:00Z"}`, "ev"},
		{`{"ev":"sub","key":"k","dest":"1"}`, "t"},
		{`{"ev":"sub","t":"yesterday","key":"k","dest":"1"}`, "t"},
		{`{"ev":"sub","t":"2026-11-22T14:30:00Z","dest":"1"}`, "key"},
		{`{"ev":"sub","t":"2026-11-22T14:30:00Z","key":"k"}`, "dest"},
		{`{"ev":"ack","t":"2026-11-22T14:30:00Z","key":"k"}`, "msg_id"},
		{`{"ev":"ack","t":"2026-11-22T14:30:00Z","key":"k","msg_id":"-1"}`, "msg_id"},
		{`{"ev":"ack","t":"2026-11-22T14:30:00Z","key":"k","msg_id":"+1"}`, "msg_id"},
		{`{"ev":"ack","t":"2026-11-22T14:30:00Z","key":"k","msg_id":"18446744073709551616"}`, "msg_id"},
		{`{"ev":"ack","t":"2026-11-22T14:30:00Z","key":"k","msg_id":12}`, "msg_id"},
		{`{"ev":"ack","t":"2026-11-22T14:30:00Z","key":"k","msg_id":"1","sub_t":"x"}`, "sub_t"},
		{`{"ev":"rej","t":"2026-11-22T14:30:00Z","key":"k"}`, "result"},
		{`{"ev":"rej","t":"2026-11-22T14:30:00Z","key":"k","result":-8}`, "result"},
		{`{"ev":"rpt","t":"2026-11-22T14:30:00Z","msg_id":"1"}`, "stat"},
		{`{"ev":"conn","t":"2026-11-22T14:30:00Z","state":"up"}`, "conn"},
		{`{"ev":"conn","t":"2026-11-22T14:30:00Z","conn":1}`, "state"},
		{`{"ev":"run","t":"2026-11-22T14:30:00Z","run":"x"}`, "tool"},
		{`{"ev":"run","t":"2026-11-22T14:30:00Z","tool":"spsim"}`, "run"},
		{`{"ev":"acc","t":"2026-11-22T14:30:00Z"}`, "id"},
		{`{"ev":"rcpt","t":"2026-11-22T14:30:00Z","id":"1"}`, "stat"},
		{`{"ev":"rd","t":"2026-11-22T14:30:00Z","rd":300}`, "rd"},
	} {
		_, err := Decode([]byte(tc.line))
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%s: %v, want an error on field %q", tc.line, err, tc.field)
		}
	}
	// An event of a kind this version does not know is kept, not refused.
	e, err := Decode([]byte(`{"ev":"future","t":"2026-11-22T14:30:00Z","x":1}`))
	if err != nil || e.Ev != "future" {
		t.Fatalf("unknown event: %+v %v", e, err)
	}
}

func TestReadTornLastLine(t *testing.T) {
	var b []byte
	for i := range samples {
		b = samples[i].Append(b)
	}
	whole := len(b)
	b = append(b, '\n') // a blank line is skipped
	tornLine := samples[1].Append(nil)
	tornLine = tornLine[:len(tornLine)/2]
	b = append(b, tornLine...)
	var got []Event
	torn, err := Read(bytes.NewReader(b), "sp.jsonl", func(e *Event) error { got = append(got, *e); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, samples) {
		t.Fatalf("events:\n%+v", got)
	}
	if torn.Line != len(samples)+2 || torn.Bytes != len(tornLine) {
		t.Fatalf("torn %+v", torn)
	}
	// Without a torn line, Torn is zero.
	torn, err = Read(bytes.NewReader(b[:whole]), "sp.jsonl", func(*Event) error { return nil })
	if err != nil || torn != (Torn{}) {
		t.Fatalf("%+v %v", torn, err)
	}
}

func TestReadErrors(t *testing.T) {
	good := string(samples[1].Append(nil))
	_, err := Read(strings.NewReader(good+`{"ev":"sub","t":"2026-11-22T14:30:00Z"}`+"\n"+good), "x.jsonl", func(*Event) error { return nil })
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Line != 2 || !strings.Contains(err.Error(), "x.jsonl:2: field key: missing") {
		t.Fatalf("bad middle line: %v", err)
	}
	_, err = Read(strings.NewReader(strings.Repeat("x", MaxLineSize+10)+"\n"), "x.jsonl", func(*Event) error { return nil })
	if !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("long line: %v", err)
	}
	stop := errors.New("stop")
	if _, err := Read(strings.NewReader(good+good), "x", func(*Event) error { return stop }); err != stop {
		t.Fatalf("fn error: %v", err)
	}
	if _, err := ReadFile(filepath.Join(t.TempDir(), "missing"), func(*Event) error { return nil }); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestKeys(t *testing.T) {
	run := NewRunID()
	if !ValidRunID(run) || NewRunID() == run {
		t.Fatalf("run id %q", run)
	}
	for _, tc := range []struct {
		msg        uint64
		seg, total uint8
		want       string
	}{
		{17, 1, 1, run + "-17"},
		{18, 2, 3, run + "-18.2"},
		{0, 255, 255, run + "-0.255"},
	} {
		k := Key(run, tc.msg, tc.seg, tc.total)
		if k != tc.want {
			t.Fatalf("Key = %q, want %q", k, tc.want)
		}
		if got := FindKey("hello " + Prefix(k) + "text TK:" + run + "-99"); got != k {
			t.Fatalf("FindKey found %q, want %q", got, k)
		}
		if len(Prefix(k)) > MaxPrefixLen(tc.msg) {
			t.Fatalf("prefix %q longer than MaxPrefixLen %d", Prefix(k), MaxPrefixLen(tc.msg))
		}
	}
	for _, s := range []string{"", "TK:", "TK:3f9a1c2b", "TK:3f9a1c2b-", "TK:3F9A1C2B-1", "TK:3f9a1c2-1", "TK:zzzzzzzz-1", "tk:3f9a1c2b-1"} {
		if k := FindKey(s); k != "" {
			t.Errorf("FindKey(%q) = %q, want none", s, k)
		}
	}
	if k := FindKey("TK:nope TK:3f9a1c2b-5. rest"); k != "3f9a1c2b-5" {
		t.Fatalf("the first valid key: %q", k)
	}
}

func TestWriterAppendsAndFlushes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rec.jsonl")
	w, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 250 {
				e := Event{Ev: EvSubmit, T: t0, Key: Key("3f9a1c2b", uint64(g*1000+i), 1, 1), Dest: "1"}
				if err := w.Write(&e); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	// The flusher hands the lines to the file without Close.
	waitfor.Cond(t, "1000 lines in the file", func() bool { return countLines(t, path) == 1000 })
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(&samples[0]); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
	// A second writer appends.
	w2, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := w2.Write(&samples[0]); err != nil {
		t.Fatal(err)
	}
	if err := w2.Close(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	torn, err := ReadFile(path, func(e *Event) error { seen[e.Key+e.Ev] = true; return nil })
	if err != nil || torn != (Torn{}) || len(seen) != 1001 {
		t.Fatalf("read back %d distinct events, torn %+v, %v", len(seen), torn, err)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriterErrorIsSticky(t *testing.T) {
	w := NewWriter(failingWriter{})
	_ = w.Write(&samples[0])
	if err := w.Flush(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("flush: %v", err)
	}
	if err := w.Write(&samples[0]); err == nil || w.Err() == nil {
		t.Fatal("write after a failed write succeeded")
	}
	if err := w.Close(); err == nil {
		t.Fatal("close hid the write error")
	}
}

func countLines(t *testing.T, path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte("\n"))
}

// childEnv makes the test binary play a recording process that is then
// killed.
const childEnv = "RECORD_TEST_CHILD_FILE"

func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		childWrite(path)
		return
	}
	os.Exit(m.Run())
}

// childWrite records events as fast as it can until it is killed.
func childWrite(path string) {
	w, err := Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for i := uint64(0); ; i++ {
		e := Event{Ev: EvAck, T: time.Now(), Key: Key("3f9a1c2b", i, 1, 1), MsgID: i + 1, Dest: "13800138000", SubmitT: time.Now()}
		if err := w.Write(&e); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}

// A process killed with SIGKILL while it records leaves a file whose
// lines are whole, except at most the last, which Read skips and reports.
func TestRecordSurvivesSIGKILL(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "killed.jsonl")
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	cmd.Stderr = t.Output()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitfor.Cond(t, "the child to record a megabyte of events", func() bool {
		st, err := os.Stat(path)
		return err == nil && st.Size() > 1<<20
	})
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	var n uint64
	torn, err := ReadFile(path, func(e *Event) error {
		n++
		if e.MsgID != n {
			return fmt.Errorf("event %d has Msg_Id %d: a line went missing", n, e.MsgID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 1000 {
		t.Fatalf("only %d events read back", n)
	}
	t.Logf("%d events whole after SIGKILL, torn tail %+v", n, torn)
}
