package yamlkeys

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

type limits struct {
	MaxPDU int           `yaml:"max_pdu"`
	Idle   time.Duration `yaml:"idle"`
}

type config struct {
	Name   string   `yaml:"name"`
	Limits limits   `yaml:"limits"`
	Peers  []limits `yaml:"peers"`
	Tags   []string `yaml:"tags"`
	On     bool     `yaml:"on"`
}

func decode(data string) error {
	dec := yaml.NewDecoder(bytes.NewReader([]byte(data)))
	dec.KnownFields(true)
	var c config
	return dec.Decode(&c)
}

// TestDecodeError: unknown keys and values of the wrong kind, in block and
// flow style and in lists, are named by their key path and line; no Go
// type name is left.
func TestDecodeError(t *testing.T) {
	data := strings.Join([]string{
		"name: gw",                     // 1
		"limits:",                      // 2
		"  max_pdu: lots",              // 3
		"  colour: red",                // 4
		"peers:",                       // 5
		"  - {max_pdu: 1, idle: soon}", // 6
		"  - {max_pdu: 2, size: 3}",    // 7
		"tags: {a: b}",                 // 8
		"on: maybe",                    // 9
		"extra: 1",                     // 10
	}, "\n")
	err := DecodeError("c.yaml", []byte(data), decode(data))
	want := []string{
		`c.yaml:3: limits.max_pdu: want a number, got "lots"`,
		`c.yaml:4: limits.colour: unknown key`,
		`c.yaml:6: peers[0].idle: want a duration such as 30s or 5m, got "soon"`,
		`c.yaml:7: peers[1].size: unknown key`,
		`c.yaml:8: tags: want a list, got a mapping`,
		`c.yaml:9: on: want true or false, got "maybe"`,
		`c.yaml:10: extra: unknown key`,
	}
	if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, want) {
		t.Fatalf("got\n%s\nwant\n%s", err, strings.Join(want, "\n"))
	}
}

func TestDecodeErrorOther(t *testing.T) {
	data := "name: [unclosed\n"
	err := DecodeError("c.yaml", []byte(data), decode(data))
	if err == nil || !strings.HasPrefix(err.Error(), "c.yaml: yaml: line ") {
		t.Fatalf("syntax error: %v", err)
	}
	if !errors.Is(DecodeError("c.yaml", nil, errSentinel), errSentinel) {
		t.Fatal("a non-type error is not wrapped")
	}
}

var errSentinel = errors.New("sentinel")

func TestIndex(t *testing.T) {
	var root yaml.Node
	if err := yaml.Unmarshal([]byte("a:\n  b: 1\nl:\n  - x\n  - {c: 2}\n"), &root); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"a": 1, "a.b": 2, "l": 3, "l[0]": 4, "l[1]": 5, "l[1].c": 5}
	if got := Index(&root); !reflect.DeepEqual(got, want) {
		t.Fatalf("Index = %v, want %v", got, want)
	}
	if got := Index(&yaml.Node{Kind: yaml.DocumentNode}); len(got) != 0 {
		t.Fatalf("empty document: %v", got)
	}
}
