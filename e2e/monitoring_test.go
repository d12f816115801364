package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tandem-sms/tandem/internal/waitfor"
	"github.com/tandem-sms/tandem/smstext"
)

// The monitoring files: Prometheus alert rules, their unit tests, the
// scrape config for the compose deployment, and the Grafana dashboard.
const (
	promDir   = "../deploy/prometheus"
	dashboard = "../deploy/grafana/dashboards/tandem.json"
)

// promtool returns the path of promtool, failing the test without it.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not installed: make test installs it (Debian: apt-get install prometheus)")
	}
	return p
}

// TestPromtool: the rules and the scrape config pass promtool's checks,
// and the alerts fire (and hold their fire) as alerts_test.yml says.
func TestPromtool(t *testing.T) {
	bin := promtool(t)
	for _, args := range [][]string{
		{"check", "rules", "alerts.yml"},
		{"check", "config", "prometheus.yml"},
		{"test", "rules", "alerts_test.yml"},
	} {
		cmd := exec.Command(bin, args...)
		cmd.Dir = promDir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestDashboardProvisioning: the dashboard takes its Prometheus from a
// datasource variable, so it provisions (or imports) into any Grafana:
// every datasource reference is ${datasource}, no uid is hard-coded.
func TestDashboardProvisioning(t *testing.T) {
	b, err := os.ReadFile(dashboard)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID        string `json:"uid"`
		Templating struct {
			List []struct {
				Name, Type string
				Query      any // a string for a datasource variable
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			ID      int    `json:"id"`
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	hasVar := false
	for _, v := range d.Templating.List {
		hasVar = hasVar || v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus"
	}
	if !hasVar {
		t.Error("no datasource variable of type prometheus")
	}
	var raw any
	_ = json.Unmarshal(b, &raw)
	walkDatasources(raw, func(uid string) {
		if uid != "${datasource}" {
			t.Errorf("a datasource uid is hard-coded: %q", uid)
		}
	})
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type != "row" && (len(p.Targets) == 0 || slices.ContainsFunc(p.Targets, func(q struct {
			Expr string `json:"expr"`
		}) bool {
			return q.Expr == ""
		})) {
			t.Errorf("panel %q has no query", p.Title)
		}
	}
}

// TestGrafanaProvisioningFiles: the provisioning files are YAML of
// Grafana's apiVersion 1, and the datasource's url names the Prometheus
// container deploy/README.md starts.
func TestGrafanaProvisioningFiles(t *testing.T) {
	for _, f := range []string{"datasources/tandem.yaml", "dashboards/tandem.yaml"} {
		b, err := os.ReadFile(filepath.Join("../deploy/grafana/provisioning", f))
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := yaml.Unmarshal(b, &doc); err != nil || doc["apiVersion"] != 1 {
			t.Errorf("%s: apiVersion %v, %v", f, doc["apiVersion"], err)
		}
		if strings.HasPrefix(f, "datasources") && !strings.Contains(string(b), "url: http://tandem-prometheus:9090") {
			t.Errorf("%s: not the Prometheus of deploy/README.md", f)
		}
	}
}

// walkDatasources calls f with the uid of every "datasource" object.
func walkDatasources(v any, f func(uid string)) {
	switch v := v.(type) {
	case map[string]any:
		for k, c := range v {
			if ds, ok := c.(map[string]any); ok && k == "datasource" {
				uid, _ := ds["uid"].(string)
				f(uid)
			}
			walkDatasources(c, f)
		}
	case []any:
		for _, c := range v {
			walkDatasources(c, f)
		}
	}
}

// metricNameRE finds our metric names in rules, their descriptions and
// comments, and dashboard queries: every metric of ours starts with gns_,
// ismg_ or federation_, and no label, keyword or PromQL function does.
var metricNameRE = regexp.MustCompile(`\b(?:gns|ismg|federation)_[a-z0-9_]*[a-z0-9]\b`)

// TestMonitoringMetricsExist: every metric the alert rules and the
// dashboard name is served by real gns and ismg processes. A GNS cluster
// and two gateways run the monitored situations: a cross-region MT with
// its report and an MO, Beijing's link to Guangzhou failing until
// Guangzhou starts, and the GNS going away under the route caches. Then
// their /metrics are scraped; a name missing from every scrape fails the
// test.
func TestMonitoringMetricsExist(t *testing.T) {
	var referenced []string
	for _, f := range []string{filepath.Join(promDir, "alerts.yml"), filepath.Join(promDir, "alerts_test.yml"), dashboard} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		referenced = append(referenced, metricNameRE.FindAllString(string(b), -1)...)
	}
	slices.Sort(referenced)
	referenced = slices.Compact(referenced)
	if len(referenced) < 20 {
		t.Fatalf("only %d metric names found in the monitoring files: %v", len(referenced), referenced)
	}

	gnsc, bj, gz := followingGNS(t)
	// Beijing comes up first: its link to Guangzhou fails until Guangzhou
	// listens.
	bj.start(t)
	waitfor.Cond(t, "Beijing's failed dials to Guangzhou counted", func() bool {
		return metric(t, bj.http, "federation_peer_link_connect_failures_total") > 0
	})
	gz.start(t)

	c := dialSP(t, bj.cmpp)
	want := map[uint64]bool{c.submit(t, "13802000001", "monitored"): true}
	c.waitReports(t, want)
	if err := bj.smsc.InjectMO(t.Context(), "13800100001", "10657001", "mo monitored", smstext.ASCII); err != nil {
		t.Fatal(err)
	}
	waitfor.Cond(t, "the MO delivered to the SP", func() bool {
		return metric(t, bj.http, "ismg_sp_delivers_total", `kind="mo"`) > 0
	})

	names := map[string]bool{}
	for _, addr := range gnsc.http {
		scrapeNames(t, addr, names)
	}
	// The GNS goes away: the caches count their reconnects.
	for _, p := range gnsc.procs {
		p.stop()
	}
	for _, g := range []*gateway{bj, gz} {
		waitfor.Cond(t, g.name+"'s route cache reconnecting", func() bool {
			return metric(t, g.http, "federation_routecache_reconnects_total") > 0
		})
		scrapeNames(t, g.http, names)
	}
	var missing []string
	for _, n := range referenced {
		if !names[n] {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("named in deploy/prometheus or deploy/grafana but served by no node: %v", missing)
	}
	t.Logf("%d metric names checked against %d served", len(referenced), len(names))
}

// scrapeNames adds the series names addr's /metrics serves, and the
// family names of its # TYPE lines, to names.
func scrapeNames(t *testing.T, addr string, names map[string]bool) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 16<<20))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if f, ok := strings.CutPrefix(line, "# TYPE "); ok {
			names[strings.Fields(f)[0]] = true
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}
