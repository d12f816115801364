package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tandem-sms/tandem/gns/gnspb"
)

// How gnsctl rides out a leader change. Every call goes to the listed
// addresses in turn (a leader named in an answer first) and, while the
// cluster answers only UNAVAILABLE (no leader yet, the leader unreachable,
// a node down), starts over after a backoff, 50ms doubling to 1s, until
// -timeout has passed since the command started. That is safe because
// every command is safe to repeat:
//
//   - reads change nothing;
//   - segment add, sp add, table push put values: repeating one leaves the
//     same table (route ids are kept for existing keys), at a later
//     revision;
//   - segment rm, sp rm: repeating one after it applied finds the key gone,
//     which gnsctl reports as done when an earlier attempt's outcome was
//     unknown;
//   - cluster join and cluster remove are no-ops when already done.
//
// A write that fails for good says whether it may have been applied:
// "not applied" only when no attempt could have reached the leader's log
// (refused connections, nodes that said they were not the leader);
// otherwise (the leader lost its leadership before confirming the commit,
// the connection broke mid-call, the time ran out) "may have been applied".
// watch is not retried.

// callKind says how call may retry and what a failure means.
type callKind struct {
	write   bool   // failures say whether the write may have been applied
	goneOK  bool   // a delete: NOT_FOUND after an unknown outcome means done
	untimed bool   // attempts have no deadline (a long push); retries still stop at -timeout
	once    bool   // one pass over the addresses, no retries (watch)
	what    string // what failed, for messages
}

var (
	readCall   = callKind{what: "the request"}
	writeCall  = callKind{write: true, what: "the change"}
	deleteCall = callKind{write: true, goneOK: true, what: "the change"}
	pushCall   = callKind{write: true, untimed: true, what: "the table push"}
	watchCall  = callKind{untimed: true, once: true, what: "watch"}
)

// errDoneEarlier is returned (wrapped) for a delete whose retry found the
// key gone after an attempt whose outcome was unknown: the earlier attempt
// applied it.
var errDoneEarlier = errors.New("applied by an earlier attempt")

const (
	backoffMin = 50 * time.Millisecond
	backoffMax = time.Second
	minAttempt = 50 * time.Millisecond // the least time worth an attempt
)

// attemptErr is one address's last failure.
type attemptErr struct {
	addr string
	err  error
}

// clusterError is a call that no node answered within -timeout.
type clusterError struct {
	kind     callKind
	timeout  time.Duration
	attempts []attemptErr
	maybe    bool // a write that may have been applied
}

func (e *clusterError) Error() string {
	var b strings.Builder
	addrs := make([]string, len(e.attempts))
	for i, a := range e.attempts {
		addrs[i] = a.addr
	}
	fmt.Fprintf(&b, "no GNS node answered %s at %s; tried for %v (--timeout), last answers:", e.kind.what, strings.Join(addrs, ", "), e.timeout)
	for _, a := range e.attempts {
		fmt.Fprintf(&b, "\n  %s: %s", a.addr, explain(a.err))
	}
	if e.kind.write {
		if e.maybe {
			fmt.Fprintf(&b, "\n%s MAY HAVE BEEN APPLIED: an attempt reached the leader, which did not confirm the commit before it lost leadership, the connection broke or the time ran out; check the table before repeating a non-idempotent edit", e.kind.what)
		} else {
			fmt.Fprintf(&b, "\n%s was not applied: no attempt reached a leader", e.kind.what)
		}
	}
	return b.String()
}

// call runs fn against the cluster as described above. A definite answer
// (success, or an error other than UNAVAILABLE) ends it at once.
func call[T any](ctx context.Context, c *ctl, kind callKind, fn func(context.Context, gnspb.GNSClient) (T, error)) (T, error) {
	var zero T
	deadline := time.Now().Add(c.timeout)
	last := map[string]error{}
	var order []string
	maybe := false
	hint := ""
	backoff := backoffMin
	for {
		queue := slices.Clone(c.addrs)
		if hint != "" {
			queue = append([]string{hint}, queue...)
		}
		tried := map[string]bool{}
		for len(queue) > 0 {
			addr := queue[0]
			queue = queue[1:]
			if tried[addr] {
				continue
			}
			tried[addr] = true
			v, err := attempt(ctx, c, kind, deadline, addr, fn)
			if err == nil {
				return v, nil
			}
			if kind.goneOK && maybe && status.Code(err) == codes.NotFound {
				return zero, fmt.Errorf("%w: %s", errDoneEarlier, status.Convert(err).Message())
			}
			if ctx.Err() != nil || (status.Code(err) != codes.Unavailable && status.Code(err) != codes.DeadlineExceeded) {
				return zero, err
			}
			if _, seen := last[addr]; !seen {
				order = append(order, addr)
			}
			last[addr] = err
			maybe = maybe || (kind.write && mayHaveApplied(err))
			if h := gnspb.LeaderHint(err); h != "" && !tried[h] {
				hint = h
				queue = append([]string{h}, queue...)
			}
		}
		// Another round only if it gets time to answer after the wait: an
		// attempt started at the deadline would only time out.
		if kind.once || time.Until(deadline) < backoff+minAttempt {
			break
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return zero, ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, backoffMax)
	}
	e := &clusterError{kind: kind, timeout: c.timeout, maybe: maybe}
	for _, a := range order {
		e.attempts = append(e.attempts, attemptErr{a, last[a]})
	}
	return zero, e
}

