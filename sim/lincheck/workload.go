package lincheck

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"
)

// Cluster is what the workload needs of the store under test: a write and
// a read of one key, through the node it names (an index into
// Config.Nodes).
//
// Errors say what the workload may conclude:
//   - wrapping ErrNotApplied: the operation certainly had no effect;
//   - wrapping ErrMisconfigured: no operation can succeed (a wrong token, a
//     value the store refuses); the run stops;
//   - anything else from Write: the write may have been applied.
//
// A read of an empty key returns the zero Value and no error.
type Cluster interface {
	Write(ctx context.Context, node int, key string, v Value) error
	Read(ctx context.Context, node int, key string, stale bool) (Value, error)
}

var (
	// ErrNotApplied marks a failure that certainly left the store as it
	// was: nothing reached the log.
	ErrNotApplied = errors.New("lincheck: not applied")
	// ErrMisconfigured marks a failure no retry can cure.
	ErrMisconfigured = errors.New("lincheck: misconfigured")
)

// Config configures a run. Start from DefaultConfig and set Nodes, Keys
// and Choices.
type Config struct {
	Nodes   []string // node names; each client asks them in turn
	Keys    []string // the key space, which nothing else may write during the run
	Choices []string // what a write puts (with a unique tag), picked at random

	Clients  int           // concurrent clients, each one operation at a time
	Duration time.Duration // no operation starts after it
	// OpsPerClient, if > 0, ends a client after that many operations,
	// before Duration if it comes first.
	OpsPerClient int
	// WriteRatio is the share of operations that write; StaleRatio the
	// share of the reads that are stale.
	WriteRatio, StaleRatio float64
	// OpTimeout bounds one operation. A write that runs out of it has an
	// unknown outcome.
	OpTimeout time.Duration
	// Backoff is a client's pause after a failed operation, so that a
	// dead node is not hammered with connection attempts.
	Backoff time.Duration
	// Seed seeds the clients' choices; 0 picks one from the clock. It
	// also makes the tags of this run's writes differ from another run's.
	Seed uint64
}

// DefaultConfig returns a Config with every tunable set.
func DefaultConfig() Config {
	return Config{
		Clients:    4,
		Duration:   30 * time.Second,
		WriteRatio: 0.5,
		OpTimeout:  5 * time.Second,
		Backoff:    50 * time.Millisecond,
	}
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("lincheck: invalid config: %s %s", field, fmt.Sprintf(format, args...))
	}
	switch {
	case len(c.Nodes) == 0:
		return bad("Nodes", "is empty")
	case len(c.Keys) == 0:
		return bad("Keys", "is empty")
	case len(c.Choices) == 0:
		return bad("Choices", "is empty")
	case c.Clients <= 0:
		return bad("Clients", "must be > 0, got %d", c.Clients)
	case c.Duration <= 0:
		return bad("Duration", "must be > 0, got %v", c.Duration)
	case c.OpsPerClient < 0:
		return bad("OpsPerClient", "must be >= 0, got %d", c.OpsPerClient)
	case c.WriteRatio < 0 || c.WriteRatio > 1:
		return bad("WriteRatio", "must be in [0, 1], got %v", c.WriteRatio)
	case c.StaleRatio < 0 || c.StaleRatio > 1:
		return bad("StaleRatio", "must be in [0, 1], got %v", c.StaleRatio)
	case c.OpTimeout <= 0:
		return bad("OpTimeout", "must be > 0, got %v", c.OpTimeout)
	case c.Backoff < 0:
		return bad("Backoff", "must be >= 0, got %v", c.Backoff)
	}
	if i := slices.Index(c.Choices, ""); i >= 0 {
		return bad(fmt.Sprintf("Choices[%d]", i), "is empty (the empty value means an empty key)")
	}
	return nil
}

// run is one Run's shared, read-only state.
type run struct {
	cl    Cluster
	cfg   Config
	start time.Time
	end   time.Time // no operation starts after it
	tag   string    // this run's part of every write's tag
	seed  uint64
}

