package routing

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

func TestSampleFile(t *testing.T) {
	tb := sample(t)
	if tb.NumGateways() != 5 || tb.NumSegments() != 21 || tb.NumPorted() != 2 || tb.NumSPs() != 4 {
		t.Fatalf("counts: %d gateways %d segments %d ported %d sps", tb.NumGateways(), tb.NumSegments(), tb.NumPorted(), tb.NumSPs())
	}
	sina, ok := tb.SP("901234")
	if !ok || sina.Name != "Sina" || len(sina.Partitions) != 2 || sina.Mirrors[0] != "020001" {
		t.Fatalf("sina: %+v", sina)
	}
}

const goodHead = `version: 1
gateways:
  - {code: "001001", name: Beijing, region: beijing, fwd_addr: "127.0.0.1:7931"}
  - {code: "020001", name: Guangzhou, region: guangdong, fwd_addr: "127.0.0.1:7933"}
`

// TestValidationErrors checks that one load reports every problem, each as
// file:line: field: message.
func TestValidationErrors(t *testing.T) {
	yml := goodHead + `  - {code: "001001", name: Again, region: x, fwd_addr: "127.0.0.1:1"}
  - {code: "00100x", region: y, fwd_addr: "127.0.0.1:1"}
segment_files: [segs.csv]
segments:
  - {prefix: "1380010", gateway: "001001"}
  - {prefix: "1380010", gateway: "020001"}
  - {prefix: "13", gateway: "001001"}
  - {prefix: "138001012345", gateway: "001001"}
  - prefix: "1380011"
    gateway: "009999"
  - {prefix: "13a0012", gateway: "001001", colour: red}
ported:
  - {msisdn: "1380010123", gateway: "001001"}
sps:
  - id: "901234"
    gateway: "001001"
    service_codes: ["10657001"]
    partitions:
      - name: north
        regions: [beijing, tianjin]
        gateway: "001001"
      - name: south
        regions: [guangdong, tianjin]
        gateway: "020001"
  - id: "901234"
    gateway: "001001"
  - id: "902000"
    gateway: "001001"
    service_codes: ["10657001"]
`
	csv := "prefix,gateway\n1390010,001001\n1390011,077101\n1390x12,001001\n"
	fsys := fstest.MapFS{
		"routes/routes.yaml": {Data: []byte(yml)},
		"routes/segs.csv":    {Data: []byte(csv)},
	}
	_, err := LoadFS(fsys, "routes/routes.yaml")
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want *ValidationError, got %v", err)
	}
	want := []string{
		`routes/routes.yaml:5: gateways[2].code: already exists: duplicate gateway code 001001 (first at routes/routes.yaml:3)`,
		`routes/routes.yaml:6: gateways[3].code: bad digits: "00100x" has a non-digit`,
		`routes/routes.yaml:10: segments[1].prefix: already exists: duplicate prefix 1380010 (first at routes/routes.yaml:9)`,
		`routes/routes.yaml:11: segments[2].prefix: bad digits: "13" has 2 digits, want 3 to 11`,
		`routes/routes.yaml:12: segments[3].prefix: bad digits: "138001012345" has 12 digits, want 3 to 11`,
		`routes/routes.yaml:14: segments[4].gateway: unknown gateway "009999"`,
		`routes/routes.yaml:15: segments[5].colour: unknown key`,
		`routes/routes.yaml:15: segments[5].prefix: bad digits: "13a0012" has a non-digit`,
		`routes/routes.yaml:17: ported[0].msisdn: bad digits: "1380010123" has 10 digits, want 11`,
		`routes/routes.yaml:27: sps[0].partitions[1].regions[1]: conflict: region "tianjin" already in partition "north"`,
		`routes/routes.yaml:29: sps[1].id: already exists: duplicate sp id 901234 (first at routes/routes.yaml:19)`,
		`routes/routes.yaml:33: sps[2].service_codes[0]: conflict: service code 10657001 already belongs to sp 901234`,
		`routes/segs.csv:3: gateway: unknown gateway "077101"`,
		`routes/segs.csv:4: prefix: bad digits: "1390x12" has a non-digit`,
	}
	got := strings.Split(ve.Error(), "\n")
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("errors:\n%s\nwant:\n%s", ve.Error(), strings.Join(want, "\n"))
	}
	for _, s := range []error{ErrUnknownGateway, ErrBadDigits, ErrConflict, ErrExists} {
		if !errors.Is(err, s) {
			t.Errorf("errors.Is(%v) = false", s)
		}
	}
}

func TestLoadStructureErrors(t *testing.T) {
	for name, tc := range map[string]struct{ yml, want string }{
		"syntax":       {"version: 1\ngateways: [\n", "t.yaml:2: "},
		"no version":   {"gateways: []\n", `t.yaml:1: version: missing, want 1`},
		"bad version":  {"version: 2\n", `t.yaml:1: version: bad value: version "2", want 1`},
		"not a list":   {"version: 1\ngateways: {a: b}\n", `t.yaml:2: gateways: bad value: want a list`},
		"unknown key":  {"version: 1\nroutes: []\n", `t.yaml:2: routes: unknown key`},
		"missing csv":  {"version: 1\nsegment_files: [nope.csv]\n", `t.yaml:2: segment_files[0]: bad value: open nope.csv`},
		"bad csv head": {"version: 1\nsegment_files: [bad.csv]\n", `bad.csv:1: gateway: header has no gateway column`},
		"user type":    {goodHead + "segments:\n  - {prefix: \"138\", gateway: \"001001\", user_type: 300}\n", `t.yaml:6: segments[0].user_type: bad value: "300" is not a number 0–255`},
	} {
		t.Run(name, func(t *testing.T) {
			fsys := fstest.MapFS{"t.yaml": {Data: []byte(tc.yml)}, "bad.csv": {Data: []byte("prefix,gw\n")}}
			_, err := LoadFS(fsys, "t.yaml")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestExportImportRoundTrip(t *testing.T) {
	tb := sample(t)
	var y bytes.Buffer
	if err := tb.Export(&y); err != nil {
		t.Fatal(err)
	}
	back, err := Load("exported.yaml", bytes.NewReader(y.Bytes()))
	if err != nil {
		t.Fatalf("%v\n%s", err, y.String())
	}
	if !reflect.DeepEqual(back.Contents(), tb.Contents()) {
		t.Fatalf("round trip differs:\n%s", y.String())
	}

	// With the bulk parts in CSV files.
	dir := t.TempDir()
	var segs, ported, y2 bytes.Buffer
	must(t, tb.ExportSegmentsCSV(&segs))
	must(t, tb.ExportPortedCSV(&ported))
	must(t, tb.ExportYAML(&y2, ExportOptions{SegmentsFile: "s.csv", PortedFile: "p.csv"}))
	for name, b := range map[string][]byte{"t.yaml": y2.Bytes(), "s.csv": segs.Bytes(), "p.csv": ported.Bytes()} {
		must(t, os.WriteFile(filepath.Join(dir, name), b, 0o644))
	}
	back2, err := LoadFile(filepath.Join(dir, "t.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back2.Contents(), tb.Contents()) {
		t.Fatal("CSV round trip differs")
	}
}
