package ismg

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// The console's recent errors: the node's logger is wrapped (New) so that
// every warn and error record is also kept in a small ring, whatever the
// level the logger itself writes.

// errorRingCap is how many warn/error records the ring keeps.
const errorRingCap = 100

// LogRecord is one kept log record, as /status shows it.
type LogRecord struct {
	Time    time.Time         `json:"time"`
	Level   string            `json:"level"`
	Message string            `json:"message"`
	Attrs   map[string]string `json:"attrs"`
}

type errorRing struct {
	mu   sync.Mutex
	recs []LogRecord // at most errorRingCap, oldest first
}

func (r *errorRing) add(rec LogRecord) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.recs) == errorRingCap {
		r.recs = slices.Delete(r.recs, 0, 1)
	}
	r.recs = append(r.recs, rec)
}

// recent returns the kept records, newest first.
func (r *errorRing) recent() []LogRecord {
	r.mu.Lock()
	out := slices.Clone(r.recs)
	r.mu.Unlock()
	slices.Reverse(out)
	if out == nil {
		out = []LogRecord{}
	}
	return out
}

// ringHandler passes records to inner and keeps those at warn and above.
type ringHandler struct {
	inner  slog.Handler
	ring   *errorRing
	attrs  []slog.Attr // from WithAttrs, keys prefixed with their groups
	prefix string      // groups opened by WithGroup, "a.b."
}

func (h *ringHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn || h.inner.Enabled(ctx, l)
}

func (h *ringHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		rec := LogRecord{Time: r.Time, Level: r.Level.String(), Message: r.Message, Attrs: map[string]string{}}
		for _, a := range h.attrs {
			rec.Attrs[a.Key] = a.Value.String()
		}
		r.Attrs(func(a slog.Attr) bool {
			rec.Attrs[h.prefix+a.Key] = a.Value.Resolve().String()
			return true
		})
		h.ring.add(rec)
	}
	if h.inner.Enabled(ctx, r.Level) {
		return h.inner.Handle(ctx, r)
	}
	return nil
}

func (h *ringHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.inner = h.inner.WithAttrs(as)
	c.attrs = slices.Clip(h.attrs)
	for _, a := range as {
		c.attrs = append(c.attrs, slog.Attr{Key: h.prefix + a.Key, Value: a.Value.Resolve()})
	}
	return &c
}

func (h *ringHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.inner = h.inner.WithGroup(name)
	c.prefix = h.prefix + name + "."
	return &c
}
