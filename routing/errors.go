package routing

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Sentinel errors. Every error the package returns wraps one of them, so
// callers (the gRPC edge, the GNS PDU service) translate with errors.Is.
var (
	ErrRouteNotFound  = errors.New("routing: route not found")
	ErrUnknownGateway = errors.New("routing: unknown gateway")
	ErrUnknownSP      = errors.New("routing: unknown sp")
	ErrNotFound       = errors.New("routing: not found")
	ErrExists         = errors.New("routing: already exists")
	ErrInUse          = errors.New("routing: still referenced")
	ErrBadDigits      = errors.New("routing: bad digits")
	ErrBadNumber      = errors.New("routing: bad number")
	ErrBadValue       = errors.New("routing: bad value")
	ErrConflict       = errors.New("routing: conflict")
	ErrBadChange      = errors.New("routing: bad change")
	ErrBadEncoding    = errors.New("routing: bad encoding")
	ErrIDSpace        = errors.New("routing: route id space exhausted")
)

// ChangeError says which change of a batch failed and on which field.
type ChangeError struct {
	Index int    // position of the change in the batch
	Op    Op     // its operation
	Field string // "segment.gateway", "gateway.code", …
	Err   error  // wraps a sentinel
}

func (e *ChangeError) Error() string {
	return fmt.Sprintf("routing: change %d (%s): %s: %v", e.Index, e.Op, e.Field, e.Err)
}

func (e *ChangeError) Unwrap() error { return e.Err }

// fieldErr is how the builder reports a failure before the batch position is known.
type fieldErr struct {
	field string
	err   error
}

func (e *fieldErr) Error() string { return e.field + ": " + e.err.Error() }
func (e *fieldErr) Unwrap() error { return e.err }

func ferr(field string, err error) error { return &fieldErr{field: field, err: err} }

// FieldError is one problem found in a table file.
type FieldError struct {
	File  string
	Line  int // 1-based; 0 when unknown
	Field string
	Msg   string
	Err   error // the sentinel this problem corresponds to, may be nil
}

func (e FieldError) String() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ValidationError lists every problem found in a table file, in file order.
type ValidationError struct {
	Errors []FieldError
}

func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		lines[i] = fe.String()
	}
	return strings.Join(lines, "\n")
}

// Is lets errors.Is(err, ErrUnknownGateway) find any of the listed problems.
func (e *ValidationError) Is(target error) bool {
	for _, fe := range e.Errors {
		if fe.Err != nil && errors.Is(fe.Err, target) {
			return true
		}
	}
	return false
}

// msgOf strips the "routing: sentinel: " noise when a builder error becomes a file message.
func msgOf(err error) string {
	var fe *fieldErr
	if errors.As(err, &fe) {
		err = fe.err
	}
	return strings.TrimPrefix(err.Error(), "routing: ")
}
