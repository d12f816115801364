// Package cliout is the output of the operator CLIs (gnsctl, ismgctl) for
// -o table|json|yaml: protobuf messages and ordered objects written with
// snake_case keys, numbers as numbers and every field present.
package cliout

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
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

// Field is one key of an ordered object.
type Field struct {
	Key string
	Val any
}

// Object is a JSON/YAML mapping that keeps its keys in order.
type Object []Field

func (o Object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.Key)
		v, err := json.Marshal(f.Val)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Key, err)
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func (o Object) MarshalYAML() (any, error) {
	n := &yaml.Node{Kind: yaml.MappingNode}
	for _, f := range o {
		var v yaml.Node
		if err := v.Encode(f.Val); err != nil {
			return nil, fmt.Errorf("%s: %w", f.Key, err)
		}
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: f.Key}, &v)
	}
	return n, nil
}

// ProtoObject converts a message as described above. Of a oneof, only the
// member that is set appears (a Change is one op).
func ProtoObject(m protoreflect.Message) Object {
	fields := m.Descriptor().Fields()
	o := make(Object, 0, fields.Len())
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.ContainingOneof() != nil && !fd.ContainingOneof().IsSynthetic() && !m.Has(fd) {
			continue
		}
		o = append(o, Field{Key: string(fd.Name()), Val: protoField(m, fd)})
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
		return ProtoObject(v.Message())
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

// Print writes v (an Object, a list of them, or a message) to w in
// format "json" or "yaml"; ok is false for "table", which the caller
// renders.
func Print(w io.Writer, format string, v any) (ok bool, err error) {
	if m, isMsg := v.(proto.Message); isMsg {
		v = ProtoObject(m.ProtoReflect())
	}
	switch format {
	case "json":
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return true, fmt.Errorf("encode json: %w", err)
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return true, err
	case "yaml":
		enc := yaml.NewEncoder(w)
		enc.SetIndent(2)
		if err := enc.Encode(v); err != nil {
			return true, fmt.Errorf("encode yaml: %w", err)
		}
		return true, enc.Close()
	}
	return false, nil
}

// ProtoList converts messages for Print.
func ProtoList[M proto.Message](ms []M) []any {
	out := make([]any, len(ms))
	for i, m := range ms {
		out[i] = ProtoObject(m.ProtoReflect())
	}
	return out
}

// Table writes rows under a header, aligned.
func Table(w io.Writer, header string, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}
