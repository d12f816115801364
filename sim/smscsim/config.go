package smscsim

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/tandem-sms/tandem/internal/zone"
	"github.com/tandem-sms/tandem/sim/record"
	"github.com/tandem-sms/tandem/smpp"
)

// IDFormat is how the simulator writes a message id: the number it assigns
// is the same, only its spelling changes. Real SMSCs differ here, and some
// answer submit_sm_resp in one format but quote the id in the receipt text in
// another (protocols.md §5.2 item 8); the ISMG must cope.
type IDFormat uint8

// Message id formats. The zero value means "the default": IDHex for
// Config.IDFormat, and Config.IDFormat itself for Config.ReceiptIDFormat.
const (
	IDDefault   IDFormat = iota
	IDHex                // lower-case hex, no padding: "1a2b3c"
	IDHexUpper           // upper-case hex: "1A2B3C"
	IDDecimal            // decimal: "1715004"
	IDDecimal10          // decimal zero-padded to at least 10 digits: "0001715004"
)

// Format spells id n in format f (IDDefault spells hex).
func (f IDFormat) Format(n uint64) string {
	switch f {
	case IDHexUpper:
		return strings.ToUpper(strconv.FormatUint(n, 16))
	case IDDecimal:
		return strconv.FormatUint(n, 10)
	case IDDecimal10:
		return fmt.Sprintf("%010d", n)
	default:
		return strconv.FormatUint(n, 16)
	}
}

func (f IDFormat) String() string {
	switch f {
	case IDDefault:
		return "default"
	case IDHex:
		return "hex"
	case IDHexUpper:
		return "HEX"
	case IDDecimal:
		return "dec"
	case IDDecimal10:
		return "dec10"
	}
	return fmt.Sprintf("idformat(%d)", uint8(f))
}

// ParseIDFormat parses the names String returns: hex, HEX, dec, dec10
// ("decimal" is accepted for dec, "" for default).
func ParseIDFormat(s string) (IDFormat, error) {
	switch s {
	case "", "default":
		return IDDefault, nil
	case "hex":
		return IDHex, nil
	case "HEX":
		return IDHexUpper, nil
	case "dec", "decimal":
		return IDDecimal, nil
	case "dec10":
		return IDDecimal10, nil
	}
	return 0, fmt.Errorf("smscsim: id format %q: want hex, HEX, dec or dec10", s)
}

// StatWeight is one entry of a status mix: receipts carry Stat with
// probability Weight / (sum of weights).
type StatWeight struct {
	Stat   string // DELIVRD, UNDELIV, EXPIRED, REJECTD, DELETED, UNKNOWN, ACCEPTD, ENROUTE
	Weight int
}

// ParseStatusMix parses "DELIVRD=98,UNDELIV=2". Stat words are
// case-insensitive; weights are non-negative integers and not all zero.
func ParseStatusMix(s string) ([]StatWeight, error) {
	var mix []StatWeight
	total := 0
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, w, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("smscsim: status mix %q: entry %q: want STAT=WEIGHT", s, part)
		}
		stat := strings.ToUpper(strings.TrimSpace(name))
		if _, known := smpp.StatState(stat); !known || len(stat) != 7 {
			return nil, fmt.Errorf("smscsim: status mix %q: unknown stat %q", s, name)
		}
		n, err := strconv.Atoi(strings.TrimSpace(w))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("smscsim: status mix %q: weight of %s: want an integer >= 0", s, stat)
		}
		mix = append(mix, StatWeight{Stat: stat, Weight: n})
		total += n
	}
	if total == 0 {
		return nil, fmt.Errorf("smscsim: status mix %q: no positive weight", s)
	}
	return mix, nil
}

// FormatStatusMix is the inverse of ParseStatusMix.
func FormatStatusMix(mix []StatWeight) string {
	parts := make([]string, len(mix))
	for i, m := range mix {
		parts[i] = m.Stat + "=" + strconv.Itoa(m.Weight)
	}
	return strings.Join(parts, ",")
}

