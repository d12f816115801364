// Package pipenet is an in-memory network for tests that run a whole node
// inside a testing/synctest bubble: a Listener whose connections are
// net.Pipe pairs. Goroutines blocked on a pipe are durably blocked, so the
// bubble's fake clock can jump over a TTL of hours while the node's
// sessions, timers and stores behave as over TCP.
package pipenet

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
)

// Listener accepts the connections Dial makes.
type Listener struct {
	name  string
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

// Listen returns a listener named name (its Addr).
func Listen(name string) *Listener {
	return &Listener{name: name, conns: make(chan net.Conn), done: make(chan struct{})}
}

// Accept waits for the next Dial.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops Accept; connections already made stay open.
func (l *Listener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr names the listener.
func (l *Listener) Addr() net.Addr { return addr(l.name) }

// Dial connects to the listener (network and address are ignored), with
// the signature of net.Dialer.DialContext. Both ends report loopback TCP
// addresses (127.0.0.1, a port per connection), so the code under test
// sees a peer IP as it would over TCP (allow lists, per-IP limits).
func (l *Listener) Dial(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	port := int(nextPort.Add(1))
	local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
	select {
	case l.conns <- conn{server, remote, local}:
		return conn{client, local, remote}, nil
	case <-l.done:
		return nil, errors.New("pipenet: connection refused: listener closed")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// nextPort numbers the connections' client ends (from 40001).
var nextPort = func() *atomic.Int32 { var p atomic.Int32; p.Store(40000); return &p }()

// conn is one end of a pipe with TCP-looking addresses.
type conn struct {
	net.Conn
	local, remote net.Addr
}

func (c conn) LocalAddr() net.Addr  { return c.local }
func (c conn) RemoteAddr() net.Addr { return c.remote }

type addr string

func (a addr) Network() string { return "pipe" }
func (a addr) String() string  { return string(a) }
