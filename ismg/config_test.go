package ismg

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

const goodConfig = `
gateway:
  code: "001001"
  region: beijing
data_dir: data
listen:
  cmpp: 127.0.0.1:7890
routes:
  file: routes.yaml
sps:
  - sp_id: "901234"
    name: Sina
    secret: s3cret
    allowed_ips: [127.0.0.1, 10.0.0.0/8]
    service_codes: ["10657001"]
    submit_rate: 500
smsc:
  - name: north
    address: 127.0.0.1:2775
    system_id: ismg
    password: pw
    binds: 2
    enquire_link: 15s
`

func TestParseConfigDefaultsAndPaths(t *testing.T) {
	cfg, err := ParseConfig("/etc/tandem/ismg.yaml", []byte(goodConfig))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "/etc/tandem/data" || cfg.Routes.File != "/etc/tandem/routes.yaml" || cfg.Billing.Dir != "/etc/tandem/data/cdr" {
		t.Errorf("relative paths not anchored: %q %q %q", cfg.DataDir, cfg.Routes.File, cfg.Billing.Dir)
	}
	sp, err := cfg.SP("901234")
	if err != nil {
		t.Fatal(err)
	}
	if sp.Window != 16 || sp.MaxConnections != 4 || sp.Burst != 50 {
		t.Errorf("SP defaults: window %d conns %d burst %d", sp.Window, sp.MaxConnections, sp.Burst)
	}
	if !sp.Allows(netip.MustParseAddr("10.1.2.3")) || !sp.Allows(netip.MustParseAddr("::ffff:127.0.0.1")) || sp.Allows(netip.MustParseAddr("192.168.0.1")) {
		t.Error("allow list")
	}
	l := cfg.SMSCs[0]
	if l.BindType != "transceiver" || l.Window != 10 || l.EnquireLink != 15*time.Second || l.Binds != 2 || l.ResendBound != 4*2*10 {
		t.Errorf("SMSC defaults: %+v", l)
	}
	if _, err := cfg.SP("900000"); !errors.Is(err, ErrNoSuchSP) {
		t.Errorf("unknown SP: %v", err)
	}
}

