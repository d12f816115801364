package main

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/tandem-sms/tandem/internal/cliout"
)

// Output for scripts (-o json, -o yaml) is internal/cliout's: keys are
// the proto's snake_case names (as in the table files), numbers are
// numbers, every field is present and fields keep the proto's order.

type object = cliout.Object

func protoObject(m protoreflect.Message) object { return cliout.ProtoObject(m) }

func protoList[M proto.Message](ms []M) []any { return cliout.ProtoList(ms) }

// print writes v in the -o format for scripts; ok is false for -o table,
// which the caller renders.
func (c *ctl) print(v any) (ok bool, err error) { return cliout.Print(c.stdout, c.output, v) }

// table writes rows under a header, aligned.
func (c *ctl) table(header string, rows [][]string) { cliout.Table(c.stdout, header, rows) }
