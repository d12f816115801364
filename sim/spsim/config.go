package spsim

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
	"github.com/tandem-sms/tandem/sim/record"
	"github.com/tandem-sms/tandem/smstext"
)

// Config configures a load run. Start from DefaultConfig.
type Config struct {
	// Addr is the ISMG's CMPP address.
	Addr string
	// Addrs, when set, replaces Addr with several addresses of one
	// gateway: its nodes (region HA). Every connection dials Addrs[0]
	// first; a reconnect (ReconnectTimeout) dials the address after the
	// one the connection last used, then the next, in turn, so an SP
	// whose node died logs in at a sibling at once.
	Addrs []string
	// SPID is the SP_Id: CONNECT Source_Addr and SUBMIT Msg_src.
	SPID string
	// Secret is the SP's shared secret.
	Secret string
	// Version is the CMPP version spoken (V20, V21 or V30).
	Version cmpp.Version
	// Connections is the number of CMPP connections; messages are spread
	// over them.
	Connections int
	// Window is the most SUBMITs unanswered per connection.
	Window int
	// Rate is the offered load in SUBMITs per second over all
	// connections, open loop (SUBMIT k is due at start + k/Rate, and
	// latency is timed from that due time); zero sends as fast as the
	// windows allow, timing each SUBMIT from its send.
	Rate float64
	// Total is the number of messages to send (a long message counts once
	// and sends one SUBMIT per segment). Zero means until Duration.
	Total int
	// Duration stops sending after this long. Zero means until Total.
	Duration time.Duration

	// Dests are the destination MSISDNs, used in turn. When empty, each
	// message goes to DestPrefix followed by random digits up to DestLen.
	Dests      []string
	DestPrefix string
	DestLen    int

	// SUBMIT fields.
	SrcID              string // Src_Id: the SP service code
	ServiceID          string // Service_Id
	FeeUserType        uint8
	FeeType            string // "01" free, "02" per message, "03" monthly
	FeeCode            string // fen
	FeeTerminalID      string
	RegisteredDelivery uint8 // 1 asks for a status report
	MsgLevel           uint8

	// Text is the message content, encoded in Coding (ASCII, UCS2 or
	// GBK). Text that does not fit one SUBMIT is split into segments
	// with an 8-bit-reference UDH (TP_udhi=1, Pk_total/Pk_number set), one
	// SUBMIT and one Msg_Id each. Empty Text means a short sample text, or
	// with Long a sample three segments long.
	Text   string
	Coding smstext.Coding
	Long   bool

	// WaitReports keeps Run going after the last SUBMIT_RESP until every
	// acked SUBMIT got its status report or ReportTimeout passed.
	WaitReports   bool
	ReportTimeout time.Duration

	// ConnectTimeout bounds each CONNECT.
	ConnectTimeout time.Duration

	// ReconnectTimeout, when > 0, keeps a connection that dropped (the
	// gateway crashed, restarted or closed it) coming back: it is dialled
	// again at once, then after ReconnectWait, doubling up to
	// ReconnectMaxWait (each wait ±20%), until a session is up or
	// ReconnectTimeout has passed since the drop. The SUBMITs the drop
	// left without a SUBMIT_RESP are sent again, as new SUBMITs, on the
	// new session (Result.Resent), and status reports are awaited across
	// reconnects. Zero: a dropped connection stays down, and a run whose
	// connections all dropped fails. The first CONNECT is never retried:
	// a gateway that refuses it is a setup error.
	ReconnectTimeout time.Duration
	ReconnectWait    time.Duration
	ReconnectMaxWait time.Duration

	// Record, if set, receives the run's ledger (package sim/record):
	// every SUBMIT, its answer, every status report and every reconnect.
	// It also makes every SUBMIT's text start with its client key
	// (record.Prefix), which is how an SMSC's record is joined to it. The
	// caller closes it after Run.
	Record *record.Writer
	// RunID names the run in its record and keys: 8 lower-case hex
	// digits. Empty draws one at random.
	RunID string
	// Session configures the CMPP sessions; Window is taken from Window.
	Session cmpp.Config
	// Seed seeds the destination generator; zero seeds from the clock.
	Seed uint64
	// Logger receives connection events; nil discards them.
	Logger *slog.Logger
}

// DefaultConfig returns a single-connection CMPP 3.0 run of 1000 ASCII
// messages with status reports, against the test account of cmpptest.
func DefaultConfig() Config {
	return Config{
		Addr:               "127.0.0.1:7890",
		SPID:               "901234",
		Secret:             "s3cr3t",
		Version:            cmpp.V30,
		Connections:        1,
		Window:             16,
		Total:              1000,
		DestPrefix:         "1380013",
		DestLen:            11,
		SrcID:              "10657001",
		ServiceID:          "SPSIM",
		FeeType:            "01",
		FeeCode:            "000000",
		RegisteredDelivery: 1,
		Coding:             smstext.ASCII,
		ReportTimeout:      30 * time.Second,
		ConnectTimeout:     10 * time.Second,
		ReconnectWait:      100 * time.Millisecond,
		ReconnectMaxWait:   2 * time.Second,
		Session:            sessionConfig(),
	}
}

