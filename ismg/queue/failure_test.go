package queue

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestStoreFull(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	cfg := testConfig(t)
	cfg.MaxFileSize = 20 << 20
	cfg.MaxDepth = 0
	s := openTest(t, path, cfg)
	ctx := context.Background()
	value := make([]byte, 64<<10)
	var acked []uint64
	var err error
	for id := uint64(1); id < 10000; id += 8 {
		var ops []Op
		for i := range uint64(8) {
			ops = append(ops, Enqueue("big", id+i, t0, value))
		}
		if err = s.Commit(ctx, ops...); err != nil {
			break
		}
		for i := range uint64(8) {
			acked = append(acked, id+i)
		}
	}
	if !errors.Is(err, ErrStoreFull) {
		t.Fatalf("filling the file: %v after %d items, want ErrStoreFull", err, len(acked))
	}
	if s.Len("big") != len(acked) {
		t.Fatalf("index has %d items, %d acknowledged", s.Len("big"), len(acked))
	}
	// Not sticky: small commits still fit into free pages of the grown file.
	if err := s.Commit(ctx, Remove("big", acked[0])); err != nil {
		t.Fatalf("remove after full: %v", err)
	}
	if st := s.Stats(); st.FailedTxs == 0 {
		t.Fatal("full transaction not counted")
	}
	_ = s.Close()
	s = openTest(t, path, cfg)
	if s.Len("big") != len(acked)-1 {
		t.Fatalf("after reopen %d items, want %d", s.Len("big"), len(acked)-1)
	}
}

// TestWriteErrorIsSticky puts /dev/full under the store's file descriptor so
// that the next transaction's write really fails with ENOSPC.
func TestWriteErrorIsSticky(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	cfg := testConfig(t)
	cfg.Logger = nil // the expected error log would be noise
	s := openTest(t, path, cfg)
	ctx := context.Background()
	mustCommit(t, s, Enqueue("mt", 1, t0, []byte("kept")))

	fd := fileDescriptor(t, path)
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer full.Close()
	if err := syscall.Dup3(int(full.Fd()), fd, syscall.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	err = s.Commit(ctx, Enqueue("mt", 2, t0, []byte("lost")))
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("commit onto /dev/full: %v, want ErrFailed", err)
	}
	if err := s.Commit(ctx, Enqueue("mt", 3, t0, nil)); !errors.Is(err, ErrFailed) {
		t.Fatalf("commit after failure: %v, want sticky ErrFailed", err)
	}
	if s.Len("mt") != 1 {
		t.Fatalf("failed commit reached the index: %d items", s.Len("mt"))
	}
	if st := s.Stats(); st.FailedTxs != 1 {
		t.Fatalf("FailedTxs = %d", st.FailedTxs)
	}
	_ = s.Close()

	s = openTest(t, path, testConfig(t))
	items := lease(t, s, "mt", t0.Add(time.Hour), 10)
	if len(items) != 1 || string(items[0].Value) != "kept" {
		t.Fatalf("after reopen: %+v", items)
	}
}

// fileDescriptor finds the descriptor this process has open on path.
func fileDescriptor(t *testing.T, path string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err == nil && target == path {
			var fd int
			if _, err := fmt.Sscan(e.Name(), &fd); err == nil {
				return fd
			}
		}
	}
	t.Fatalf("no descriptor open on %s", path)
	return -1
}
