package gns

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/tandem-sms/tandem/routing"
)

// cmdType is the first byte of every Raft command. Values are part of the
// log format: never renumber them.
type cmdType byte

const (
	cmdChanges      cmdType = 1 // a route-change batch
	cmdImportBegin  cmdType = 2 // start staging a whole table; aborts an older import
	cmdImportChunk  cmdType = 3 // add values to the staged table
	cmdImportCommit cmdType = 4 // the staged table becomes current
	cmdImportAbort  cmdType = 5 // drop the staged table
	cmdMember       cmdType = 6 // node id → gRPC address (empty: forget)
	cmdLease        cmdType = 7 // a store lease operation (lease.go)
)

func (t cmdType) String() string {
	switch t {
	case cmdChanges:
		return "changes"
	case cmdImportBegin:
		return "import_begin"
	case cmdImportChunk:
		return "import_chunk"
	case cmdImportCommit:
		return "import_commit"
	case cmdImportAbort:
		return "import_abort"
	case cmdMember:
		return "member"
	case cmdLease:
		return "lease"
	}
	return fmt.Sprintf("cmd(%d)", byte(t))
}

// cmdVersion is the second byte of every command: the payload layout. A
// follower refuses a version it does not know instead of misreading it.
const cmdVersion byte = 1

// maxMemberField bounds a member id or address in a decoded command.
const maxMemberField = 1 << 10

var errBadCommand = errors.New("gns: bad raft command")

// command is a decoded Raft command. Which fields are set depends on typ.
type command struct {
	typ      cmdType
	changes  []routing.Change // cmdChanges
	importID uint64           // cmdImportChunk, cmdImportCommit, cmdImportAbort
	chunk    []byte           // cmdImportChunk: encoded, decoded at commit (see decodeChunk)
	memberID string           // cmdMember
	grpcAddr string           // cmdMember
}

func appendHeader(b []byte, t cmdType) []byte { return append(b, byte(t), cmdVersion) }

func encodeChanges(changes []routing.Change) []byte {
	return routing.EncodeChanges(appendHeader(nil, cmdChanges), changes)
}

func encodeImportBegin() []byte { return appendHeader(nil, cmdImportBegin) }

// encodeImportChunk carries the values as a one-change OpReplace batch, so
// the chunk uses routing's checked encoding. importID is the index of the
// import's begin entry.
func encodeImportChunk(importID uint64, c *routing.Contents) []byte {
	b := binary.AppendUvarint(appendHeader(nil, cmdImportChunk), importID)
	return routing.EncodeChanges(b, []routing.Change{{Op: routing.OpReplace, Replace: c}})
}

// encodeImportChunkRaw frames an already encoded chunk.
func encodeImportChunkRaw(importID uint64, chunk []byte) []byte {
	return append(binary.AppendUvarint(appendHeader(nil, cmdImportChunk), importID), chunk...)
}

func encodeImportEnd(t cmdType, importID uint64) []byte {
	return binary.AppendUvarint(appendHeader(nil, t), importID)
}

func encodeMember(id, grpcAddr string) []byte {
	b := appendHeader(nil, cmdMember)
	b = binary.AppendUvarint(b, uint64(len(id)))
	b = append(b, id...)
	b = binary.AppendUvarint(b, uint64(len(grpcAddr)))
	return append(b, grpcAddr...)
}

// decodeCommand parses a command. An unknown type is reported as
// errUnknownType so that the FSM can panic on it (a newer leader's command
// this node cannot apply must stop it, not be skipped); other problems are
// errBadCommand.
func decodeCommand(b []byte) (command, error) {
	if len(b) < 2 {
		return command{}, fmt.Errorf("%w: %d bytes, need type and version", errBadCommand, len(b))
	}
	c := command{typ: cmdType(b[0])}
	if c.typ < cmdChanges || c.typ > cmdMember {
		return c, fmt.Errorf("%w: %d", errUnknownType, b[0])
	}
	if b[1] != cmdVersion {
		return c, fmt.Errorf("%w: %s version %d, want %d", errBadCommand, c.typ, b[1], cmdVersion)
	}
	p := b[2:]
	var err error
	switch c.typ {
	case cmdChanges:
		c.changes, err = routing.DecodeChanges(p)
		if err == nil {
			for i := range c.changes {
				if c.changes[i].Op == routing.OpReplace {
					err = fmt.Errorf("change %d: replace is only allowed in an import chunk", i)
					break
				}
			}
		}
	case cmdImportBegin:
		if len(p) != 0 {
			err = fmt.Errorf("%d trailing bytes", len(p))
		}
	case cmdImportChunk:
		var n int
		c.importID, n = binary.Uvarint(p)
		if n <= 0 {
			err = errors.New("bad import id")
			break
		}
		// Staged as bytes: a million decoded segments per node would
		// triple the live heap during an import; the commit decodes them.
		c.chunk = p[n:]
	case cmdImportCommit, cmdImportAbort:
		var n int
		c.importID, n = binary.Uvarint(p)
		if n <= 0 || n != len(p) {
			err = errors.New("bad import id")
		}
	case cmdMember:
		var rest []byte
		c.memberID, rest, err = readString(p)
		if err == nil {
			c.grpcAddr, rest, err = readString(rest)
		}
		if err == nil && len(rest) != 0 {
			err = fmt.Errorf("%d trailing bytes", len(rest))
		}
		if err == nil && c.memberID == "" {
			err = errors.New("empty member id")
		}
	}
	if err != nil {
		return c, fmt.Errorf("%w: %s: %w", errBadCommand, c.typ, err)
	}
	return c, nil
}

var errUnknownType = errors.New("gns: unknown raft command type")

// decodeChunk decodes a staged import chunk into c.
func decodeChunk(b []byte, c *routing.Contents) error {
	ch, err := routing.DecodeChanges(b)
	if err != nil {
		return fmt.Errorf("%w: import chunk: %w", errBadCommand, err)
	}
	if len(ch) != 1 || ch[0].Op != routing.OpReplace || ch[0].Replace == nil {
		return fmt.Errorf("%w: import chunk is not one replace change", errBadCommand)
	}
	r := ch[0].Replace
	c.Gateways = append(c.Gateways, r.Gateways...)
	c.SPs = append(c.SPs, r.SPs...)
	c.Segments = append(c.Segments, r.Segments...)
	c.Ported = append(c.Ported, r.Ported...)
	return nil
}

func readString(b []byte) (string, []byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > maxMemberField || n > uint64(len(b)-k) {
		return "", nil, errors.New("bad string length")
	}
	return string(b[k : k+int(n)]), b[k+int(n):], nil
}
