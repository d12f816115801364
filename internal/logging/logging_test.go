package logging

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

// TestFormats: JSON by default, text when asked; a duration reads "1.5s"
// in both, at the top level and inside a group; the level filters.
func TestFormats(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, `"took":"1.5s"`},
		{[]string{"-log-format", "json"}, `"wait":"250ms"`},
		{[]string{"-log-format", "text"}, `took=1.5s`},
		{[]string{"-log-format", "text"}, `link.wait=250ms`},
	} {
		fs := flag.NewFlagSet("cmd", flag.ContinueOnError)
		f := AddFlags(fs, "info")
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		log, err := f.New(&b)
		if err != nil {
			t.Fatal(err)
		}
		log.Debug("hidden", "took", time.Second)
		log.Info("bound", "took", 1500*time.Millisecond, "n", 3)
		log.WithGroup("link").Info("waited", "wait", 250*time.Millisecond)
		out := b.String()
		if !strings.Contains(out, tc.want) || strings.Contains(out, "hidden") {
			t.Errorf("%v: output lacks %s (or shows a debug line):\n%s", tc.args, tc.want, out)
		}
		if f.Format != FormatText {
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				var m map[string]any
				if err := json.Unmarshal([]byte(line), &m); err != nil {
					t.Errorf("%v: not a JSON line: %s", tc.args, line)
				}
			}
		}
	}
}

func TestBadFlags(t *testing.T) {
	for _, tc := range []struct{ format, level, want string }{
		{"xml", "info", `-log-format "xml": want json or text`},
		{"json", "loud", `-log-level "loud": want debug, info, warn or error`},
	} {
		if _, err := New(io.Discard, tc.format, tc.level); err == nil || err.Error() != tc.want {
			t.Errorf("New(%q, %q) = %v, want %s", tc.format, tc.level, err, tc.want)
		}
	}
}
