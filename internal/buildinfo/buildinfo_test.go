package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestString(t *testing.T) {
	for _, tc := range []struct {
		name string
		bi   debug.BuildInfo
		want string
	}{
		{"stamped", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261207043900-abc123def4567"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123def4567890"}, {Key: "vcs.time", Value: "2026-12-07T04:39:00Z"}, {Key: "vcs.modified", Value: "false"}}},
			"gnsctl v0.0.0-20261207043900-abc123def4567 (rev abc123def456, 2026-12-07, go1.26.8)"},
		{"dirty", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.modified", Value: "true"}}},
			"gnsctl v1.2.3 (rev abc123-dirty, go1.26.8)"},
		{"no stamp", debug.BuildInfo{GoVersion: "go1.26.8"}, "gnsctl (devel) (go1.26.8)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fromBuildInfo(&tc.bi).String("gnsctl"); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestRegister(t *testing.T) {
	reg := prometheus.NewRegistry()
	if err := Register(reg, "gns"); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 || mfs[0].GetName() != "tandem_build_info" || len(mfs[0].GetMetric()) != 1 {
		t.Fatalf("gathered %v, %v; want one tandem_build_info series", mfs, err)
	}
	m := mfs[0].GetMetric()[0]
	labels := map[string]string{}
	for _, l := range m.GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	if labels["binary"] != "gns" || !strings.HasPrefix(labels["goversion"], "go") || m.GetGauge().GetValue() != 1 {
		t.Fatalf("tandem_build_info = %v %v", labels, m.GetGauge().GetValue())
	}
	if err := Register(reg, "gns"); err == nil {
		t.Fatal("registering twice succeeded")
	}
}

// TestLinkerStamp: without the toolchain's VCS settings (GOFLAGS
// -buildvcs=false), the revision `make build` links in is reported.
func TestLinkerStamp(t *testing.T) {
	defer func(r, c string) { revision, commitTime = r, c }(revision, commitTime)
	revision, commitTime = "0123456789abcdef0123-dirty", "2026-12-07T04:53:30Z"
	in := fromBuildInfo(&debug.BuildInfo{GoVersion: "go1.26.8"})
	if got, want := in.String("ismg"), "ismg (devel) (rev 0123456789ab-dirty, 2026-12-07, go1.26.8)"; got != want {
		t.Fatalf("String = %q, want %q", got, want)
	}
	stamped := fromBuildInfo(&debug.BuildInfo{GoVersion: "go1.26.8", Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "feedface"}}})
	if stamped.Revision != "feedface" || stamped.Modified {
		t.Fatalf("the toolchain's stamp must win: %+v", stamped)
	}
}
