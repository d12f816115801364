package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckConfig(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"-check-config", "../../testdata/ismg/beijing.yaml"}, nil, &out, &errb); err != nil {
		t.Fatalf("example config: %v", err)
	}
	if !strings.Contains(out.String(), "ok") {
		t.Errorf("output %q", out.String())
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("gateway:\n  code: \"12\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), []string{"-check-config", bad}, nil, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "gateway.code") {
		t.Fatalf("bad config: %v", err)
	}
	// A valid file whose route table is missing does not pass the check.
	noRoutes := filepath.Join(t.TempDir(), "noroutes.yaml")
	if err := os.WriteFile(noRoutes, []byte("gateway:\n  code: \"001001\"\n  region: beijing\ndata_dir: d\nroutes:\n  file: missing.yaml\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = run(context.Background(), []string{"-check-config", noRoutes}, nil, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "routes.file") {
		t.Fatalf("missing route table: %v", err)
	}
}

func TestRunRequiresConfig(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run(context.Background(), nil, nil, &out, &errb); err == nil {
		t.Fatal("no -config accepted")
	}
}

// TestHelp: -h prints the usage and succeeds, as gns -h does.
func TestHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"-h"}, nil, &out, &errb); err != nil {
		t.Fatalf("-h: %v", err)
	}
	if !strings.Contains(errb.String(), "-log-format") {
		t.Errorf("usage lacks -log-format:\n%s", errb.String())
	}
}

func TestBadLogFormat(t *testing.T) {
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"-config", "../../testdata/ismg/beijing.yaml", "-log-format", "xml"}, nil, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), `-log-format "xml"`) {
		t.Fatalf("-log-format xml: %v", err)
	}
}
