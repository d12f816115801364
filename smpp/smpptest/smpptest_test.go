package smpptest_test

import (
	"context"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/smpp"
	"github.com/tandem-sms/tandem/smpp/smpptest"
)

func TestServerAndSMSC(t *testing.T) {
	smsc := &smpptest.SMSC{Users: map[string]string{"sp": "secret"}}
	srv := smpptest.NewServer(smsc)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	s, err := srv.Dial(ctx, smpptest.Config(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Bind(ctx, &smpp.Bind{Mode: smpp.BindTransmitter, SystemID: "sp", Password: "secret"}); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		go func() {
			_, _ = s.SendWait(ctx, &smpp.SubmitSM{DestAddr: smpp.Addr{Addr: "86138"}, ShortMessage: []byte{byte('a' + i)}})
		}()
	}
	if err := smsc.WaitSubmitted(ctx, 5); err != nil {
		t.Fatal(err)
	}
	if got := len(smsc.Submitted()); got != 5 {
		t.Fatalf("submitted %d", got)
	}
	if err := s.Unbind(ctx); err != nil {
		t.Fatal(err)
	}
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}