// sessionConfig is cmpp.DefaultConfig with room for the DELIVERs a gateway
// keeps in flight: spsim answers each at once, so refusing them with flow
// control past the spec's 16 would only make the gateway back off and
// delay the status reports being measured. The DELIVER handler only
// counts and replies, so it runs on the session's reader.
func sessionConfig() cmpp.Config {
	c := cmpp.DefaultConfig()
	c.InboundWindow = 1024
	c.InlineHandler = true
	return c
}

// ParseCoding parses ascii, ucs2 or gbk.
func ParseCoding(s string) (smstext.Coding, error) {
	switch strings.ToLower(s) {
	case "ascii":
		return smstext.ASCII, nil
	case "ucs2":
		return smstext.UCS2, nil
	case "gbk":
		return smstext.GBK, nil
	}
	return 0, fmt.Errorf("spsim: coding %q: want ascii, ucs2 or gbk", s)
}

// ParseVersion parses 2.0, 2.1 or 3.0.
func ParseVersion(s string) (cmpp.Version, error) {
	switch s {
	case "2.0", "20":
		return cmpp.V20, nil
	case "2.1", "21":
		return cmpp.V21, nil
	case "3.0", "30", "3":
		return cmpp.V30, nil
	}
	return 0, fmt.Errorf("spsim: version %q: want 2.0, 2.1 or 3.0", s)
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	termLen := 21
	if c.Version.Is3() {
		termLen = 32
	}
	var err error
	switch {
	case len(c.Addrs) == 0 && c.Addr == "":
		err = errors.New("Addr is empty")
	case slices.Contains(c.Addrs, ""):
		err = fmt.Errorf("Addrs %q: an empty address", c.Addrs)
	case c.SPID == "" || len(c.SPID) > 6:
		err = fmt.Errorf("SPID %q: want 1 to 6 characters", c.SPID)
	case c.Version != cmpp.V20 && c.Version != cmpp.V21 && c.Version != cmpp.V30:
		err = fmt.Errorf("Version %v: want 2.0, 2.1 or 3.0", c.Version)
	case c.Connections <= 0:
		err = errors.New("Connections must be > 0")
	case c.Window <= 0:
		err = errors.New("Window must be > 0")
	case c.Rate < 0:
		err = errors.New("Rate must be >= 0")
	case c.Total < 0 || c.Duration < 0:
		err = errors.New("Total and Duration must be >= 0")
	case c.Total == 0 && c.Duration == 0:
		err = errors.New("set Total or Duration (or both)")
	case len(c.Dests) == 0 && (c.DestLen > termLen || c.DestLen < len(c.DestPrefix) || !isDigits(c.DestPrefix)):
		err = fmt.Errorf("DestPrefix %q / DestLen %d: want a digit prefix no longer than DestLen (at most %d)", c.DestPrefix, c.DestLen, termLen)
	case len(c.DestPrefix) == 0 && len(c.Dests) == 0 && c.DestLen == 0:
		err = errors.New("no destinations: set Dests or DestPrefix/DestLen")
	case len(c.SrcID) > 21:
		err = fmt.Errorf("SrcID %q longer than 21", c.SrcID)
	case len(c.ServiceID) > 10:
		err = fmt.Errorf("ServiceID %q longer than 10", c.ServiceID)
	case len(c.FeeType) > 2 || len(c.FeeCode) > 6:
		err = fmt.Errorf("FeeType %q / FeeCode %q longer than 2 / 6", c.FeeType, c.FeeCode)
	case len(c.FeeTerminalID) > termLen:
		err = fmt.Errorf("FeeTerminalID longer than %d", termLen)
	case c.RegisteredDelivery > 2 || (c.RegisteredDelivery == 2 && c.Version.Is3()):
		err = fmt.Errorf("RegisteredDelivery %d: want 0 or 1 (2 in CMPP 2.x only)", c.RegisteredDelivery)
	case c.Coding != smstext.ASCII && c.Coding != smstext.UCS2 && c.Coding != smstext.GBK:
		err = fmt.Errorf("Coding %v: want ascii, ucs2 or gbk", c.Coding)
	case c.WaitReports && c.ReportTimeout <= 0:
		err = errors.New("ReportTimeout must be > 0 with WaitReports")
	case c.ConnectTimeout <= 0:
		err = errors.New("ConnectTimeout must be > 0")
	case c.ReconnectTimeout < 0:
		err = errors.New("ReconnectTimeout must be >= 0")
	case c.ReconnectTimeout > 0 && (c.ReconnectWait <= 0 || c.ReconnectMaxWait < c.ReconnectWait):
		err = fmt.Errorf("ReconnectWait %v / ReconnectMaxWait %v: want 0 < wait <= max wait", c.ReconnectWait, c.ReconnectMaxWait)
	case c.RunID != "" && !record.ValidRunID(c.RunID):
		err = fmt.Errorf("RunID %q: want 8 lower-case hex digits", c.RunID)
	}
	if err == nil {
		for _, d := range c.Dests {
			if d == "" || len(d) > termLen {
				err = fmt.Errorf("destination %q: want 1 to %d characters", d, termLen)
				break
			}
		}
	}
	if err == nil {
		err = c.Session.Validate()
	}
	if err != nil {
		return fmt.Errorf("spsim: config: %w", err)
	}
	return nil
}

// addrs returns the addresses to dial: Addrs, or Addr alone.
func (c Config) addrs() []string {
	if len(c.Addrs) > 0 {
		return c.Addrs
	}
	return []string{c.Addr}
}
