package federation_test

import (
	"fmt"
	"testing"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/federation"
)

// LinkFailure: what the link did (no session, lost connection, timeout)
// is retried without a growing backoff; what the peer answered (flow
// control, a refusal) is not a link failure.
func TestLinkFailure(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{federation.ErrNoSession, true},
		{federation.ErrWindowWait, true},
		{federation.ErrLinkClosed, true},
		{federation.ErrNoPeer, true},
		{fmt.Errorf("send: %w", cmpp.ErrTimeout), true},
		{fmt.Errorf("send: %w", cmpp.ErrPeerClosed), true},
		{&federation.ResultError{Result: cmpp.ResultFlowControl}, false},
		{&federation.ResultError{Result: cmpp.ResultFwdDecision}, false},
		{federation.ErrInvalidFwd, false},
		{nil, false},
	} {
		if got := federation.LinkFailure(c.err); got != c.want {
			t.Errorf("LinkFailure(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
