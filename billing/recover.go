package billing

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// fileName is a parsed CDR file name.
type fileName struct {
	gateway string
	period  time.Time // in a fixed zone of the name's offset (UTC without one)
	minutes bool      // YYYYMMDDHHMM rather than YYYYMMDDHH
	n       int       // -n suffix, 0 if none
	part    bool      // still being written
}

// parseFileName parses cdr-GGGGGG-YYYYMMDDHH[MM][±hhmm][-n].csv[.part]: a
// stamp without an offset is UTC (every name before time zones, and UTC
// writers since), and n has 1 to 3 digits, so "-hhmm" is an offset.
func parseFileName(base string) (fileName, bool) {
	var fn fileName
	s, ok := strings.CutPrefix(base, filePrefix)
	if !ok {
		return fn, false
	}
	s, fn.part = strings.CutSuffix(s, partSuffix)
	if s, ok = strings.CutSuffix(s, fileSuffix); !ok {
		return fn, false
	}
	gw, rest, ok := strings.Cut(s, "-")
	if !ok || !isGatewayCode(gw) {
		return fn, false
	}
	fn.gateway = gw
	stamp, rest := rest, ""
	if i := strings.IndexAny(stamp, "+-"); i >= 0 {
		stamp, rest = stamp[:i], stamp[i:]
	}
	loc := time.UTC
	if len(rest) >= 5 && (rest[0] == '+' || len(rest) == 5 || rest[5] == '-') {
		off, ok := parseOffset(rest[:5])
		if !ok {
			return fn, false
		}
		loc, rest = time.FixedZone(rest[:5], off), rest[5:]
	}
	num, hasNum := strings.CutPrefix(rest, "-")
	if !hasNum && rest != "" {
		return fn, false
	}
	layout := hourLayout
	switch len(stamp) {
	case len(hourLayout):
	case len(minLayout):
		layout, fn.minutes = minLayout, true
	default:
		return fn, false
	}
	for i := 0; i < len(stamp); i++ {
		if stamp[i] < '0' || stamp[i] > '9' {
			return fn, false
		}
	}
	t, err := time.ParseInLocation(layout, stamp, loc)
	if err != nil {
		return fn, false
	}
	fn.period = t
	if hasNum {
		n, err := strconv.Atoi(num)
		if err != nil || n <= 0 || n > maxFileSeq || strconv.Itoa(n) != num {
			return fn, false
		}
		fn.n = n
	}
	return fn, true
}

// parseOffset reads "+hhmm" or "-hhmm" (a nonzero UTC offset within ±14h)
// as seconds east of UTC.
func parseOffset(s string) (int, bool) {
	if len(s) != 5 || (s[0] != '+' && s[0] != '-') {
		return 0, false
	}
	for i := 1; i < 5; i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	h, m := int(s[1]-'0')*10+int(s[2]-'0'), int(s[3]-'0')*10+int(s[4]-'0')
	off := (h*60 + m) * 60
	if m > 59 || off == 0 || off > 14*3600 {
		return 0, false
	}
	if s[0] == '-' {
		off = -off
	}
	return off, true
}

// recoverParts finalizes this gateway's .part files left by a crash.
func (w *Writer) recoverParts() error {
	ents, err := os.ReadDir(w.cfg.Dir)
	if err != nil {
		return fmt.Errorf("billing: open: %w", err)
	}
	for _, e := range ents {
		fn, ok := parseFileName(e.Name())
		if !ok || !fn.part || fn.gateway != w.cfg.Gateway || !e.Type().IsRegular() {
			continue
		}
		if err := w.recoverPart(filepath.Join(w.cfg.Dir, e.Name()), fn); err != nil {
			return fmt.Errorf("billing: recover %s: %w", e.Name(), err)
		}
	}
	return nil
}

