package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tandem-sms/tandem/billing"
)

// fedDirs are two gateways' CDR directories (Beijing with the open .part
// of its current hour, Guangzhou) of a small federation: local and
// forwarded MTs, their reports, a forwarded MO.
var fedDirs = []string{"-dir", filepath.Join("testdata", "fed", "beijing"), "-dir", filepath.Join("testdata", "fed", "guangzhou")}

const routesFile = "../../testdata/routes/sample.yaml"

func TestTrafficGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"traffic_gateway_hour_table", []string{"-by", "gateway,hour"}},
		{"traffic_sp_day_csv", []string{"-by", "sp,day", "-o", "csv"}},
		{"traffic_region_sp_csv", []string{"-by", "region,sp", "-routes", routesFile, "-o", "csv"}},
		{"traffic_gateway_json", []string{"-view", "traffic", "-by", "gateway", "-o", "json"}},
		{"traffic_total_table", []string{"-view", "traffic", "-by", ""}},
		{"traffic_window_shanghai_csv", []string{"-by", "hour", "-tz", "Asia/Shanghai", "-from", "2026-11-22T15:00:00.000Z", "-to", "2026-11-23T00:00:00+08:00", "-o", "csv"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := append(append([]string{"report"}, fedDirs...), tc.args...)
			if err := run(context.Background(), args, &out, &errOut); err != nil {
				t.Fatalf("run %v: %v (stderr %q)", args, err, errOut.String())
			}
			if !strings.Contains(errOut.String(), "cdr-001001-2026112215.csv.part is open") {
				t.Errorf("stderr does not name the open file: %q", errOut.String())
			}
			golden(t, tc.name, out.Bytes())
		})
	}
}

// golden compares got with testdata/name.golden (rewritten with -update).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s:\n%s\nwant:\n%s", name, got, want)
	}
}

func TestTrafficErrors(t *testing.T) {
	bad, badFile := badCDRDir(t)
	for _, tc := range []struct {
		name  string
		args  []string
		usage bool
		want  string
	}{
		{"region without routes", []string{"-by", "region,day"}, true, "-by region needs -routes FILE"},
		{"unknown key", []string{"-by", "sp,month"}, true, `unknown grouping "month"`},
		{"repeated key", []string{"-by", "sp,hour,sp"}, true, `"sp" named twice`},
		{"html billing view", []string{"-view", "billing", "-o", "html"}, true, "-o html is a traffic report"},
		{"billing view of a list", []string{"-view", "billing", "-by", "sp,day"}, true, `-by "sp,day": want sp, day, gateway or peer`},
		{"bad view", []string{"-view", "fees"}, true, `-view "fees"`},
		{"bad time", []string{"-by", "hour", "-from", "2026-11-22 14:00"}, true, "want YYYY-MM-DD or an RFC 3339 time"},
		{"empty window", []string{"-by", "hour", "-from", "2026-11-22T14:00:00Z", "-to", "2026-11-22T14:00:00Z"}, true, "is after -to"},
		{"missing routes", []string{"-by", "region", "-routes", filepath.Join(bad, "nope.yaml")}, false, "-routes"},
		{"bad record", []string{"-by", "hour", "-dir", bad}, false, badFile + ":2:10: column msg_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runFails(t, append(append([]string{"report"}, fedDirs...), tc.args...), tc.usage, tc.want)
		})
	}

	// -skip-bad: the bad record is named on stderr and counted; the rest counts.
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"report", "-dir", bad, "-by", "hour", "-o", "json", "-skip-bad"}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	var tr billing.Traffic
	if err := json.Unmarshal(out.Bytes(), &tr); err != nil {
		t.Fatal(err)
	}
	if tr.Total.Submitted != 1 || tr.Total.Delivered != 1 {
		t.Errorf("total %+v: want the good record", tr.Total)
	}
	for _, want := range []string{"billing: skipped: billing: " + badFile + ":2:10: column msg_id", "1 bad records skipped"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut.String())
		}
	}
}

