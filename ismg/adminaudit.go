package ismg

import (
	"bufio"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// The audit log: one JSON object per line for every admin call that
// changes something (and every refused one), appended and fsynced to
// admin.audit_log (default <data_dir>/admin-audit.jsonl) and logged
// through slog ("admin audit"). Read calls are not recorded.

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	Time   time.Time `json:"time"`
	Who    string    `json:"who"`  // the token's name, or the client certificate's CN
	Peer   string    `json:"peer"` // the client's address
	Action string    `json:"action"`
	Target string    `json:"target,omitempty"`
	Detail string    `json:"detail,omitempty"`
	Result string    `json:"result"` // "ok" or the error
}

type auditLog struct {
	path string
	log  *slog.Logger
	mu   sync.Mutex
	f    *os.File
}

func openAuditLog(path string, log *slog.Logger) (*auditLog, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("ismg: admin audit log: %w", err)
	}
	return &auditLog{path: path, log: log, f: f}, nil
}

// record appends e and logs it. A write failure is logged, not returned:
// the change it records is already made.
func (a *auditLog) record(e AuditEntry) {
	e.Time = e.Time.UTC()
	a.log.Info("admin audit", "who", e.Who, LogKeyPeer, e.Peer, "action", e.Action, "target", e.Target,
		"detail", e.Detail, "result", e.Result)
	b, _ := json.Marshal(e)
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := a.f.Write(append(b, '\n')); err == nil {
		err = a.f.Sync()
		if err != nil {
			a.log.Error("admin audit log: fsync", LogKeyErr, err)
		}
	} else {
		a.log.Error("admin audit log: write", LogKeyErr, err)
	}
}

// tail returns the last n entries (lines that do not parse are skipped).
func (a *auditLog) tail(n int) ([]AuditEntry, error) {
	f, err := os.Open(a.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []AuditEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e AuditEntry
		if json.Unmarshal(sc.Bytes(), &e) == nil {
			out = append(out, e)
		}
		if len(out) > 2*n {
			out = append(out[:0], out[len(out)-n:]...)
		}
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out, sc.Err()
}

func (a *auditLog) close() error {
	if a == nil {
		return nil
	}
	return a.f.Close()
}
