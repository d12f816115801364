package record

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
)

// KeyMarker starts a client key in a message text.
const KeyMarker = "TK:"

// runIDLen is the length of a run id: 8 lower-case hex digits.
const runIDLen = 8

// NewRunID returns a fresh random run id (8 lower-case hex digits), so
// that the keys of two runs, of two SPs or of a run restarted after a
// crash, never meet.
func NewRunID() string {
	var b [runIDLen / 2]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// ValidRunID reports whether id is a run id: 8 lower-case hex digits.
func ValidRunID(id string) bool {
	if len(id) != runIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if !isHex(id[i]) {
			return false
		}
	}
	return true
}

// Key is the client key of message msg of run, segment seg of total (a
// message of one segment has no segment suffix).
func Key(run string, msg uint64, seg, total uint8) string {
	b := make([]byte, 0, runIDLen+1+20+4)
	b = append(b, run...)
	b = append(b, '-')
	b = strconv.AppendUint(b, msg, 10)
	if total > 1 {
		b = append(b, '.')
		b = strconv.AppendUint(b, uint64(seg), 10)
	}
	return string(b)
}

// Prefix is what a message text starts with to carry key: KeyMarker, the
// key and a space.
func Prefix(key string) string { return KeyMarker + key + " " }

// MaxPrefixLen is the longest Prefix of a run's key for message msg
// (any segment), in characters: what a segment must keep free for it.
func MaxPrefixLen(msg uint64) int {
	return len(Prefix(Key(strings.Repeat("0", runIDLen), msg, 255, 255)))
}

// FindKey returns the first client key in text (decoded message text), or
// "" when it holds none.
func FindKey(text string) string {
	for i := 0; ; {
		j := strings.Index(text[i:], KeyMarker)
		if j < 0 {
			return ""
		}
		i += j + len(KeyMarker)
		if n := keyLen(text[i:]); n > 0 {
			return text[i : i+n]
		}
	}
}

// keyLen is the length of the key s starts with, or 0: run id, '-',
// digits, and optionally '.' and digits.
func keyLen(s string) int {
	if len(s) < runIDLen+2 || !ValidRunID(s[:runIDLen]) || s[runIDLen] != '-' {
		return 0
	}
	n := runIDLen + 1
	d := digits(s[n:])
	if d == 0 {
		return 0
	}
	n += d
	if n < len(s) && s[n] == '.' {
		if d := digits(s[n+1:]); d > 0 {
			n += 1 + d
		}
	}
	return n
}

func digits(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' }
