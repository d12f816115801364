package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/sim/record"
	"github.com/tandem-sms/tandem/smpp"
)

const timeout = 10 * time.Second

// lockedBuffer is written by run's goroutines while the test reads it.
type lockedBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	written chan struct{} // closed and replaced on every write
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.written != nil {
		close(b.written)
		b.written = nil
	}
	return b.b.Write(p)
}

// waitFor waits until the output contains s.
func (b *lockedBuffer) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		b.mu.Lock()
		if strings.Contains(b.b.String(), s) {
			b.mu.Unlock()
			return
		}
		if b.written == nil {
			b.written = make(chan struct{})
		}
		ch := b.written
		b.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("output lacks %q:\n%s", s, b.String())
		}
	}
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startRun runs the command in the background and returns its address
// and a function that stops it and returns run's error.
func startRun(t *testing.T, args ...string) (string, *lockedBuffer, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := new(lockedBuffer)
	addrc := make(chan string, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, append([]string{"-listen", "127.0.0.1:0", "-log-level", "warn"}, args...), out, t.Output(), func(a string) { addrc <- a })
	}()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-errc:
		cancel()
		t.Fatalf("run: %v", err)
	case <-time.After(timeout):
		cancel()
		t.Fatal("not listening")
	}
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-errc:
			return err
		case <-time.After(timeout):
			t.Fatal("run did not return")
			return nil
		}
	}
	t.Cleanup(func() { _ = stop() })
	return addr, out, stop
}

