package ismg

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tandem-sms/tandem/internal/yamlkeys"
	"github.com/tandem-sms/tandem/internal/zone"
)

// Config is one ISMG node's configuration, read from one YAML file
// (LoadConfig). Zero values are filled from DefaultConfig. Durations are Go
// duration strings ("30s", "5m").
type Config struct {
	Gateway GatewayConfig `yaml:"gateway"`
	// Timezone is the zone of the node's calendar (internal/zone): CMPP
	// times without an offset (ValId_Time, At_Time), Msg_Id's time fields,
	// a status report's Submit_time and Done_time, SMSC receipt dates,
	// CMPP_QUERY's days and the CDR file names. An IANA name, "Local" for
	// the host's zone; default Asia/Shanghai. Changing it needs a restart.
	Timezone   string           `yaml:"timezone"`
	DataDir    string           `yaml:"data_dir"`
	Listen     ListenConfig     `yaml:"listen"`
	Routes     RoutesConfig     `yaml:"routes"`
	Limits     LimitsConfig     `yaml:"limits"`
	Federation FederationConfig `yaml:"federation"`
	Delivery   DeliveryConfig   `yaml:"delivery"`
	Billing    BillingConfig    `yaml:"billing"`
	Runtime    RuntimeConfig    `yaml:"runtime"`
	SPs        []SPAccount      `yaml:"sps"`
	SMSCs      []SMSCLinkConfig `yaml:"smsc"`
	Admin      AdminConfig      `yaml:"admin"` // the admin API (adminconfig.go)
	HA         *HAConfig        `yaml:"ha"`    // region HA: store lease and adoption (haconfig.go)

	// path is where the file was read from; relative paths in it resolve
	// against its folder.
	path string
	// lines maps a key path ("sps[0].secret") to its line in the file, so
	// validation errors point at the line to fix.
	lines map[string]int
}

// GatewayConfig names this gateway in the federation.
type GatewayConfig struct {
	Code   string `yaml:"code"`   // 6-digit ISMG code, e.g. "001001"
	Region string `yaml:"region"` // region name used by SP partitions
	Name   string `yaml:"name"`
	// Node, NodeIndex and NodeBits place this node among the nodes
	// (siblings) serving one gateway code (siblingconfig.go).
	Node      string `yaml:"node"`
	NodeIndex int    `yaml:"node_index"`
	NodeBits  int    `yaml:"node_bits"`
}

// ListenConfig holds the node's listen addresses.
type ListenConfig struct {
	CMPP string `yaml:"cmpp"` // SP port (CMPP 2.0/3.0), conventionally :7890
	// CMPPTLS is a second SP port speaking CMPP inside TLS (listen.tls);
	// empty: none.
	CMPPTLS string           `yaml:"cmpp_tls"`
	TLS     *TLSServerConfig `yaml:"tls"`
	HTTP    string           `yaml:"http"` // /metrics, /healthz, the console, /status, /trace, /route; empty disables
	// HTTPToken, if set, is the bearer token the console's API (/status,
	// /trace, /route) requires; /metrics and /healthz stay open. Needed
	// when listen.http is not a loopback address (console.go).
	HTTPToken string `yaml:"http_token"`
	// FWD is the CMPP_FWD port peer gateways log in to (conventionally
	// :7930); set, it turns the federation on (federation:).
	FWD string `yaml:"fwd"`
	// FWDTLS makes the FWD port speak TLS with listen.tls's certificate
	// (and, with its client_ca, require peers' certificates).
	FWDTLS bool `yaml:"fwd_tls"`
	// PProf serves net/http/pprof on its own listener, which must be a
	// loopback address (profiles reveal memory contents); empty: off.
	PProf string `yaml:"pprof"`
	// Admin is the admin gRPC API's address (ismgctl); empty: none. A
	// non-loopback address needs admin.token. AdminTLS turns TLS on for it
	// (mutual with its client_ca).
	Admin    string           `yaml:"admin"`
	AdminTLS *TLSServerConfig `yaml:"admin_tls"`
}

