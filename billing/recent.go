package billing

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// RecentLines calls fn with each whole record line (newline included) in
// the last maxBytes of this gateway's two newest files, finalized or not.
// A caller that moves records into files from a durable outbox calls it
// at start, before its first write, to learn which of the records still in
// its outbox a crash caught after they reached a file: the last move wrote
// them at the end of the newest file, or across a rotation, at the end of
// the one before. Header lines are skipped; the first line of a window
// that starts mid-file is too (it may be cut).
func (w *Writer) RecentLines(maxBytes int64, fn func(line []byte)) error {
	ents, err := os.ReadDir(w.cfg.Dir)
	if err != nil {
		return fmt.Errorf("billing: recent lines: %w", err)
	}
	var files []fileName
	names := map[fileName]string{}
	for _, e := range ents {
		fn, ok := parseFileName(e.Name())
		if !ok || fn.gateway != w.cfg.Gateway || !e.Type().IsRegular() {
			continue
		}
		files = append(files, fn)
		names[fn] = e.Name()
	}
	slices.SortFunc(files, func(a, b fileName) int {
		if c := a.period.Compare(b.period); c != 0 {
			return c
		}
		return cmp.Compare(a.n, b.n)
	})
	if len(files) > 2 {
		files = files[len(files)-2:]
	}
	for _, f := range files {
		if err := tailLines(filepath.Join(w.cfg.Dir, names[f]), maxBytes, fn); err != nil {
			return fmt.Errorf("billing: recent lines: %w", err)
		}
	}
	return nil
}

// tailLines calls fn for the whole lines of path's last maxBytes.
func tailLines(path string, maxBytes int64, fn func(line []byte)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	off := max(st.Size()-maxBytes, 0)
	b, err := io.ReadAll(io.NewSectionReader(f, off, st.Size()-off))
	if err != nil {
		return err
	}
	if off > 0 {
		// The window starts inside a line: skip to the next one.
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return nil
		}
		b = b[i+1:]
	}
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return nil // torn: not a record
		}
		line := b[:i+1]
		b = b[i+1:]
		if string(line) != Header {
			fn(line)
		}
	}
	return nil
}
