package ismg

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// The ha: block: defaults, and bad values reported at their line by key.
func TestHAConfig(t *testing.T) {
	withGNS := strings.Replace(goodConfig, "  file: routes.yaml\n", "  gns: [127.0.0.1:7950]\n", 1)
	cfg, err := ParseConfig("ismg.yaml", []byte(withGNS+"ha:\n  node: a\n  adoptable:\n    - {store_id: 001001-b, config: b.yaml}\n"))
	if err != nil {
		t.Fatal(err)
	}
	h := cfg.haConfig()
	if h.StoreID != "001001-a" || h.LeaseTTL != 10*time.Second || h.RenewInterval != h.LeaseTTL/3 || h.AdoptAfter != 30*time.Second {
		t.Fatalf("defaults: %+v", h)
	}
	if p := cfg.adoptableConfigPath(h.Adoptable[0]); p != "b.yaml" {
		t.Fatalf("adoptable config path %q", p)
	}

	n := strings.Count(withGNS, "\n")
	bad := "ha:\n  node: \"a b\"\n  lease_ttl: 1ms\n  adoptable:\n    - {store_id: 001001-b}\n"
	_, err = ParseConfig("ismg.yaml", []byte(withGNS+bad))
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("want *ConfigError, got %v", err)
	}
	for _, want := range []string{
		fmt.Sprintf(`ismg.yaml:%d: ha.node: want a name`, n+2),
		fmt.Sprintf(`ismg.yaml:%d: ha.lease_ttl: want 100ms..1h, got 1ms`, n+3),
		fmt.Sprintf(`ismg.yaml:%d: ha.adoptable[0].config: required`, n+5),
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	// HA needs the GNS.
	if _, err := ParseConfig("ismg.yaml", []byte(goodConfig+"ha:\n  node: a\n")); err == nil || !strings.Contains(err.Error(), "ha: needs routes.gns") {
		t.Fatalf("ha without routes.gns: %v", err)
	}
}
