// Package logging is the one log format of every Tandem command: JSON
// lines on stderr by default, slog's key=value text with -log-format text.
// In both, durations are written as Go duration strings ("1.5s"), not
// slog's JSON nanoseconds, so a reader sees the same value either way.
//
// Commands add the two flags with AddFlags and build their logger with
// Flags.New; libraries take the *slog.Logger they are given.
package logging

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
)

// The values of -log-format.
const (
	FormatJSON = "json" // the default: one JSON object per line
	FormatText = "text" // slog's TextHandler: key=value pairs
)

// Flags are a command's -log-level and -log-format.
type Flags struct {
	Level  string
	Format string
}

// AddFlags defines -log-level (default level) and -log-format (default
// json) on fs.
func AddFlags(fs *flag.FlagSet, level string) *Flags {
	f := &Flags{}
	fs.StringVar(&f.Level, "log-level", level, "log level: debug, info, warn or error")
	fs.StringVar(&f.Format, "log-format", FormatJSON, "log format: json or text")
	return f
}

// New builds the logger the flags ask for, writing to w.
func (f *Flags) New(w io.Writer) (*slog.Logger, error) {
	return New(w, f.Format, f.Level)
}

// New returns a logger writing format (json or text) to w at level (debug,
// info, warn or error, as slog.Level parses them). An error names the flag
// whose value is wrong.
func New(w io.Writer, format, level string) (*slog.Logger, error) {
	l, _, err := NewVar(w, format, level)
	return l, err
}

// NewVar is New with the level in a slog.LevelVar, so that it can change
// while the process runs (ismgctl log-level).
func NewVar(w io.Writer, format, level string) (*slog.Logger, *slog.LevelVar, error) {
	lv := new(slog.LevelVar)
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, nil, fmt.Errorf("-log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv, ReplaceAttr: durationString}
	switch format {
	case FormatJSON:
		return slog.New(slog.NewJSONHandler(w, opts)), lv, nil
	case FormatText:
		return slog.New(slog.NewTextHandler(w, opts)), lv, nil
	}
	return nil, nil, fmt.Errorf("-log-format %q: want json or text", format)
}

// NewVar builds the logger the flags ask for with a changeable level.
func (f *Flags) NewVar(w io.Writer) (*slog.Logger, *slog.LevelVar, error) {
	return NewVar(w, f.Format, f.Level)
}

// durationString writes a time.Duration as "1.5s" (slog's JSON handler
// would write 1500000000).
func durationString(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}
