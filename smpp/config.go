package smpp

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Config tunes a Session. Start from DefaultConfig; zero values are
// documented per field.
type Config struct {
	// Window is the most requests we may have outstanding (sent, not yet
	// answered). A full window fails Send fast with ErrWindowFull.
	Window int
	// RequestTimeout bounds the wait for each response.
	RequestTimeout time.Duration
	// EnquireInterval is how long the link may be idle (nothing read)
	// before we send enquire_link. Zero disables the keep-alive.
	EnquireInterval time.Duration
	// EnquireTimeout: no enquire_link_resp within this long means the peer
	// is dead and the session closes with ErrPeerDead.
	EnquireTimeout time.Duration
	// ReadTimeout closes the session when nothing at all is read for this
	// long: a safety net under the keep-alive, which normally makes the peer
	// answer well within it. Zero disables it. Every byte renews it, so it
	// does not stop a peer that trickles a PDU in: PDUTimeout does.
	ReadTimeout time.Duration
	// PDUTimeout is how long a PDU may take to arrive whole, counted from
	// its first byte and not renewed by later ones: a peer that sends one
	// byte every few seconds is cut off (ErrPDUTimeout) instead of holding
	// the session for ever. It applies to the bind too. Idleness between
	// PDUs is the keep-alive's business, not this. Zero disables it.
	PDUTimeout time.Duration
	// WriteTimeout bounds every network write; a peer that stops reading
	// makes the session fail after this long instead of buffering.
	WriteTimeout time.Duration
	// WriteQueue is the capacity of the queue in front of the writer. Keep
	// it at least twice Window (our requests plus responses to the peer's
	// window) so two well-behaved peers never both block on full queues.
	WriteQueue int
	// MaxPDU bounds command_length of received PDUs; checked before the
	// body is allocated.
	MaxPDU uint32
	// BindTimeout closes an SMSC-side session that is not bound this long
	// after it was accepted (the spec's session_init_timer). Zero disables.
	BindTimeout time.Duration
	// Logger receives session events; nil discards them.
	Logger *slog.Logger
	// Stats, if set, is shared by every session using this Config (e.g. all
	// sessions of a Server) so the owner can export the counters. Nil gives
	// each session its own.
	Stats *Stats
}

// DefaultPDUTimeout is DefaultConfig's PDUTimeout: the largest PDU a peer
// may send us is a few KB, which any live peer sends in far less.
const DefaultPDUTimeout = 30 * time.Second

// DefaultConfig returns the defaults: Kannel's window of 10 and 30 s
// enquire_link interval (protocols.md §2.8).
func DefaultConfig() Config {
	return Config{
		Window:          10,
		RequestTimeout:  10 * time.Second,
		EnquireInterval: 30 * time.Second,
		EnquireTimeout:  10 * time.Second,
		ReadTimeout:     2 * time.Minute,
		PDUTimeout:      DefaultPDUTimeout,
		WriteTimeout:    10 * time.Second,
		WriteQueue:      64,
		MaxPDU:          DefaultMaxPDU,
		BindTimeout:     30 * time.Second,
	}
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	var err error
	switch {
	case c.Window <= 0:
		err = errors.New("Window must be > 0")
	case c.RequestTimeout <= 0:
		err = errors.New("RequestTimeout must be > 0")
	case c.EnquireInterval < 0:
		err = errors.New("EnquireInterval must be >= 0")
	case c.EnquireInterval > 0 && c.EnquireTimeout <= 0:
		err = errors.New("EnquireTimeout must be > 0 when EnquireInterval is set")
	case c.ReadTimeout < 0:
		err = errors.New("ReadTimeout must be >= 0")
	case c.PDUTimeout < 0:
		err = errors.New("PDUTimeout must be >= 0")
	case c.WriteTimeout <= 0:
		err = errors.New("WriteTimeout must be > 0")
	case c.WriteQueue <= 0:
		err = errors.New("WriteQueue must be > 0")
	case c.MaxPDU < HeaderLen:
		err = fmt.Errorf("MaxPDU must be >= %d", HeaderLen)
	case c.BindTimeout < 0:
		err = errors.New("BindTimeout must be >= 0")
	}
	if err != nil {
		return fmt.Errorf("smpp: config: %w", err)
	}
	return nil
}
