package ismg

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSiblingConfigErrors: gateway.node* and federation.siblings are
// checked, each error naming its key and line.
func TestSiblingConfigErrors(t *testing.T) {
	fed := "  fwd: 127.0.0.1:7930\n"
	for _, tc := range []struct {
		name, gateway, listen, federation, want string
	}{
		{"bits too many", "  node_bits: 9\n", "", "", "gateway.node_bits: want 0..8"},
		{"index past bits", "  node_bits: 1\n  node_index: 2\n", "", "", "gateway.node_index: want 0..1 (node_bits 1), got 2"},
		{"siblings without membership", "  node_bits: 1\n", fed, "  secret: x\n  siblings: {secret: s}\n", "federation.siblings: needs federation.membership"},
		{"siblings without secret", "  node_bits: 1\n", fed,
			"  secret: x\n  siblings: {allowed_ips: [127.0.0.1]}\n  membership: {bind: 127.0.0.1:0, key: dGFuZGVtLWdvc3NpcC0xNg==}\n",
			"federation.siblings.secret: required"},
		{"siblings without node bits", "", fed,
			"  secret: x\n  siblings: {secret: s}\n  membership: {bind: 127.0.0.1:0, key: dGFuZGVtLWdvc3NpcC0xNg==}\n",
			"gateway.node_bits: federation.siblings needs node_bits >= 1"},
		{"two names", "  node: bj-a\n  node_bits: 1\n", fed,
			"  secret: x\n  membership: {node_name: bj-b, bind: 127.0.0.1:0, key: dGFuZGVtLWdvc3NpcC0xNg==}\n",
			`gateway.node: "bj-a" differs from federation.membership.node_name "bj-b"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			y := nodeYAML(t, dir, "127.0.0.1:1",
				replace("  region: beijing\n", "  region: beijing\n"+tc.gateway),
				replace("  http: 127.0.0.1:0\n", "  http: 127.0.0.1:0\n"+tc.listen))
			if tc.federation != "" {
				y = strings.Replace(y, "delivery:\n", "federation:\n"+tc.federation+"delivery:\n", 1)
			}
			p := filepath.Join(dir, "ismg.yaml")
			if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := LoadConfig(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "ismg.yaml:") {
				t.Fatalf("err %v, want %q at a line", err, tc.want)
			}
		})
	}
	// The example with the keys commented in still loads.
	if _, err := LoadConfig(filepath.Join("..", "testdata", "ismg", "beijing.yaml")); err != nil {
		t.Fatal(err)
	}
}

// A sibling's config, siblings and gossip and HA included, is a valid
// config once adopted: the adopted store runs without them (adopt.go).
func TestAdoptedSiblingConfigValidates(t *testing.T) {
	dir := t.TempDir()
	y := nodeYAML(t, dir, "127.0.0.1:1",
		replace("  region: beijing\n", "  region: beijing\n  node: bj-b\n  node_index: 1\n  node_bits: 1\n"),
		replace("  http: 127.0.0.1:0\n", "  http: 127.0.0.1:0\n  fwd: 127.0.0.1:7930\n"))
	y = strings.Replace(y, "delivery:\n", "federation:\n  secret: x\n  siblings: {secret: s}\n"+
		"  membership: {bind: 127.0.0.1:0, key: dGFuZGVtLWdvc3NpcC0xNg==}\ndelivery:\n", 1)
	p := filepath.Join(dir, "ismg.yaml")
	if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Federation.Siblings == nil || cfg.Federation.Membership == nil {
		t.Fatal("the sibling's config lost its siblings or membership before adoption")
	}
	ac := adoptedConfig(cfg)
	if err := ac.Validate(); err != nil {
		t.Fatalf("adopted config: %v", err)
	}
	if ac.Federation.Siblings != nil || ac.Federation.Membership != nil || ac.HA != nil {
		t.Fatalf("adopted config keeps siblings %v, membership %v, ha %v", ac.Federation.Siblings, ac.Federation.Membership, ac.HA)
	}
}
