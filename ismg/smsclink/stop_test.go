package smsclink

import (
	"testing"

	"github.com/tandem-sms/tandem/internal/waitfor"
)

// TestStopStart: Stop unbinds every bind and holds them down, Start binds
// them again.
func TestStopStart(t *testing.T) {
	smsc := &testSMSC{}
	srv := startSMSC(t, smsc)
	cfg := testConfig(t, srv.Addr)
	cfg.Binds = 2
	l := startLink(t, cfg, nil)
	waitBound(t, l.Link, 2)

	l.Stop()
	waitfor.Cond(t, "every bind stopped", func() bool {
		st := l.Status()
		for _, b := range st.Binds {
			if b.State != BindStopped {
				return false
			}
		}
		return st.Ready == 0 && len(srv.SMPP.Sessions()) == 0
	})
	if !l.Stopped() {
		t.Fatal("Stopped() = false after Stop")
	}
	if got := l.Status().Binds[0].LastError; got != errStopped.Error() {
		t.Fatalf("last error %q, want %q", got, errStopped)
	}
	l.Start()
	waitBound(t, l.Link, 2)
	if l.Stopped() {
		t.Fatal("Stopped() = true after Start")
	}
}
