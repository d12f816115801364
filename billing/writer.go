package billing

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

var (
	// ErrClosed is returned by Write and Sync after Close.
	ErrClosed = errors.New("billing: writer closed")
	// ErrBroken wraps the first I/O error of a Writer. Every later call
	// returns it: records in the lost buffer cannot be vouched for, and the
	// ISMG must stop acknowledging messages rather than bill from a gap.
	ErrBroken = errors.New("billing: writer failed")
)

// Config configures a Writer. Zero fields are not defaults: start from
// DefaultConfig and set Dir and Gateway.
type Config struct {
	// Dir holds the CDR files; it is created if missing. One Writer per
	// (Dir, Gateway): Open finalizes that gateway's leftover .part files.
	Dir string
	// Gateway is this ISMG's 6-digit code; it names the files and fills
	// Record.HandlingGateway when the caller leaves it empty.
	Gateway string
	// Rotate is the file period, aligned to midnight in Location: a whole
	// number of minutes that divides 24h (1h by default). Hour multiples
	// name files YYYYMMDDHH, others YYYYMMDDHHMM.
	Rotate time.Duration
	// Location is the zone of the periods and of the stamps in the file
	// names (the ISMG's timezone); a name carries the zone's UTC offset
	// unless it is zero (see FileName). Nil means UTC. Record times are
	// written in UTC whatever it is.
	Location *time.Location
	// Now is the clock that decides rotation; tests pass a fake one.
	Now func() time.Time
	// BufferSize is the write buffer in bytes; Sync empties it.
	BufferSize int
	// Logger receives rotation and recovery events.
	Logger *slog.Logger
}

// DefaultConfig returns hourly rotation, the wall clock, a 64 KiB buffer and
// a discarding logger. Dir and Gateway must still be set.
func DefaultConfig() Config {
	return Config{
		Rotate:     time.Hour,
		Now:        time.Now,
		BufferSize: 64 << 10,
		Logger:     slog.New(slog.DiscardHandler),
	}
}

// Validate reports the first unusable setting.
func (c Config) Validate() error {
	switch {
	case c.Dir == "":
		return errors.New("billing: config: Dir is empty")
	case !isGatewayCode(c.Gateway):
		return fmt.Errorf("billing: config: Gateway %q is not a 6-digit ISMG code", c.Gateway)
	case c.Rotate < time.Minute || c.Rotate%time.Minute != 0 || (24*time.Hour)%c.Rotate != 0:
		return fmt.Errorf("billing: config: Rotate %v must be whole minutes dividing 24h", c.Rotate)
	case c.Now == nil:
		return errors.New("billing: config: Now is nil")
	case c.BufferSize < 4096:
		return fmt.Errorf("billing: config: BufferSize %d is below 4096", c.BufferSize)
	case c.Logger == nil:
		return errors.New("billing: config: Logger is nil")
	}
	return nil
}

func isGatewayCode(s string) bool {
	if len(s) != 6 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Stats are cumulative counters for the ISMG's metrics.
type Stats struct {
	Records   uint64 // records accepted by Write
	Bytes     uint64 // CSV bytes accepted by Write (headers excluded)
	Syncs     uint64 // fsyncs of a data file done by Sync
	Files     uint64 // files finalized (renamed from .part to .csv)
	Recovered uint64 // leftover .part files finalized by Open
	Truncated uint64 // torn bytes cut off those files
}

// Writer appends Records to the current period's file. It is safe for
// concurrent use.
//
// Locking: syncMu serializes Sync, rotation and Close (the operations that
// fsync or swap the file); mu guards the buffer and file state. Order is
// syncMu before mu. Sync fsyncs outside mu so Writes continue meanwhile, and
// rotation takes syncMu so it never closes a file Sync is fsyncing.
type Writer struct {
	cfg Config
	log *slog.Logger

	syncMu sync.Mutex
	mu     sync.Mutex
	f      *os.File
	bw     *bufio.Writer
	part   string    // path of the open .part file
	period time.Time // start of the open file's period
	dirty  bool      // bytes written since the last fsync
	bufs   sync.Pool // *[]byte: scratch for one encoded record
	closed bool
	err    error // sticky, wraps ErrBroken

	// Replaced by tests to observe durability steps.
	syncFile func(*os.File) error
	syncDir  func(dir string) error

	records, bytes, syncs, files, recovered, truncated atomic.Uint64
}

// Open validates cfg, creates Dir, finalizes leftover .part files of this
// gateway (cutting a torn last line), and returns a Writer. The first file
// is created by the first Write, so an idle gateway leaves no empty files.
func Open(cfg Config) (*Writer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("billing: open: %w", err)
	}
	w := &Writer{
		cfg: cfg,
		log: cfg.Logger.With("dir", cfg.Dir, "gateway", cfg.Gateway),
		bufs: sync.Pool{New: func() any {
			b := make([]byte, 0, 512)
			return &b
		}},
		syncFile: (*os.File).Sync,
		syncDir:  syncDir,
	}
	if err := w.recoverParts(); err != nil {
		return nil, err
	}
	return w, nil
}

