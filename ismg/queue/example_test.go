package queue_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tandem-sms/tandem/ismg/queue"
)

// The life of one MT as the ISMG composes it: each step is one atomic,
// fsynced Commit; a crash between steps resumes from the last one.
func Example() {
	dir, _ := os.MkdirTemp("", "queue-example")
	defer os.RemoveAll(dir)
	s, err := queue.Open(filepath.Join(dir, "ismg.db"), queue.DefaultConfig())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	ctx := context.Background()
	const msgID = 0x1234

	// 1. Accept: persist, then answer SUBMIT_RESP. A resubmitted Msg_Id
	//    after a crash gets ErrDuplicate.
	_ = s.Commit(ctx, queue.Enqueue("mt", msgID, time.Now(), []byte("submit pdu")))

	// 2. Dispatch: lease due messages, submit to the SMSC; on
	//    submit_sm_resp move to in-flight and map the SMSC message_id.
	items, _ := s.Lease("mt", time.Now(), 10)
	smscID := []byte("smsc-77")
	_ = s.Commit(ctx,
		queue.Move("mt", "inflight", items[0].ID, time.Now().Add(48*time.Hour), nil),
		queue.Put("smsc-id", smscID, binary.BigEndian.AppendUint64(nil, items[0].ID)),
	)

	// 3. Receipt: find the Msg_Id, swap the MT for a status report to the SP.
	v, _ := s.GetKV("smsc-id", smscID)
	id := binary.BigEndian.Uint64(v)
	_ = s.Commit(ctx,
		queue.Remove("inflight", id),
		queue.Delete("smsc-id", smscID),
		queue.Enqueue("report", id, time.Now(), []byte("status report")),
	)

	// 4. The SP acknowledged the CMPP_DELIVER: done.
	_ = s.Commit(ctx, queue.Remove("report", id))

	st := s.Stats()
	fmt.Println("commits:", st.Commits, "left:", s.Len("mt")+s.Len("inflight")+s.Len("report"))
	// Output: commits: 4 left: 0
}
