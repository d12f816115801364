package billing

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// DirMargin widens the file selection of SummarizeDir on both sides: a
// record lands in the file of the hour it was written, which may be after
// its AccountingTime (an SP waits up to 48 h for a status report).
const DirMargin = 48 * time.Hour

// OpenFile is a .part file SummarizeDirInfo read: the file of the current
// period while its gateway runs, or one a crash left (the next Open
// finalizes it). Its complete records are counted like any other; an
// incomplete last record (being written, or torn by the crash) is skipped.
type OpenFile struct {
	Path      string `json:"path"`
	Records   int    `json:"records"`    // complete records read, before the period filter
	TornLine  int    `json:"torn_line"`  // 1-based line of the incomplete last record; 0 if none
	TornBytes int64  `json:"torn_bytes"` // its length
}

// DirInfo says what SummarizeDirInfo (or Traffic) read.
type DirInfo struct {
	Files int        `json:"files"` // files read, open ones included
	Open  []OpenFile `json:"open"`  // the open (.part) files among them
	// Bad counts the records skipped because they did not parse, when the
	// caller asked to skip them (ReadOptions.SkipBad); else a bad record
	// is an error.
	Bad int `json:"bad"`
}

// ReadOptions say which files of a directory a report reads and what it
// does with a bad record.
type ReadOptions struct {
	// From and To select files: those whose period may hold records of
	// [From, To), widened by DirMargin. A zero bound is open.
	From, To time.Time
	// SkipBad, if set, is called with each record that does not parse —
	// a field that is not valid, or a wrong number of fields — and the
	// record is skipped and counted in DirInfo.Bad. Without it the first
	// bad record stops the read with its *ParseError. Errors in the CSV
	// structure (an unterminated quote), a bad header and I/O errors stop
	// the read either way: past them no record can be trusted.
	SkipBad func(*ParseError)
}

// readDirs calls add for every complete record of the CDR files in dirs
// that ReadOptions select — finalized (*.csv) and open (*.csv.part) —
// in file-name order per directory. A directory named twice is read once.
// See SummarizeDirInfo for how open files are read.
func readDirs(dirs []string, o ReadOptions, add func(*Record)) (DirInfo, error) {
	var info DirInfo
	var dirsSeen []os.FileInfo
	for _, dir := range dirs {
		st, err := os.Stat(dir)
		if err != nil {
			return info, fmt.Errorf("billing: summarize: %w", err)
		}
		if readBefore(dir, dirsSeen) {
			continue
		}
		dirsSeen = append(dirsSeen, st)
		if err := readDir(dir, o, add, &info); err != nil {
			return info, err
		}
	}
	return info, nil
}

func readDir(dir string, o ReadOptions, add func(*Record), info *DirInfo) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("billing: summarize: %w", err)
	}
	read := make(map[string]bool, len(ents))
	var seen []os.FileInfo // of the files read, to know them under a new name
	for pass := 0; pass < 2; pass++ {
		vanished := false
		for _, e := range ents {
			fn, ok := parseFileName(e.Name())
			if !ok || e.IsDir() || read[e.Name()] || !inPeriod(fn, o.From, o.To) {
				continue
			}
			read[e.Name()] = true
			path := filepath.Join(dir, e.Name())
			if pass > 0 && readBefore(path, seen) {
				continue // a .part read in the first pass, finalized since
			}
			var st os.FileInfo
			if fn.part {
				var of OpenFile
				of, st, err = readPart(path, o, add, info)
				if errors.Is(err, os.ErrNotExist) {
					vanished = true // finalized meanwhile: read under its new name below
					continue
				}
				if err == nil {
					info.Open = append(info.Open, of)
				}
			} else {
				st, err = readFile(path, o, add, info)
			}
			if err != nil {
				return err
			}
			info.Files++
			seen = append(seen, st)
		}
		if !vanished {
			return nil
		}
		// A .part was renamed after the listing: list again and read the
		// files not yet read (its new name among them).
		if ents, err = os.ReadDir(dir); err != nil {
			return fmt.Errorf("billing: summarize: %w", err)
		}
	}
	return nil
}

