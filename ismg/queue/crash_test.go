package queue

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

const (
	envCrashDB   = "TANDEM_QUEUE_CRASH_DB"
	envCrashBase = "TANDEM_QUEUE_CRASH_BASE"
)

func crashValue(id uint64) []byte {
	return fmt.Appendf(nil, "message-%d-%s", id, strings.Repeat("x", 100))
}

// TestHelperWriter is the child process of TestCrashKill: it commits as fast
// as it can and prints every id after its Commit returned, until killed.
// Without the environment variable it is an ordinary, empty test.
func TestHelperWriter(t *testing.T) {
	path := os.Getenv(envCrashDB)
	if path == "" {
		return
	}
	base, err := strconv.ParseUint(os.Getenv(envCrashBase), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, DefaultConfig())
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(3)
	}
	var (
		out  sync.Mutex
		next atomic.Uint64
	)
	next.Store(base)
	say := func(format string, args ...any) {
		out.Lock()
		defer out.Unlock()
		fmt.Fprintf(os.Stdout, format, args...)
	}
	ctx := context.Background()
	for range 16 {
		go func() {
			for {
				id := next.Add(1)
				err := s.Commit(ctx,
					Enqueue("crash", id, time.Time{}, crashValue(id)),
					Put("acked", binaryKey(id), crashValue(id)),
				)
				if err != nil {
					fmt.Fprintln(os.Stderr, "commit:", err)
					os.Exit(2)
				}
				say("ack %d\n", id)
				if id%2 == 0 {
					// A second transaction on the same item: moved
					// items must survive in their new queue only.
					if err := s.Commit(ctx, Move("crash", "done", id, time.Time{}, nil)); err != nil {
						fmt.Fprintln(os.Stderr, "move:", err)
						os.Exit(2)
					}
					say("moved %d\n", id)
				}
			}
		}()
	}
	// The parent kills us long before this; the bound only keeps an
	// orphan from running forever.
	<-time.After(2 * time.Minute)
	os.Exit(4)
}

func binaryKey(id uint64) []byte { return appendKey(nil, id) }

// TestCrashKill proves "kill -9 loses nothing acknowledged": a child process
// commits as fast as it can and reports every acknowledged id; the parent
// SIGKILLs it mid-stream, reopens the store and looks for every id.
func TestCrashKill(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crash.db")
	acked := make(map[uint64]bool) // id → moved
	for round := range 4 {
		base := uint64(round) << 32
		want := 300 + round*700 // vary where in the stream the kill lands
		killRound(t, path, base, want, acked)

		s, err := Open(path, testConfig(t))
		if err != nil {
			t.Fatalf("round %d: reopen after kill: %v", round, err)
		}
		inCrash, inDone := map[uint64]bool{}, map[uint64]bool{}
		collect := func(q string, into map[uint64]bool) {
			err := s.Scan(q, func(it Item) bool {
				if !bytes.Equal(it.Value, crashValue(it.ID)) {
					t.Errorf("round %d: %s/%d value %q", round, q, it.ID, it.Value)
				}
				into[it.ID] = true
				return true
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		collect("crash", inCrash)
		collect("done", inDone)
		kv := map[uint64]bool{}
		if err := s.ScanKV("acked", func(k, v []byte) bool {
			id, _ := decodeKey(k)
			kv[id] = true
			return true
		}); err != nil {
			t.Fatal(err)
		}
		lost := 0
		for id, moved := range acked {
			switch {
			case inCrash[id] == inDone[id]:
				t.Errorf("round %d: acknowledged id %d in crash=%v done=%v", round, id, inCrash[id], inDone[id])
				lost++
			case moved && !inDone[id]:
				t.Errorf("round %d: acknowledged move of %d not durable", round, id)
				lost++
			case !kv[id]:
				t.Errorf("round %d: acknowledged id %d lost its kv entry", round, id)
				lost++
			}
			if lost > 10 {
				t.FailNow()
			}
		}
		// Atomicity across the crash: the queue item and its kv entry
		// exist together or not at all, acknowledged or not.
		for id := range kv {
			if !inCrash[id] && !inDone[id] {
				t.Errorf("round %d: kv %d without its item", round, id)
			}
		}
		for id := range inCrash {
			if !kv[id] {
				t.Errorf("round %d: item %d without its kv", round, id)
			}
		}
		if s.Len("crash")+s.Len("done") != len(kv) {
			t.Errorf("round %d: index holds %d items, disk %d", round, s.Len("crash")+s.Len("done"), len(kv))
		}
		t.Logf("round %d: %d acknowledged so far, %d on disk", round, len(acked), len(kv))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// killRound runs one child until it acknowledged want ids, kills it with
// SIGKILL and records every id it printed, including lines still in the
// pipe when it died.
func killRound(t *testing.T, path string, base uint64, want int, acked map[uint64]bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$", "-test.count=1")
	cmd.Env = append(os.Environ(), envCrashDB+"="+path, envCrashBase+"="+strconv.FormatUint(base, 10))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	reached := make(chan struct{})
	readDone := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		n := 0
		for sc.Scan() {
			verb, num, ok := strings.Cut(sc.Text(), " ")
			if !ok {
				continue // test framework output
			}
			id, err := strconv.ParseUint(num, 10, 64)
			if err != nil {
				continue
			}
			switch verb {
			case "ack":
				if _, dup := acked[id]; !dup {
					acked[id] = false
				}
				n++
				if n == want {
					close(reached)
				}
			case "moved":
				acked[id] = true
			}
		}
		readDone <- sc.Err()
	}()
	select {
	case <-reached:
	case err := <-readDone:
		_ = cmd.Wait()
		t.Fatalf("child ended before %d acks (read err %v): %s", want, err, stderr.String())
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("child too slow: %s", stderr.String())
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-readDone; err != nil && !errors.Is(err, os.ErrClosed) {
		t.Fatalf("reading child: %v", err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die by SIGKILL: %v: %s", err, stderr.String())
	}
}

// overwriteMeta replaces the format marker, to test that Open refuses files
// it does not understand.
func overwriteMeta(path, format string) error {
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(metaBucket)).Put([]byte(formatKey), []byte(format))
	})
}
