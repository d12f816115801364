// Package rafttest attacks a Raft node from outside, for tests: an Intruder
// is a peer that is not a member of the cluster and sends hand-built
// hashicorp/raft RPCs to a node's Raft port, over plain TCP or over TLS
// with whatever certificate the test gives it. Tests use it to show that a
// node refuses what it must refuse (raftstore.Config.TLS) and to reproduce
// the divergence an accepted forgery causes.
package rafttest

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// Intruder sends raft RPCs as a peer that no member knows.
type Intruder struct {
	trans *raft.NetworkTransport
	id    string
}

// NewIntruder returns an intruder that dials in plain TCP when tc is nil,
// else over TLS with tc (set Certificates or GetClientCertificate to
// present a certificate, InsecureSkipVerify to trust any server). timeout
// bounds each RPC.
func NewIntruder(tc *tls.Config, timeout time.Duration) (*Intruder, error) {
	if tc == nil {
		t, err := raft.NewTCPTransport("127.0.0.1:0", nil, 1, timeout, io.Discard)
		if err != nil {
			return nil, fmt.Errorf("rafttest: plaintext transport: %w", err)
		}
		return &Intruder{trans: t, id: "intruder"}, nil
	}
	s := &dialOnly{tc: tc, closed: make(chan struct{})}
	t := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: s, MaxPool: 1, Timeout: timeout, Logger: hclog.NewNullLogger(),
	})
	return &Intruder{trans: t, id: "intruder"}, nil
}

// Close releases the intruder's connections.
func (i *Intruder) Close() error { return i.trans.Close() }

func (i *Intruder) header() raft.RPCHeader {
	return raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte(i.id), Addr: []byte(i.trans.LocalAddr())}
}

// Probe learns target's current term and last log index without changing
// anything there: an AppendEntries at term 0 is refused by every node, and
// the refusal carries both figures.
func (i *Intruder) Probe(target string) (term, lastIndex uint64, err error) {
	var resp raft.AppendEntriesResponse
	req := raft.AppendEntriesRequest{RPCHeader: i.header(), Term: 0}
	if err := i.trans.AppendEntries(raft.ServerID("target"), raft.ServerAddress(target), &req, &resp); err != nil {
		return 0, 0, fmt.Errorf("rafttest: probe %s: %w", target, err)
	}
	return resp.Term, resp.LastLog, nil
}

// A refused RPC fails with the transport's own error (a reset, EOF or TLS
// alert); tests check for a non-nil error and then that nothing changed.

// Forge claims leadership of term and appends one command entry carrying
// data right after (prevIndex, prevTerm) in target's log, committing it at
// once so target's FSM applies it. It returns target's answer.
func (i *Intruder) Forge(target string, term, prevIndex, prevTerm uint64, data []byte) (*raft.AppendEntriesResponse, error) {
	req := raft.AppendEntriesRequest{
		RPCHeader:         i.header(),
		Term:              term,
		PrevLogEntry:      prevIndex,
		PrevLogTerm:       prevTerm,
		Entries:           []*raft.Log{{Index: prevIndex + 1, Term: term, Type: raft.LogCommand, Data: data}},
		LeaderCommitIndex: prevIndex + 1,
	}
	var resp raft.AppendEntriesResponse
	if err := i.trans.AppendEntries(raft.ServerID("target"), raft.ServerAddress(target), &req, &resp); err != nil {
		return nil, fmt.Errorf("rafttest: forge on %s: %w", target, err)
	}
	return &resp, nil
}

// ForgeNext probes target and forges data as its next entry, at its
// current term plus termDelta, with the last entry's term taken to be the
// current term (true on a cluster whose leader has written in its term:
// every new leader does, at once). This is the whole attack.
func (i *Intruder) ForgeNext(target string, termDelta uint64, data []byte) (*raft.AppendEntriesResponse, error) {
	term, last, err := i.Probe(target)
	if err != nil {
		return nil, err
	}
	return i.Forge(target, term+termDelta, last, term, data)
}

// dialOnly is a StreamLayer that only dials, over TLS; its Accept blocks
// until Close, as the intruder never serves.
type dialOnly struct {
	tc        *tls.Config
	closeOnce sync.Once
	closed    chan struct{}
}

func (d *dialOnly) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return tls.DialWithDialer(&net.Dialer{Timeout: timeout}, "tcp", string(address), d.tc)
}

func (d *dialOnly) Accept() (net.Conn, error) {
	<-d.closed
	return nil, net.ErrClosed
}

func (d *dialOnly) Close() error {
	d.closeOnce.Do(func() { close(d.closed) })
	return nil
}

func (d *dialOnly) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