// Config configures an SMSC. Start from DefaultConfig.
type Config struct {
	// Addr is the listen address Start uses when given "".
	Addr string
	// SystemID is the id we answer binds with.
	SystemID string
	// Accounts maps system_id to password. Empty accepts any bind.
	Accounts map[string]string

	// ReceiptDelay is how long after the submit_sm a delivery receipt is
	// sent. With ReceiptDelayMax > ReceiptDelay the delay is drawn
	// uniformly from [ReceiptDelay, ReceiptDelayMax].
	ReceiptDelay    time.Duration
	ReceiptDelayMax time.Duration
	// RespDelay is the SMSC's answer time: each submit_sm_resp is sent
	// this long after its submit_sm arrived (0: at once), without holding
	// up the submit_sm behind it, as a real SMSC's pipeline does. It
	// makes the ESME's window, not the SMSC, what paces a fast link.
	RespDelay time.Duration
	// StatusMix weighs the final states of receipts. Empty means all
	// DELIVRD.
	StatusMix []StatWeight
	// StatusFor, if set, chooses the stat of each receipt instead of
	// StatusMix (return "" to fall back to the mix), so tests can make
	// chosen destinations fail deterministically. It runs on the session's
	// reader goroutine, concurrently for different sessions: keep it quick
	// and safe for concurrent use.
	StatusFor func(*Submission) string
	// IDFormat spells message ids in submit_sm_resp and in the
	// receipted_message_id TLV. Zero means IDHex.
	IDFormat IDFormat
	// ReceiptIDFormat spells the id in the receipt text ("id:..."). Zero
	// means IDFormat; set it to the other base to mimic SMSCs whose
	// receipt text disagrees with their submit_sm_resp.
	ReceiptIDFormat IDFormat
	// OmitReceiptTLVs leaves receipted_message_id and message_state out of
	// receipts, so the ESME must rely on the text alone.
	OmitReceiptTLVs bool
	// FirstID is the number of the first message id handed out. Zero
	// derives it from the clock (unix seconds << 20), so that a restarted
	// simulator does not reuse the ids of its previous run.
	FirstID uint64

	// ThrottleEvery answers every Nth submit_sm with ESME_RTHROTTLED;
	// zero disables it.
	ThrottleEvery int
	// MaxRate answers submit_sm with ESME_RTHROTTLED when they arrive
	// faster than this many per second (token bucket, burst MaxRate/10 but
	// at least 1); zero disables it.
	MaxRate float64
	// QueueFull answers every submit_sm with ESME_RMSGQFUL; see also
	// SMSC.SetQueueFull.
	QueueFull bool
	// Down starts the SMSC refusing binds; see SMSC.SetDown.
	Down bool
	// ReceiptFirst sends the receipt of each submit_sm (when a receiver is
	// bound) and waits up to RaceWait for its deliver_sm_resp before
	// answering the submit_sm: the receipt races ahead of the message id.
	ReceiptFirst bool
	// RaceWait bounds how long ReceiptFirst holds a submit_sm_resp back.
	RaceWait time.Duration

	// ReceiptRetry is the pause before a receipt that failed (no answer,
	// temporary error status, session lost) is tried again.
	ReceiptRetry time.Duration
	// ReceiptAttempts is how many times a receipt is tried before it is
	// given up (counted in Stats.ReceiptsFailed). Waiting for a receiver
	// to bind does not use attempts.
	ReceiptAttempts int
	// MaxPendingReceipts bounds the receipts waiting (for their time, for a
	// receiver, or for a retry); beyond it new receipts are dropped and
	// counted in Stats.ReceiptsDropped.
	MaxPendingReceipts int
	// ReceiptWorkers is how many receipts may be in flight (sent, not yet
	// answered) at once, over all sessions; each session's Window bounds
	// its own share.
	ReceiptWorkers int

	// RecordLimit is how many submissions Submitted keeps (and how many
	// refusals Refused keeps); the counters go on regardless. Zero keeps
	// none.
	RecordLimit int
	// Seed seeds the random choices (delays, stats); zero seeds from the
	// clock.
	Seed uint64

	// Record, if set, receives the simulator's ledger (package
	// sim/record): every accepted submit_sm with its message id and the
	// client key found in its text, and every receipt answered OK (or
	// given up). tandem-check joins it with the SP clients' records. The
	// caller closes it after Shutdown or Close.
	Record *record.Writer

	// Location is the zone of the receipts' submit date and done date
	// (SMSCs write local time, as the ISMG reads it: its timezone). Nil
	// means UTC; DefaultConfig sets Asia/Shanghai (internal/zone).
	Location *time.Location

	// Session configures every SMPP session.
	Session smpp.Config
	// Logger receives simulator events; nil discards them.
	Logger *slog.Logger
}

