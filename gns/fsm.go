package gns

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"

	"github.com/tandem-sms/tandem/gns/gnspb"
	"github.com/tandem-sms/tandem/routing"
)

// ErrImportAborted is returned for an import chunk or commit whose import is
// no longer staged: a newer import began, it was aborted, or it never began.
var ErrImportAborted = errors.New("gns: table import aborted")

// snapVersion is the first byte of a persisted FSM snapshot. Version 2
// adds the store leases after the table (lease.go); version 1 is still
// read (no leases).
const snapVersion byte = 2

// staging is a table import in progress: its chunks as encoded, decoded
// only at commit. chunks only grows, so a snapshot can share it by capping
// its capacity; the chunks themselves are never modified.
type staging struct {
	id     uint64 // Raft index of the begin entry
	chunks [][]byte
}

// fsm is the GNS state machine. Apply, Snapshot and Restore run on raft's FSM
// goroutine, one at a time, so staged needs no lock; everything read by
// other goroutines is published atomically (table, members) or under mu.
type fsm struct {
	log   *slog.Logger
	hub   *hub
	table atomic.Pointer[routing.Table]
	// digest is the content digest of table (see digest.go), published
	// just after it, so it may briefly trail table by one revision.
	digest atomic.Pointer[tableDigest]
	// members maps node id → gRPC address; the map is replaced, never
	// modified, so readers load it without a lock.
	members atomic.Pointer[map[string]string]
	staged  *staging
	onApply func(cmdType) // metrics; may be nil
	// leases are the store leases (lease.go), replaced, never modified.
	leases atomic.Pointer[leaseTable]

	mu        sync.Mutex // guards applied and appliedCh
	applied   uint64     // Raft index of the last entry this FSM applied
	appliedCh chan struct{}
}

func newFSM(log *slog.Logger, h *hub) *fsm {
	f := &fsm{log: log, hub: h, appliedCh: make(chan struct{})}
	t := routing.Empty()
	f.table.Store(t)
	f.digest.Store(wholeTableDigest(t))
	f.members.Store(&map[string]string{})
	f.leases.Store(emptyLeases)
	h.reset(t)
	return f
}

// Apply applies one committed command. The response is the new
// *routing.Table for a change batch or an import commit, nil for the other
// commands, or an error when the command was rejected (deterministically, on
// every node).
func (f *fsm) Apply(l *raft.Log) any {
	if len(l.Data) > 0 && cmdType(l.Data[0]) == cmdLease {
		defer f.setApplied(l.Index)
		if f.onApply != nil {
			f.onApply(cmdLease)
		}
		return f.applyLease(l.Data, l.Index)
	}
	c, err := decodeCommand(l.Data)
	if errors.Is(err, errUnknownType) {
		// A command from a newer version: skipping it would make this node
		// diverge from the ones that apply it.
		panic(fmt.Sprintf("gns: unknown command %d at index %d", l.Data[0], l.Index))
	}
	defer f.setApplied(l.Index)
	if f.onApply != nil {
		f.onApply(c.typ)
	}
	if err != nil {
		return err
	}
	switch c.typ {
	case cmdChanges:
		old := f.table.Load()
		// An account written without its secret keeps the SP's current one
		// (a limits-only "sp set", a table exported without secrets).
		if err := routing.KeepSecrets(old, c.changes); err != nil {
			return err
		}
		t, err := old.Apply(l.Index, c.changes)
		if err != nil {
			return err
		}
		f.table.Store(t)
		f.digest.Store(f.digest.Load().next(old, t, c.changes))
		f.hub.publish(event{rev: l.Index, changes: gnspb.NewChanges(c.changes, t)}, t)
		return t
	case cmdImportBegin:
		if f.staged != nil {
			f.log.Info("table import superseded", "import", f.staged.id, "by", l.Index)
		}
		f.staged = &staging{id: l.Index}
		return nil
	case cmdImportChunk:
		if f.staged == nil || f.staged.id != c.importID {
			return fmt.Errorf("%w: chunk of import %d", ErrImportAborted, c.importID)
		}
		// l.Data belongs to raft; keep a copy.
		f.staged.chunks = append(f.staged.chunks, slices.Clone(c.chunk))
		return nil
	case cmdImportCommit:
		if f.staged == nil || f.staged.id != c.importID {
			return fmt.Errorf("%w: commit of import %d", ErrImportAborted, c.importID)
		}
		staged := f.staged
		f.staged = nil
		var all routing.Contents
		for _, ch := range staged.chunks {
			if err := decodeChunk(ch, &all); err != nil {
				return err
			}
		}
		if err := routing.KeepSecrets(f.table.Load(), []routing.Change{{Op: routing.OpReplace, Replace: &all}}); err != nil {
			return err
		}
		b := f.table.Load().Builder()
		if err := b.Replace(&all); err != nil {
			return err
		}
		t := b.Table(l.Index)
		f.table.Store(t)
		f.digest.Store(wholeTableDigest(t))
		f.hub.reset(t)
		return t
	case cmdImportAbort:
		if f.staged != nil && f.staged.id == c.importID {
			f.staged = nil
		}
		return nil
	case cmdMember:
		m := maps.Clone(*f.members.Load())
		if c.grpcAddr == "" {
			delete(m, c.memberID)
		} else {
			m[c.memberID] = c.grpcAddr
		}
		f.members.Store(&m)
		return nil
	}
	return nil // unreachable: decodeCommand knows only the types above
}