// recoverPart cuts the file after its last complete, valid record and
// renames it to .csv. What is cut is in the region no Sync covered (a Sync
// makes a prefix durable), so it bills nothing that was acknowledged. A cut
// that is more than one record torn by EOF (bad records with data after
// them) is still kept in a .torn file for an operator.
func (w *Writer) recoverPart(path string, fn fileName) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	good, size, tornOnly, err := completePrefix(f, path)
	if err != nil {
		return err
	}
	if good < size {
		if !tornOnly {
			torn := strings.TrimSuffix(path, partSuffix) + ".torn"
			if err := saveTail(torn, io.NewSectionReader(f, good, size-good)); err != nil {
				return err
			}
			w.log.Warn("cdr recovery kept unreadable tail", "file", torn, "bytes", size-good)
		}
		if err := f.Truncate(good); err != nil {
			return err
		}
		w.truncated.Add(uint64(size - good))
		w.log.Warn("cdr recovery cut torn tail", "file", path, "bytes", size-good)
	}
	if good == 0 {
		// Not even a whole header: there is nothing to bill in it.
		f.Close()
		if err := os.Remove(path); err != nil {
			return err
		}
		w.log.Warn("cdr recovery removed file without header", "file", path)
		return w.syncDir(w.cfg.Dir)
	}
	if err := w.syncFile(f); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	final, err := w.freeFinalName(path, fn)
	if err != nil {
		return err
	}
	if err := os.Rename(path, final); err != nil {
		return err
	}
	if err := w.syncDir(w.cfg.Dir); err != nil {
		return err
	}
	w.recovered.Add(1)
	w.log.Info("cdr recovery finalized file", "file", final)
	return nil
}

func saveTail(path string, r io.Reader) error {
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, r)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// freeFinalName is path without .part, or, should that exist, the next
// free -n name of the same period.
func (w *Writer) freeFinalName(path string, fn fileName) (string, error) {
	final := strings.TrimSuffix(path, partSuffix)
	rotate := time.Hour
	if fn.minutes {
		rotate = time.Minute
	}
	for n := fn.n; n < fn.n+10000; n++ {
		if n != fn.n {
			final = filepath.Join(w.cfg.Dir, FileName(fn.gateway, fn.period, rotate, n))
			if _, err := os.Lstat(final + partSuffix); err == nil {
				continue
			}
		}
		_, err := os.Lstat(final)
		if errors.Is(err, os.ErrNotExist) {
			return final, nil
		}
		if err != nil {
			return "", err
		}
	}
	return "", errors.New("no free file name")
}

// completePrefix returns the length of the longest prefix of f made of the
// header and whole, valid records, and f's size. tornOnly reports that what
// follows the prefix is one record cut short by EOF rather than bad records
// followed by more data. Only I/O errors are returned; bad content just ends
// the prefix.
func completePrefix(f *os.File, name string) (good, size int64, tornOnly bool, err error) {
	st, err := f.Stat()
	if err != nil {
		return 0, 0, false, err
	}
	size = st.Size()
	if size == 0 {
		return 0, 0, true, nil
	}
	var last [1]byte
	if _, err := f.ReadAt(last[:], size-1); err != nil {
		return 0, 0, false, err
	}
	// Every record ends in '\n'; if the file does not, the record that
	// reaches EOF is torn even though CSV would accept it.
	endsNL := last[0] == '\n'
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, 0, false, err
	}
	rd := NewReader(bufio.NewReaderSize(io.LimitReader(f, size), 256<<10), name)
	// done reports whether the record just read ends the prefix.
	done := func(err error) (bool, error) {
		switch {
		case err == io.EOF:
			tornOnly = true
			return true, nil
		case err == nil:
			if rd.cr.InputOffset() < size || endsNL {
				return false, nil
			}
			tornOnly = true
			return true, nil
		case errors.Is(err, ErrMalformed):
			tornOnly = rd.cr.InputOffset() >= size
			return true, nil
		default:
			return true, err
		}
	}
	if stop, err := done(rd.readHeader()); stop {
		return 0, size, tornOnly, err
	}
	good = rd.cr.InputOffset()
	for {
		_, rerr := rd.Read()
		if stop, err := done(rerr); stop {
			return good, size, tornOnly, err
		}
		good = rd.cr.InputOffset()
	}
}
