package ismg

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The decoder's type errors name Go types ("field limts not found in type
// ismg.Config", "cannot unmarshal !!str `x` into time.Duration"); the
// operator wrote YAML keys. yamlProblems rewrites each into Validate's
// shape, "file:line: key: what", with the key path as the file spells it.
var (
	yamlUnknownRE = regexp.MustCompile("^line ([0-9]+): field (.+) not found in type .+$")
	yamlTypeRE    = regexp.MustCompile("^line ([0-9]+): cannot unmarshal !!([a-z]+) `(.*)` into (.+)$")
	yamlLineRE    = regexp.MustCompile("^line ([0-9]+): (.+)$")
)

func (c *Config) yamlProblems(te *yaml.TypeError) []string {
	var out []string
	for _, e := range te.Errors {
		if m := yamlUnknownRE.FindStringSubmatch(e); m != nil {
			line, _ := strconv.Atoi(m[1])
			out = append(out, fmt.Sprintf("%s:%d: %s: unknown key", c.path, line, c.keyAt(line, m[2])))
		} else if m := yamlTypeRE.FindStringSubmatch(e); m != nil {
			line, _ := strconv.Atoi(m[1])
			out = append(out, fmt.Sprintf("%s:%d: %s: want %s, got %s", c.path, line, c.keyAt(line, ""), yamlWant(m[4]), yamlGot(m[2], m[3])))
		} else if m := yamlLineRE.FindStringSubmatch(e); m != nil {
			out = append(out, fmt.Sprintf("%s:%s: %s", c.path, m[1], m[2]))
		} else {
			out = append(out, fmt.Sprintf("%s: %s", c.path, e))
		}
	}
	return out
}

// keyAt finds the key path written on line (ending in name, if given); the
// longest wins, so a flow mapping's innermost key is named.
func (c *Config) keyAt(line int, name string) string {
	best := name
	found := false
	for k, l := range c.lines {
		if l != line || (name != "" && k != name && !strings.HasSuffix(k, "."+name)) {
			continue
		}
		if !found || len(k) > len(best) || (len(k) == len(best) && k < best) {
			best, found = k, true
		}
	}
	if best == "" {
		return "value"
	}
	return best
}

// yamlWant says in YAML's terms what a Go type takes.
func yamlWant(goType string) string {
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

// yamlGot names what the file holds: a scalar's text, else its kind.
func yamlGot(tag, value string) string {
	switch tag {
	case "seq":
		return "a list"
	case "map":
		return "a mapping"
	}
	return strconv.Quote(value)
}
