// Package waitfor is the one wait-for-condition helper of the tests: it
// re-checks a condition until it holds or a deadline passes, and fails the
// test naming what it waited for. Tests use it for state nothing signals
// (counters, goroutine counts, another process's files); where a channel
// signals the change, wait on the channel instead.
package waitfor

import (
	"reflect"
	"testing"
	"time"
)

// Timeout is how long Cond waits. It is generous on purpose: the race
// detector on a loaded 2-core machine makes the slow case slow, and a
// deadline here only decides how long a broken test takes to fail.
const Timeout = 30 * time.Second

// poll is how often the condition is re-checked.
const poll = time.Millisecond

// Cond re-checks cond until it holds, failing tb after Timeout.
func Cond(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	Within(tb, Timeout, what, cond)
}

// Within re-checks cond until it holds, failing tb after d.
func Within(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	if !Poll(d, cond) {
		tb.Fatalf("timed out after %v waiting for %s", d, what)
	}
}

// Poll re-checks cond until it holds (true) or d passes (false), for
// callers that must not fail from the goroutine they run on.
func Poll(d time.Duration, cond func() bool) bool {
	if cond() {
		return true
	}
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if cond() {
				return true
			}
		case <-deadline.C:
			return cond()
		}
	}
}

// Signalled re-evaluates cond each time one of the channels it returns
// fires, until cond holds or Timeout passes. cond returns the channels that
// signal a change in what it looked at, taken before looking, so no change
// between the look and the wait is missed.
func Signalled(tb testing.TB, what string, cond func() (bool, []<-chan struct{})) {
	tb.Helper()
	deadline := time.NewTimer(Timeout)
	defer deadline.Stop()
	for {
		ok, chans := cond()
		if ok {
			return
		}
		cases := make([]reflect.SelectCase, 0, len(chans)+1)
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(deadline.C)})
		for _, c := range chans {
			cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(c)})
		}
		if i, _, _ := reflect.Select(cases); i == 0 {
			tb.Fatalf("timed out after %v waiting for %s", Timeout, what)
		}
	}
}
