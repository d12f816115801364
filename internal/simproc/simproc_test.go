package simproc

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
)

func TestStartCPUProfileWritesProfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cpu.pprof")
	stop, err := StartCPUProfile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() == 0 {
		t.Fatal("empty profile")
	}
}

func TestStartCPUProfileEmptyPathIsNoop(t *testing.T) {
	stop, err := StartCPUProfile("")
	if err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestStartCPUProfileBadPathNamesFlag(t *testing.T) {
	_, err := StartCPUProfile(filepath.Join(t.TempDir(), "missing", "cpu.pprof"))
	if err == nil {
		t.Fatal("no error for a path in a missing directory")
	}
}

func TestTuneGCKeepsGOGC(t *testing.T) {
	t.Setenv("GOGC", "150")
	old := debug.SetGCPercent(150)
	defer debug.SetGCPercent(old)
	TuneGC()
	if got := debug.SetGCPercent(150); got != 150 {
		t.Fatalf("GOGC set: gc percent %d, want 150 kept", got)
	}
}

func TestTuneGCSetsDefault(t *testing.T) {
	t.Setenv("GOGC", "")
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	TuneGC()
	if got := debug.SetGCPercent(100); got != GCPercent {
		t.Fatalf("gc percent %d, want %d", got, GCPercent)
	}
}

func TestSetupWritesProfileOnStop(t *testing.T) {
	t.Setenv("GOGC", "")
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	path := filepath.Join(t.TempDir(), "cpu.pprof")
	stop, err := Setup(path, func(err error) { t.Errorf("warned: %v", err) })
	if err != nil {
		t.Fatal(err)
	}
	stop()
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Fatalf("profile: %v", err)
	}
	if got := debug.SetGCPercent(100); got != GCPercent {
		t.Fatalf("gc percent %d, want %d", got, GCPercent)
	}
}
