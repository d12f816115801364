package smpp_test

import (
	"crypto/x509"
	"errors"
	"testing"

	"github.com/tandem-sms/tandem/internal/testcerts"
	"github.com/tandem-sms/tandem/smpp"
	"github.com/tandem-sms/tandem/smpp/smpptest"
)

// SMPP over TLS on real loopback: an ESME binds through smpp.Dialer to an
// SMSC that requires client certificates and submits; the session built
// by hand over Dialer.DialContext (as a caller with its own dial does)
// works the same; a client without a certificate, one trusting another CA
// and a plaintext one do not get in.
func TestTLSBindSubmit(t *testing.T) {
	ca := testcerts.NewCA(t, "smpp-test")
	smscLeaf, esmeLeaf := ca.Issue(t, "smsc"), ca.Issue(t, "esme")
	smsc := &smpptest.SMSC{}
	srv := smpptest.NewUnstartedServer(testConfig(t), smsc)
	srv.StartTLS(testcerts.ServerConfig(smscLeaf, ca))
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("server: %v", err)
		}
	})
	d := smpp.Dialer{TLS: testcerts.ClientConfig(ca, &esmeLeaf)}
	bind := func() *smpp.Bind { return &smpp.Bind{Mode: smpp.BindTransceiver, SystemID: "esme"} }

	s, _, err := d.DialBind(ctxT(t), srv.Addr, testConfig(t), bind(), nil)
	if err != nil {
		t.Fatalf("bind over TLS: %v", err)
	}
	t.Cleanup(func() { _ = s.Close(); <-s.Done() })
	resp, err := s.Submit(ctxT(t), &smpp.SubmitSM{SourceAddr: smpp.Addr{Addr: "10657001"}, DestAddr: smpp.Addr{Addr: "8613800138000"}, ShortMessage: []byte("hello")})
	if err != nil || resp.MessageID != smpptest.MessageID(1) {
		t.Fatalf("submit over TLS: %v, %v", resp, err)
	}

	conn, err := d.DialContext(ctxT(t), "tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := smpp.NewSession(conn, smpp.RoleESME, testConfig(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s2.Close(); <-s2.Done() })
	if _, err := s2.Bind(ctxT(t), bind()); err != nil {
		t.Fatalf("bind over DialContext's connection: %v", err)
	}

	noCert := smpp.Dialer{TLS: testcerts.ClientConfig(ca, nil)}
	if _, _, err := noCert.DialBind(ctxT(t), srv.Addr, testConfig(t), bind(), nil); err == nil {
		t.Error("bind without a client certificate succeeded")
	}
	other := smpp.Dialer{TLS: testcerts.ClientConfig(testcerts.NewCA(t, "other"), &esmeLeaf)}
	var ua x509.UnknownAuthorityError
	if _, _, err := other.DialBind(ctxT(t), srv.Addr, testConfig(t), bind(), nil); !errors.As(err, &ua) {
		t.Errorf("client trusting another CA: %v, want an unknown authority", err)
	}
	if _, _, err := smpp.DialBind(ctxT(t), srv.Addr, testConfig(t), bind(), nil); err == nil {
		t.Error("plaintext bind to a TLS listener succeeded")
	}
}
