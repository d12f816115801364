package lincheck

import (
	"fmt"
	"slices"

	"github.com/anishathalye/porcupine"
)

// What porcupine orders: an operation's input and output, and the state
// of one key's register. All are comparable values, so porcupine's default
// == compares states, and Step never mutates what it is given.
type (
	regInput struct {
		write bool
		key   string
		value Value // written
	}
	regOutput struct {
		value   Value // read
		unknown bool  // a write whose outcome is unknown
	}
	regState struct {
		known bool // false until a write or a read fixes the value
		value Value
	}
	// opMeta travels with an operation for the visualization only.
	opMeta struct {
		node string
		err  string
	}
)

// registerModel is one register per key: Partition splits the history by
// key, so porcupine checks each key on its own (a history is
// linearizable if and only if each key's is, registers being
// independent).
func registerModel() porcupine.Model {
	return porcupine.Model{
		Partition: partitionByKey,
		Init:      func() any { return regState{} },
		Step:      stepRegister,
		DescribeOperation: func(in, out any) string {
			i, o := in.(regInput), out.(regOutput)
			switch {
			case i.write && o.unknown:
				return fmt.Sprintf("put(%s, %v) → outcome unknown", i.key, i.value)
			case i.write:
				return fmt.Sprintf("put(%s, %v)", i.key, i.value)
			}
			return fmt.Sprintf("get(%s) → %v", i.key, o.value)
		},
		DescribeState: func(s any) string {
			st := s.(regState)
			if !st.known {
				return "(not read yet)"
			}
			return st.value.String()
		},
		DescribeOperationMetadata: func(m any) string {
			meta, ok := m.(opMeta)
			if !ok {
				return ""
			}
			if meta.err != "" {
				return "via " + meta.node + ": " + meta.err
			}
			return "via " + meta.node
		},
	}
}

// stepRegister is the sequential specification. A write always succeeds
// and sets the value, whatever its output (an unknown write that porcupine
// orders here is one that took effect here). A read must see the value;
// while it is not known (nothing written or read yet in this order), the
// read fixes it: the key held it when the run began.
func stepRegister(state, input, output any) (bool, any) {
	st, in, out := state.(regState), input.(regInput), output.(regOutput)
	if in.write {
		return true, regState{known: true, value: in.value}
	}
	if !st.known {
		return true, regState{known: true, value: out.value}
	}
	return out.value == st.value, st
}

func partitionByKey(history []porcupine.Operation) [][]porcupine.Operation {
	byKey := map[string][]porcupine.Operation{}
	for _, op := range history {
		k := op.Input.(regInput).key
		byKey[k] = append(byKey[k], op)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	slices.Sort(keys) // a stable order for the visualization
	out := make([][]porcupine.Operation, 0, len(keys))
	for _, k := range keys {
		out = append(out, byKey[k])
	}
	return out
}
