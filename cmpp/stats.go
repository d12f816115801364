package cmpp

import "sync/atomic"

// Stats counts session events. The fields are atomics so an owner (ismg)
// can read them into metrics at scrape time.
type Stats struct {
	RequestsSent      atomic.Uint64
	ResponsesReceived atomic.Uint64
	RequestsReceived  atomic.Uint64
	ResponsesSent     atomic.Uint64
	WindowFull        atomic.Uint64 // Send/SendAsync refused with ErrWindowFull
	Timeouts          atomic.Uint64 // requests unanswered within ResponseTimeout
	FlowControl       atomic.Uint64 // peer requests answered ResultFlowControl
	DuplicateSeq      atomic.Uint64 // peer requests answered ResultDuplicateSeq
	Unmatched         atomic.Uint64 // responses no request waited for
	ActiveTestsSent   atomic.Uint64
	ActiveTestMisses  atomic.Uint64
	ProtocolErrors    atomic.Uint64 // sessions closed for malformed input
	DecodeErrors      atomic.Uint64 // framed PDUs that did not decode: answered, the session kept reading
	ConnectRejected   atomic.Uint64 // CONNECTs answered with a non-zero status
	QueueHighWater    atomic.Int64  // longest outbound queue seen
}

func (st *Stats) queueLen(n int) {
	for {
		old := st.QueueHighWater.Load()
		if int64(n) <= old || st.QueueHighWater.CompareAndSwap(old, int64(n)) {
			return
		}
	}
}