// DefaultConfig returns a simulator that accepts any bind and answers
// every receipt DELIVRD after 50 ms, with hex ids.
func DefaultConfig() Config {
	s := smpp.DefaultConfig()
	s.Window = 64
	s.WriteQueue = 256
	return Config{
		Addr:               "127.0.0.1:2775",
		SystemID:           "smscsim",
		ReceiptDelay:       50 * time.Millisecond,
		StatusMix:          []StatWeight{{Stat: smpp.StatDelivered, Weight: 1}},
		IDFormat:           IDHex,
		RaceWait:           2 * time.Second,
		ReceiptRetry:       time.Second,
		ReceiptAttempts:    10,
		MaxPendingReceipts: 1 << 20,
		ReceiptWorkers:     1024,
		RecordLimit:        100_000,
		Location:           zone.MustLoad(zone.Default),
		Session:            s,
	}
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	var err error
	switch {
	case len(c.SystemID) > 15:
		err = fmt.Errorf("SystemID %q longer than 15 octets", c.SystemID)
	case c.ReceiptDelay < 0:
		err = errors.New("ReceiptDelay must be >= 0")
	case c.RespDelay < 0 || c.RespDelay > time.Minute:
		err = fmt.Errorf("RespDelay %v must be in [0, 1m]", c.RespDelay)
	case c.ReceiptDelayMax != 0 && c.ReceiptDelayMax < c.ReceiptDelay:
		err = errors.New("ReceiptDelayMax must be 0 or >= ReceiptDelay")
	case c.IDFormat > IDDecimal10 || c.ReceiptIDFormat > IDDecimal10:
		err = errors.New("unknown IDFormat")
	case c.ThrottleEvery < 0:
		err = errors.New("ThrottleEvery must be >= 0")
	case c.MaxRate < 0:
		err = errors.New("MaxRate must be >= 0")
	case c.ReceiptFirst && c.RaceWait <= 0:
		err = errors.New("RaceWait must be > 0 with ReceiptFirst")
	case c.ReceiptRetry <= 0:
		err = errors.New("ReceiptRetry must be > 0")
	case c.ReceiptAttempts <= 0:
		err = errors.New("ReceiptAttempts must be > 0")
	case c.MaxPendingReceipts <= 0:
		err = errors.New("MaxPendingReceipts must be > 0")
	case c.ReceiptWorkers <= 0:
		err = errors.New("ReceiptWorkers must be > 0")
	case c.RecordLimit < 0:
		err = errors.New("RecordLimit must be >= 0")
	}
	if err == nil {
		total := 0
		for _, m := range c.StatusMix {
			if _, ok := smpp.StatState(m.Stat); !ok || len(m.Stat) != 7 {
				err = fmt.Errorf("StatusMix: unknown stat %q", m.Stat)
				break
			}
			if m.Weight < 0 {
				err = fmt.Errorf("StatusMix: negative weight for %s", m.Stat)
				break
			}
			total += m.Weight
		}
		if err == nil && len(c.StatusMix) > 0 && total == 0 {
			err = errors.New("StatusMix: no positive weight")
		}
	}
	if err == nil {
		err = c.Session.Validate()
	}
	if err != nil {
		return fmt.Errorf("smscsim: config: %w", err)
	}
	return nil
}