// RoutesConfig says where routes come from: a static table file until the
// node follows a GNS.
type RoutesConfig struct {
	// File is a static route table: a single-gateway site, or a test.
	File string `yaml:"file"`
	// GNS lists the gRPC addresses of the GNS nodes whose watch stream the
	// node's route cache follows (federation.RouteCache); exclusive with
	// File. The last table is kept in <data_dir>/routecache.snap, so a
	// gateway restarted while every GNS node is down still routes.
	GNS     []string `yaml:"gns"`
	TLS     bool     `yaml:"tls"`      // TLS with the system roots; tls_ca/tls_cert imply it
	TLSCA   string   `yaml:"tls_ca"`   // PEM CA bundle verifying the GNS nodes
	TLSCert string   `yaml:"tls_cert"` // optional client certificate (with tls_key)
	TLSKey  string   `yaml:"tls_key"`
	Token   string   `yaml:"token"` // bearer token of the GNS API (gnsctl -token)
	// PersistInterval is the most often the cached table is written to
	// the data dir (default 1s).
	PersistInterval time.Duration `yaml:"persist_interval"`
}

// LimitsConfig holds node-wide protections.
type LimitsConfig struct {
	MaxPDU          int           `yaml:"max_pdu"`
	ConnectTimeout  time.Duration `yaml:"connect_timeout"`
	ReadTimeout     time.Duration `yaml:"read_timeout"`
	AuthFailures    int           `yaml:"auth_failures"`        // per (source IP, SP_Id) per AuthFailWindow, then refused
	AuthFailuresIP  int           `yaml:"auth_failures_per_ip"` // per source IP over all SP_Ids per AuthFailWindow
	MaxPending      int           `yaml:"max_pending"`          // connections not yet logged in, node-wide
	MaxPendingIP    int           `yaml:"max_pending_per_ip"`   // connections not yet logged in, per source IP
	AuthFailWindow  time.Duration `yaml:"auth_fail_window"`
	QueueDepth      int           `yaml:"queue_depth"` // messages waiting for the SMSC before SPs get flow control
	ActiveTest      time.Duration `yaml:"active_test"`
	ResponseTimeout time.Duration `yaml:"response_timeout"`
}

// DeliveryConfig governs retries, expiry and reports.
type DeliveryConfig struct {
	RetryMin        time.Duration `yaml:"retry_min"`
	RetryMax        time.Duration `yaml:"retry_max"`
	MaxAttempts     int           `yaml:"max_attempts"`
	DefaultValidity time.Duration `yaml:"default_validity"` // when the SP gives no ValId_Time
	ReportTimeout   time.Duration `yaml:"report_timeout"`   // no receipt by then: report MC:0001
	// OrphanTTL is how long a receipt that arrived before its SMSC id
	// mapping is held for the mapping to commit; then it is dropped with a
	// log line.
	OrphanTTL time.Duration `yaml:"orphan_ttl"`
	// ShutdownTimeout bounds the graceful stop: SP sessions draining,
	// in-flight submit_sm finishing, unbinds.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// ExpirySweep is how often MTs waiting for an SMSC link that is down
	// are checked against their Valid_Time, so they are reported EXPIRED on
	// time rather than when the link returns.
	ExpirySweep time.Duration `yaml:"expiry_sweep"`
	// DeliverTTL bounds how long a status report or MO waits for its SP:
	// one the SP keeps refusing, or whose SP stays away, is dropped this
	// long after it was queued (counted in ismg_sp_delivers_total with
	// result "expired" and logged), so an abandoned SP account cannot fill
	// the store. Checked when the DELIVER is next due and, while the SP is
	// offline, every expiry_sweep.
	DeliverTTL time.Duration `yaml:"deliver_ttl"`
}

// BillingConfig places the CDR files.
type BillingConfig struct {
	Dir    string        `yaml:"dir"` // default <data_dir>/cdr
	Rotate time.Duration `yaml:"rotate"`
	// MoveInterval is how often CDRs move from the store, where each is
	// committed with what it bills, into the CDR files (one file fsync
	// per move): how far the files may lag the traffic.
	MoveInterval time.Duration `yaml:"move_interval"`
}

