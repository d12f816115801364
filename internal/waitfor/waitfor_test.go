package waitfor

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestPollSeesTheChange(t *testing.T) {
	var n atomic.Int32
	go func() {
		for range 3 {
			n.Add(1)
		}
	}()
	Cond(t, "three increments", func() bool { return n.Load() == 3 })
}

func TestPollGivesUp(t *testing.T) {
	if Poll(5*time.Millisecond, func() bool { return false }) {
		t.Fatal("Poll reported a condition that never held")
	}
}