// Write appends rec to the current file's buffer, rotating first if the
// clock has left the open file's period. It does not fsync; call Sync before
// acknowledging the messages the records bill.
func (w *Writer) Write(rec Record) error {
	if rec.HandlingGateway == "" {
		rec.HandlingGateway = w.cfg.Gateway
	}
	// Encoded before locking: writers only contend for the copy.
	bp := w.bufs.Get().(*[]byte)
	defer w.bufs.Put(bp)
	b, err := rec.AppendCSV((*bp)[:0])
	if err != nil {
		return err
	}
	*bp = b
	return w.WriteLine(b)
}

// WriteLine appends one record already encoded by Record.AppendCSV (with
// its HandlingGateway set), as Write does: a caller that keeps records
// durably elsewhere until they are in a file (the ISMG's CDR outbox)
// encodes them once, when they are made. The line is not checked beyond
// its newline.
func (w *Writer) WriteLine(b []byte) error {
	if len(b) == 0 || b[len(b)-1] != '\n' {
		return fmt.Errorf("%w: a line must end with a newline", ErrInvalidRecord)
	}
	w.mu.Lock()
	if err := w.usable(); err != nil {
		w.mu.Unlock()
		return err
	}
	period := w.periodOf(w.cfg.Now())
	if w.f == nil || !period.Equal(w.period) {
		// Rotation needs syncMu, which ranks before mu.
		w.mu.Unlock()
		w.syncMu.Lock()
		defer w.syncMu.Unlock()
		w.mu.Lock()
		if err := w.usable(); err != nil {
			w.mu.Unlock()
			return err
		}
		period = w.periodOf(w.cfg.Now())
		if w.f == nil || !period.Equal(w.period) {
			if err := w.rotateLocked(period); err != nil {
				w.mu.Unlock()
				return err
			}
		}
	}
	defer w.mu.Unlock()
	if _, err := w.bw.Write(b); err != nil {
		return w.fail("write", err)
	}
	w.dirty = true
	w.records.Add(1)
	w.bytes.Add(uint64(len(b)))
	return nil
}

// Sync makes every record whose Write returned before the call durable:
// it flushes the buffer and fsyncs the open file. Writes may proceed
// concurrently; only other Syncs, rotation and Close wait.
func (w *Writer) Sync() error {
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	w.mu.Lock()
	if err := w.usable(); err != nil {
		w.mu.Unlock()
		return err
	}
	if w.f == nil || !w.dirty {
		w.mu.Unlock()
		return nil
	}
	if err := w.bw.Flush(); err != nil {
		err = w.fail("flush", err)
		w.mu.Unlock()
		return err
	}
	w.dirty = false
	f := w.f
	w.mu.Unlock()

	if err := w.syncFile(f); err != nil {
		w.mu.Lock()
		err = w.fail("fsync", err)
		w.mu.Unlock()
		return err
	}
	w.syncs.Add(1)
	return nil
}

// Close finalizes the open file (flush, fsync, rename to .csv, fsync the
// directory). Later calls return nil; Write and Sync return ErrClosed.
func (w *Writer) Close() error {
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	if w.err != nil {
		if w.f != nil {
			w.f.Close() // keep the .part: Open recovers what reached the disk
			w.f = nil
		}
		return w.err
	}
	return w.finalizeLocked()
}

// Stats returns the cumulative counters.
func (w *Writer) Stats() Stats {
	return Stats{
		Records:   w.records.Load(),
		Bytes:     w.bytes.Load(),
		Syncs:     w.syncs.Load(),
		Files:     w.files.Load(),
		Recovered: w.recovered.Load(),
		Truncated: w.truncated.Load(),
	}
}

// Path returns the path of the open .part file, or "" before the first Write.
func (w *Writer) Path() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.part
}

func (w *Writer) usable() error {
	if w.closed {
		return ErrClosed
	}
	return w.err
}

func (w *Writer) fail(op string, err error) error {
	if w.err == nil {
		w.err = fmt.Errorf("%w: %s %s: %w", ErrBroken, op, w.part, err)
		w.log.Error("cdr writer failed", "op", op, "file", w.part, "err", err)
	}
	return w.err
}

