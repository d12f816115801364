package queue

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// On-disk format; see the package documentation.
const (
	recordVersion = 1
	recordHeader  = 1 + 8 // version, due

	queuePrefix = "q:"
	mapPrefix   = "m:"
	metaBucket  = "meta"
	formatKey   = "format"
	formatValue = "tandem-queue-1"

	// maxNameLen keeps bucket names far below bolt's MaxKeySize.
	maxNameLen = 255
	maxKeyLen  = 32768 // bolt.MaxKeySize
)

var errShortRecord = errors.New("short record")

func appendKey(b []byte, id uint64) []byte { return binary.BigEndian.AppendUint64(b, id) }

func appendRecord(b []byte, due int64, value []byte) []byte {
	b = append(b, recordVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(due))
	return append(b, value...)
}

// decodeRecord splits a stored queue record; value aliases rec.
func decodeRecord(rec []byte) (due int64, value []byte, err error) {
	if len(rec) < recordHeader {
		return 0, nil, fmt.Errorf("queue: decode record: %w (%d bytes)", errShortRecord, len(rec))
	}
	if rec[0] != recordVersion {
		return 0, nil, fmt.Errorf("queue: decode record: unknown version %d", rec[0])
	}
	return int64(binary.BigEndian.Uint64(rec[1:9])), rec[recordHeader:], nil
}

func decodeKey(k []byte) (uint64, error) {
	if len(k) != 8 {
		return 0, fmt.Errorf("queue: decode key: length %d, want 8", len(k))
	}
	return binary.BigEndian.Uint64(k), nil
}