// RuntimeConfig tunes the Go runtime of the ismg process (cmd/ismg applies
// it; the GOGC and GOMEMLIMIT environment variables win over it). The
// node's live heap is small and its allocation rate high, so the default
// collects four times less often than Go's 100; a memory limit makes the
// collector work harder instead of letting the heap outgrow the machine.
type RuntimeConfig struct {
	GCPercent     int   `yaml:"gc_percent"`      // GOGC
	MemoryLimitMB int64 `yaml:"memory_limit_mb"` // GOMEMLIMIT in MiB; 0: none
	// CommitInterval is the least time between two fsync'd transactions
	// of the queue store (queue.Config.MinInterval): thin traffic shares
	// transactions instead of paying an fsync for every few commits, at
	// up to this much latency; 0 commits as soon as the last one ended.
	CommitInterval time.Duration `yaml:"commit_interval"`
}

// SPAccount is one SP's login and limits. SIGHUP reloads these without
// dropping connections.
type SPAccount struct {
	SPID           string   `yaml:"sp_id"` // CONNECT Source_Addr and SUBMIT Msg_src
	Name           string   `yaml:"name"`
	Secret         string   `yaml:"secret"`
	AllowedIPs     []string `yaml:"allowed_ips"` // CIDRs or addresses; empty allows none
	ServiceCodes   []string `yaml:"service_codes"`
	MaxConnections int      `yaml:"max_connections"`
	Window         int      `yaml:"window"`      // unanswered SUBMITs per connection
	SubmitRate     float64  `yaml:"submit_rate"` // SUBMITs per second across connections
	Burst          int      `yaml:"burst"`
}

// SMSCLinkConfig is one SMSC reached over SMPP 3.4.
type SMSCLinkConfig struct {
	Name        string        `yaml:"name"`
	Address     string        `yaml:"address"`
	SystemID    string        `yaml:"system_id"`
	Password    string        `yaml:"password"`
	SystemType  string        `yaml:"system_type"`
	BindType    string        `yaml:"bind_type"` // transceiver, transmitter or receiver
	Binds       int           `yaml:"binds"`
	Window      int           `yaml:"window"`
	Rate        float64       `yaml:"rate"` // segments per second across the link's binds
	EnquireLink time.Duration `yaml:"enquire_link"`
	DataCoding0 string        `yaml:"data_coding_0"` // how the SMSC reads data_coding 0: gsm7 or latin1
	// IDFormat is how the receipt text spells message ids when it differs
	// from submit_sm_resp (and the receipted_message_id TLV): asis (same
	// spelling), hex (text in hex, responses in decimal) or decimal (text
	// in decimal, responses in hex). Case and leading zeros never matter.
	IDFormat string `yaml:"id_format"`
	Default  bool   `yaml:"default"` // takes numbers whose segment names no link
	// TLS, if set, binds over TLS (SMSCs that offer SMPP over TLS).
	TLS *TLSClientConfig `yaml:"tls"`
	// Optional links do not make /healthz fail while they have no bind.
	Optional bool `yaml:"optional"`
	// ResponseTimeout bounds each submit_sm_resp.
	ResponseTimeout time.Duration `yaml:"response_timeout"`
	// ReconnectMin/Max bound the reconnect backoff of a bind.
	ReconnectMin time.Duration `yaml:"reconnect_min"`
	ReconnectMax time.Duration `yaml:"reconnect_max"`
	// ThrottleBackoff is the first pause after ESME_RTHROTTLED; it
	// doubles up to 15 times its value.
	ThrottleBackoff time.Duration `yaml:"throttle_backoff"`
	// HighWater is the depth of the link's queue (mt:<link>) from which
	// SUBMITs routed to it are refused with Result 8: when the SMSC drains
	// slower than SPs submit, the SPs see flow control at once rather than
	// reports lagging by minutes. Default 100000; -1: no mark (only
	// limits.queue_depth applies).
	HighWater int `yaml:"high_water"`
	// ResendBound is how many MTs the link may hold leased and not yet
	// durably settled: marked in flight, on the wire, or answered with
	// the Move to await still committing. It is what a crash can make the
	// link send twice (ismg_smsc_resend_bound; every such resend counted
	// in ismg_smsc_resends_total), and it must cover the window plus two
	// commit rounds at the link's rate or the window runs dry while
	// commits are on disk (dispatch.go). Default 4 × binds × window; at
	// least binds × window.
	ResendBound int `yaml:"resend_bound"`
}

