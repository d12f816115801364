package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"gopkg.in/yaml.v3"
)

// Output for scripts (-o json, -o yaml) is written from the protobuf
// messages by reflection rather than protojson, whose mapping does not fit
// a script: it writes uint64 as strings, camelCases the keys and drops zero
// values. Here keys are the proto's snake_case names (as in the table
// files), numbers are numbers, every field is present (null for an absent
// message, [] for an empty list) and fields keep the proto's order.

// field is one key of an ordered object.
type field struct {
	key string
	val any
}

// object is a JSON/YAML mapping that keeps its keys in order.
type object []field

func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.key)
		v, err := json.Marshal(f.val)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.key, err)
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func (o object) MarshalYAML() (any, error) {
	n := &yaml.Node{Kind: yaml.MappingNode}
	for _, f := range o {
		var v yaml.Node
		if err := v.Encode(f.val); err != nil {
			return nil, fmt.Errorf("%s: %w", f.key, err)
		}
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: f.key}, &v)
	}
	return n, nil
}

// protoObject converts a message as described above. Of a oneof, only the
// member that is set appears (a Change is one op).
func protoObject(m protoreflect.Message) object {
	fields := m.Descriptor().Fields()
	o := make(object, 0, fields.Len())
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.ContainingOneof() != nil && !fd.ContainingOneof().IsSynthetic() && !m.Has(fd) {
			continue
		}
		o = append(o, field{string(fd.Name()), protoField(m, fd)})
	}
	return o
}

func protoField(m protoreflect.Message, fd protoreflect.FieldDescriptor) any {
	v := m.Get(fd)
	switch {
	case fd.IsList():
		l := v.List()
		out := make([]any, l.Len())
		for i := range l.Len() {
			out[i] = protoScalar(fd, l.Get(i))
		}
		return out
	case fd.Kind() == protoreflect.MessageKind && !m.Has(fd):
		return nil
	}
	return protoScalar(fd, v)
}

func protoScalar(fd protoreflect.FieldDescriptor, v protoreflect.Value) any {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return protoObject(v.Message())
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return string(ev.Name())
		}
		return int32(v.Enum())
	case protoreflect.BytesKind:
		return v.Bytes()
	}
	return v.Interface() // string, bool, and the integer kinds as numbers
}

// print writes v (an object, a list of them, or a message) in the -o
// format for scripts; ok is false for -o table, which the caller renders.
func (c *ctl) print(v any) (ok bool, err error) {
	if m, isMsg := v.(proto.Message); isMsg {
		v = protoObject(m.ProtoReflect())
	}
	switch c.output {
	case "json":
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return true, fmt.Errorf("encode json: %w", err)
		}
		_, err = fmt.Fprintf(c.stdout, "%s\n", b)
		return true, err
	case "yaml":
		enc := yaml.NewEncoder(c.stdout)
		enc.SetIndent(2)
		if err := enc.Encode(v); err != nil {
			return true, fmt.Errorf("encode yaml: %w", err)
		}
		return true, enc.Close()
	}
	return false, nil
}

// protoList converts messages for print.
func protoList[M proto.Message](ms []M) []any {
	out := make([]any, len(ms))
	for i, m := range ms {
		out[i] = protoObject(m.ProtoReflect())
	}
	return out
}

// table writes rows under a header, aligned.
func (c *ctl) table(header string, rows [][]string) {
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}
