package record

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
)

// MaxLineSize bounds one line; real lines are a few hundred bytes.
const MaxLineSize = 64 << 10

// ErrLineTooLong is the ParseError cause for a line over MaxLineSize.
var ErrLineTooLong = errors.New("line longer than MaxLineSize")

// ParseError locates a bad line.
type ParseError struct {
	File string
	Line int // 1-based
	Err  error
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("record: %s:%d: %v", e.File, e.Line, e.Err)
}

func (e *ParseError) Unwrap() error { return e.Err }

// Torn describes a last line cut short (no "\n"), which Read skipped.
type Torn struct {
	Line  int // its 1-based number; 0 when there was none
	Bytes int // its length
}

// Read calls fn for every event of the record stream r, in order; name
// identifies r in errors. A last line without its "\n" is skipped and
// returned as Torn; a bad line elsewhere stops Read with a *ParseError.
// An error from fn stops Read and is returned as is.
func Read(r io.Reader, name string, fn func(*Event) error) (Torn, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var line []byte
	for n := 1; ; n++ {
		line = line[:0]
		var err error
		for {
			var chunk []byte
			chunk, err = br.ReadSlice('\n')
			line = append(line, chunk...)
			if len(line) > MaxLineSize {
				return Torn{}, &ParseError{File: name, Line: n, Err: ErrLineTooLong}
			}
			if !errors.Is(err, bufio.ErrBufferFull) {
				break
			}
		}
		if err == io.EOF {
			if len(line) == 0 {
				return Torn{}, nil
			}
			return Torn{Line: n, Bytes: len(line)}, nil
		}
		if err != nil {
			return Torn{}, fmt.Errorf("record: read %s: %w", name, err)
		}
		body := line[:len(line)-1]
		if len(body) > 0 && body[len(body)-1] == '\r' {
			body = body[:len(body)-1]
		}
		if len(body) == 0 {
			continue
		}
		e, derr := Decode(body)
		if derr != nil {
			return Torn{}, &ParseError{File: name, Line: n, Err: derr}
		}
		if err := fn(&e); err != nil {
			return Torn{}, err
		}
	}
}

// ReadFile is Read over the file at path.
func ReadFile(path string, fn func(*Event) error) (Torn, error) {
	f, err := os.Open(path)
	if err != nil {
		return Torn{}, fmt.Errorf("record: %w", err)
	}
	defer f.Close()
	return Read(f, path, fn)
}