// DefaultConfig returns the values LoadConfig starts from.
func DefaultConfig() Config {
	return Config{
		Timezone: zone.Default,
		Listen:   ListenConfig{CMPP: "127.0.0.1:7890", HTTP: "127.0.0.1:9290"},
		Limits: LimitsConfig{
			MaxPDU:          4096,
			ConnectTimeout:  5 * time.Second,
			ReadTimeout:     10 * time.Minute,
			AuthFailures:    5,
			AuthFailuresIP:  50,
			MaxPending:      256,
			MaxPendingIP:    16,
			AuthFailWindow:  time.Minute,
			QueueDepth:      1_000_000,
			ActiveTest:      3 * time.Minute,
			ResponseTimeout: 60 * time.Second,
		},
		Delivery: DeliveryConfig{
			RetryMin:        time.Second,
			RetryMax:        5 * time.Minute,
			MaxAttempts:     10,
			DefaultValidity: 48 * time.Hour,
			ReportTimeout:   48 * time.Hour,
			OrphanTTL:       10 * time.Minute,
			ExpirySweep:     30 * time.Second,
			DeliverTTL:      72 * time.Hour,
			ShutdownTimeout: 10 * time.Second,
		},
		Billing:    BillingConfig{Rotate: time.Hour, MoveInterval: 200 * time.Millisecond},
		Runtime:    RuntimeConfig{GCPercent: 400, CommitInterval: 2 * time.Millisecond},
		Federation: FederationConfig{MaxNodes: 4, DedupWindow: 72 * time.Hour, RetryMin: 5 * time.Second, RetryMax: 5 * time.Minute, Sessions: 4},
	}
}

func defaultSP(a *SPAccount) {
	if a.MaxConnections == 0 {
		a.MaxConnections = 4
	}
	if a.Window == 0 {
		a.Window = 16
	}
	if a.SubmitRate == 0 {
		a.SubmitRate = 1000
	}
	if a.Burst == 0 {
		a.Burst = max(1, int(a.SubmitRate/10))
	}
}

// defaultResendFactor × binds × window is a link's default resend_bound.
// Each MT holds its slot through two commit rounds (the in-flight mark,
// the Move to await) plus the SMSC's answer; measured at 2 binds × window
// 16 against a fast SMSC, a factor of 2 left the window empty most of the
// time (BENCHMARKS.md, fifth session).
const defaultResendFactor = 4

func defaultSMSC(l *SMSCLinkConfig) {
	if l.BindType == "" {
		l.BindType = "transceiver"
	}
	if l.Binds == 0 {
		l.Binds = 1
	}
	if l.Window == 0 {
		l.Window = 10
	}
	if l.HighWater == 0 {
		l.HighWater = 100_000
	}
	if l.ResendBound == 0 && l.Binds > 0 && l.Window > 0 {
		l.ResendBound = defaultResendFactor * l.Binds * l.Window
	}
	if l.EnquireLink == 0 {
		l.EnquireLink = 30 * time.Second
	}
	if l.DataCoding0 == "" {
		l.DataCoding0 = "gsm7"
	}
	if l.IDFormat == "" {
		l.IDFormat = "asis"
	}
	if l.ResponseTimeout == 0 {
		l.ResponseTimeout = 10 * time.Second
	}
	if l.ReconnectMin == 0 {
		l.ReconnectMin = time.Second
	}
	if l.ReconnectMax == 0 {
		l.ReconnectMax = time.Minute
	}
	if l.ThrottleBackoff == 0 {
		l.ThrottleBackoff = time.Second
	}
}

// LoadConfig reads and validates a node's YAML file. Unknown keys are
// errors (a misspelt limit must not silently fall back to its default).
// Every problem is reported, each naming the file, line and key.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("ismg: config: %w", err)
	}
	return ParseConfig(path, data)
}

