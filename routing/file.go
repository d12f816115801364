package routing

import (
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// FileVersion is the "version:" a table file must declare.
const FileVersion = 1

// maxFileSize bounds a YAML table file; bulk data belongs in CSV files.
const maxFileSize = 256 << 20

// LoadFile reads a YAML table file; the CSV files it names are read relative
// to its directory. The table has revision 0.
func LoadFile(name string) (*Table, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("routing: load: %w", err)
	}
	defer f.Close()
	return Load(name, f)
}

// Load reads a YAML table from r. name is used in error messages and to find
// the CSV files the table names (relative to name's directory, on the OS file system).
func Load(name string, r io.Reader) (*Table, error) {
	dir := filepath.Dir(name)
	open := func(rel string) (io.ReadCloser, string, error) {
		p := rel
		if !filepath.IsAbs(rel) {
			p = filepath.Join(dir, rel)
		}
		f, err := os.Open(p)
		return f, p, err
	}
	return load(name, r, open)
}

// LoadFS is Load reading the file and its CSV files from fsys.
func LoadFS(fsys fs.FS, name string) (*Table, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, fmt.Errorf("routing: load: %w", err)
	}
	defer f.Close()
	open := func(rel string) (io.ReadCloser, string, error) {
		p := path.Join(path.Dir(name), rel)
		f, err := fsys.Open(p)
		return f, p, err
	}
	return load(name, f, open)
}

type opener func(rel string) (io.ReadCloser, string, error)

// itemLoc remembers where one list item came from, to turn a problem found
// while building into file:line: field.
type itemLoc struct {
	file   string
	line   int
	prefix string         // "segments[3]." for YAML items, "" for CSV rows
	fields map[string]int // field path → line, YAML only
}

type loader struct {
	name  string
	errs  []FieldError
	order map[string]int // file → position of first mention, to sort errors
	c     Contents
	locs  map[string][]itemLoc
}

func (l *loader) add(file string, line int, field string, err error, msg string) {
	if _, ok := l.order[file]; !ok {
		l.order[file] = len(l.order)
	}
	l.errs = append(l.errs, FieldError{File: file, Line: line, Field: field, Msg: msg, Err: err})
}

func (l *loader) addNode(n *yaml.Node, field string, err error) {
	l.add(l.name, n.Line, field, err, msgOf(err))
}

func load(name string, r io.Reader, open opener) (*Table, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("routing: load %s: %w", name, err)
	}
	l := &loader{name: name, order: map[string]int{name: 0}, locs: map[string][]itemLoc{}}
	if len(data) > maxFileSize {
		l.add(name, 0, "", ErrBadValue, fmt.Sprintf("file larger than %d bytes", maxFileSize))
		return nil, l.result()
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line := 0
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			// yaml.v3 syntax errors read "yaml: line N: …".
			if _, rest, ok := strings.Cut(err.Error(), "line "); ok {
				if n, _, ok := strings.Cut(rest, ":"); ok {
					line, _ = strconv.Atoi(n)
				}
			}
		}
		l.add(name, line, "", ErrBadValue, err.Error())
		return nil, l.result()
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		l.add(name, doc.Line, "", ErrBadValue, "want a mapping with gateways, segments, ported and sps")
		return nil, l.result()
	}
	l.document(doc.Content[0], open)
	// Values that failed to parse are left empty and fill reports them again;
	// running it anyway means one pass shows every semantic problem too.
	b := NewBuilder()
	b.reset()
	b.fill(&l.c, Empty(), l.problem)
	if len(l.errs) > 0 {
		return nil, l.result()
	}
	return b.Table(0), nil
}

func (l *loader) result() error {
	slices.SortStableFunc(l.errs, func(a, b FieldError) int {
		if c := cmp.Compare(l.order[a.File], l.order[b.File]); c != 0 {
			return c
		}
		return cmp.Compare(a.Line, b.Line)
	})
	return &ValidationError{Errors: l.errs}
}