// periodOf is the start of the period holding t: local midnight in
// Location plus whole periods (on a day with a daylight-saving change the
// periods run on from midnight by elapsed time, and the offsets in the
// names keep the repeated hour's files apart).
func (w *Writer) periodOf(t time.Time) time.Time {
	loc := w.cfg.Location
	if loc == nil {
		loc = time.UTC
	}
	t = t.In(loc)
	y, m, d := t.Date()
	midnight := time.Date(y, m, d, 0, 0, 0, 0, loc)
	return midnight.Add(t.Sub(midnight) / w.cfg.Rotate * w.cfg.Rotate)
}

// rotateLocked finalizes the open file and starts the one for period.
// Holds syncMu and mu.
func (w *Writer) rotateLocked(period time.Time) error {
	if w.f != nil {
		if err := w.finalizeLocked(); err != nil {
			return err
		}
	}
	name, f, err := w.createPart(period)
	if err != nil {
		return w.fail("create", err)
	}
	w.f, w.part, w.period = f, name, period
	if w.bw == nil {
		w.bw = bufio.NewWriterSize(f, w.cfg.BufferSize)
	} else {
		w.bw.Reset(f)
	}
	if _, err := w.bw.WriteString(Header); err != nil {
		return w.fail("write header", err)
	}
	w.dirty = true
	// The new name must survive a crash before Sync can promise anything
	// about records inside it.
	if err := w.syncDir(w.cfg.Dir); err != nil {
		return w.fail("fsync dir", err)
	}
	w.log.Info("cdr file opened", "file", name)
	return nil
}

// finalizeLocked flushes, fsyncs, closes and renames the open file, then
// fsyncs the directory so the rename is durable. Holds syncMu and mu.
func (w *Writer) finalizeLocked() error {
	if w.f == nil {
		return nil
	}
	if err := w.bw.Flush(); err != nil {
		return w.fail("flush", err)
	}
	if err := w.syncFile(w.f); err != nil {
		return w.fail("fsync", err)
	}
	if err := w.f.Close(); err != nil {
		return w.fail("close", err)
	}
	w.f = nil
	w.dirty = false
	final := w.part[:len(w.part)-len(partSuffix)]
	if err := os.Rename(w.part, final); err != nil {
		return w.fail("rename", err)
	}
	if err := w.syncDir(w.cfg.Dir); err != nil {
		return w.fail("fsync dir", err)
	}
	w.files.Add(1)
	w.log.Info("cdr file finalized", "file", final)
	w.part = ""
	return nil
}

const (
	filePrefix = "cdr-"
	fileSuffix = ".csv"
	partSuffix = ".part"
	hourLayout = "2006010215"
	minLayout  = "200601021504"
)

// maxFileSeq bounds n in FileName: a sequence has at most 3 digits, so
// that "-hhmm" after the stamp is always a UTC offset.
const maxFileSeq = 999

// FileName returns the base name of the n-th file (n from 0, at most
// 999) for a gateway and period, the stamp being the period's start in
// period's location followed by its UTC offset unless that is zero:
// cdr-001001-2026112214.csv (UTC), cdr-001001-2026112222+0800.csv (the
// same hour in Asia/Shanghai), cdr-001001-2026112222+0800-1.csv, ... A
// second file of one period appears after a restart or a clock step back,
// because a finalized file is never reopened.
func FileName(gateway string, period time.Time, rotate time.Duration, n int) string {
	layout := hourLayout
	if rotate%time.Hour != 0 {
		layout = minLayout
	}
	b := make([]byte, 0, 40)
	b = append(b, filePrefix...)
	b = append(b, gateway...)
	b = append(b, '-')
	b = period.AppendFormat(b, layout)
	if _, off := period.Zone(); off != 0 {
		b = period.AppendFormat(b, "-0700")
	}
	if n > 0 {
		b = append(b, '-')
		b = strconv.AppendInt(b, int64(n), 10)
	}
	return string(append(b, fileSuffix...))
}

// createPart creates the first free name for period, exclusively.
func (w *Writer) createPart(period time.Time) (string, *os.File, error) {
	for n := 0; n <= maxFileSeq; n++ {
		final := filepath.Join(w.cfg.Dir, FileName(w.cfg.Gateway, period, w.cfg.Rotate, n))
		if _, err := os.Lstat(final); err == nil {
			continue
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", nil, err
		}
		part := final + partSuffix
		f, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return "", nil, err
		}
		return part, f, nil
	}
	return "", nil, fmt.Errorf("no free file name for period %s", period.Format(time.RFC3339))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// compile-time check: Writer is an io.Closer for callers that collect them.
var _ io.Closer = (*Writer)(nil)