// readBefore reports whether path is one of the files seen (renamed).
func readBefore(path string, seen []os.FileInfo) bool {
	st, err := os.Stat(path)
	if err != nil {
		return false
	}
	for _, s := range seen {
		if os.SameFile(s, st) {
			return true
		}
	}
	return false
}

// inPeriod reports whether a file named fn may hold records of [from, to).
func inPeriod(fn fileName, from, to time.Time) bool {
	// A file's period start is at most 24 h before its last record.
	if !from.IsZero() && fn.period.Before(from.Add(-DirMargin-24*time.Hour)) {
		return false
	}
	return to.IsZero() || fn.period.Before(to.Add(DirMargin))
}

// skipBad reports whether the error of rd's last Read is a bad record to
// skip (and skips it).
func skipBad(rd *Reader, err error, o ReadOptions, info *DirInfo) bool {
	var pe *ParseError
	if o.SkipBad == nil || !errors.As(err, &pe) || !rd.Resume() {
		return false
	}
	info.Bad++
	o.SkipBad(pe)
	return true
}

func readFile(path string, o ReadOptions, add func(*Record), info *DirInfo) (os.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("billing: summarize: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("billing: summarize: %w", err)
	}
	rd := NewReader(f, path)
	for {
		rec, err := rd.Read()
		if err == io.EOF {
			return st, nil
		}
		if err != nil {
			if skipBad(rd, err, o, info) {
				continue
			}
			return nil, err
		}
		add(&rec)
	}
}

// readPart reads the complete records of an open file: up to the size it
// had when opened, less an incomplete last record (one that does not end
// in "\n", or that does not parse and reaches the end).
func readPart(path string, o ReadOptions, add func(*Record), info *DirInfo) (OpenFile, os.FileInfo, error) {
	of := OpenFile{Path: path}
	f, err := os.Open(path)
	if err != nil {
		return of, nil, err // os.ErrNotExist: renamed meanwhile
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return of, nil, fmt.Errorf("billing: summarize: %w", err)
	}
	size := st.Size()
	if size == 0 {
		return of, st, nil // just created
	}
	var last [1]byte
	if _, err := f.ReadAt(last[:], size-1); err != nil {
		return of, nil, fmt.Errorf("billing: summarize: %w", err)
	}
	endsNL := last[0] == '\n'
	rd := NewReader(io.LimitReader(f, size), path)
	if err := rd.readHeader(); err != nil {
		if errors.Is(err, ErrMalformed) && rd.cr.InputOffset() >= size {
			of.TornLine, of.TornBytes = 1, size // not even a whole header yet
			return of, st, nil
		}
		return of, nil, err
	}
	good := rd.cr.InputOffset()
	for {
		rec, err := rd.Read()
		torn := false
		switch {
		case err == io.EOF:
			return of, st, nil
		case errors.Is(err, ErrMalformed) && rd.cr.InputOffset() >= size:
			torn = true
		case err != nil:
			if skipBad(rd, err, o, info) {
				good = rd.cr.InputOffset()
				continue
			}
			return of, nil, err
		case rd.cr.InputOffset() >= size && !endsNL:
			torn = true // parsed, but cut short: "12" of "123"
		}
		if torn {
			of.TornLine, of.TornBytes = rd.nextLine, size-good
			return of, st, nil
		}
		good = rd.cr.InputOffset()
		of.Records++
		add(&rec)
	}
}

// FilesZone is the zone the CDR file names in dirs declare: the UTC offset
// of the newest file's name (by period), as a fixed zone named like
// "+08:00", or UTC when that name has no offset or there are no files.
// cmd/billing report uses it when -tz is not given, so a report of files a
// gateway wrote in Asia/Shanghai counts Beijing days and hours.
func FilesZone(dirs []string) (*time.Location, error) {
	var newest fileName
	found := false
	for _, dir := range dirs {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("billing: %w", err)
		}
		for _, e := range ents {
			if fn, ok := parseFileName(e.Name()); ok && (!found || fn.period.After(newest.period)) {
				newest, found = fn, true
			}
		}
	}
	if !found {
		return time.UTC, nil
	}
	_, off := newest.period.Zone()
	if off == 0 {
		return time.UTC, nil
	}
	return time.FixedZone(newest.period.Format("-07:00"), off), nil
}