func (l *loader) problem(p problem) {
	locs := l.locs[p.section]
	if p.index >= len(locs) {
		l.add(l.name, 0, p.section+"."+p.field, p.err, msgOf(p.err))
		return
	}
	loc := locs[p.index]
	line := loc.line
	if n, ok := loc.fields[p.field]; ok {
		line = n
	} else if before, _, ok := strings.Cut(p.field, "["); ok {
		if n, ok := loc.fields[before]; ok {
			line = n
		}
	}
	msg := msgOf(p.err)
	if p.dupOf >= 0 && p.dupOf < len(locs) {
		msg += fmt.Sprintf(" (first at %s:%d)", locs[p.dupOf].file, locs[p.dupOf].line)
	}
	field := strings.TrimSuffix(loc.prefix+p.field, ".")
	l.add(loc.file, line, field, p.err, msg)
}

// ---- YAML document ----

func (l *loader) document(m *yaml.Node, open opener) {
	var segFiles, portFiles *yaml.Node
	sawVersion := false
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		switch k.Value {
		case "version":
			sawVersion = true
			if v.Kind != yaml.ScalarNode || v.Value != strconv.Itoa(FileVersion) {
				l.addNode(v, "version", fmt.Errorf("%w: version %q, want %d", ErrBadValue, v.Value, FileVersion))
			}
		case "gateways":
			l.list(v, "gateways", func(n *yaml.Node, loc *itemLoc) {
				var g Gateway
				l.fieldsOf(n, loc, map[string]*string{
					"code": &g.Code, "name": &g.Name, "region": &g.Region, "fwd_addr": &g.FwdAddr, "province": &g.Province,
				}, nil)
				l.c.Gateways = append(l.c.Gateways, g)
			})
		case "segments":
			l.list(v, "segments", func(n *yaml.Node, loc *itemLoc) {
				var s Segment
				l.fieldsOf(n, loc, map[string]*string{
					"prefix": &s.Prefix, "gateway": &s.Gateway, "smsc": &s.SMSC, "area_code": &s.AreaCode,
				}, map[string]func(*yaml.Node){
					"user_type": func(v *yaml.Node) { s.UserType = l.uint8Node(v, loc.prefix+"user_type") },
				})
				l.c.Segments = append(l.c.Segments, s)
			})
		case "ported":
			l.list(v, "ported", func(n *yaml.Node, loc *itemLoc) {
				var p Ported
				l.fieldsOf(n, loc, map[string]*string{"msisdn": &p.MSISDN, "gateway": &p.Gateway}, nil)
				l.c.Ported = append(l.c.Ported, p)
			})
		case "sps":
			l.list(v, "sps", func(n *yaml.Node, loc *itemLoc) { l.c.SPs = append(l.c.SPs, l.sp(n, loc)) })
		case "revision":
			// Written by gnsctl table export -o json to say what it
			// exported; a loaded table has no revision of its own.
		case "segment_files":
			segFiles = v
		case "ported_files":
			portFiles = v
		default:
			l.add(l.name, k.Line, k.Value, ErrBadValue, "unknown key")
		}
	}
	if !sawVersion {
		l.add(l.name, m.Line, "version", ErrBadValue, fmt.Sprintf("missing, want %d", FileVersion))
	}
	// CSV rows go after the inline items so YAML indexes stay what the file says.
	for i, f := range l.strList(segFiles, "segment_files") {
		l.csvFile(f.Value, f, fmt.Sprintf("segment_files[%d]", i), open, []string{"prefix", "gateway"}, l.segmentRow)
	}
	for i, f := range l.strList(portFiles, "ported_files") {
		l.csvFile(f.Value, f, fmt.Sprintf("ported_files[%d]", i), open, []string{"msisdn", "gateway"}, l.portedRow)
	}
}

func (l *loader) list(v *yaml.Node, section string, item func(*yaml.Node, *itemLoc)) {
	if v.Kind != yaml.SequenceNode {
		if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			return
		}
		l.addNode(v, section, fmt.Errorf("%w: want a list", ErrBadValue))
		return
	}
	for i, n := range v.Content {
		loc := itemLoc{file: l.name, line: n.Line, prefix: fmt.Sprintf("%s[%d].", section, i), fields: map[string]int{}}
		if n.Kind != yaml.MappingNode {
			l.addNode(n, loc.prefix[:len(loc.prefix)-1], fmt.Errorf("%w: want a mapping", ErrBadValue))
			continue
		}
		item(n, &loc)
		l.locs[section] = append(l.locs[section], loc)
	}
}

