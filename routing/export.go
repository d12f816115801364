package routing

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// ExportOptions chooses how Export lays out a table file.
type ExportOptions struct {
	// SegmentsFile and PortedFile, when set, are written into the YAML as
	// segment_files / ported_files instead of listing the entries inline;
	// write those files with ExportSegmentsCSV and ExportPortedCSV.
	SegmentsFile string
	PortedFile   string
	// WithSecrets writes the SP accounts' secrets; without it they are
	// left out (a table push of the file keeps the secrets the GNS has).
	WithSecrets bool
}

type fileAccount struct {
	Secret         string   `yaml:"secret,omitempty"`
	AllowedIPs     []string `yaml:"allowed_ips,flow"`
	MaxConnections int      `yaml:"max_connections,omitempty"`
	Window         int      `yaml:"window,omitempty"`
	SubmitRate     float64  `yaml:"submit_rate,omitempty"`
	Burst          int      `yaml:"burst,omitempty"`
}

type fileGateway struct {
	Code     string `yaml:"code"`
	Name     string `yaml:"name,omitempty"`
	Region   string `yaml:"region"`
	FwdAddr  string `yaml:"fwd_addr"`
	Province string `yaml:"province,omitempty"`
}

type fileSegment struct {
	Prefix   string `yaml:"prefix"`
	Gateway  string `yaml:"gateway"`
	SMSC     string `yaml:"smsc,omitempty"`
	AreaCode string `yaml:"area_code,omitempty"`
	UserType uint8  `yaml:"user_type,omitempty"`
}

type filePorted struct {
	MSISDN  string `yaml:"msisdn"`
	Gateway string `yaml:"gateway"`
}

type filePartition struct {
	Name    string   `yaml:"name"`
	Regions []string `yaml:"regions,flow"`
	Gateway string   `yaml:"gateway"`
}

type fileSP struct {
	ID             string          `yaml:"id"`
	Name           string          `yaml:"name,omitempty"`
	ServiceCodes   []string        `yaml:"service_codes,flow"`
	Gateway        string          `yaml:"gateway"`
	Mirrors        []string        `yaml:"mirrors,omitempty,flow"`
	DefaultGateway string          `yaml:"default_gateway,omitempty"`
	Partitions     []filePartition `yaml:"partitions,omitempty"`
	Account        *fileAccount    `yaml:"account,omitempty"`
}

type fileDoc struct {
	Version      int           `yaml:"version"`
	Gateways     []fileGateway `yaml:"gateways"`
	Segments     []fileSegment `yaml:"segments,omitempty"`
	SegmentFiles []string      `yaml:"segment_files,omitempty"`
	Ported       []filePorted  `yaml:"ported,omitempty"`
	PortedFiles  []string      `yaml:"ported_files,omitempty"`
	SPs          []fileSP      `yaml:"sps,omitempty"`
}

// Export writes the table as one YAML table file with everything inline.
// Loading it gives a table with the same contents; RouteIDs are not written
// (a loaded table numbers them in prefix and SP_Id order, and a table push
// keeps the ids of the prefixes and codes the GNS already has).
func (t *Table) Export(w io.Writer) error {
	return t.ExportYAML(w, ExportOptions{})
}

// ExportYAML writes the table as a YAML table file.
func (t *Table) ExportYAML(w io.Writer, o ExportOptions) error {
	doc := fileDoc{Version: FileVersion}
	withheld := false
	for _, g := range t.Gateways() {
		doc.Gateways = append(doc.Gateways, fileGateway(g))
	}
	if o.SegmentsFile != "" {
		doc.SegmentFiles = []string{o.SegmentsFile}
	} else {
		doc.Segments = make([]fileSegment, 0, t.nSeg)
		for s := range t.Segments() {
			doc.Segments = append(doc.Segments, fileSegment{s.Prefix, s.Gateway, s.SMSC, s.AreaCode, s.UserType})
		}
	}
	if o.PortedFile != "" {
		doc.PortedFiles = []string{o.PortedFile}
	} else {
		for _, p := range t.PortedNumbers() {
			doc.Ported = append(doc.Ported, filePorted(p))
		}
	}
	for _, s := range t.SPs() {
		fs := fileSP{ID: s.ID, Name: s.Name, Gateway: s.Gateway, Mirrors: s.Mirrors, DefaultGateway: s.DefaultGateway}
		for _, sc := range s.ServiceCodes {
			fs.ServiceCodes = append(fs.ServiceCodes, sc.Code)
		}
		for _, p := range s.Partitions {
			fs.Partitions = append(fs.Partitions, filePartition(p))
		}
		if a := s.Account; a != nil {
			fa := fileAccount{AllowedIPs: a.AllowedIPs, MaxConnections: a.MaxConnections, Window: a.Window, SubmitRate: a.SubmitRate, Burst: a.Burst}
			if fa.AllowedIPs == nil {
				fa.AllowedIPs = []string{}
			}
			if o.WithSecrets {
				fa.Secret = a.Secret
			} else {
				withheld = true
			}
			fs.Account = &fa
		}
		doc.SPs = append(doc.SPs, fs)
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "# Tandem routing table, exported at revision %d.\n", t.rev)
	if withheld {
		fmt.Fprintf(bw, "# SP account secrets are not shown; a table push of this file keeps the GNS's.\n")
	}
	enc := yaml.NewEncoder(bw)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return fmt.Errorf("routing: export: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("routing: export: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("routing: export: %w", err)
	}
	return nil
}

// ExportSegmentsCSV writes every segment in prefix order as CSV with the
// header prefix,gateway,smsc,area_code,user_type.
func (t *Table) ExportSegmentsCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"prefix", "gateway", "smsc", "area_code", "user_type"}); err != nil {
		return fmt.Errorf("routing: export segments: %w", err)
	}
	rec := make([]string, 5)
	for s := range t.Segments() {
		rec[0], rec[1], rec[2], rec[3], rec[4] = s.Prefix, s.Gateway, s.SMSC, s.AreaCode, strconv.Itoa(int(s.UserType))
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("routing: export segments: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("routing: export segments: %w", err)
	}
	return nil
}

// ExportPortedCSV writes every ported number in MSISDN order as CSV with the
// header msisdn,gateway.
func (t *Table) ExportPortedCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"msisdn", "gateway"}); err != nil {
		return fmt.Errorf("routing: export ported: %w", err)
	}
	for _, p := range t.PortedNumbers() {
		if err := cw.Write([]string{p.MSISDN, p.Gateway}); err != nil {
			return fmt.Errorf("routing: export ported: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("routing: export ported: %w", err)
	}
	return nil
}
