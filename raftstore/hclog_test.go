package raftstore

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestHCLogAdapter(t *testing.T) {
	var buf bytes.Buffer
	base := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	var l hclog.Logger = newHCLog(base, "raft")

	l.Trace("hidden")
	l.Debug("dbg", "k", 1)
	l.With("peer", "n2").Named("repl").Warn("slow", "lag", 3)
	l.Error("boom", "error", "x")
	if l.IsTrace() || !l.IsDebug() || l.GetLevel() != hclog.Debug || l.Name() != "raft" {
		t.Errorf("levels: trace=%v debug=%v level=%v name=%q", l.IsTrace(), l.IsDebug(), l.GetLevel(), l.Name())
	}
	l.SetLevel(hclog.Warn)
	l.Info("dropped by floor")
	l.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}).Print("[ERR] from std log")

	got := buf.String()
	for _, want := range []string{
		`level=DEBUG msg=dbg logger=raft k=1`,
		`level=WARN msg=slow logger=raft.repl peer=n2 lag=3`,
		`level=ERROR msg=boom logger=raft error=x`,
		`level=ERROR msg="from std log" logger=raft`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	for _, bad := range []string{"hidden", "dropped by floor", "logger=raft logger="} {
		if strings.Contains(got, bad) {
			t.Errorf("unexpected %q in:\n%s", bad, got)
		}
	}
}
