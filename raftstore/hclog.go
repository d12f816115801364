package raftstore

import (
	"bytes"
	"context"
	"io"
	"log"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
)

// levelTrace is below slog's Debug, as hclog's Trace is below its Debug.
const levelTrace = slog.LevelDebug - 4

// hclogAdapter is an hclog.Logger that forwards to a *slog.Logger, so raft's
// logs reach the handler the caller injected. Enabling is left to the slog
// handler; SetLevel adds a floor on top of it (shared by loggers derived
// with With/Named, as in hclog).
type hclogAdapter struct {
	root    *slog.Logger // without name and implied args: slog cannot remove attributes
	l       *slog.Logger // root + logger=name + implied
	name    string
	implied []any
	floor   *atomic.Int32 // hclog.Level; NoLevel means none
}

var _ hclog.Logger = (*hclogAdapter)(nil)

func newHCLog(l *slog.Logger, name string) *hclogAdapter {
	return &hclogAdapter{root: l, l: l.With("logger", name), name: name, floor: new(atomic.Int32)}
}

func toSlogLevel(level hclog.Level) slog.Level {
	switch level {
	case hclog.Trace:
		return levelTrace
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	default: // Info, NoLevel
		return slog.LevelInfo
	}
}

func (a *hclogAdapter) enabled(level hclog.Level) bool {
	floor := hclog.Level(a.floor.Load())
	if floor == hclog.Off || (floor != hclog.NoLevel && level < floor) {
		return false
	}
	return a.l.Enabled(context.Background(), toSlogLevel(level))
}

func (a *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	if level == hclog.Off || !a.enabled(level) {
		return
	}
	a.l.Log(context.Background(), toSlogLevel(level), msg, args...)
}

func (a *hclogAdapter) Trace(msg string, args ...any) { a.Log(hclog.Trace, msg, args...) }
func (a *hclogAdapter) Debug(msg string, args ...any) { a.Log(hclog.Debug, msg, args...) }
func (a *hclogAdapter) Info(msg string, args ...any)  { a.Log(hclog.Info, msg, args...) }
func (a *hclogAdapter) Warn(msg string, args ...any)  { a.Log(hclog.Warn, msg, args...) }
func (a *hclogAdapter) Error(msg string, args ...any) { a.Log(hclog.Error, msg, args...) }

func (a *hclogAdapter) IsTrace() bool { return a.enabled(hclog.Trace) }
func (a *hclogAdapter) IsDebug() bool { return a.enabled(hclog.Debug) }
func (a *hclogAdapter) IsInfo() bool  { return a.enabled(hclog.Info) }
func (a *hclogAdapter) IsWarn() bool  { return a.enabled(hclog.Warn) }
func (a *hclogAdapter) IsError() bool { return a.enabled(hclog.Error) }

func (a *hclogAdapter) ImpliedArgs() []any { return a.implied }

func (a *hclogAdapter) With(args ...any) hclog.Logger {
	c := *a
	c.l = a.l.With(args...)
	c.implied = append(a.implied[:len(a.implied):len(a.implied)], args...)
	return &c
}

func (a *hclogAdapter) Name() string { return a.name }

func (a *hclogAdapter) Named(name string) hclog.Logger {
	if a.name != "" {
		name = a.name + "." + name
	}
	return a.ResetNamed(name)
}

func (a *hclogAdapter) ResetNamed(name string) hclog.Logger {
	c := *a
	c.name = name
	c.l = a.root.With("logger", name).With(a.implied...)
	return &c
}

func (a *hclogAdapter) SetLevel(level hclog.Level) { a.floor.Store(int32(level)) }

func (a *hclogAdapter) GetLevel() hclog.Level {
	if f := hclog.Level(a.floor.Load()); f != hclog.NoLevel {
		return f
	}
	for _, lv := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn, hclog.Error} {
		if a.enabled(lv) {
			return lv
		}
	}
	return hclog.Off
}

func (a *hclogAdapter) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(a.StandardWriter(opts), "", 0)
}

func (a *hclogAdapter) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	w := &stdWriter{a: a, level: hclog.Info}
	if opts != nil {
		w.infer = opts.InferLevels || opts.InferLevelsWithTimestamp
		if opts.ForceLevel != hclog.NoLevel {
			w.level, w.infer = opts.ForceLevel, false
		}
	}
	return w
}

// stdWriter turns lines written by a standard library logger into records,
// reading "[WARN]"-style prefixes when asked to as hclog does.
type stdWriter struct {
	a     *hclogAdapter
	level hclog.Level
	infer bool
}

func (w *stdWriter) Write(p []byte) (int, error) {
	msg := string(bytes.TrimRight(p, "\r\n"))
	level := w.level
	if w.infer {
		level, msg = inferLevel(msg, level)
	}
	w.a.Log(level, msg)
	return len(p), nil
}

func inferLevel(msg string, def hclog.Level) (hclog.Level, string) {
	for _, p := range []struct {
		tag   string
		level hclog.Level
	}{
		{"[TRACE]", hclog.Trace}, {"[DEBUG]", hclog.Debug}, {"[INFO]", hclog.Info},
		{"[WARN]", hclog.Warn}, {"[ERR]", hclog.Error}, {"[ERROR]", hclog.Error},
	} {
		if i := strings.Index(msg, p.tag); i >= 0 {
			return p.level, strings.TrimSpace(msg[i+len(p.tag):])
		}
	}
	return def, msg
}
