package cmpp

import (
	"crypto/md5"
	"crypto/subtle"
	"encoding/binary"
	"strconv"
	"time"
)

// CONNECT_RESP Status values (protocols.md §1.5).
const (
	ConnectOK             uint32 = 0
	ConnectBadStructure   uint32 = 1
	ConnectBadSource      uint32 = 2
	ConnectAuthFailed     uint32 = 3
	ConnectVersionTooHigh uint32 = 4
	ConnectOther          uint32 = 5
)

// Connect is CMPP_CONNECT (27-byte body in every version).
type Connect struct {
	SourceAddr    string   // SP_Id, or the ISMG/GNS code between gateways
	Authenticator [16]byte // AuthenticatorSource
	Version       Version  // the client's version
	Timestamp     uint32   // decimal MMDDHHMMSS
}

func (*Connect) Command() CommandID { return CmdConnect }

func (p *Connect) AppendBody(b []byte, _ Version) []byte {
	b = appendFixed(b, p.SourceAddr, 6)
	b = append(b, p.Authenticator[:]...)
	b = append(b, byte(p.Version))
	return binary.BigEndian.AppendUint32(b, p.Timestamp)
}

// DecodeBody ignores v: CONNECT is what tells the server the version.
func (p *Connect) DecodeBody(body []byte, _ Version) error {
	r := newReader("CONNECT", body)
	p.SourceAddr = r.fixed("Source_Addr", 6)
	copy(p.Authenticator[:], r.raw("AuthenticatorSource", 16))
	p.Version = Version(r.u8("Version"))
	p.Timestamp = r.u32("Timestamp")
	return r.done()
}

// ConnectResp is CMPP_CONNECT_RESP. Status is 1 byte in 2.x, 4 in 3.0.
type ConnectResp struct {
	Status        uint32
	Authenticator [16]byte // AuthenticatorISMG; zero when authentication failed
	Version       Version  // the highest version the server supports
}

func (*ConnectResp) Command() CommandID { return CmdConnectResp }

func (p *ConnectResp) AppendBody(b []byte, v Version) []byte {
	b = appendResult(b, p.Status, v)
	b = append(b, p.Authenticator[:]...)
	return append(b, byte(p.Version))
}

// DecodeBody decides the Status width by the body length (18 or 21) rather
// than by v, because the client only learns the server's version from this
// very PDU.
func (p *ConnectResp) DecodeBody(body []byte, v Version) error {
	if len(body) == 21 {
		v = V30
	} else if len(body) == 18 {
		v = V20
	}
	r := newReader("CONNECT_RESP", body)
	p.Status = r.result("Status", v)
	copy(p.Authenticator[:], r.raw("AuthenticatorISMG", 16))
	p.Version = Version(r.u8("Version"))
	return r.done()
}

// Timestamp returns t as the CONNECT Timestamp: the uint32 whose decimal
// digits are MMDDHHMMSS.
func Timestamp(t time.Time) uint32 {
	_, mo, d := t.Date()
	h, mi, s := t.Clock()
	return uint32(mo)*100000000 + uint32(d)*1000000 + uint32(h)*10000 + uint32(mi)*100 + uint32(s)
}

// AuthSource computes AuthenticatorSource =
// MD5(Source_Addr + 9×0x00 + secret + timestamp as 10 ASCII digits).
func AuthSource(sourceAddr, secret string, ts uint32) [16]byte {
	b := make([]byte, 0, 6+9+len(secret)+10)
	b = append(b, sourceAddr...)
	b = append(b, make([]byte, 9)...)
	b = append(b, secret...)
	b = appendTimestamp10(b, ts)
	return md5.Sum(b)
}

// AuthISMG computes AuthenticatorISMG = MD5(Status + AuthenticatorSource +
// secret), with Status at its wire width for v (1 byte in 2.x, 4 in 3.0), as
// gocmpp does. VerifyISMG also accepts SMSGate's 4-byte form in 2.x.
func AuthISMG(status uint32, authSource [16]byte, secret string, v Version) [16]byte {
	b := make([]byte, 0, 4+16+len(secret))
	b = appendResult(b, status, v)
	b = append(b, authSource[:]...)
	b = append(b, secret...)
	return md5.Sum(b)
}

// VerifySource reports whether c carries the right AuthenticatorSource for
// secret, in constant time.
func (p *Connect) VerifySource(secret string) bool {
	want := AuthSource(p.SourceAddr, secret, p.Timestamp)
	return subtle.ConstantTimeCompare(want[:], p.Authenticator[:]) == 1
}

// VerifyISMG reports whether r authenticates the server for a CONNECT that
// carried authSource. In 2.x both the 1-byte and the 4-byte Status forms are
// accepted (protocols.md §5.2 item 4).
func (p *ConnectResp) VerifyISMG(authSource [16]byte, secret string, v Version) bool {
	want := AuthISMG(p.Status, authSource, secret, v)
	if subtle.ConstantTimeCompare(want[:], p.Authenticator[:]) == 1 {
		return true
	}
	if !v.Is3() {
		alt := AuthISMG(p.Status, authSource, secret, V30)
		return subtle.ConstantTimeCompare(alt[:], p.Authenticator[:]) == 1
	}
	return false
}

func appendTimestamp10(b []byte, ts uint32) []byte {
	var d [10]byte
	s := strconv.AppendUint(d[:0], uint64(ts), 10)
	for i := len(s); i < 10; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}