func (f *fsm) setApplied(idx uint64) {
	f.mu.Lock()
	f.applied = idx
	close(f.appliedCh)
	f.appliedCh = make(chan struct{})
	f.mu.Unlock()
}

// appliedIndex returns the index of the last entry this FSM applied.
func (f *fsm) appliedIndex() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applied
}

// waitApplied blocks until the FSM has applied idx, or ctx ends.
func (f *fsm) waitApplied(ctx context.Context, idx uint64) error {
	for {
		f.mu.Lock()
		done, ch := f.applied >= idx, f.appliedCh
		f.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("gns: wait for index %d: %w", idx, ctx.Err())
		}
	}
}

func (f *fsm) member(id string) string { return (*f.members.Load())[id] }

// Snapshot hands Persist immutable views: the table is immutable and the
// staged slices are capped so later appends cannot reach them.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	s := &fsmSnap{
		applied: f.appliedIndex(),
		table:   f.table.Load(),
		members: *f.members.Load(),
		leases:  f.leases.Load(),
	}
	if st := f.staged; st != nil {
		s.stagedID = st.id
		s.staged = st.chunks[:len(st.chunks):len(st.chunks)]
	}
	return s, nil
}

type fsmSnap struct {
	applied  uint64
	table    *routing.Table
	members  map[string]string
	stagedID uint64
	staged   [][]byte // encoded chunks
	leases   *leaseTable
}

// Persist writes: version, applied index, members, the staged import (its
// id, 0 for none, then the count of its chunks and each length-prefixed),
// then the store leases (version 2, lease.go), then the table in routing's
// snapshot format. The staged import is part of the
// state: a node restoring mid-import must still be able to commit it.
func (s *fsmSnap) Persist(sink raft.SnapshotSink) error {
	err := s.write(sink)
	if err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("gns: persist snapshot: %w", err)
	}
	return sink.Close()
}

