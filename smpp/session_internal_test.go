package smpp

import (
	"errors"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/internal/stucknet"
)

func TestSequenceWraps(t *testing.T) {
	var s Session
	s.seq.Store(MaxSeq - 1)
	if got := s.nextSeq(); got != MaxSeq {
		t.Fatalf("got %#x", got)
	}
	if got := s.nextSeq(); got != 1 {
		t.Fatalf("after MaxSeq got %#x, want 1", got)
	}
	s.seq.Store(0xFFFFFFFF)
	if got := s.nextSeq(); got != 1 {
		t.Fatalf("after uint32 wrap got %#x, want 1", got)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, mod := range []func(*Config){
		func(c *Config) { c.Window = 0 },
		func(c *Config) { c.RequestTimeout = 0 },
		func(c *Config) { c.EnquireTimeout = 0 },
		func(c *Config) { c.WriteTimeout = 0 },
		func(c *Config) { c.WriteQueue = 0 },
		func(c *Config) { c.MaxPDU = 3 },
		func(c *Config) { c.BindTimeout = -1 },
		func(c *Config) { c.PDUTimeout = -1 },
	} {
		c := DefaultConfig()
		mod(&c)
		if c.Validate() == nil {
			t.Errorf("invalid config accepted: %+v", c)
		}
	}
}

// RespondNoWait never blocks: with the writer stuck on a peer that does not
// read, it reports ErrWriteQueueFull once the queue is full and leaves the
// request answerable.
func TestRespondNoWaitQueueFull(t *testing.T) {
	conn := stucknet.Dial(t)
	cfg := DefaultConfig()
	cfg.WriteQueue, cfg.WriteTimeout, cfg.EnquireInterval = 4, time.Minute, 0
	s, err := NewSession(conn, RoleESME, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		s.Close()
		<-s.Done()
	}()
	var last *Request
	for i := range 1 << 20 {
		last = &Request{Header: Header{ID: CmdDeliverSM, Seq: uint32(i + 1)}, PDU: &DeliverSM{}, s: s}
		s.win.owe(1)
		err = last.RespondNoWait(&DeliverSMResp{}, StatusOK)
		if err != nil {
			break
		}
	}
	if !errors.Is(err, ErrWriteQueueFull) {
		t.Fatalf("RespondNoWait = %v, want ErrWriteQueueFull", err)
	}
	if last.done.Load() {
		t.Fatal("a refused RespondNoWait marked the request answered")
	}
	bind := &Request{Header: Header{ID: CmdBindTransceiver, Seq: 1}, PDU: &Bind{}, s: s}
	if err := bind.RespondNoWait(nil, StatusOK); err == nil {
		t.Fatal("RespondNoWait answered a bind")
	}
}