// Run runs the workload against cl and returns its history. It ends after
// cfg.Duration, when every client did OpsPerClient operations, or when
// ctx ends (operations in flight are then cut short: unknown writes,
// failed reads); the history is complete in every case. The error is
// cfg's, or ErrMisconfigured from an operation.
func Run(ctx context.Context, cl Cluster, cfg Config) (*History, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	w := &run{cl: cl, cfg: cfg, seed: seed, tag: fmt.Sprintf("%04x", seed&0xffff), start: time.Now()}
	w.end = w.start.Add(cfg.Duration)
	perClient := make([][]Op, cfg.Clients)
	g, gctx := errgroup.WithContext(ctx)
	for id := range cfg.Clients {
		g.Go(func() error {
			var err error
			perClient[id], err = w.client(gctx, id)
			return err
		})
	}
	err := g.Wait()
	h := &History{Nodes: slices.Clone(cfg.Nodes), Clients: cfg.Clients, Ops: slices.Concat(perClient...)}
	slices.SortStableFunc(h.Ops, func(a, b Op) int { return cmp.Compare(a.Call, b.Call) })
	for _, op := range h.Ops {
		h.Elapsed = max(h.Elapsed, op.Return)
	}
	return h, err
}

// since is the time of the run on the monotonic clock.
func (w *run) since() time.Duration { return time.Since(w.start) }

// client runs one client until the run ends, asking the nodes in turn
// (starting from its own offset, so that the clients spread over them
// from the first operation).
func (w *run) client(ctx context.Context, id int) ([]Op, error) {
	rng := rand.New(rand.NewPCG(w.seed, uint64(id)))
	node := id % len(w.cfg.Nodes)
	var ops []Op
	for seq := 0; w.cfg.OpsPerClient == 0 || seq < w.cfg.OpsPerClient; seq++ {
		if ctx.Err() != nil || !time.Now().Before(w.end) {
			break
		}
		op := Op{Client: id, Node: node, Key: w.cfg.Keys[rng.IntN(len(w.cfg.Keys))]}
		node = (node + 1) % len(w.cfg.Nodes)
		switch {
		case rng.Float64() < w.cfg.WriteRatio:
			op.Kind = Write
			op.Value = Value{
				Choice: w.cfg.Choices[rng.IntN(len(w.cfg.Choices))],
				Tag:    fmt.Sprintf("lc%s-c%d-%d", w.tag, id, seq),
			}
		case rng.Float64() < w.cfg.StaleRatio:
			op.Kind = StaleRead
		default:
			op.Kind = Read
		}
		err := w.do(ctx, &op)
		if errors.Is(err, ErrMisconfigured) {
			return ops, fmt.Errorf("client %d, %v of %s via %s: %w", id, op.Kind, op.Key, w.cfg.Nodes[op.Node], err)
		}
		ops = append(ops, op)
		if op.Outcome != OK && !w.pause(ctx) {
			break
		}
	}
	return ops, nil
}

// do runs op and records its times and outcome.
func (w *run) do(ctx context.Context, op *Op) error {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.OpTimeout)
	defer cancel()
	var err error
	op.Call = w.since()
	if op.Kind == Write {
		err = w.cl.Write(ctx, op.Node, op.Key, op.Value)
	} else {
		op.Value, err = w.cl.Read(ctx, op.Node, op.Key, op.Kind == StaleRead)
	}
	op.Return = w.since()
	switch {
	case err == nil:
		op.Outcome = OK
		return nil
	case op.Kind == Write && !errors.Is(err, ErrNotApplied):
		op.Outcome = Unknown
	default:
		op.Outcome = Failed
	}
	if op.Kind != Write {
		op.Value = Value{}
	}
	op.Err = err.Error()
	return err
}

// pause waits Backoff, or until ctx ends (false).
func (w *run) pause(ctx context.Context) bool {
	if w.cfg.Backoff == 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(w.cfg.Backoff)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