// TestTrafficHTML parses the page (it is well-formed XML: encoding/xml
// reads it strictly) and checks that it is self-contained, that the
// charts have a bar per hour and series whose heights match their values,
// a latency point per hour with samples, and that the numbers are the
// report's.
func TestTrafficHTML(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), append(append([]string{"report"}, fedDirs...), "-by", "gateway,hour", "-o", "html"), &out, &errOut); err != nil {
		t.Fatal(err)
	}
	var js bytes.Buffer
	if err := run(context.Background(), append(append([]string{"report"}, fedDirs...), "-by", "gateway,hour", "-o", "json"), &js, io.Discard); err != nil {
		t.Fatal(err)
	}
	var tr billing.Traffic
	if err := json.Unmarshal(js.Bytes(), &tr); err != nil {
		t.Fatal(err)
	}
	doc := parseXML(t, out.Bytes())

	for _, n := range doc.all("") {
		for _, a := range n.Attr {
			if a.Name.Local == "src" || a.Name.Local == "href" || strings.Contains(a.Value, "url(") {
				t.Errorf("<%s %s=%q>: the page must not load anything", n.Name.Local, a.Name.Local, a.Value)
			}
		}
		if n.Name.Local == "script" || n.Name.Local == "link" || n.Name.Local == "img" {
			t.Errorf("<%s> in a self-contained page", n.Name.Local)
		}
	}
	if doc.byID("total-submitted").text() != "7" || doc.byID("total-delivered").text() != "3" ||
		doc.byID("total-latency").text() != "1m0s / 4m59s" || doc.byID("total-fwd").text() != "1 / 1" {
		t.Errorf("totals: submitted %q delivered %q latency %q fwd %q", doc.byID("total-submitted").text(),
			doc.byID("total-delivered").text(), doc.byID("total-latency").text(), doc.byID("total-fwd").text())
	}

	// Bars: three per hour, in hour order, values and heights in proportion.
	bars := doc.byID("chart-hourly").all("rect")
	if len(bars) != 3*len(tr.Hours) || len(tr.Hours) != 2 {
		t.Fatalf("%d bars for %d hours", len(bars), len(tr.Hours))
	}
	perUnit := -1.0
	for i, b := range bars {
		h := tr.Hours[i/3]
		want := []int64{h.Submitted, h.Delivered, h.Failed + h.Expired}[i%3]
		class := []string{"submitted", "delivered", "failed"}[i%3]
		if b.attr("class") != class || b.attr("data-hour") != h.Hour || b.attr("data-value") != strconv.FormatInt(want, 10) {
			t.Errorf("bar %d: class %q hour %q value %q, want %s %s %d", i, b.attr("class"), b.attr("data-hour"), b.attr("data-value"), class, h.Hour, want)
		}
		height, _ := strconv.ParseFloat(b.attr("height"), 64)
		if want > 0 {
			if perUnit < 0 {
				perUnit = height / float64(want)
			}
			if d := height - perUnit*float64(want); d > 0.02 || d < -0.02 {
				t.Errorf("bar %d: height %v for %d, scale %v per message", i, height, want, perUnit)
			}
		} else if height != 0 {
			t.Errorf("bar %d: height %v for 0", i, height)
		}
	}
	// Latency: a p50 and a p99 point per hour with samples, p99 above p50.
	dots := doc.byID("chart-latency").all("circle")
	if len(dots) != 4 {
		t.Fatalf("%d latency points, want 4", len(dots))
	}
	for i, d := range dots {
		h := tr.Hours[i/2]
		want := []int64{h.Latency.P50ms, h.Latency.P99ms}[i%2]
		if d.attr("data-ms") != strconv.FormatInt(want, 10) || d.attr("data-hour") != h.Hour {
			t.Errorf("point %d: %q ms at %q, want %d at %s", i, d.attr("data-ms"), d.attr("data-hour"), want, h.Hour)
		}
	}
	for i := 0; i < 4; i += 2 {
		y50, _ := strconv.ParseFloat(dots[i].attr("cy"), 64)
		y99, _ := strconv.ParseFloat(dots[i+1].attr("cy"), 64)
		if y99 > y50 {
			t.Errorf("hour %d: p99 drawn below p50 (%v > %v)", i/2, y99, y50)
		}
	}
	if p := doc.byID("chart-latency").all("polyline"); len(p) != 2 || len(strings.Fields(p[0].attr("points"))) != 2 {
		t.Errorf("latency lines %+v", p)
	}

	// The table: a row per group and the total, as in the CSV.
	var csvOut bytes.Buffer
	if err := run(context.Background(), append(append([]string{"report"}, fedDirs...), "-by", "gateway,hour", "-o", "csv"), &csvOut, io.Discard); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(csvOut.String()), "\n")
	table := doc.byID("report")
	if head := strings.Join(table.all("th").texts(), ","); head != lines[0] {
		t.Errorf("table head %q, csv %q", head, lines[0])
	}
	rows := table.all("tr")[1:]
	if len(rows) != len(lines) {
		t.Fatalf("%d table rows, want %d groups and the total", len(rows), len(lines))
	}
	for i, r := range rows[:len(rows)-1] {
		if got := strings.Join(r.all("td").texts(), ","); got != lines[i+1] {
			t.Errorf("row %d: %q, csv %q", i, got, lines[i+1])
		}
	}
	if total := rows[len(rows)-1].all("td").texts(); total[0] != "TOTAL" || total[2] != "7" {
		t.Errorf("total row %q", total)
	}
}

// node is a parsed XML element.
type node struct {
	Name     xml.Name
	Attr     []xml.Attr
	Children []*node
	Text     string
}

func parseXML(t *testing.T, b []byte) *node {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	root := &node{}
	stack := []*node{root}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the page is not well-formed: %v", err)
		}
		top := stack[len(stack)-1]
		switch tok := tok.(type) {
		case xml.StartElement:
			n := &node{Name: tok.Name, Attr: tok.Attr}
			top.Children = append(top.Children, n)
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			top.Text += string(tok)
		}
	}
	return root
}

type nodes []*node

// all is every element below n named name ("" for any), in document order.
func (n *node) all(name string) nodes {
	var out nodes
	for _, c := range n.Children {
		if name == "" || c.Name.Local == name {
			out = append(out, c)
		}
		out = append(out, c.all(name)...)
	}
	return out
}

func (n *node) attr(name string) string {
	for _, a := range n.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (n *node) byID(id string) *node {
	for _, c := range n.all("") {
		if c.attr("id") == id {
			return c
		}
	}
	return &node{}
}

// text is the text of n and its elements.
func (n *node) text() string {
	s := n.Text
	for _, c := range n.Children {
		s += c.text()
	}
	return strings.TrimSpace(s)
}

func (ns nodes) texts() []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.text())
	}
	return out
}
