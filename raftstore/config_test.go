package raftstore

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func TestConfigValidate(t *testing.T) {
	valid := func() Config {
		c := DefaultConfig()
		c.NodeID, c.BindAddr, c.DataDir = "n1", "127.0.0.1:7000", "/tmp/x"
		return c
	}
	if err := valid().Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	tests := []struct {
		field  string
		mutate func(*Config)
	}{
		{"NodeID", func(c *Config) { c.NodeID = "" }},
		{"BindAddr", func(c *Config) { c.BindAddr = "" }},
		{"BindAddr", func(c *Config) { c.BindAddr = "127.0.0.1" }},
		{"BindAddr", func(c *Config) { c.BindAddr = "127.0.0.1:99999" }},
		{"AdvertiseAddr", func(c *Config) { c.BindAddr = "0.0.0.0:7000" }},
		{"AdvertiseAddr", func(c *Config) { c.BindAddr = ":7000" }},
		{"AdvertiseAddr", func(c *Config) { c.BindAddr = "localhost:7000" }},
		{"AdvertiseAddr", func(c *Config) { c.AdvertiseAddr = "0.0.0.0:7000" }},
		{"AdvertiseAddr", func(c *Config) { c.AdvertiseAddr = "10.0.0.1:0" }},
		{"AdvertiseAddr", func(c *Config) { c.AdvertiseAddr = "10.0.0.1" }},
		{"DataDir", func(c *Config) { c.DataDir = "" }},
		{"HeartbeatTimeout", func(c *Config) { c.HeartbeatTimeout = time.Millisecond }},
		{"ElectionTimeout", func(c *Config) { c.ElectionTimeout = c.HeartbeatTimeout - 1 }},
		{"LeaderLeaseTimeout", func(c *Config) { c.LeaderLeaseTimeout = 0 }},
		{"LeaderLeaseTimeout", func(c *Config) { c.LeaderLeaseTimeout = c.HeartbeatTimeout + 1 }},
		{"CommitTimeout", func(c *Config) { c.CommitTimeout = 0 }},
		{"SnapshotInterval", func(c *Config) { c.SnapshotInterval = 0 }},
		{"SnapshotThreshold", func(c *Config) { c.SnapshotThreshold = 0 }},
		{"SnapshotRetain", func(c *Config) { c.SnapshotRetain = 0 }},
		{"MaxPool", func(c *Config) { c.MaxPool = 0 }},
		{"TransportTimeout", func(c *Config) { c.TransportTimeout = 0 }},
		{"ApplyTimeout", func(c *Config) { c.ApplyTimeout = -time.Second }},
	}
	for _, tt := range tests {
		c := valid()
		tt.mutate(&c)
		err := c.Validate()
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.field+" ") {
			t.Errorf("%s: Validate() = %v, want ErrInvalidConfig naming %s", tt.field, err, tt.field)
		}
	}

	// An unspecified bind address is fine with an explicit advertise address.
	c := valid()
	c.BindAddr, c.AdvertiseAddr = "0.0.0.0:7000", "10.0.0.1:7000"
	if err := c.Validate(); err != nil {
		t.Errorf("bind 0.0.0.0 with advertise: %v", err)
	}
	c.AdvertiseAddr = "gns1.example:7000"
	if err := c.Validate(); err != nil {
		t.Errorf("advertise by host name: %v", err)
	}
}

// The defaults must satisfy raft's own checks, not only ours.
func TestDefaultConfigPassesRaft(t *testing.T) {
	c := DefaultConfig()
	c.NodeID = "n1"
	if err := raft.ValidateConfig(raftConfig(c, testLogger(t))); err != nil {
		t.Fatal(err)
	}
}
