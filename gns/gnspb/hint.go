package gnspb

import (
	"strings"

	"google.golang.org/grpc/status"
)

// LeaderHintPrefix starts the part of an UNAVAILABLE status message that
// names the leader's gRPC address, so a client can retry there:
//
//	gns: not leader; leader=127.0.0.1:9190 (id gns2)
const LeaderHintPrefix = "leader="

// LeaderHint returns the leader gRPC address named in err's status message,
// or "" when it names none.
func LeaderHint(err error) string {
	st, ok := status.FromError(err)
	if !ok {
		return ""
	}
	msg := st.Message()
	i := strings.Index(msg, LeaderHintPrefix)
	if i < 0 {
		return ""
	}
	rest := msg[i+len(LeaderHintPrefix):]
	if j := strings.IndexAny(rest, " ;,)"); j >= 0 {
		rest = rest[:j]
	}
	return rest
}
