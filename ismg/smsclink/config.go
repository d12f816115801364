package smsclink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/tandem-sms/tandem/smpp"
)

// BindType says how each bind slot binds to the SMSC. The values are the
// strings of the ISMG configuration's bind_type.
type BindType string

const (
	// Transceiver: one bind_transceiver per slot, submitting and receiving.
	Transceiver BindType = "transceiver"
	// Transmitter: one bind_transmitter per slot; receipts must come
	// another way (another link bound as receiver).
	Transmitter BindType = "transmitter"
	// Receiver: one bind_receiver per slot; Submit always fails with
	// ErrNoBind.
	Receiver BindType = "receiver"
	// TxRx: a bind_transmitter and a bind_receiver per slot, for SMSCs
	// without bind_transceiver (SMPP 3.3 style). Each is a socket of its
	// own, so the link opens 2×Binds sockets.
	TxRx BindType = "tx+rx"
)

// modes returns the bind modes of one slot of type t.
func (t BindType) modes() []smpp.BindMode {
	switch t {
	case Transceiver:
		return []smpp.BindMode{smpp.BindTransceiver}
	case Transmitter:
		return []smpp.BindMode{smpp.BindTransmitter}
	case Receiver:
		return []smpp.BindMode{smpp.BindReceiver}
	case TxRx:
		return []smpp.BindMode{smpp.BindTransmitter, smpp.BindReceiver}
	}
	return nil
}

// Clock is the link's time source for everything it schedules itself: the
// throttling pause, the rate limiter and the reconnect backoff. Tests
// inject a fake one to assert on those without waiting. Session timers
// (response timeout, enquire_link) run on real time inside package smpp.
type Clock interface {
	Now() time.Time
	// NewTimer returns a channel that receives once d has passed and a
	// function that stops the timer (reporting whether it was pending).
	NewTimer(d time.Duration) (<-chan time.Time, func() bool)
}