// ParseConfig is LoadConfig for bytes already read; path names them in
// errors and anchors relative paths.
func ParseConfig(path string, data []byte) (Config, error) {
	cfg := DefaultConfig()
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return Config{}, fmt.Errorf("ismg: config %s: %w", path, err)
	}
	cfg.path = path
	cfg.lines = yamlkeys.Index(&root)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return Config{}, &ConfigError{Problems: yamlkeys.TypeProblems(path, &root, te)}
		}
		return Config{}, fmt.Errorf("ismg: config %s: %w", path, err)
	}
	for i := range cfg.SPs {
		defaultSP(&cfg.SPs[i])
	}
	defaultFederation(&cfg.Federation)
	for i := range cfg.SMSCs {
		defaultSMSC(&cfg.SMSCs[i])
	}
	if cfg.DataDir != "" && !filepath.IsAbs(cfg.DataDir) {
		cfg.DataDir = filepath.Join(filepath.Dir(path), cfg.DataDir)
	}
	if cfg.Listen.TLS != nil {
		cfg.Listen.TLS.resolve(filepath.Dir(path))
	}
	for i := range cfg.SMSCs {
		if cfg.SMSCs[i].TLS != nil {
			cfg.SMSCs[i].TLS.resolve(filepath.Dir(path))
		}
	}
	if cfg.Listen.AdminTLS != nil {
		cfg.Listen.AdminTLS.resolve(filepath.Dir(path))
	}
	if cfg.Federation.TLS != nil {
		cfg.Federation.TLS.resolve(filepath.Dir(path))
	}
	for i := range cfg.Federation.Peers {
		if cfg.Federation.Peers[i].TLS != nil {
			cfg.Federation.Peers[i].TLS.resolve(filepath.Dir(path))
		}
	}
	if cfg.Routes.File != "" && !filepath.IsAbs(cfg.Routes.File) {
		cfg.Routes.File = filepath.Join(filepath.Dir(path), cfg.Routes.File)
	}
	for _, p := range []*string{&cfg.Routes.TLSCA, &cfg.Routes.TLSCert, &cfg.Routes.TLSKey} {
		*p = relTo(filepath.Dir(path), *p)
	}
	if cfg.Billing.Dir == "" && cfg.DataDir != "" {
		cfg.Billing.Dir = filepath.Join(cfg.DataDir, "cdr")
	} else if cfg.Billing.Dir != "" && !filepath.IsAbs(cfg.Billing.Dir) {
		cfg.Billing.Dir = filepath.Join(filepath.Dir(path), cfg.Billing.Dir)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Location returns the zone Timezone names (Validate has checked it; a
// name it refuses gives zone.Default).
func (c *Config) Location() *time.Location {
	if loc, err := zone.Load(c.Timezone); err == nil {
		return loc
	}
	return zone.MustLoad(zone.Default)
}

// ConfigError lists every problem found in a configuration file.
type ConfigError struct {
	Problems []string
}

func (e *ConfigError) Error() string {
	return "ismg: invalid config:\n  " + strings.Join(e.Problems, "\n  ")
}

var (
	codeRE  = regexp.MustCompile(`^[0-9]{6}$`)
	digitRE = regexp.MustCompile(`^[0-9]{1,21}$`)
)

// lineOf finds the line of key or of its nearest parent present in the
// file (a missing required key is reported at its parent).
func (c *Config) lineOf(key string) (int, bool) {
	for k := key; k != ""; {
		if line, ok := c.lines[k]; ok {
			return line, true
		}
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return 0, false
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("bad CIDR %q", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("bad IP address %q", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Allows reports whether addr may log in as this SP. It reads the allow
// list afresh (a login is rare next to the messages), so a Config is never
// changed after Validate checked it.
func (a *SPAccount) Allows(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, s := range a.AllowedIPs {
		if p, err := parsePrefix(s); err == nil && p.Contains(addr) {
			return true
		}
	}
	return false
}

// Path is the file the configuration was read from.
func (c *Config) Path() string { return c.path }

// ErrNoSuchSP is returned for an unknown SP_Id.
var ErrNoSuchSP = errors.New("ismg: no such SP")

// SP returns the account with the given SP_Id.
func (c *Config) SP(id string) (*SPAccount, error) {
	for i := range c.SPs {
		if c.SPs[i].SPID == id {
			return &c.SPs[i], nil
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrNoSuchSP, id)
}
