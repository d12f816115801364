package cmpp

import (
	"fmt"
	"log/slog"
	"time"
)

// Config configures one session. A zero field takes its DefaultConfig value;
// where a negative value is allowed it disables the feature.
type Config struct {
	// Window is the most requests we sent that may be unanswered at once
	// (W=16 in the spec).
	Window int
	// ResponseTimeout is how long a request waits for its response (T=60s).
	// It also bounds an ACTIVE_TEST probe, waiting for an inbound slot, and
	// draining the windows after TERMINATE.
	ResponseTimeout time.Duration
	// ActiveTestInterval is how long nothing may be received before we send
	// ACTIVE_TEST (C=3min). Negative disables keepalive.
	ActiveTestInterval time.Duration
	// ActiveTestMisses is how many ACTIVE_TESTs in a row may go unanswered
	// before the session closes with ErrPeerDead (N=3).
	ActiveTestMisses int
	// ReadTimeout closes the session when no byte arrives for this long.
	// Zero derives it from the keepalive (ActiveTestInterval +
	// (ActiveTestMisses+1)×ResponseTimeout) so it only fires if keepalive
	// somehow did not; negative disables it. It measures idleness between
	// reads, so it is renewed by every byte; PDUTimeout is what bounds a
	// peer that trickles a PDU in a byte at a time.
	ReadTimeout time.Duration
	// PDUTimeout is how long a PDU may take to arrive whole, counted from
	// its first byte (not renewed by later bytes): a logged-in peer that
	// sends one byte every few seconds is cut off after this long instead
	// of holding its slot for ever (a slowloris). Idleness between PDUs is
	// not bounded by it but by ACTIVE_TEST and ReadTimeout. It also bounds
	// the CONNECT (with Server.ConnectTimeout, whichever ends first). Zero
	// means DefaultPDUTimeout; negative disables it.
	PDUTimeout time.Duration
	// WriteTimeout bounds each write to the connection: a peer that stops
	// reading closes the session after this long. Negative disables it.
	WriteTimeout time.Duration
	// MaxPDU bounds Total_Length of received PDUs; it is checked before the
	// body is read. It also sizes the read buffer.
	MaxPDU uint32
	// WriteQueue is the capacity of the outbound queue between callers and
	// the writer goroutine. Callers block (with their context) when it is
	// full, which bounds our memory when the peer reads slowly.
	WriteQueue int
	// InboundWindow is the most requests from the peer that may be handled
	// at once. Over it, requests that implement ErrorResponder are answered
	// at once with ResultFlowControl; others wait up to ResponseTimeout for
	// a slot, then the session closes with ErrInboundWindow.
	InboundWindow int
	// InlineHandler runs the Handler on the reader goroutine instead of
	// handing each request to a handler goroutine. It saves a goroutine
	// switch per request, for handlers that never block (they answer later
	// from callbacks, as the ISMG's SUBMIT does after its group commit):
	// while the handler runs, nothing more is read from the peer, no
	// response reaches a Send and no ACTIVE_TEST is answered. So an inline
	// handler must not wait on anything, and should answer with
	// ReplyNoWait: Reply blocks while the outbound queue is full (a peer
	// that stopped reading), which blocks the reader with it. An answer
	// that must wait (a store commit) is given later, from the goroutine
	// that waited.
	InlineHandler bool
	// OnBadPDU, if set, is called on the reader goroutine for every bad PDU
	// from the peer, with a bounded reason (BadPDULength, BadPDUField,
	// BadPDUShort, ..., whose doc says what the session does with each)
	// and the error naming the PDU and field, just before the session
	// answers what it can; it keeps reading except after BadPDULength. A
	// hook for a metric and a rate-limited log line: it must not block.
	OnBadPDU func(s *Session, h Header, reason string, err error)
	// Logger receives session events; nil discards them.
	Logger *slog.Logger
	// Stats, if set, is updated by the session; sessions may share one.
	// Nil gives each session its own.
	Stats *Stats
}

// DefaultPDUTimeout is the default Config.PDUTimeout: the largest PDU is
// under 4 KB, which any live peer sends in far less.
const DefaultPDUTimeout = 30 * time.Second

// DefaultConfig returns the spec's values: W=16, T=60s, C=3min, N=3.
func DefaultConfig() Config {
	return Config{
		PDUTimeout:         DefaultPDUTimeout,
		Window:             16,
		ResponseTimeout:    60 * time.Second,
		ActiveTestInterval: 3 * time.Minute,
		ActiveTestMisses:   3,
		WriteTimeout:       30 * time.Second,
		MaxPDU:             DefaultMaxPDU,
		InboundWindow:      16,
	}
}

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Window == 0 {
		c.Window = d.Window
	}
	if c.ResponseTimeout == 0 {
		c.ResponseTimeout = d.ResponseTimeout
	}
	if c.PDUTimeout == 0 {
		c.PDUTimeout = d.PDUTimeout
	}
	if c.ActiveTestInterval == 0 {
		c.ActiveTestInterval = d.ActiveTestInterval
	}
	if c.ActiveTestMisses == 0 {
		c.ActiveTestMisses = d.ActiveTestMisses
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = d.WriteTimeout
	}
	if c.MaxPDU == 0 {
		c.MaxPDU = d.MaxPDU
	}
	if c.InboundWindow == 0 {
		c.InboundWindow = d.InboundWindow
	}
	if c.ReadTimeout == 0 && c.ActiveTestInterval > 0 {
		c.ReadTimeout = c.ActiveTestInterval + time.Duration(c.ActiveTestMisses+1)*c.ResponseTimeout
	}
	if c.WriteQueue == 0 {
		// Room for every reply and request the windows allow plus the
		// session's own ACTIVE_TEST/TERMINATE answers, so a healthy peer
		// never makes a caller block on the queue.
		c.WriteQueue = c.Window + c.InboundWindow + 8
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// maxMaxPDU caps MaxPDU because it sizes every session's read buffer.
const maxMaxPDU = 1 << 20

// Validate reports a configuration that cannot work, after zero fields
// have taken their defaults.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Window < 0:
		return fmt.Errorf("cmpp: config: Window %d < 0", c.Window)
	case c.ResponseTimeout < 0:
		return fmt.Errorf("cmpp: config: ResponseTimeout %v < 0", c.ResponseTimeout)
	case c.ActiveTestMisses < 0:
		return fmt.Errorf("cmpp: config: ActiveTestMisses %d < 0", c.ActiveTestMisses)
	case c.MaxPDU < 64 || c.MaxPDU > maxMaxPDU:
		return fmt.Errorf("cmpp: config: MaxPDU %d outside [64, %d]", c.MaxPDU, maxMaxPDU)
	case c.WriteQueue < 0:
		return fmt.Errorf("cmpp: config: WriteQueue %d < 0", c.WriteQueue)
	case c.InboundWindow < 0:
		return fmt.Errorf("cmpp: config: InboundWindow %d < 0", c.InboundWindow)
	case c.ReadTimeout > 0 && c.ActiveTestInterval > 0 && c.ReadTimeout <= c.ActiveTestInterval:
		// An idle but healthy peer would be cut off before we ever probe it.
		return fmt.Errorf("cmpp: config: ReadTimeout %v must exceed ActiveTestInterval %v",
			c.ReadTimeout, c.ActiveTestInterval)
	}
	return nil
}
