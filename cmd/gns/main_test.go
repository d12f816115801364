package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/tandem-sms/tandem/gns/gnspb"
	"github.com/tandem-sms/tandem/internal/waitfor"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var grpcRe = regexp.MustCompile(`grpc=(\S+)`)

// start runs the command and returns its gRPC address once it listens.
func start(t *testing.T, args ...string) (addr string, stdout *syncBuf, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout = &syncBuf{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, stdout, io.Discard) }()
	deadline := time.After(20 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if m := grpcRe.FindStringSubmatch(stdout.String()); m != nil {
			addr = m[1]
			break
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("run exited early: %v\n%s", err, stdout)
		case <-deadline:
			cancel()
			t.Fatal("gns never reported its address")
		case <-tick.C:
		}
	}
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return addr, stdout, stop
}

func client(t *testing.T, addr string) gnspb.GNSClient {
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return gnspb.NewGNSClient(cc)
}

func waitLeader(t *testing.T, ctx context.Context, c gnspb.GNSClient) *gnspb.ClusterStatusResponse {
	t.Helper()
	var cs *gnspb.ClusterStatusResponse
	waitfor.Cond(t, "a leader", func() bool {
		var err error
		cs, err = c.ClusterStatus(ctx, &gnspb.ClusterStatusRequest{})
		return err == nil && cs.LeaderId != "" && len(cs.Members) > 0 && cs.Members[0].GrpcAddr != ""
	})
	return cs
}

func TestRunFlagsAndJoin(t *testing.T) {
	dir := t.TempDir()
	addr1, out1, stop1 := start(t, "-id", "a", "-data", filepath.Join(dir, "a"), "-raft", "127.0.0.1:0",
		"-grpc", "127.0.0.1:0", "-cmpp", "", "-http", "127.0.0.1:0", "-bootstrap", "-log-level", "warn")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := client(t, addr1)
	waitLeader(t, ctx, c)

	// gns -health, the compose health check, passes on the node's
	// /healthz once it knows a leader, and fails where nothing answers.
	httpAddr := regexp.MustCompile(`http=(\S+)`).FindStringSubmatch(out1.String())[1]
	var probe bytes.Buffer
	waitfor.Cond(t, "gns -health passes", func() bool {
		return run(ctx, []string{"-health", "http://" + httpAddr + "/healthz"}, &probe, io.Discard) == nil
	})
	if err := run(ctx, []string{"-health", "http://127.0.0.1:1/healthz"}, &probe, io.Discard); err == nil {
		t.Fatal("gns -health passed against a port where nothing listens")
	}

	// A second node joins through the first.
	_, _, stop2 := start(t, "-id", "b", "-data", filepath.Join(dir, "b"), "-raft", "127.0.0.1:0",
		"-grpc", "127.0.0.1:0", "-cmpp", "", "-http", "", "-join", addr1, "-log-level", "error")
	waitfor.Cond(t, "second node joined", func() bool {
		cs, err := c.ClusterStatus(ctx, &gnspb.ClusterStatusRequest{})
		return err == nil && len(cs.Members) == 2 && cs.Members[0].GrpcAddr != "" && cs.Members[1].GrpcAddr != ""
	})
	if err := stop2(); err != nil {
		t.Fatalf("graceful stop of b: %v", err)
	}
	if err := stop1(); err != nil {
		t.Fatalf("graceful stop of a: %v", err)
	}
}

func TestRunConfigFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "gns.yaml")
	conf := "id: fromfile\ndata: " + filepath.Join(dir, "data") + "\nraft: 127.0.0.1:0\ngrpc: 127.0.0.1:0\ncmpp: 127.0.0.1:0\nhttp: \"\"\n" +
		"bootstrap: true\ntoken: sekret\ninsecure_raft: true\ngateway_code: \"000001\"\ncmpp_secrets:\n  \"001001\": pw\nlog_level: error\n"
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, _, _ := start(t, "-config", file, "-id", "override")
	c := client(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.ClusterStatus(ctx, &gnspb.ClusterStatusRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("token from the file not enforced: %v", err)
	}
	cs := waitLeader(t, metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer sekret"), c)
	if cs.NodeId != "override" {
		t.Fatalf("flag did not override the file: node id %q", cs.NodeId)
	}
}

func TestRunUsage(t *testing.T) {
	for _, args := range [][]string{
		{"-nope"},
		{"-id", "x"}, // no data dir
		{"-id", "x", "-data", t.TempDir(), "-raft", "127.0.0.1:0", "extra"},
		{"-id", "x", "-data", t.TempDir(), "-raft", "127.0.0.1:0", "-log-level", "loud"},
		{"-id", "x", "-data", t.TempDir(), "-raft", "127.0.0.1:0", "-timezone", "Asia/Shanghia"},
	} {
		err := run(context.Background(), args, io.Discard, io.Discard)
		if !errors.Is(err, errUsage) {
			t.Errorf("run %q: %v, want a usage error", args, err)
		}
	}
	if err := run(context.Background(), []string{"-config", "/nonexistent.yaml"}, io.Discard, io.Discard); err == nil {
		t.Error("missing config file accepted")
	}
}

// TestConfigFileKeys: an unknown key or a value of the wrong kind in the
// config file is reported at its line by its key, not by a Go type.
func TestConfigFileKeys(t *testing.T) {
	file := filepath.Join(t.TempDir(), "gns.yaml")
	tzFile := filepath.Join(t.TempDir(), "tz.yaml")
	if err := os.WriteFile(tzFile, []byte("id: n1\ntimezone: Asia/Shanghia\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), []string{"-config", tzFile}, io.Discard, io.Discard); err == nil ||
		!strings.Contains(err.Error(), tzFile+`:2: timezone: unknown time zone "Asia/Shanghia"`) {
		t.Errorf("misspelt timezone in the file: %v", err)
	}
	if err := os.WriteFile(file, []byte("id: n1\ntokn: x\ncmpp_max_pending: many\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), []string{"-config", file}, io.Discard, io.Discard)
	for _, want := range []string{file + ":2: tokn: unknown key", file + `:3: cmpp_max_pending: want a number, got "many"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), "main.") {
		t.Errorf("error names a Go type: %v", err)
	}
}