// systemClock is the real clock.
type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// Config describes one SMSC link. Start from DefaultConfig and fill in
// the SMSC's coordinates; zero values are documented per field.
type Config struct {
	// Name identifies the link in logs, errors and Handler calls.
	Name string
	// Address is the SMSC's host:port.
	Address string
	// SystemID, Password and SystemType are sent in every bind
	// (C16, C9 and C13: at most 15, 8 and 12 characters).
	SystemID   string
	Password   string
	SystemType string
	// AddrTON, AddrNPI and AddressRange go into the bind as well; most
	// SMSCs ignore them.
	AddrTON      uint8
	AddrNPI      uint8
	AddressRange string

	// BindType is how each slot binds.
	BindType BindType
	// Binds is the number of bind slots; each keeps one socket open
	// (two for TxRx).
	Binds int
	// Window is the most submit_sm outstanding on one bind.
	Window int
	// Rate caps submit_sm per second across the whole link; 0 means
	// unlimited. Each submit_sm is one segment, so a long message split
	// in n parts costs n.
	Rate float64
	// Burst is how many submits may go back to back before Rate spaces
	// them; 0 means 1 (perfectly smooth).
	Burst int

	// EnquireLink is how long a bind may be idle before we send
	// enquire_link; 0 disables the keep-alive.
	EnquireLink time.Duration
	// ResponseTimeout bounds the wait for every response (submit_sm_resp,
	// enquire_link_resp).
	ResponseTimeout time.Duration
	// ConnectTimeout bounds dialing and binding together.
	ConnectTimeout time.Duration
	// ReconnectMin and ReconnectMax bound the exponential backoff between
	// connection attempts of one slot. Each wait is drawn uniformly from
	// [0, min(ReconnectMax, ReconnectMin·2^attempt)] ("full jitter") so
	// slots and nodes do not reconnect in lockstep. The attempt count
	// resets after a session that stayed bound for ReconnectMax.
	ReconnectMin time.Duration
	ReconnectMax time.Duration
	// ThrottleBackoff is the pause of all new submits after the SMSC
	// answers ESME_RTHROTTLED or ESME_RMSGQFUL. It doubles, up to
	// ThrottleBackoffMax, each time the first submits after a pause are
	// throttled again, and resets after a successful submit.
	ThrottleBackoff    time.Duration
	ThrottleBackoffMax time.Duration
	// ShutdownTimeout bounds the graceful end of each session when Run's
	// context is done: waiting for outstanding submits and deliver
	// handlers, then unbind.
	ShutdownTimeout time.Duration
	// MaxDeliverInFlight bounds the Handler calls running at once for one
	// bind; deliver_sm beyond it are answered ESME_RX_T_APPN at once, so
	// the SMSC retries them later instead of growing our memory.
	MaxDeliverInFlight int

	// Logger receives link events; nil discards them.
	Logger *slog.Logger
	// Clock is the time source of backoffs and the rate limiter; nil means
	// the real clock.
	Clock Clock
	// Dial opens the TCP connection of a bind; nil means net.Dialer. Use
	// it for TLS or a fault-injecting proxy.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// DefaultConfig returns the defaults: one transceiver bind with Kannel's
// window of 10 and 30 s enquire_link (protocols.md §2.8), no rate cap, a
// throttling pause of 1 s doubling up to Kannel's 15 s.
func DefaultConfig() Config {
	return Config{
		BindType:           Transceiver,
		Binds:              1,
		Window:             10,
		EnquireLink:        30 * time.Second,
		ResponseTimeout:    10 * time.Second,
		ConnectTimeout:     10 * time.Second,
		ReconnectMin:       time.Second,
		ReconnectMax:       time.Minute,
		ThrottleBackoff:    time.Second,
		ThrottleBackoffMax: 15 * time.Second,
		ShutdownTimeout:    10 * time.Second,
		MaxDeliverInFlight: 64,
	}
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	var err error
	switch {
	case c.Name == "":
		err = errors.New("Name is required")
	case !validAddress(c.Address):
		err = fmt.Errorf("Address %q: want host:port", c.Address)
	case c.SystemID == "" || len(c.SystemID) > 15:
		err = fmt.Errorf("SystemID %q: want 1..15 characters", c.SystemID)
	case len(c.Password) > 8:
		err = errors.New("Password: at most 8 characters (SMPP 3.4)")
	case len(c.SystemType) > 12:
		err = fmt.Errorf("SystemType %q: at most 12 characters", c.SystemType)
	case len(c.AddressRange) > 40:
		err = errors.New("AddressRange: at most 40 characters")
	case c.BindType.modes() == nil:
		err = fmt.Errorf("BindType %q: want transceiver, transmitter, receiver or tx+rx", c.BindType)
	case c.Binds <= 0 || c.Binds > 1024:
		err = fmt.Errorf("Binds %d: want 1..1024", c.Binds)
	case c.Window <= 0 || c.Window > 65536:
		err = fmt.Errorf("Window %d: want 1..65536", c.Window)
	case c.Rate < 0:
		err = fmt.Errorf("Rate %v: must be >= 0 (0 = unlimited)", c.Rate)
	case c.Burst < 0:
		err = fmt.Errorf("Burst %d: must be >= 0", c.Burst)
	case c.EnquireLink < 0:
		err = errors.New("EnquireLink must be >= 0 (0 disables it)")
	case c.ResponseTimeout <= 0:
		err = errors.New("ResponseTimeout must be > 0")
	case c.ConnectTimeout <= 0:
		err = errors.New("ConnectTimeout must be > 0")
	case c.ReconnectMin <= 0:
		err = errors.New("ReconnectMin must be > 0")
	case c.ReconnectMax < c.ReconnectMin:
		err = fmt.Errorf("ReconnectMax %v: must be >= ReconnectMin %v", c.ReconnectMax, c.ReconnectMin)
	case c.ThrottleBackoff <= 0:
		err = errors.New("ThrottleBackoff must be > 0")
	case c.ThrottleBackoffMax < c.ThrottleBackoff:
		err = fmt.Errorf("ThrottleBackoffMax %v: must be >= ThrottleBackoff %v", c.ThrottleBackoffMax, c.ThrottleBackoff)
	case c.ShutdownTimeout <= 0:
		err = errors.New("ShutdownTimeout must be > 0")
	case c.MaxDeliverInFlight <= 0:
		err = errors.New("MaxDeliverInFlight must be > 0")
	}
	if err != nil {
		return fmt.Errorf("smsclink: config %q: %w", c.Name, err)
	}
	return nil
}

func validAddress(a string) bool {
	host, port, err := net.SplitHostPort(a)
	return err == nil && host != "" && port != ""
}

// sessionConfig derives the smpp session settings of one bind.
func (c Config) sessionConfig(log *slog.Logger) smpp.Config {
	s := smpp.DefaultConfig()
	s.Window = c.Window
	s.RequestTimeout = c.ResponseTimeout
	s.EnquireInterval = c.EnquireLink
	s.EnquireTimeout = c.ResponseTimeout
	// Our requests, the responses to the SMSC's deliveries and a margin,
	// so neither side's window can fill the queue in front of the writer.
	s.WriteQueue = max(64, 2*(c.Window+c.MaxDeliverInFlight))
	s.ReadTimeout = 0
	if c.EnquireLink > 0 {
		// A safety net under the keep-alive: a peer that answers nothing
		// for this long is gone even if enquire_link bookkeeping missed it.
		s.ReadTimeout = 3*c.EnquireLink + c.ResponseTimeout
	}
	s.BindTimeout = 0 // SMSC side only
	s.Logger = log
	return s
}