// attempt is one call to one address, bounded by the command's deadline
// unless the kind is untimed.
func attempt[T any](ctx context.Context, c *ctl, kind callKind, deadline time.Time, addr string, fn func(context.Context, gnspb.GNSClient) (T, error)) (T, error) {
	var zero T
	cl, err := c.client(addr)
	if err != nil {
		return zero, status.Error(codes.Unavailable, err.Error())
	}
	if !kind.untimed {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	return fn(c.outgoing(ctx), cl)
}

// mayHaveApplied says whether a failed write attempt could have reached
// the leader's log. Only answers that prove otherwise count as "no": the
// connection was never made, or the node said it is not the leader.
func mayHaveApplied(err error) bool {
	st := status.Convert(err)
	if st.Code() != codes.Unavailable {
		return st.Code() == codes.DeadlineExceeded || st.Code() == codes.Canceled ||
			st.Code() == codes.Internal || st.Code() == codes.Unknown
	}
	msg := st.Message()
	for _, never := range []string{"not leader", "no leader", "leader unreachable", "connection refused", "connection error", "has not published its gRPC address", "no such host"} {
		if strings.Contains(msg, never) {
			return false
		}
	}
	return true
}

// explain turns an error from a GNS call into what the user needs to
// know: what failed and, where it is the user's to fix, how.
func explain(err error) string {
	st, ok := status.FromError(err)
	if !ok {
		return err.Error()
	}
	msg := st.Message()
	switch st.Code() {
	case codes.Unavailable:
		switch {
		case strings.Contains(msg, "leader unreachable"):
			return "this node cannot reach the leader it knows (" + leaderNamed(msg) + "), which may just have died; an election follows"
		case strings.Contains(msg, "connection refused"):
			return "connection refused (is a GNS node running at this address?)"
		case strings.Contains(msg, "certificate"), strings.Contains(msg, "tls:"), strings.Contains(msg, "x509"):
			return "TLS handshake failed: " + tlsReason(msg) + " (give the servers' CA with -tls-ca)"
		case strings.Contains(msg, "server preface"), strings.Contains(msg, "EOF") && strings.Contains(msg, "connection error"):
			return "the node closed the connection at once: it may serve TLS (add -tls or -tls-ca)"
		case strings.Contains(msg, "no leader"), strings.Contains(msg, "leader unknown"):
			return "no leader is elected yet"
		case strings.Contains(msg, "not leader"):
			if h := gnspb.LeaderHint(err); h != "" {
				return "not the leader, and the leader it names (" + h + ") could not be reached through it"
			}
			return "not the leader"
		case strings.Contains(msg, "outcome unknown"):
			return "the leader lost its leadership before confirming the commit"
		case strings.Contains(msg, "no such host"):
			return "unknown host (check --addr or $GNS_ENDPOINTS)"
		}
		return "unavailable: " + trimPkg(msg)
	case codes.DeadlineExceeded:
		return "no answer before -timeout ran out"
	case codes.Unauthenticated, codes.PermissionDenied:
		return "the GNS refused the token: give the one its nodes run with (-token or $GNS_TOKEN)"
	case codes.InvalidArgument, codes.FailedPrecondition:
		return "refused: " + trimPkg(msg)
	case codes.AlreadyExists:
		return "already exists: " + trimPkg(msg)
	case codes.NotFound:
		return "not found: " + trimPkg(msg)
	case codes.ResourceExhausted:
		return "refused, a limit was reached: " + trimPkg(msg)
	case codes.Aborted:
		return "aborted: " + trimPkg(msg)
	case codes.Canceled:
		return "canceled"
	case codes.Unimplemented:
		return "the node does not know this call (an older GNS version?)"
	}
	return "the GNS failed: " + trimPkg(msg)
}

// leaderNamed picks "gns1 at host:port" out of a forward failure.
func leaderNamed(msg string) string {
	_, rest, ok := strings.Cut(msg, "forward to the leader ")
	if !ok {
		return "unknown"
	}
	name, _, _ := strings.Cut(rest, ": ")
	return name
}

// trimPkg drops the package prefixes of our error messages ("gns: ",
// "routing: "...), which say nothing to an operator.
func trimPkg(msg string) string {
	for _, p := range []string{"gns: ", "routing: ", "raftstore: "} {
		msg = strings.ReplaceAll(msg, p, "")
	}
	return msg
}

// tlsReason picks the informative part of a TLS failure from gRPC's
// transport message.
func tlsReason(msg string) string {
	for _, marker := range []string{"x509: ", "tls: "} {
		if i := strings.LastIndex(msg, marker); i >= 0 {
			return strings.TrimRight(msg[i:], `"`)
		}
	}
	return msg
}
