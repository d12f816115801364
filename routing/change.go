package routing

import (
	"fmt"
	"strconv"
)

// Op is the operation of a Change. Values are part of the Raft log encoding:
// never renumber them.
type Op uint8

const (
	OpPutGateway    Op = 1
	OpDeleteGateway Op = 2
	OpPutSegment    Op = 3
	OpDeleteSegment Op = 4
	OpPutPorted     Op = 5
	OpDeletePorted  Op = 6
	OpPutSP         Op = 7
	OpDeleteSP      Op = 8
	OpReplace       Op = 9 // replace the whole table (a table push)
)

func (o Op) String() string {
	switch o {
	case OpPutGateway:
		return "put gateway"
	case OpDeleteGateway:
		return "delete gateway"
	case OpPutSegment:
		return "put segment"
	case OpDeleteSegment:
		return "delete segment"
	case OpPutPorted:
		return "put ported"
	case OpDeletePorted:
		return "delete ported"
	case OpPutSP:
		return "put sp"
	case OpDeleteSP:
		return "delete sp"
	case OpReplace:
		return "replace table"
	}
	return "op " + strconv.Itoa(int(o))
}

// Change is one edit of the table. Only the field for its Op is used.
type Change struct {
	Op      Op
	Gateway Gateway   // OpPutGateway (keyed by Code)
	Segment Segment   // OpPutSegment (keyed by Prefix)
	Ported  Ported    // OpPutPorted (keyed by MSISDN)
	SP      SP        // OpPutSP (keyed by ID)
	Key     string    // the gateway code, prefix, MSISDN or SP_Id of a delete
	Replace *Contents // OpReplace
}

// Apply returns a new table at revision rev with the changes applied in
// order. The receiver is not modified, so readers still holding it see a
// consistent version. A batch is all or nothing: on error the returned table
// is nil and the error is a *ChangeError naming the change and field.
func (t *Table) Apply(rev uint64, changes []Change) (*Table, error) {
	b := t.Builder()
	for i := range changes {
		if err := b.Apply(changes[i]); err != nil {
			ce := &ChangeError{Index: i, Op: changes[i].Op, Err: err}
			if fe, ok := err.(*fieldErr); ok {
				ce.Field, ce.Err = fe.field, fe.err
			}
			return nil, ce
		}
	}
	return b.Table(rev), nil
}

// Apply makes one change to the builder's table.
func (b *Builder) Apply(c Change) error {
	switch c.Op {
	case OpPutGateway:
		return b.PutGateway(c.Gateway)
	case OpDeleteGateway:
		return b.DeleteGateway(c.Key)
	case OpPutSegment:
		return b.PutSegment(c.Segment)
	case OpDeleteSegment:
		return b.DeleteSegment(c.Key)
	case OpPutPorted:
		return b.PutPorted(c.Ported)
	case OpDeletePorted:
		return b.DeletePorted(c.Key)
	case OpPutSP:
		return b.PutSP(c.SP)
	case OpDeleteSP:
		return b.DeleteSP(c.Key)
	case OpReplace:
		if c.Replace == nil {
			return ferr("replace", fmt.Errorf("%w: no contents", ErrBadChange))
		}
		return b.Replace(c.Replace)
	}
	return ferr("op", fmt.Errorf("%w: unknown op %d", ErrBadChange, c.Op))
}