func (s *fsmSnap) write(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	b := []byte{snapVersion}
	b = binary.AppendUvarint(b, s.applied)
	b = binary.AppendUvarint(b, uint64(len(s.members)))
	for _, id := range slices.Sorted(maps.Keys(s.members)) {
		b = binary.AppendUvarint(b, uint64(len(id)))
		b = append(b, id...)
		b = binary.AppendUvarint(b, uint64(len(s.members[id])))
		b = append(b, s.members[id]...)
	}
	b = binary.AppendUvarint(b, s.stagedID)
	if s.stagedID != 0 {
		b = binary.AppendUvarint(b, uint64(len(s.staged)))
		for _, ch := range s.staged {
			b = binary.AppendUvarint(b, uint64(len(ch)))
			b = append(b, ch...)
		}
	}
	if _, err := bw.Write(b); err != nil {
		return err
	}
	// The leases go before the table: routing's reader buffers ahead, so
	// nothing can follow the table.
	if err := writeLeases(bw, s.leases); err != nil {
		return err
	}
	if err := s.table.WriteSnapshot(bw); err != nil {
		return err
	}
	return bw.Flush()
}

func (s *fsmSnap) Release() {}

// Restore replaces the state with a snapshot; watchers are told to reset.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	s, err := readFSMSnap(bufio.NewReaderSize(rc, 1<<16))
	if err != nil {
		return fmt.Errorf("gns: restore snapshot: %w", err)
	}
	f.members.Store(&s.members)
	f.leases.Store(s.leases)
	f.staged = nil
	if s.stagedID != 0 {
		f.staged = &staging{id: s.stagedID, chunks: s.staged}
	}
	f.table.Store(s.table)
	f.digest.Store(wholeTableDigest(s.table))
	f.hub.reset(s.table)
	f.setApplied(s.applied)
	return nil
}

func readFSMSnap(br *bufio.Reader) (*fsmSnap, error) {
	v, err := br.ReadByte()
	if err != nil {
		return nil, err
	}
	if v != snapVersion && v != 1 {
		return nil, fmt.Errorf("%w: snapshot version %d, want %d", errBadCommand, v, snapVersion)
	}
	s := &fsmSnap{members: map[string]string{}, leases: emptyLeases}
	if s.applied, err = binary.ReadUvarint(br); err != nil {
		return nil, err
	}
	n, err := binary.ReadUvarint(br)
	if err != nil {
		return nil, err
	}
	if n > 1<<16 {
		return nil, fmt.Errorf("%w: %d members", errBadCommand, n)
	}
	for range n {
		id, err := readSnapBytes(br, maxMemberField)
		if err != nil {
			return nil, err
		}
		addr, err := readSnapBytes(br, maxMemberField)
		if err != nil {
			return nil, err
		}
		s.members[string(id)] = string(addr)
	}
	if s.stagedID, err = binary.ReadUvarint(br); err != nil {
		return nil, err
	}
	if s.stagedID != 0 {
		k, err := binary.ReadUvarint(br)
		if err != nil {
			return nil, err
		}
		if k > 1<<24 {
			return nil, fmt.Errorf("%w: %d staged chunks", errBadCommand, k)
		}
		for range k {
			ch, err := readSnapBytes(br, 1<<30)
			if err != nil {
				return nil, err
			}
			s.staged = append(s.staged, ch)
		}
	}
	if v >= 2 {
		if s.leases, err = readLeases(br); err != nil {
			return nil, err
		}
	}
	if s.table, err = routing.ReadSnapshot(br); err != nil {
		return nil, err
	}
	return s, nil
}

// readSnapBytes reads a length-prefixed byte string, growing the buffer as
// bytes arrive so a lying length cannot allocate more than the input holds.
func readSnapBytes(br *bufio.Reader, max uint64) ([]byte, error) {
	n, err := binary.ReadUvarint(br)
	if err != nil {
		return nil, err
	}
	if n > max {
		return nil, fmt.Errorf("%w: string of %d bytes", errBadCommand, n)
	}
	var sb []byte
	for uint64(len(sb)) < n {
		chunk := min(n-uint64(len(sb)), 1<<20)
		start := len(sb)
		sb = append(sb, make([]byte, chunk)...)
		if _, err := io.ReadFull(br, sb[start:]); err != nil {
			return nil, err
		}
	}
	return sb, nil
}
