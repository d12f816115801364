package smstext

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// vector is the part of a golden vector (../testdata/*_vectors.json) these
// tests use.
type vector struct {
	Name   string         `json:"name"`
	Inputs map[string]any `json:"inputs"`
	Hex    string         `json:"hex"`
}

func loadVectors(tb testing.TB, file string) map[string]vector {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "testdata", file))
	if err != nil {
		tb.Fatalf("read vectors: %v", err)
	}
	var doc struct {
		Vectors []vector `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		tb.Fatalf("parse %s: %v", file, err)
	}
	out := make(map[string]vector, len(doc.Vectors))
	for _, v := range doc.Vectors {
		out[v.Name] = v
	}
	return out
}

func mustVector(tb testing.TB, vs map[string]vector, name string) vector {
	tb.Helper()
	v, ok := vs[name]
	if !ok {
		tb.Fatalf("golden vector %q missing", name)
	}
	return v
}

func (v vector) str(tb testing.TB, key string) string {
	tb.Helper()
	s, ok := v.Inputs[key].(string)
	if !ok {
		tb.Fatalf("vector %s: input %q missing or not a string", v.Name, key)
	}
	return s
}

func (v vector) num(tb testing.TB, key string) int {
	tb.Helper()
	f, ok := v.Inputs[key].(float64)
	if !ok {
		tb.Fatalf("vector %s: input %q missing or not a number", v.Name, key)
	}
	return int(f)
}

func (v vector) hexInput(tb testing.TB, key string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(v.str(tb, key))
	if err != nil {
		tb.Fatalf("vector %s: input %q: %v", v.Name, key, err)
	}
	return b
}

func (v vector) pdu(tb testing.TB) []byte {
	tb.Helper()
	b, err := hex.DecodeString(v.Hex)
	if err != nil {
		tb.Fatalf("vector %s: hex: %v", v.Name, err)
	}
	return b
}
