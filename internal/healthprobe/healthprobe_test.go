package healthprobe

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// -health passes on a 200 and fails naming the status and the node's
// words otherwise (what `docker inspect` shows for an unhealthy gateway).
func TestHealthProbe(t *testing.T) {
	var sick atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sick.Load() {
			http.Error(w, "billing failed", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	}))
	defer srv.Close()
	var out bytes.Buffer
	if err := Probe(context.Background(), srv.URL+"/healthz", &out); err != nil {
		t.Fatalf("healthy node: %v", err)
	}
	sick.Store(true)
	err := Probe(context.Background(), srv.URL+"/healthz", &out)
	if err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "billing failed") {
		t.Fatalf("unhealthy node: %v", err)
	}
	srv.Close()
	if err := Probe(context.Background(), srv.URL+"/healthz", &out); err == nil {
		t.Fatal("a node that does not answer passed")
	}
}
