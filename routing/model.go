package routing

import (
	"encoding/binary"
	"fmt"
	"strings"
	"unsafe"
)

// Limits of identifiers and keys (protocols.md §1.12–1.13).
const (
	GatewayCodeLen  = 6  // ISMG_Id, e.g. "001001"
	SPIDLen         = 6  // SP_Id, e.g. "901234"
	MinPrefixLen    = 3  // shortest number segment
	MaxPrefixLen    = 11 // longest number segment (one whole MSISDN)
	MSISDNLen       = 11 // mainland mobile number, the key of a ported number
	MaxTerminalLen  = 21 // CMPP Terminal_Id width
	MaxServiceCode  = 21 // CMPP SP_Code width
	MaxRouteID      = 1<<31 - 1
	maxNameLen      = 255 // free-text fields (names, regions, SMSC link names)
	maxAreaCodeLen  = 4   // CMPP Area_code width
	maxAddrLen      = 255
	maxListElements = 1 << 16 // mirrors, partitions, regions, service codes per SP
)

// Gateway is one ISMG of the federation.
type Gateway struct {
	Code     string // 6-digit ISMG_Id, "001001"
	Name     string // "Beijing"
	Region   string // region the gateway serves; SP partitions select on it
	FwdAddr  string // host:port peers dial for CMPP_FWD
	Province string // optional provincial area code, "010"
}

// Segment maps an MSISDN prefix to its home gateway.
type Segment struct {
	Prefix   string // 3–11 digits; the longest matching prefix wins
	Gateway  string // home gateway code
	SMSC     string // optional preferred SMSC link at the home gateway
	AreaCode string // optional CMPP Area_code (province capital's area code)
	UserType uint8  // CMPP User_type (0 GoTone, 1 Shenzhouxing, 2 M-Zone, …)
	// RouteID is the MT Route_Id; the table assigns it when the prefix is first
	// added and keeps it across updates. It is ignored on input.
	RouteID uint32
}

// Ported is one number moved away from the gateway of its segment.
type Ported struct {
	MSISDN  string // exactly 11 digits
	Gateway string
}

// ServiceCode is an SP access number prefix (Src_Id / SP_Code) with its MO Route_Id.
type ServiceCode struct {
	Code    string
	RouteID uint32 // assigned by the table, ignored on input
}

// Partition sends MO traffic asked for from any of Regions to Gateway.
type Partition struct {
	Name    string
	Regions []string
	Gateway string
}

// SP is a service provider. Values returned by a Table share its slices: do not modify them.
type SP struct {
	ID             string // 6-digit SP_Id
	Name           string
	ServiceCodes   []ServiceCode
	Gateway        string   // primary access gateway (SP_AcessType 0)
	Mirrors        []string // mirror access gateways (SP_AcessType 1)
	DefaultGateway string   // MO target when no partition matches; empty means Gateway
	Partitions     []Partition
	// Account, if set, is the SP's login account on every gateway above
	// (account.go); nil leaves the SP's logins to each gateway's own config.
	Account *SPAccount
}

// Contents is a whole table in plain values: what a table file holds, what a
// table push replaces, what Export writes.
type Contents struct {
	Gateways []Gateway
	Segments []Segment
	Ported   []Ported
	SPs      []SP
}

// MTRoute is the answer for a destination number.
type MTRoute struct {
	Gateway Gateway // where the number lives now
	Ported  bool    // Gateway comes from a ported-number entry
	// Segment is the longest matching segment. Its Prefix is a substring of the
	// looked-up number. It is the zero Segment when only a ported entry matched.
	Segment Segment
}

// MORoute is the answer for a service code asked about by a gateway.
type MORoute struct {
	Gateway     Gateway // gateway that delivers to the SP for the asking region
	SP          *SP     // owning SP; shared with the table, do not modify
	ServiceCode string  // the registered code that matched (a prefix of the asked code)
	RouteID     uint32  // MO Route_Id of ServiceCode
	Partition   string  // partition that matched, "" when the default gateway was used
}

// NormalizeMSISDN strips a "+86", "0086" or "86" country prefix from a
// mainland number and checks that the rest is 1–21 digits. The result is a
// substring of s, so it does not allocate.
func NormalizeMSISDN(s string) (string, error) {
	switch {
	case strings.HasPrefix(s, "+"):
		if !strings.HasPrefix(s, "+86") {
			return "", fmt.Errorf("%w: %q is not a +86 number", ErrBadNumber, s)
		}
		s = s[3:]
	case len(s) == MSISDNLen+4 && strings.HasPrefix(s, "0086"):
		s = s[4:]
	case len(s) == MSISDNLen+2 && strings.HasPrefix(s, "86"):
		s = s[2:]
	}
	if len(s) == 0 || len(s) > MaxTerminalLen || !isDigits(s) {
		return "", fmt.Errorf("%w: %q", ErrBadNumber, s)
	}
	return s, nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func checkDigits(s string, minLen, maxLen int) error {
	if !isDigits(s) {
		return fmt.Errorf("%w: %q has a non-digit", ErrBadDigits, s)
	}
	if len(s) < minLen || len(s) > maxLen {
		if minLen == maxLen {
			return fmt.Errorf("%w: %q has %d digits, want %d", ErrBadDigits, s, len(s), minLen)
		}
		return fmt.Errorf("%w: %q has %d digits, want %d to %d", ErrBadDigits, s, len(s), minLen, maxLen)
	}
	return nil
}

func checkText(s string, maxLen int) error {
	if len(s) > maxLen {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrBadValue, len(s), maxLen)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return fmt.Errorf("%w: control character in %q", ErrBadValue, s)
		}
	}
	return nil
}

// parseMSISDN11 returns s as a number if it is exactly 11 digits. It reads
// the digits eight at a time (two overlapping words), which is a good part
// of a cached ResolveMT.
func parseMSISDN11(s string) (uint64, bool) {
	if len(s) != MSISDNLen {
		return 0, false
	}
	p := unsafe.StringData(s)
	lo := binary.LittleEndian.Uint64(unsafe.Slice(p, 8))
	hi := binary.LittleEndian.Uint64(unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(p), MSISDNLen-8)), 8))
	if !digits8(lo) || !digits8(hi) {
		return 0, false
	}
	// hi holds digits 3–10; shift out 3–7 so its top three bytes parse as
	// the last three digits, behind five leading zeros.
	return parse8(lo)*1000 + parse8(hi&^(1<<40-1)|0x3030303030), true
}

// digits8 reports whether all eight bytes of x are ASCII digits: a byte
// below '0' borrows in the subtraction, one above '9' carries into bit 7 in
// the addition.
func digits8(x uint64) bool {
	return ((x-0x3030303030303030)|(x+0x4646464646464646))&0x8080808080808080 == 0
}

// parse8 converts eight ASCII digits, the first in the low byte, by adding
// neighbouring digits, then pairs, then quads in parallel.
func parse8(x uint64) uint64 {
	x -= 0x3030303030303030
	x = x*10 + x>>8
	x = ((x&0x000000FF000000FF)*(100+1000000<<32) + (x>>16&0x000000FF000000FF)*(1+10000<<32)) >> 32
	return x & 0xFFFFFFFF
}

func parseNumber(s string) uint64 {
	var v uint64
	for i := 0; i < len(s); i++ {
		v = v*10 + uint64(s[i]-'0')
	}
	return v
}

func formatMSISDN(v uint64) string {
	var buf [MSISDNLen]byte
	for i := MSISDNLen - 1; i >= 0; i-- {
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	return string(buf[:])
}
