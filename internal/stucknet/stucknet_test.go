package stucknet

import (
	"errors"
	"os"
	"testing"
	"time"
)

// Writes to the stuck peer block once the kernel buffers are full.
func TestWritesBlock(t *testing.T) {
	c := Dial(t)
	c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	buf := make([]byte, 64<<10)
	var err error
	for i := 0; i < 1<<10 && err == nil; i++ {
		_, err = c.Write(buf)
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("64 MiB written to a peer that never reads: %v", err)
	}
}