// fieldsOf reads the scalar fields of a mapping; keys not listed are errors.
func (l *loader) fieldsOf(n *yaml.Node, loc *itemLoc, strs map[string]*string, other map[string]func(*yaml.Node)) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		loc.fields[k.Value] = v.Line
		if p, ok := strs[k.Value]; ok {
			*p = l.scalar(v, loc.prefix+k.Value)
		} else if f, ok := other[k.Value]; ok {
			f(v)
		} else {
			l.add(l.name, k.Line, loc.prefix+k.Value, ErrBadValue, "unknown key")
		}
	}
}

// scalar returns a scalar's text as written, so 001001 keeps its zeros even unquoted.
func (l *loader) scalar(v *yaml.Node, field string) string {
	if v.Kind != yaml.ScalarNode {
		l.addNode(v, field, fmt.Errorf("%w: want a single value", ErrBadValue))
		return ""
	}
	if v.Tag == "!!null" {
		return ""
	}
	return v.Value
}

func (l *loader) uint8Node(v *yaml.Node, field string) uint8 {
	s := l.scalar(v, field)
	n, err := strconv.ParseUint(s, 10, 8)
	if err != nil {
		l.addNode(v, field, fmt.Errorf("%w: %q is not a number 0–255", ErrBadValue, s))
	}
	return uint8(n)
}

func (l *loader) strList(v *yaml.Node, field string) []*yaml.Node {
	if v == nil || v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		l.addNode(v, field, fmt.Errorf("%w: want a list", ErrBadValue))
		return nil
	}
	var out []*yaml.Node
	for i, n := range v.Content {
		if n.Kind != yaml.ScalarNode {
			l.addNode(n, fmt.Sprintf("%s[%d]", field, i), fmt.Errorf("%w: want a single value", ErrBadValue))
			continue
		}
		out = append(out, n)
	}
	return out
}

func (l *loader) sp(n *yaml.Node, loc *itemLoc) SP {
	var s SP
	codes := func(v *yaml.Node) {
		for i, c := range l.strList(v, loc.prefix+"service_codes") {
			loc.fields[fmt.Sprintf("service_codes[%d]", i)] = c.Line
			s.ServiceCodes = append(s.ServiceCodes, ServiceCode{Code: c.Value})
		}
	}
	mirrors := func(v *yaml.Node) {
		for i, c := range l.strList(v, loc.prefix+"mirrors") {
			loc.fields[fmt.Sprintf("mirrors[%d]", i)] = c.Line
			s.Mirrors = append(s.Mirrors, c.Value)
		}
	}
	parts := func(v *yaml.Node) {
		if v.Kind != yaml.SequenceNode {
			l.addNode(v, loc.prefix+"partitions", fmt.Errorf("%w: want a list", ErrBadValue))
			return
		}
		for i, pn := range v.Content {
			pf := fmt.Sprintf("partitions[%d]", i)
			if pn.Kind != yaml.MappingNode {
				l.addNode(pn, loc.prefix+pf, fmt.Errorf("%w: want a mapping", ErrBadValue))
				continue
			}
			var p Partition
			sub := itemLoc{prefix: loc.prefix + pf + ".", fields: map[string]int{}}
			l.fieldsOf(pn, &sub, map[string]*string{"name": &p.Name, "gateway": &p.Gateway},
				map[string]func(*yaml.Node){"regions": func(rv *yaml.Node) {
					for j, r := range l.strList(rv, sub.prefix+"regions") {
						loc.fields[fmt.Sprintf("%s.regions[%d]", pf, j)] = r.Line
						p.Regions = append(p.Regions, r.Value)
					}
				}})
			loc.fields[pf] = pn.Line
			for k, line := range sub.fields {
				loc.fields[pf+"."+k] = line
			}
			s.Partitions = append(s.Partitions, p)
		}
	}
	account := func(v *yaml.Node) {
		if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			return
		}
		if v.Kind != yaml.MappingNode {
			l.addNode(v, loc.prefix+"account", fmt.Errorf("%w: want a mapping", ErrBadValue))
			return
		}
		s.Account = l.account(v, loc)
	}
	l.fieldsOf(n, loc, map[string]*string{
		"id": &s.ID, "name": &s.Name, "gateway": &s.Gateway, "default_gateway": &s.DefaultGateway,
	}, map[string]func(*yaml.Node){"service_codes": codes, "mirrors": mirrors, "partitions": parts, "account": account})
	return s
}

