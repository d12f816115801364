package ismg

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// HAConfig is the node's part in region HA (ha: in the YAML): it owns its
// store through a lease in the GNS, and may adopt the stores of sibling
// nodes of its gateway when they are gone (lease.go, adopt.go). Off when
// the block is absent.
type HAConfig struct {
	// Node is this node's name among the gateway's nodes: the holder name
	// in the GNS leases. Required.
	Node string `yaml:"node"`
	// StoreID names this node's store in the GNS (default <gateway
	// code>-<node>). It must stay with the data_dir: a sibling adopting
	// the store names it so.
	StoreID string `yaml:"store_id"`
	// LeaseTTL is how long a lease lives unless renewed (default 10s);
	// the node renews it every RenewInterval (default LeaseTTL/3) and
	// fences itself (stops serving, exits non-zero) when a renewal says it
	// lost the lease or none succeeded within LeaseTTL.
	LeaseTTL      time.Duration `yaml:"lease_ttl"`
	RenewInterval time.Duration `yaml:"renew_interval"`
	// AdoptAfter is how long a sibling's lease must have lapsed, by the
	// GNS leader's clock, before this node adopts its store automatically
	// (default 30s). PollInterval is how often the leases are read
	// (default 1s).
	AdoptAfter   time.Duration `yaml:"adopt_after"`
	PollInterval time.Duration `yaml:"poll_interval"`
	// Adoptable lists the sibling stores this node may adopt.
	Adoptable []AdoptableStore `yaml:"adoptable"`
}

// AdoptableStore is a sibling's store this node may take over.
type AdoptableStore struct {
	// StoreID is the store's id in the GNS (the sibling's ha.store_id).
	StoreID string `yaml:"store_id"`
	// Config is the sibling's own configuration file, on the shared
	// volume: its data_dir (the store), billing dir, SP accounts and SMSC
	// accounts (the adopter binds with them to collect the receipts owed
	// to the sibling). Relative to this file.
	Config string `yaml:"config"`
	// Manual turns automatic adoption off: only ismgctl adopt takes it.
	Manual bool `yaml:"manual"`
}

func defaultHA(h *HAConfig, gw string) {
	if h.StoreID == "" && h.Node != "" {
		h.StoreID = gw + "-" + h.Node
	}
	if h.LeaseTTL == 0 {
		h.LeaseTTL = 10 * time.Second
	}
	if h.RenewInterval == 0 {
		h.RenewInterval = h.LeaseTTL / 3
	}
	if h.AdoptAfter == 0 {
		h.AdoptAfter = 30 * time.Second
	}
	if h.PollInterval == 0 {
		h.PollInterval = time.Second
	}
}

// haConfig returns the ha block with its defaults, or nil when HA is off.
func (c *Config) haConfig() *HAConfig {
	if c.HA == nil {
		return nil
	}
	h := *c.HA
	defaultHA(&h, c.Gateway.Code)
	return &h
}

// adoptableConfigPath resolves a's config file against this file's folder.
func (c *Config) adoptableConfigPath(a AdoptableStore) string {
	if a.Config == "" || filepath.IsAbs(a.Config) || c.path == "" {
		return a.Config
	}
	return filepath.Join(filepath.Dir(c.path), a.Config)
}

func validLeaseName(s string) bool {
	return s != "" && len(s) <= 128 && !strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f })
}

// checkHA validates the ha block.
func (c *Config) checkHA(bad badFunc) {
	h := c.haConfig()
	if h == nil {
		return
	}
	if !validLeaseName(h.Node) {
		bad("ha.node", "want a name of 1..128 characters without spaces, got %q", h.Node)
	}
	if !validLeaseName(h.StoreID) {
		bad("ha.store_id", "want 1..128 characters without spaces, got %q", h.StoreID)
	}
	if len(c.Routes.GNS) == 0 {
		bad("ha", "needs routes.gns: the store leases live in the GNS")
	}
	if h.LeaseTTL < 100*time.Millisecond || h.LeaseTTL > time.Hour {
		bad("ha.lease_ttl", "want 100ms..1h, got %v", h.LeaseTTL)
	}
	if h.RenewInterval <= 0 || h.RenewInterval >= h.LeaseTTL {
		bad("ha.renew_interval", "want 0 < renew_interval < lease_ttl (%v), got %v", h.LeaseTTL, h.RenewInterval)
	}
	if h.AdoptAfter < 0 {
		bad("ha.adopt_after", "negative: %v", h.AdoptAfter)
	}
	if h.PollInterval <= 0 {
		bad("ha.poll_interval", "want > 0, got %v", h.PollInterval)
	}
	seen := map[string]bool{h.StoreID: true}
	for i, a := range h.Adoptable {
		key := fmt.Sprintf("ha.adoptable[%d]", i)
		if !validLeaseName(a.StoreID) {
			bad(key+".store_id", "want 1..128 characters without spaces, got %q", a.StoreID)
		} else if seen[a.StoreID] {
			bad(key+".store_id", "%q listed twice (or this node's own store)", a.StoreID)
		}
		seen[a.StoreID] = true
		if a.Config == "" {
			bad(key+".config", "required: the sibling's configuration file (its data_dir and SMSC accounts)")
		}
	}
}
