package lincheck

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// memStore is a semantic fake of a replicated store, in memory: node 0
// holds the registers; every node reads them linearizably, and with
// staleNode set that node answers every read from a copy that never
// changes, as a follower cut off from its leader would with stale reads.
// With unknownEvery, every so many writes is applied and then answered
// with an error (the answer was lost), and the next one is refused
// without being applied (ErrNotApplied).
type memStore struct {
	mu           sync.Mutex
	regs, frozen map[string]Value
	staleNode    int // -1: none
	unknownEvery int
	writes       int
	misconfig    bool
}

func newMemStore() *memStore {
	return &memStore{regs: map[string]Value{}, frozen: map[string]Value{}, staleNode: -1}
}

func (s *memStore) Write(ctx context.Context, node int, key string, v Value) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.misconfig {
		return fmt.Errorf("%w: wrong token", ErrMisconfigured)
	}
	s.writes++
	if s.unknownEvery > 0 {
		switch s.writes % s.unknownEvery {
		case 0:
			s.regs[key] = v
			return errors.New("leader lost before confirming the commit")
		case 1:
			return fmt.Errorf("%w: connection refused", ErrNotApplied)
		}
	}
	s.regs[key] = v
	return nil
}

func (s *memStore) Read(ctx context.Context, node int, key string, stale bool) (Value, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if node == s.staleNode {
		return s.frozen[key], nil
	}
	return s.regs[key], nil
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Nodes = []string{"n1", "n2", "n3"}
	cfg.Keys = []string{"1990000", "1990001", "1990002"}
	cfg.Choices = []string{"001001", "020001"}
	cfg.Duration = time.Minute // OpsPerClient ends the runs
	cfg.OpsPerClient = 300
	cfg.Backoff = 0
	cfg.Seed = 7
	return cfg
}

func runAndCheck(t *testing.T, s *memStore, cfg Config) Result {
	t.Helper()
	h, err := Run(t.Context(), s, cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	res, err := Check(h, CheckOptions{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestWorkloadOnLinearizableStore(t *testing.T) {
	cfg := testConfig()
	res := runAndCheck(t, newMemStore(), cfg)
	if !res.Linearizable {
		t.Fatalf("a linearizable store failed the check: %s", res.Summary())
	}
	total := res.WritesOK + res.ReadsOK
	if total != cfg.Clients*cfg.OpsPerClient || res.Checked != total {
		t.Errorf("ops: %s; want %d, all checked", res.Summary(), cfg.Clients*cfg.OpsPerClient)
	}
	if res.WritesOK == 0 || res.ReadsOK == 0 {
		t.Errorf("want writes and reads: %s", res.Summary())
	}
	for _, n := range res.Nodes {
		if n.WritesOK == 0 || n.ReadsOK == 0 {
			t.Errorf("node %s got no write or no read: every client asks every node in turn: %+v", n.Node, n.Counts)
		}
	}
}

// Writes whose answer was lost are checked as possibly applied, writes
// refused as not applied: a store that does exactly that is linearizable.
func TestWorkloadUnknownOutcomes(t *testing.T) {
	s := newMemStore()
	s.unknownEvery = 5
	res := runAndCheck(t, s, testConfig())
	if !res.Linearizable {
		t.Fatalf("check: %s", res.Summary())
	}
	if res.WritesUnknown == 0 || res.WritesFailed == 0 {
		t.Fatalf("want unknown and failed writes: %s", res.Summary())
	}
	if res.Checked != res.WritesOK+res.WritesUnknown+res.ReadsOK {
		t.Errorf("checked %d, want ok and unknown writes and ok reads: %s", res.Checked, res.Summary())
	}
	var all strings.Builder
	for _, e := range res.Errors {
		all.WriteString(e.Err + "\n")
	}
	for _, want := range []string{"connection refused", "leader lost"} {
		if !strings.Contains(all.String(), want) {
			t.Errorf("errors lack %q: %+v", want, res.Errors)
		}
	}
}

// The workload and the check together catch a node serving stale reads
// as linearizable ones.
func TestWorkloadCatchesStaleNode(t *testing.T) {
	s := newMemStore()
	s.staleNode = 2
	cfg := testConfig()
	cfg.Keys = cfg.Keys[:1]
	res := runAndCheck(t, s, cfg)
	if res.Linearizable || res.Verdict != NotLinearizable {
		t.Fatalf("a stale node passed the check: %s", res.Summary())
	}
}

// Stale reads are counted and never checked: a node that lags on them is
// no violation.
func TestWorkloadStaleReadsUnchecked(t *testing.T) {
	s := newMemStore()
	s.staleNode = 2
	cfg := testConfig()
	cfg.Nodes = cfg.Nodes[2:] // every read goes to the stale node...
	cfg.StaleRatio = 1        // ...and asks for a stale one
	res := runAndCheck(t, s, cfg)
	if !res.Linearizable || res.StaleOK == 0 || res.ReadsOK != 0 {
		t.Fatalf("check: %s", res.Summary())
	}
}

func TestWorkloadStopsWhenMisconfigured(t *testing.T) {
	s := newMemStore()
	s.misconfig = true
	cfg := testConfig()
	cfg.WriteRatio = 1
	_, err := Run(t.Context(), s, cfg)
	if !errors.Is(err, ErrMisconfigured) {
		t.Fatalf("Run: %v, want ErrMisconfigured", err)
	}
}

// A run ends when its context does; what was recorded is kept.
func TestWorkloadEndsWithContext(t *testing.T) {
	cfg := testConfig()
	cfg.OpsPerClient = 0
	ctx, cancel := context.WithCancel(t.Context())
	s := &countingStore{memStore: newMemStore(), after: 100, cancel: cancel}
	h, err := Run(ctx, s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Ops) < 100 {
		t.Fatalf("%d ops recorded, want at least 100", len(h.Ops))
	}
}

// countingStore cancels the run after a number of reads.
type countingStore struct {
	*memStore
	mu     sync.Mutex
	reads  int
	after  int
	cancel context.CancelFunc
}

func (s *countingStore) Read(ctx context.Context, node int, key string, stale bool) (Value, error) {
	s.mu.Lock()
	s.reads++
	if s.reads == s.after {
		s.cancel()
	}
	s.mu.Unlock()
	return s.memStore.Read(ctx, node, key, stale)
}

func TestConfigValidate(t *testing.T) {
	if err := testConfig().Validate(); err != nil {
		t.Fatalf("test config: %v", err)
	}
	for _, c := range []struct {
		field string
		edit  func(*Config)
	}{
		{"Nodes", func(c *Config) { c.Nodes = nil }},
		{"Keys", func(c *Config) { c.Keys = nil }},
		{"Choices", func(c *Config) { c.Choices = nil }},
		{"Choices[1]", func(c *Config) { c.Choices = []string{"a", ""} }},
		{"Clients", func(c *Config) { c.Clients = 0 }},
		{"Duration", func(c *Config) { c.Duration = 0 }},
		{"OpsPerClient", func(c *Config) { c.OpsPerClient = -1 }},
		{"WriteRatio", func(c *Config) { c.WriteRatio = 1.5 }},
		{"StaleRatio", func(c *Config) { c.StaleRatio = -0.1 }},
		{"OpTimeout", func(c *Config) { c.OpTimeout = 0 }},
		{"Backoff", func(c *Config) { c.Backoff = -time.Second }},
	} {
		cfg := testConfig()
		c.edit(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.field+" ") {
			t.Errorf("%s: Validate = %v", c.field, err)
		}
	}
}
