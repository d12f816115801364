// Package simproc holds the process-level knobs shared by the simulator
// commands (smscsim, spsim): CPU profiling for -cpuprofile, so that the
// load generators of a benchmark can be profiled like the ismg (whose
// /debug/pprof serves the same data), and garbage-collector pacing.
package simproc

import (
	"fmt"
	"os"
	"runtime/debug"
	"runtime/pprof"
)

// GCPercent is the collector pacing of the simulators: like the ismg
// (runtime.gc_percent), they keep a small live heap and allocate fast, and
// on a shared benchmark machine their collections take CPU from the node
// under test.
const GCPercent = 400

// TuneGC applies GCPercent unless the GOGC environment variable is set.
func TuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(GCPercent)
	}
}

// StartCPUProfile begins profiling into path (nothing if path is empty) and returns
// the function that stops profiling and closes the file.
func StartCPUProfile(path string) (stop func() error, err error) {
	if path == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("cpuprofile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			return fmt.Errorf("cpuprofile: %w", err)
		}
		return nil
	}, nil
}

// Setup applies TuneGC and starts the CPU profile of a -cpuprofile flag
// (path may be empty); the returned stop writes the profile out, reporting
// a failure to warn.
func Setup(cpuProfile string, warn func(error)) (stop func(), err error) {
	TuneGC()
	stopProf, err := StartCPUProfile(cpuProfile)
	if err != nil {
		return nil, err
	}
	return func() {
		if err := stopProf(); err != nil {
			warn(err)
		}
	}, nil
}
