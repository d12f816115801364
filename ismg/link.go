package ismg

import (
	"context"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/tandem-sms/tandem/ismg/smsclink"
	"github.com/tandem-sms/tandem/smpp"
	"github.com/tandem-sms/tandem/smstext"
)

// linkRuntime is one SMSC link: the smsclink pool, its mt:<link> queue,
// its dispatcher and the index of SMSC message ids awaiting or ahead of
// their durable mapping.
type linkRuntime struct {
	n     *Node
	cfg   SMSCLinkConfig
	link  *smsclink.Link
	q     queueRef // mt:<link>
	dc0   smstext.Coding
	textM smpp.IDMode // how to turn a receipt-text id into the response spelling
	cap   int         // submit_sm in flight at once: binds × window
	ref   atomic.Uint32
	idx   sidIndex

	// Metric children used per message, looked up once.
	mMatched, mDuplicate, mSubmitOK prometheus.Counter
	mBackpressure                   prometheus.Counter
	hwLog                           rate.Sometimes // "over its high-water mark" lines
	mLatency                        prometheus.Observer

	// The dispatcher's slots (dispatch.go): window, one per submit_sm that
	// may be outstanding (binds × window); durable, one per MT leased and
	// not yet durably settled (resend_bound: the crash-resend bound).
	window  chan struct{}
	durable *slots
	busy    busyMeter // window slots in use, integrated over time

	// Owned by dispatch: the sender takes marked batches from marked; idle
	// submit goroutines take work from work; both leave when quit closes.
	marked chan markedBatch
	work   chan submitJob
	quit   chan struct{}
}

func newLinkRuntime(n *Node, c SMSCLinkConfig, dial func(ctx context.Context, network, addr string) (net.Conn, error)) (*linkRuntime, error) {
	lc := smsclink.DefaultConfig()
	lc.Name, lc.Address, lc.SystemID, lc.Password, lc.SystemType = c.Name, c.Address, c.SystemID, c.Password, c.SystemType
	lc.BindType = smsclink.BindType(c.BindType)
	lc.Binds, lc.Window, lc.Rate = c.Binds, c.Window, c.Rate
	lc.Burst = max(1, int(c.Rate/10))
	lc.EnquireLink = c.EnquireLink
	lc.ResponseTimeout = c.ResponseTimeout
	lc.ReconnectMin, lc.ReconnectMax = c.ReconnectMin, c.ReconnectMax
	lc.ThrottleBackoff, lc.ThrottleBackoffMax = c.ThrottleBackoff, 15*c.ThrottleBackoff
	lc.ShutdownTimeout = n.cfg.Delivery.ShutdownTimeout
	// Each receipt holds its deliver_sm_resp until its commit is durable,
	// so receipts in flight = receipt rate × commit latency. Refusing the
	// ones beyond the bound makes the SMSC retry them much later (a report
	// tail of seconds), so the bound is set well above any SMSC's window.
	lc.MaxDeliverInFlight = max(lc.MaxDeliverInFlight, 1024)
	lc.Logger = n.log.With("component", "smsclink")
	if dial != nil {
		lc.Dial = dial
	}
	if c.TLS != nil {
		tc, err := c.TLS.load()
		if err != nil {
			return nil, fmt.Errorf("ismg: smsc %s: tls: %w", c.Name, err)
		}
		d := &tls.Dialer{Config: tc}
		lc.Dial = d.DialContext
	}
	lr := &linkRuntime{n: n, cfg: c, q: linkQueue(c.Name), dc0: smstext.GSM7}
	if c.DataCoding0 == "latin1" {
		lr.dc0 = smstext.Latin1
	}
	switch c.IDFormat {
	case "hex":
		lr.textM = smpp.IDHexToDec
	case "decimal":
		lr.textM = smpp.IDDecToHex
	}
	lr.cap = c.Binds * c.Window
	bound := c.ResendBound
	if bound < lr.cap { // a config that skipped LoadConfig's defaults
		bound = defaultResendFactor * lr.cap
	}
	lr.window, lr.durable = make(chan struct{}, lr.cap), newSlots(bound)
	lr.ref.Store(rand.Uint32())
	lr.idx.init()
	lr.mMatched = n.m.Receipts.WithLabelValues(c.Name, "matched")
	lr.mDuplicate = n.m.Receipts.WithLabelValues(c.Name, "duplicate")
	lr.mSubmitOK = n.m.SMSCSubmits.WithLabelValues(c.Name, "ok")
	lr.mBackpressure = n.m.SMSCBackpressure.WithLabelValues(c.Name)
	// Exported at 0 from the start, so that rate() and the alert rules
	// (deploy/prometheus) see the first throttle.
	n.m.SMSCThrottled.WithLabelValues(c.Name)
	lr.hwLog = rate.Sometimes{First: 1, Interval: 10 * time.Second}
	lr.mLatency = n.m.SMSCLatency.WithLabelValues(c.Name)
	var err error
	if lr.link, err = smsclink.New(lc, lr); err != nil {
		return nil, err
	}
	return lr, nil
}

// canonID is the comparison form of an SMSC id as spelt in a response or
// the receipted_message_id TLV.
func canonID(id string) string {
	s, _ := smpp.NormalizeMessageID(id, smpp.IDCanonical)
	return s
}

// textID converts an id read from receipt text into the response
// spelling, then canonicalises it.
func (lr *linkRuntime) textID(id string) string {
	if lr.textM != smpp.IDAsIs {
		if s, err := smpp.NormalizeMessageID(id, lr.textM); err == nil {
			id = s
		}
	}
	return canonID(id)
}

// busyMeter integrates the number of window slots in use over time, so
// that rate(ismg_smsc_window_busy_seconds_total) is the average number of
// submit_sm outstanding on the link.
type busyMeter struct {
	mu    sync.Mutex
	n     int
	last  time.Time
	total float64 // slot-seconds
}

func (b *busyMeter) add(d int) {
	now := time.Now()
	b.mu.Lock()
	if !b.last.IsZero() {
		b.total += float64(b.n) * now.Sub(b.last).Seconds()
	}
	b.n += d
	b.last = now
	b.mu.Unlock()
}

// read returns the slots in use now and the slot-seconds so far.
func (b *busyMeter) read() (int, float64) {
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.total
	if !b.last.IsZero() {
		t += float64(b.n) * now.Sub(b.last).Seconds()
	}
	return b.n, t
}
