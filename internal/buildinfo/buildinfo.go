package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Info is what the toolchain recorded about this build. Fields it did not
// record are empty: `go run`, `go test` and builds with -buildvcs=false
// carry no VCS stamp, and a build outside a module version control
// reports the version "(devel)".
type Info struct {
	Version   string // module version, e.g. v0.3.1 or a pseudo-version
	Revision  string // vcs.revision, the full commit hash
	Time      string // vcs.time, the commit time (RFC 3339)
	Modified  bool   // vcs.modified: the tree had uncommitted changes
	GoVersion string // the toolchain, e.g. go1.26.8
}

// Set by `make build` with -ldflags -X, from git: the stamp of a build
// made where the toolchain's own VCS stamping is off (GOFLAGS
// -buildvcs=false, a checkout git refuses to read as another user).
var (
	revision   string
	commitTime string
)

// Read returns this binary's build information.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		// Only a binary built without module support gets here.
		return Info{Version: "(unknown)", GoVersion: runtime.Version()}
	}
	return fromBuildInfo(bi)
}

func fromBuildInfo(bi *debug.BuildInfo) Info {
	in := Info{Version: bi.Main.Version, GoVersion: bi.GoVersion}
	if in.Version == "" {
		in.Version = "(devel)"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			in.Revision = s.Value
		case "vcs.time":
			in.Time = s.Value
		case "vcs.modified":
			in.Modified = s.Value == "true"
		}
	}
	if in.Revision == "" && revision != "" {
		r, dirty := strings.CutSuffix(revision, "-dirty")
		in.Revision, in.Modified, in.Time = r, dirty, commitTime
	}
	return in
}

// ShortRevision is the first 12 hex digits of the revision, with
// "-dirty" when the tree was modified; empty without a VCS stamp.
func (in Info) ShortRevision() string {
	r := in.Revision
	if len(r) > 12 {
		r = r[:12]
	}
	if r != "" && in.Modified {
		r += "-dirty"
	}
	return r
}

// String is the --version line: "gnsctl v0.1.0 (rev abc123def456,
// 2026-12-07, go1.26.8)".
func (in Info) String(binary string) string {
	var parts []string
	if r := in.ShortRevision(); r != "" {
		parts = append(parts, "rev "+r)
	}
	if in.Time != "" {
		day, _, _ := strings.Cut(in.Time, "T")
		parts = append(parts, day)
	}
	parts = append(parts, in.GoVersion)
	return fmt.Sprintf("%s %s (%s)", binary, in.Version, strings.Join(parts, ", "))
}

// Version is Read().String(binary), the line every binary prints for
// --version.
func Version(binary string) string { return Read().String(binary) }
