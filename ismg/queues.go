package ismg

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tandem-sms/tandem/billing"
	"github.com/tandem-sms/tandem/ismg/queue"
)

// queueKind says what waits in a queue of the store, and so who drains it.
type queueKind uint8

const (
	queueMT     queueKind = iota + 1 // mt:<link>: MTs for a local SMSC link (the link's dispatcher)
	queueFwd                         // fwd:<gw>: messages for a peer gateway (CMPP_FWD)
	queueOut                         // out:<sp>: status reports and MO for an SP (its deliverer)
	queueAwait                       // await: MTs an SMSC took, waiting for their receipt
	queueOrphan                      // orphan: receipts that came before their mapping
	queueCDR                         // cdr: CDR lines on their way to the CDR files (cdrout.go)
	queueSib                         // sib:<node>/<sp>: reports and MO for an SP logged in to a sibling node (sibling.go)
)

// Queue-name spelling in the store (see the package doc for the life cycle).
const (
	qMTPrefix  = "mt:"
	qFwdPrefix = "fwd:"
	qOutPrefix = "out:"
	qAwait     = "await"
	qOrphan    = "orphan"
	qCDR       = "cdr"
	qSibPrefix = "sib:"
	kvMeta     = "meta"
)

// queueRef names one queue of the store by kind and owner (a link name, a
// gateway code or an SP_Id). Code passes queueRefs; the string form exists
// only at the store's edge (queue(), precomputed so that naming a queue per
// message allocates nothing), and names read back from the store are
// parsed once, by parseQueue.
//
// An MT's destination is a queueRef of kind queueMT (a local SMSC link) or
// queueFwd (a peer gateway); a new kind of destination is a new kind here.
type queueRef struct {
	kind queueKind
	name string // link, gateway code or SP_Id; empty for await and orphan
	str  string
}

func linkQueue(link string) queueRef { return queueRef{queueMT, link, qMTPrefix + link} }
func fwdQueue(gw string) queueRef    { return queueRef{queueFwd, gw, qFwdPrefix + gw} }
func outQueue(sp string) queueRef    { return queueRef{queueOut, sp, qOutPrefix + sp} }
func sibQueue(node, sp string) queueRef {
	return queueRef{queueSib, node + "/" + sp, qSibPrefix + node + "/" + sp}
}

var (
	awaitQueue  = queueRef{queueAwait, "", qAwait}
	orphanQueue = queueRef{queueOrphan, "", qOrphan}
	cdrQueue    = queueRef{queueCDR, "", qCDR}
)

// queue is the queue's name in the store.
func (r queueRef) queue() string { return r.str }

func (r queueRef) String() string { return r.str }

var errQueueName = errors.New("ismg: unknown queue name")

// parseQueue reads a queue name found in the store.
func parseQueue(q string) (queueRef, error) {
	switch {
	case q == qAwait:
		return awaitQueue, nil
	case q == qOrphan:
		return orphanQueue, nil
	case q == qCDR:
		return cdrQueue, nil
	}
	for _, p := range []struct {
		prefix string
		kind   queueKind
	}{{qMTPrefix, queueMT}, {qFwdPrefix, queueFwd}, {qOutPrefix, queueOut}, {qSibPrefix, queueSib}} {
		if name, ok := strings.CutPrefix(q, p.prefix); ok && name != "" {
			return queueRef{p.kind, name, q}, nil
		}
	}
	return queueRef{}, fmt.Errorf("%w: %q", errQueueName, q)
}

// billing returns the CDR direction of a message leaving through r and
// the gateway it goes to next, if any.
func (r queueRef) billing() (billing.Direction, string) {
	if r.kind == queueFwd {
		return billing.DirFwdOut, r.name
	}
	return billing.DirLocal, ""
}

// commit wraps Store.Commit, remembering a failed store for /healthz.
func (n *Node) commit(ctx context.Context, ops ...queue.Op) error {
	err := n.st.Commit(ctx, ops...)
	if err != nil {
		n.noteStoreErr(err)
	}
	return err
}

func (n *Node) noteStoreErr(err error) {
	if errors.Is(err, queue.ErrFailed) || errors.Is(err, queue.ErrStoreFull) {
		n.storeBad.Store(true)
	}
	if !errors.Is(err, queue.ErrDuplicate) && !errors.Is(err, queue.ErrNotFound) {
		n.m.StoreErrors.Inc()
	}
}
