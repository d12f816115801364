package federation

import (
	"errors"
	"fmt"
)

// Health is what a gateway node says about itself in its gossip meta.
type Health uint8

const (
	HealthOK        Health = 0 // takes FWDs
	HealthDraining  Health = 1 // shutting down: finish what is in flight, send nothing new
	HealthUnhealthy Health = 2 // up but not fit to take FWDs (store full, SMSCs down...)
)

func (h Health) String() string {
	switch h {
	case HealthOK:
		return "ok"
	case HealthDraining:
		return "draining"
	case HealthUnhealthy:
		return "unhealthy"
	}
	return fmt.Sprintf("health(%d)", uint8(h))
}

// NodeMeta is what a node gossips about itself besides its name and
// gossip address (memberlist's own): its gateway, region, the FWD address
// peers dial for it, and its health.
type NodeMeta struct {
	Gateway string // 6-digit gateway code
	Region  string // at most MaxRegionLen bytes
	FwdAddr string // host:port, at most MaxFwdAddrLen bytes; empty: takes no FWDs
	Health  Health
	// NodeBits and NodeIndex are the node's share of its gateway's Msg_Id
	// sequence (version 2): the sequence's top NodeBits bits are
	// NodeIndex. Siblings compare them to find a misconfigured gateway
	// (two nodes with one index, or different bits).
	NodeBits, NodeIndex uint8
}

// Limits of the meta encoding. A whole meta is at most MaxMetaLen bytes,
// under memberlist's MetaMaxSize (512).
const (
	MaxRegionLen  = 64
	MaxFwdAddrLen = 255
	MaxMetaLen    = 2 + 6 + 1 + MaxRegionLen + 1 + MaxFwdAddrLen + 2
	metaVersion1  = 1
	metaVersion2  = 2 // adds NodeBits, NodeIndex
)

// ErrBadMeta is wrapped by every DecodeNodeMeta error.
var ErrBadMeta = errors.New("federation: bad node meta")

// AppendNodeMeta appends m's encoding to b: a version byte (2), Health,
// Gateway (6 ASCII digits), then Region and FwdAddr each as a length byte
// and that many bytes, then NodeBits and NodeIndex (version 2). Later
// versions only append fields, so a decoder reads the fields it knows
// from any version >= 1 and ignores the rest.
func AppendNodeMeta(b []byte, m NodeMeta) ([]byte, error) {
	switch {
	case !isGatewayCode(m.Gateway):
		return b, fmt.Errorf("%w: Gateway %q is not a 6-digit gateway code", ErrBadMeta, m.Gateway)
	case len(m.Region) > MaxRegionLen:
		return b, fmt.Errorf("%w: Region is %d bytes, at most %d", ErrBadMeta, len(m.Region), MaxRegionLen)
	case len(m.FwdAddr) > MaxFwdAddrLen:
		return b, fmt.Errorf("%w: FwdAddr is %d bytes, at most %d", ErrBadMeta, len(m.FwdAddr), MaxFwdAddrLen)
	}
	b = append(b, metaVersion2, byte(m.Health))
	b = append(b, m.Gateway...)
	b = append(b, byte(len(m.Region)))
	b = append(b, m.Region...)
	b = append(b, byte(len(m.FwdAddr)))
	b = append(b, m.FwdAddr...)
	return append(b, m.NodeBits, m.NodeIndex), nil
}

// DecodeNodeMeta decodes a meta written by AppendNodeMeta (or a later
// version). Errors name the field.
func DecodeNodeMeta(b []byte) (NodeMeta, error) {
	var m NodeMeta
	short := func(field string) error {
		return fmt.Errorf("%w: ends inside %s (%d bytes)", ErrBadMeta, field, len(b))
	}
	if len(b) < 2 {
		return m, short("the header")
	}
	if b[0] < metaVersion1 {
		return m, fmt.Errorf("%w: version %d", ErrBadMeta, b[0])
	}
	m.Health = Health(b[1])
	rest := b[2:]
	if len(rest) < 6 {
		return m, short("Gateway")
	}
	m.Gateway, rest = string(rest[:6]), rest[6:]
	if !isGatewayCode(m.Gateway) {
		return NodeMeta{}, fmt.Errorf("%w: Gateway %q is not a 6-digit gateway code", ErrBadMeta, m.Gateway)
	}
	var ok bool
	if m.Region, rest, ok = lenPrefixed(rest); !ok {
		return NodeMeta{}, short("Region")
	}
	if m.FwdAddr, rest, ok = lenPrefixed(rest); !ok {
		return NodeMeta{}, short("FwdAddr")
	}
	if b[0] >= metaVersion2 {
		if len(rest) < 2 {
			return NodeMeta{}, short("NodeBits/NodeIndex")
		}
		m.NodeBits, m.NodeIndex = rest[0], rest[1]
	}
	return m, nil
}

// lenPrefixed reads a length byte and that many bytes.
func lenPrefixed(b []byte) (string, []byte, bool) {
	if len(b) < 1 || len(b) < 1+int(b[0]) {
		return "", b, false
	}
	n := int(b[0])
	return string(b[1 : 1+n]), b[1+n:], true
}
