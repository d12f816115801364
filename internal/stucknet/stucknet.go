// Package stucknet gives tests a real loopback TCP connection whose peer
// never reads, with small socket buffers, so that writes block after a few
// KiB: the way to drive a session's writer into a full write queue.
package stucknet

import (
	"net"
	"testing"
)

// Dial returns the writing end of a connection to a peer that accepts and
// never reads. Both ends are closed when the test ends.
func Dial(t testing.TB) net.Conn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		c.(*net.TCPConn).SetReadBuffer(4096)
		accepted <- c
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	conn.(*net.TCPConn).SetWriteBuffer(4096)
	peer, ok := <-accepted
	if !ok {
		t.Fatal("stucknet: accept failed")
	}
	t.Cleanup(func() {
		conn.Close()
		peer.Close()
	})
	return conn
}
