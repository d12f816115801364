// Package yamlkeys speaks of a YAML document in the operator's terms: the
// line of every key path ("sps[0].secret"), and go.yaml.in/yaml/v3's type
// errors — which name Go types ("field limts not found in type
// ismg.Config", "cannot unmarshal !!str `x` into time.Duration") —
// rewritten as "file:line: key: problem" with the key as the file spells
// it. The ISMG config and the GNS config file report through it.
package yamlkeys

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Index maps the path of every mapping key and sequence item below n (a
// document or its root) to its line: "limits.max_pdu", "sps[0]".
func Index(n *yaml.Node) map[string]int {
	out := map[string]int{}
	for _, e := range entries(n) {
		out[e.path] = e.line
	}
	return out
}

// entry is a key (or sequence item) of the document: its path, the line
// it is written on, and its value.
type entry struct {
	path  string
	line  int
	value *yaml.Node
}

func entries(n *yaml.Node) []entry {
	var out []entry
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil
		}
		n = n.Content[0]
	}
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := k.Value
				if prefix != "" {
					p = prefix + "." + k.Value
				}
				out = append(out, entry{p, k.Line, v})
				walk(v, p)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				p := prefix + "[" + strconv.Itoa(i) + "]"
				out = append(out, entry{p, c.Line, c})
				walk(c, p)
			}
		}
	}
	walk(n, "")
	return out
}

var (
	unknownRE = regexp.MustCompile("^line ([0-9]+): field (.+) not found in type .+$")
	typeRE    = regexp.MustCompile("^line ([0-9]+): cannot unmarshal !!([a-z]+)(?: `(.*)`)? into (.+)$")
	lineRE    = regexp.MustCompile("^line ([0-9]+): (.+)$")
)

// TypeProblems rewrites each of the decoder's type errors, from decoding
// the document root (read from path), as "path:line: key: problem": the
// key by its path, what it wants in YAML's terms, never a Go type.
func TypeProblems(path string, root *yaml.Node, te *yaml.TypeError) []string {
	es := entries(root)
	var out []string
	for _, e := range te.Errors {
		if m := unknownRE.FindStringSubmatch(e); m != nil {
			line, _ := strconv.Atoi(m[1])
			key := find(es, m[2], func(x entry) bool {
				return x.line == line && (x.path == m[2] || strings.HasSuffix(x.path, "."+m[2]))
			})
			out = append(out, fmt.Sprintf("%s:%d: %s: unknown key", path, line, key))
		} else if m := typeRE.FindStringSubmatch(e); m != nil {
			line, _ := strconv.Atoi(m[1])
			key := find(es, "value", func(x entry) bool {
				return x.value.Line == line && x.value.ShortTag() == "!!"+m[2] && (x.value.Kind != yaml.ScalarNode || x.value.Value == m[3])
			})
			out = append(out, fmt.Sprintf("%s:%d: %s: want %s, got %s", path, line, key, want(m[4]), got(m[2], m[3])))
		} else if m := lineRE.FindStringSubmatch(e); m != nil {
			out = append(out, fmt.Sprintf("%s:%s: %s", path, m[1], m[2]))
		} else {
			out = append(out, fmt.Sprintf("%s: %s", path, e))
		}
	}
	return out
}

// find returns the deepest path among the entries that match, else def.
func find(es []entry, def string, match func(entry) bool) string {
	best := ""
	for _, e := range es {
		if match(e) && len(e.path) > len(best) {
			best = e.path
		}
	}
	if best == "" {
		return def
	}
	return best
}

// want says in YAML's terms what a Go type takes.
func want(goType string) string {
	switch {
	case goType == "time.Duration":
		return "a duration such as 30s or 5m"
	case goType == "bool":
		return "true or false"
	case goType == "string":
		return "a string"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"), strings.HasPrefix(goType, "float"):
		return "a number"
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	default:
		return "a mapping"
	}
}

// got names what the file holds: a scalar's text, else its kind.
func got(tag, value string) string {
	switch tag {
	case "seq":
		return "a list"
	case "map":
		return "a mapping"
	}
	return strconv.Quote(value)
}

// DecodeError is err, from decoding data (read from path), in the
// operator's terms: a type error becomes its TypeProblems, one a line;
// anything else is prefixed with path.
func DecodeError(path string, data []byte, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return fmt.Errorf("%s: %w", path, err)
	}
	var root yaml.Node
	_ = yaml.Unmarshal(data, &root) // the decoder got this far: it parses
	return errors.New(strings.Join(TypeProblems(path, &root, te), "\n"))
}
