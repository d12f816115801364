package pipenet

import (
	"context"
	"io"
	"testing"
	"testing/synctest"
	"time"
)

// A connection dialled in a synctest bubble carries bytes, and a read
// waiting on it lets fake time run: a 10-hour timer fires at once.
func TestPipeInBubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := Listen("test")
		defer l.Close()
		go func() {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			time.Sleep(10 * time.Hour)
			c.Write([]byte("late"))
		}()
		c, err := l.Dial(context.Background(), "pipe", "test")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		b := make([]byte, 4)
		if _, err := io.ReadFull(c, b); err != nil || string(b) != "late" {
			t.Fatalf("read %q, %v", b, err)
		}
		if time.Since(start) != 10*time.Hour {
			t.Fatalf("fake time advanced %v, want 10h", time.Since(start))
		}
	})
}
