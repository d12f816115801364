package testcerts

import (
	"crypto/tls"
	"io"
	"testing"
)

// A client trusting the CA completes a mutual-TLS handshake with a server
// requiring it; one from another CA is refused.
func TestMutualTLS(t *testing.T) {
	ca, other := NewCA(t, "cluster"), NewCA(t, "other")
	srv, cli, stranger := ca.Issue(t, "server"), ca.Issue(t, "client"), other.Issue(t, "stranger")
	ln, err := tls.Listen("tcp", "127.0.0.1:0", ServerConfig(srv, ca))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if err := c.(*tls.Conn).Handshake(); err == nil {
					c.Write([]byte("ok"))
				}
			}()
		}
	}()
	dial := func(leaf *Leaf) error {
		c, err := tls.Dial("tcp", ln.Addr().String(), ClientConfig(ca, leaf))
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = io.ReadFull(c, make([]byte, 2))
		return err
	}
	if err := dial(&cli); err != nil {
		t.Fatalf("client of the CA: %v", err)
	}
	if err := dial(&stranger); err == nil {
		t.Fatal("a client of another CA was accepted")
	}
	if err := dial(nil); err == nil {
		t.Fatal("a client without a certificate was accepted")
	}
}
