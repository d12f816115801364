package federation

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/tandem-sms/tandem/routing"
)

// CacheFileName is the file in the data dir holding the last route table
// the cache persisted, in routing's snapshot format (routing.WriteSnapshot:
// magic, version, revision, the table, a CRC-32C). It holds the SP
// accounts' secrets the GNS sent, in clear, so it is written with mode
// 0600 (readable by the gateway's user only).
const CacheFileName = "routecache.snap"

// cacheTempName is where a new table file is written before it is renamed
// over CacheFileName. Only the cache's persister writes it.
const cacheTempName = CacheFileName + ".tmp"

// loadCacheFile reads the persisted table in dir. A missing file gives a
// nil table and no error. A file that does not read back gives an error
// naming it.
func loadCacheFile(dir string) (*routing.Table, time.Time, error) {
	name := filepath.Join(dir, CacheFileName)
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, time.Time{}, nil
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("open route cache file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("route cache file %s: %w", name, err)
	}
	t, err := routing.ReadSnapshot(bufio.NewReaderSize(f, 1<<16))
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("route cache file %s: %w", name, err)
	}
	return t, st.ModTime(), nil
}

// writeCacheFile replaces the persisted table in dir with t atomically: a
// reader (or a restart after a crash at any point) sees the old file or the
// new one whole. The new file is fsynced before the rename and the
// directory after it, so the rename itself survives a power loss.
func writeCacheFile(dir string, t *routing.Table) (err error) {
	tmp := filepath.Join(dir, cacheTempName)
	// 0600: the table may hold SP account secrets (routing.SPAccount).
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("create route cache file: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<16)
	if err := t.WriteSnapshot(bw); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	name := filepath.Join(dir, CacheFileName)
	if err := os.Rename(tmp, name); err != nil {
		return fmt.Errorf("rename route cache file: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("fsync %s after renaming %s: %w", dir, CacheFileName, err)
	}
	return nil
}

// moveAsideCorrupt renames a persisted file that does not read back to
// CacheFileName+".corrupt" (replacing an older one) for inspection.
func moveAsideCorrupt(dir string) (string, error) {
	from, to := filepath.Join(dir, CacheFileName), filepath.Join(dir, CacheFileName+".corrupt")
	if err := os.Rename(from, to); err != nil {
		return "", fmt.Errorf("move corrupt route cache file aside: %w", err)
	}
	return to, syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// persistLoop writes the current table to the data dir whenever it changed,
// at most once per PersistInterval, until stop is closed; then it writes
// the last table once more if it is newer than the file. A failed write is
// counted, logged and tried again after an interval.
func (c *RouteCache) persistLoop(stop <-chan struct{}) {
	var wait *time.Timer
	defer func() {
		if wait != nil {
			wait.Stop()
		}
	}()
	for {
		select {
		case <-c.persistKick:
		case <-stop:
			c.persistNow()
			return
		}
		if !c.persistNow() {
			// Retry after an interval even if nothing changes meanwhile.
			select {
			case c.persistKick <- struct{}{}:
			default:
			}
		}
		// Coalesce: nothing more is written for an interval; the changes
		// that arrive meanwhile have kicked again and are written at once
		// when it ends.
		if wait == nil {
			wait = time.NewTimer(c.cfg.PersistInterval)
		} else {
			wait.Reset(c.cfg.PersistInterval)
		}
		select {
		case <-wait.C:
		case <-stop:
			c.persistNow()
			return
		}
	}
}

// persistNow writes the current table if its revision is not the one on
// disk. It reports false when a write failed.
func (c *RouteCache) persistNow() bool {
	t := c.Table()
	if t.Revision() == 0 || t.Revision() == c.persistedRev {
		return true
	}
	if err := writeCacheFile(c.cfg.DataDir, t); err != nil {
		c.metrics.PersistErrors.Inc()
		c.log.Error("route cache: persist table failed; will retry", keyRevision, t.Revision(), keyErr, err)
		return false
	}
	c.persistedRev = t.Revision()
	c.metrics.PersistedRevision.Set(float64(t.Revision()))
	return true
}