func TestRunSubmitReceiptAndMO(t *testing.T) {
	moFile := filepath.Join(t.TempDir(), "mo.txt")
	if err := os.WriteFile(moFile, []byte("# comment\n\n8613900139000 10657001 hello  sina\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr, out, stop := startRun(t, "-delay", "0s", "-mix", "UNDELIV=1", "-id-format", "dec", "-first-id", "42", "-mo-file", moFile, "-stats", "0")
	in := make(chan *smpp.DeliverSM, 8)
	h := smpp.HandlerFunc(func(r *smpp.Request) {
		if d, ok := r.PDU.(*smpp.DeliverSM); ok {
			in <- d
		}
		_ = r.Respond(nil, smpp.StatusOK)
	})
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	sess, _, err := smpp.DialBind(ctx, addr, smpp.DefaultConfig(), &smpp.Bind{Mode: smpp.BindTransceiver, SystemID: "ismg"}, h)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := sess.Submit(ctx, &smpp.SubmitSM{DestAddr: smpp.Addr{Addr: "8613800138000"}, RegisteredDelivery: 1, ShortMessage: []byte("hi")})
	if err != nil {
		t.Fatal(err)
	}
	if resp.MessageID != "42" {
		t.Fatalf("message_id %q", resp.MessageID)
	}
	var gotMO, gotReceipt bool
	for !gotMO || !gotReceipt {
		select {
		case d := <-in:
			if d.IsReceipt() {
				info, err := smpp.ParseDeliverReceipt(d)
				if err != nil || info.MessageID != "42" || info.State != smpp.StateUndeliverable {
					t.Fatalf("receipt %+v %v", info, err)
				}
				gotReceipt = true
			} else {
				if string(d.ShortMessage) != "hello  sina" || d.SourceAddr.Addr != "8613900139000" || d.DestAddr.Addr != "10657001" {
					t.Fatalf("mo %q %v → %v", d.ShortMessage, d.SourceAddr, d.DestAddr)
				}
				gotMO = true
			}
		case <-ctx.Done():
			t.Fatal("missing receipt or MO")
		}
	}
	out.waitFor(t, "mo file done: 1 of 1 sent")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	<-sess.Done()
	if err := sess.Err(); err != nil {
		t.Fatalf("ESME ended with %v, want a clean unbind", err)
	}
	o := out.String()
	for _, want := range []string{"listening on", "mix UNDELIV=1", "mo file done: 1 of 1 sent", "final: bound 0 binds 1/0 refused | submits 1 accepted 1"} {
		if !strings.Contains(o, want) {
			t.Errorf("output lacks %q:\n%s", want, o)
		}
	}
}

func TestRunThrottleAndDown(t *testing.T) {
	addr, _, _ := startRun(t, "-throttle-every", "1", "-accounts", "ismg:pw")
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	if _, _, err := smpp.DialBind(ctx, addr, smpp.DefaultConfig(), &smpp.Bind{Mode: smpp.BindTransmitter, SystemID: "ismg", Password: "bad"}, nil); !errors.Is(err, &smpp.StatusError{Status: smpp.StatusInvPaswd}) {
		t.Fatalf("bad password: %v", err)
	}
	sess, _, err := smpp.DialBind(ctx, addr, smpp.DefaultConfig(), &smpp.Bind{Mode: smpp.BindTransmitter, SystemID: "ismg", Password: "pw"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if _, err := sess.Submit(ctx, &smpp.SubmitSM{DestAddr: smpp.Addr{Addr: "1"}}); !errors.Is(err, smpp.ErrThrottled) {
		t.Fatalf("submit: %v, want throttled", err)
	}

	addr2, _, _ := startRun(t, "-down")
	if _, _, err := smpp.DialBind(ctx, addr2, smpp.DefaultConfig(), &smpp.Bind{Mode: smpp.BindTransmitter, SystemID: "ismg"}, nil); !errors.Is(err, &smpp.StatusError{Status: smpp.StatusBindFail}) {
		t.Fatalf("bind while down: %v", err)
	}
}

func TestFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-mix", "DELIVRD"},
		{"-mix", "WHAT=1"},
		{"-id-format", "octal"},
		{"-accounts", "nopassword"},
		{"-delay", "-1s"},
		{"-mo-coding", "ebcdic"},
		{"-log-level", "loud"},
		{"extra"},
		{"-mo-file", filepath.Join(t.TempDir(), "missing")},
	} {
		var errOut bytes.Buffer
		err := run(context.Background(), args, &bytes.Buffer{}, &errOut, nil)
		if err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
	if _, _, err := parseFlags([]string{"-mix", "x"}, &bytes.Buffer{}); !errors.Is(err, errUsage) {
		t.Errorf("bad -mix: %v, want a usage error", err)
	}
}

func TestReadMOFileErrors(t *testing.T) {
	p := filepath.Join(t.TempDir(), "mo.txt")
	if err := os.WriteFile(p, []byte("8613900139000 onlytwo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readMOFile(p); err == nil || !strings.Contains(err.Error(), "mo.txt:1") {
		t.Fatalf("error %v, want one naming the line", err)
	}
}

func TestHelp(t *testing.T) {
	var errOut bytes.Buffer
	if err := run(context.Background(), []string{"-h"}, &bytes.Buffer{}, &errOut, nil); err != nil || !strings.Contains(errOut.String(), "-throttle-every") {
		t.Fatalf("-h: %v\n%s", err, errOut.String())
	}
}

// -record appends the accepted submit_sm with their client keys and the
// receipts; a second run appends to the same file.
func TestRunRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "smsc.jsonl")
	for run := range 2 {
		addr, _, stop := startRun(t, "-delay", "0s", "-stats", "0", "-record", path)
		got := make(chan struct{}, 1)
		h := smpp.HandlerFunc(func(r *smpp.Request) {
			_ = r.Respond(nil, smpp.StatusOK)
			got <- struct{}{}
		})
		ctx, cancel := context.WithTimeout(t.Context(), timeout)
		sess, _, err := smpp.DialBind(ctx, addr, smpp.DefaultConfig(), &smpp.Bind{Mode: smpp.BindTransceiver, SystemID: "ismg"}, h)
		if err != nil {
			t.Fatal(err)
		}
		key := record.Key("0badcafe", uint64(run), 1, 1)
		if _, err := sess.Submit(ctx, &smpp.SubmitSM{DestAddr: smpp.Addr{Addr: "8613800138000"}, RegisteredDelivery: 1, ShortMessage: []byte(record.Prefix(key) + "hi")}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-got:
		case <-ctx.Done():
			t.Fatal("no receipt")
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		<-sess.Done()
		cancel()
	}
	var evs []string
	if _, err := record.ReadFile(path, func(e *record.Event) error {
		evs = append(evs, e.Ev+" "+e.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{"run ", "acc 0badcafe-0", "rcpt 0badcafe-0", "run ", "acc 0badcafe-1", "rcpt 0badcafe-1"}
	if strings.Join(evs, "|") != strings.Join(want, "|") {
		t.Fatalf("record %q, want %q", evs, want)
	}
	if _, _, err := runErr(t, "-record", filepath.Join(t.TempDir(), "no", "dir", "x")); err == nil || !strings.Contains(err.Error(), "-record") {
		t.Fatalf("unwritable record: %v", err)
	}
}

// runErr runs the command expecting it to fail before it listens.
func runErr(t *testing.T, args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	err := run(t.Context(), append([]string{"-listen", "127.0.0.1:0"}, args...), &out, &errOut, nil)
	return out.String(), errOut.String(), err
}