// account reads an SP's account mapping (account.go); its fields' lines go
// into loc as "account.<key>".
func (l *loader) account(n *yaml.Node, loc *itemLoc) *SPAccount {
	a := &SPAccount{}
	sub := itemLoc{prefix: loc.prefix + "account.", fields: map[string]int{}}
	num := func(key string, p *int) func(*yaml.Node) {
		return func(v *yaml.Node) { *p = l.intNode(v, sub.prefix+key) }
	}
	l.fieldsOf(n, &sub, map[string]*string{"secret": &a.Secret}, map[string]func(*yaml.Node){
		"allowed_ips": func(v *yaml.Node) {
			for i, c := range l.strList(v, sub.prefix+"allowed_ips") {
				loc.fields[fmt.Sprintf("account.allowed_ips[%d]", i)] = c.Line
				a.AllowedIPs = append(a.AllowedIPs, c.Value)
			}
		},
		"max_connections": num("max_connections", &a.MaxConnections),
		"window":          num("window", &a.Window),
		"burst":           num("burst", &a.Burst),
		"submit_rate": func(v *yaml.Node) {
			t := l.scalar(v, sub.prefix+"submit_rate")
			f, err := strconv.ParseFloat(t, 64)
			if err != nil {
				l.addNode(v, sub.prefix+"submit_rate", fmt.Errorf("%w: %q is not a number", ErrBadValue, t))
			}
			a.SubmitRate = f
		},
	})
	loc.fields["account"] = n.Line
	for k, line := range sub.fields {
		loc.fields["account."+k] = line
	}
	return a
}

func (l *loader) intNode(v *yaml.Node, field string) int {
	t := l.scalar(v, field)
	n, err := strconv.Atoi(t)
	if err != nil {
		l.addNode(v, field, fmt.Errorf("%w: %q is not a whole number", ErrBadValue, t))
	}
	return n
}

// ---- CSV ----

func (l *loader) csvFile(rel string, ref *yaml.Node, field string, open opener, required []string, row func(file string, line int, col map[string]int, rec []string)) {
	f, p, err := open(rel)
	if err != nil {
		l.addNode(ref, field, fmt.Errorf("%w: %w", ErrBadValue, err))
		return
	}
	defer f.Close()
	l.order[p] = len(l.order)
	r := csv.NewReader(f)
	r.Comment = '#'
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	r.TrimLeadingSpace = true
	head, err := r.Read()
	if err != nil {
		l.add(p, 1, "", ErrBadValue, "want a header line: "+err.Error())
		return
	}
	col := map[string]int{}
	for i, h := range head {
		col[strings.TrimSpace(h)] = i
	}
	for _, req := range required {
		if _, ok := col[req]; !ok {
			l.add(p, 1, req, ErrBadValue, "header has no "+req+" column")
			return
		}
	}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return
		}
		if err != nil {
			line := 0
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.Line
			}
			l.add(p, line, "", ErrBadValue, err.Error())
			return
		}
		line, _ := r.FieldPos(0)
		row(p, line, col, rec)
	}
}

func cell(rec []string, col map[string]int, name string) string {
	if i, ok := col[name]; ok && i < len(rec) {
		return strings.TrimSpace(rec[i])
	}
	return ""
}

func (l *loader) segmentRow(file string, line int, col map[string]int, rec []string) {
	s := Segment{
		Prefix:   cell(rec, col, "prefix"),
		Gateway:  cell(rec, col, "gateway"),
		SMSC:     cell(rec, col, "smsc"),
		AreaCode: cell(rec, col, "area_code"),
	}
	if ut := cell(rec, col, "user_type"); ut != "" {
		n, err := strconv.ParseUint(ut, 10, 8)
		if err != nil {
			l.add(file, line, "user_type", ErrBadValue, fmt.Sprintf("%q is not a number 0–255", ut))
		}
		s.UserType = uint8(n)
	}
	l.c.Segments = append(l.c.Segments, s)
	l.locs["segments"] = append(l.locs["segments"], itemLoc{file: file, line: line})
}

func (l *loader) portedRow(file string, line int, col map[string]int, rec []string) {
	l.c.Ported = append(l.c.Ported, Ported{MSISDN: cell(rec, col, "msisdn"), Gateway: cell(rec, col, "gateway")})
	l.locs["ported"] = append(l.locs["ported"], itemLoc{file: file, line: line})
}
