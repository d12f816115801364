package smpp

import "testing"

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
	} {
		c := DefaultConfig()
		mod(&c)
		if c.Validate() == nil {
			t.Errorf("invalid config accepted: %+v", c)
		}
	}
}