func TestParseConfigErrorsNameKeyAndLine(t *testing.T) {
	bad := strings.NewReplacer(
		`code: "001001"`, `code: "1001"`,
		`secret: s3cret`, `secret: ""`,
		`10.0.0.0/8`, `10.0.0.0/99`,
		`binds: 2`, `binds: 100`,
		`enquire_link: 15s`, "enquire_link: 15s\n    bind_type: sideways",
	).Replace(goodConfig)
	_, err := ParseConfig("ismg.yaml", []byte(bad))
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("want *ConfigError, got %v", err)
	}
	for _, want := range []string{
		`ismg.yaml:3: gateway.code: want 6 digits, got "1001"`,
		`ismg.yaml:13: sps[0].secret: required`,
		`ismg.yaml:14: sps[0].allowed_ips[1]: bad CIDR "10.0.0.0/99"`,
		`ismg.yaml:22: smsc[0].binds: want 1..64, got 100`,
		`ismg.yaml:24: smsc[0].bind_type: want transceiver, transmitter or receiver, got "sideways"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// A resend_bound below the window could never fill it.
func TestParseConfigResendBound(t *testing.T) {
	for bound, want := range map[int]string{
		19: `ismg.yaml:24: smsc[0].resend_bound: must be at least binds × window (20), got 19`,
		20: "",
		-1: `ismg.yaml:24: smsc[0].resend_bound: must be at least binds × window (20), got -1`,
	} {
		y := strings.Replace(goodConfig, "    enquire_link: 15s", fmt.Sprintf("    enquire_link: 15s\n    resend_bound: %d", bound), 1)
		cfg, err := ParseConfig("ismg.yaml", []byte(y))
		switch {
		case want == "" && err != nil:
			t.Errorf("resend_bound %d: %v", bound, err)
		case want == "" && cfg.SMSCs[0].ResendBound != bound:
			t.Errorf("resend_bound %d read as %d", bound, cfg.SMSCs[0].ResendBound)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("resend_bound %d: got %v, want %s", bound, err, want)
		}
	}
}

// TestParseConfigUnknownKey: keys the node does not know, and values of
// the wrong kind, are reported at their line by the key path the file
// spells, never by a Go type name.
func TestParseConfigUnknownKey(t *testing.T) {
	n := strings.Count(goodConfig, "\n")
	extra := "limts:\n  max_pdu: 1\nruntime:\n  gc_percent: lots\n  comit_interval: 2ms\nbilling: {dir: cdr, rotate: hourly}\ndelivery: {colour: red}\n"
	_, err := ParseConfig("ismg.yaml", []byte(goodConfig+extra))
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("want *ConfigError, got %v", err)
	}
	want := []string{
		fmt.Sprintf(`ismg.yaml:%d: limts: unknown key`, n+1),
		fmt.Sprintf(`ismg.yaml:%d: runtime.gc_percent: want a number, got "lots"`, n+4),
		fmt.Sprintf(`ismg.yaml:%d: runtime.comit_interval: unknown key`, n+5),
		fmt.Sprintf(`ismg.yaml:%d: billing.rotate: want a duration such as 30s or 5m, got "hourly"`, n+6),
		fmt.Sprintf(`ismg.yaml:%d: delivery.colour: unknown key`, n+7),
	}
	if !reflect.DeepEqual(ce.Problems, want) {
		t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(ce.Problems, "\n"), strings.Join(want, "\n"))
	}
	if regexp.MustCompile(`in type|into|ismg\.[A-Z]|time\.Duration`).MatchString(err.Error()) {
		t.Errorf("error names a Go type: %v", err)
	}
}

func TestParseConfigRuntime(t *testing.T) {
	cfg, err := ParseConfig("ismg.yaml", []byte(goodConfig))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Runtime.GCPercent != 400 || cfg.Runtime.MemoryLimitMB != 0 || cfg.Runtime.CommitInterval != 2*time.Millisecond {
		t.Errorf("runtime defaults: %+v", cfg.Runtime)
	}
	cfg, err = ParseConfig("ismg.yaml", []byte(goodConfig+"runtime:\n  commit_interval: 0s\n"))
	if err != nil || cfg.Runtime.CommitInterval != 0 {
		t.Errorf("commit_interval 0s: %v, %v (an explicit 0 turns pacing off)", cfg.Runtime.CommitInterval, err)
	}
	_, err = ParseConfig("ismg.yaml", []byte(goodConfig+"runtime:\n  gc_percent: 5\n  memory_limit_mb: -1\n  commit_interval: 1s\n"))
	for _, want := range []string{
		`ismg.yaml:25: runtime.gc_percent: want 25..10000, got 5`,
		`ismg.yaml:26: runtime.memory_limit_mb: must be >= 0, got -1`,
		`ismg.yaml:27: runtime.commit_interval: want 0..100ms, got 1s`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// Validate reads the config and changes nothing in it, not even through
// the slices it shares with the caller.
func TestValidateDoesNotChangeConfig(t *testing.T) {
	cfg, err := ParseConfig("/etc/tandem/ismg.yaml", []byte(goodConfig))
	if err != nil {
		t.Fatal(err)
	}
	before := cfg
	before.SPs = slices.Clone(cfg.SPs)
	before.SMSCs = slices.Clone(cfg.SMSCs)
	for range 2 {
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(before, cfg) {
		t.Fatalf("Validate changed the config:\nbefore %+v\nafter  %+v", before, cfg)
	}
}

// federation.reconnect_min/max reach the peer links, and a bad pair is
// named by its key.
func TestParseConfigFederationReconnect(t *testing.T) {
	y := strings.Replace(goodConfig, "  cmpp: 127.0.0.1:7890\n", "  cmpp: 127.0.0.1:7890\n  fwd: 127.0.0.1:7930\n", 1) +
		"federation:\n  secret: peer-secret\n  reconnect_min: 100ms\n  reconnect_max: 5s\n"
	cfg, err := ParseConfig("ismg.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	pc, err := cfg.peerConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if pc.ReconnectMin != 100*time.Millisecond || pc.ReconnectMax != 5*time.Second {
		t.Fatalf("peer links reconnect %v..%v, want 100ms..5s", pc.ReconnectMin, pc.ReconnectMax)
	}
	_, err = ParseConfig("ismg.yaml", []byte(strings.Replace(y, "reconnect_max: 5s", "reconnect_max: 50ms", 1)))
	if err == nil || !strings.Contains(err.Error(), "federation.reconnect_min: reconnect_min 100ms and reconnect_max 50ms") {
		t.Fatalf("reconnect_max below reconnect_min: %v", err)
	}
}
