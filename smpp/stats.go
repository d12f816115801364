package smpp

import "sync/atomic"

// Stats are the counters of one or more sessions. This leaf package exports
// no metrics itself; the owner (ismg) turns these into Prometheus series.
// All fields are safe for concurrent use.
type Stats struct {
	PDUsIn  atomic.Uint64 // PDUs read, any kind
	PDUsOut atomic.Uint64 // PDUs written, any kind

	Requests       atomic.Uint64 // requests we sent that expect a response
	ErrorResponses atomic.Uint64 // responses received with a non-zero status
	Throttled      atomic.Uint64 // of which ESME_RTHROTTLED or ESME_RMSGQFUL
	WindowFull     atomic.Uint64 // Send refused with ErrWindowFull
	Timeouts       atomic.Uint64 // requests that got no response in time
	LateResponses  atomic.Uint64 // responses nobody waited for (late or bogus)

	Incoming       atomic.Uint64 // requests from the peer handed to the Handler
	Rejected       atomic.Uint64 // requests from the peer answered with an error by the session itself
	DecodeErrors   atomic.Uint64 // PDUs from the peer that did not decode
	GenericNacks   atomic.Uint64 // generic_nack we sent
	EnquireLinks   atomic.Uint64 // keep-alive enquire_link we sent
	DeadPeers      atomic.Uint64 // sessions closed by the keep-alive
	SessionsOpened atomic.Uint64
	SessionsClosed atomic.Uint64
}
