package record

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// maxPending is how many encoded bytes may wait for the flusher; beyond
// it Write hands them to the file itself, so a stalled disk slows the
// simulator down rather than growing its memory.
const maxPending = 1 << 20

// ErrClosed is returned by Write after Close.
var ErrClosed = errors.New("record: writer closed")

// Writer appends events to a record file. Write encodes the event into a
// buffer that a flusher goroutine writes to the file as soon as it can: a
// burst of events costs one write system call, and an event reaches the
// kernel (and so survives a SIGKILL of the process) moments after it
// happened. Its methods are safe for concurrent use.
type Writer struct {
	w    io.Writer
	file *os.File // nil when w is not a file we opened

	fileMu sync.Mutex // serialises writes to w; taken before mu
	mu     sync.Mutex // guards the fields below
	buf    []byte     // encoded lines not yet written
	spare  []byte
	err    error // first write error, sticky
	closed bool

	kick chan struct{} // capacity 1: "buf has bytes"
	done chan struct{} // closed when the flusher has returned
	stop chan struct{}
}

// Create opens path for appending (creating it, mode 0644) and returns a
// Writer on it; Close flushes, fsyncs and closes the file.
func Create(path string) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	w := NewWriter(f)
	w.file = f
	return w, nil
}

// NewWriter returns a Writer appending to w. Close flushes but does not
// close w.
func NewWriter(w io.Writer) *Writer {
	rw := &Writer{
		w:    w,
		kick: make(chan struct{}, 1),
		done: make(chan struct{}),
		stop: make(chan struct{}),
	}
	go rw.flusher()
	return rw
}

// Write queues e. It fails only after Close or once a write to the file
// has failed (the error is sticky).
func (w *Writer) Write(e *Event) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	if w.err != nil {
		err := w.err
		w.mu.Unlock()
		return err
	}
	w.buf = e.Append(w.buf)
	full := len(w.buf) >= maxPending
	w.mu.Unlock()
	if full {
		return w.Flush()
	}
	select {
	case w.kick <- struct{}{}:
	default:
	}
	return nil
}

// Flush writes what is queued to the file now.
func (w *Writer) Flush() error {
	w.fileMu.Lock()
	defer w.fileMu.Unlock()
	w.mu.Lock()
	b := w.buf
	w.buf = w.spare[:0]
	err := w.err
	w.mu.Unlock()
	if err == nil && len(b) > 0 {
		if _, err = w.w.Write(b); err != nil {
			err = fmt.Errorf("record: write: %w", err)
		}
	}
	w.mu.Lock()
	w.spare = b[:0]
	if w.err == nil {
		w.err = err
	}
	err = w.err
	w.mu.Unlock()
	return err
}

func (w *Writer) flusher() {
	defer close(w.done)
	for {
		select {
		case <-w.kick:
			_ = w.Flush()
		case <-w.stop:
			return
		}
	}
}

// Err returns the first write error, if any.
func (w *Writer) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Close stops the flusher, writes what is queued and, for a file Create
// opened, fsyncs and closes it. It returns the first error the Writer
// met; later calls return the same.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		err := w.err
		w.mu.Unlock()
		return err
	}
	w.closed = true
	w.mu.Unlock()
	close(w.stop)
	<-w.done
	err := w.Flush()
	if w.file != nil {
		if serr := w.file.Sync(); err == nil && serr != nil {
			err = fmt.Errorf("record: sync: %w", serr)
		}
		if cerr := w.file.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("record: close: %w", cerr)
		}
	}
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
	return err
}
