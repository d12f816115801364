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
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv, ReplaceAttr: durationString}
	switch format {
	case FormatJSON:
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case FormatText:
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("-log-format %q: want json or text", format)
}

// durationString writes a time.Duration as "1.5s" (slog's JSON handler
// would write 1500000000).
func durationString(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}
