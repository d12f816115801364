package smsclink

import (
	"context"
	"errors"

	"github.com/tandem-sms/tandem/smpp"
)

// An operator's stop and start of a link (Kannel's stop-smsc and
// start-smsc): Stop unbinds every bind gracefully (outstanding submits
// are answered first, bounded by ShutdownTimeout) and keeps the slots
// down; Start lets them bind again at once. Submits meanwhile fail as
// with every bind down (WaitReady blocks), so the gateway's messages wait
// in its queue.

// errStopped is the LastError of a bind an operator stopped.
var errStopped = errors.New("stopped by an operator")

// Stop unbinds the link's binds and keeps them down until Start. It
// returns at once; Status shows the binds going to BindStopped.
func (l *Link) Stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return
	}
	l.stopped = true
	close(l.stopCh)
	l.notifyLocked()
	l.log.Info("link stopped by an operator")
}

// Start undoes Stop: the binds connect again.
func (l *Link) Start() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.stopped {
		return
	}
	l.stopped = false
	l.stopCh = make(chan struct{})
	l.notifyLocked()
	l.log.Info("link started by an operator")
}

// Stopped reports whether Stop holds the link down.
func (l *Link) Stopped() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stopped
}

func (l *Link) stopChan() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stopCh
}

// waitStarted blocks while the link is stopped; false once ctx ends.
func (l *Link) waitStarted(ctx context.Context, s *slot) bool {
	l.mu.Lock()
	for l.stopped {
		s.state = BindStopped
		w := l.waitChanLocked()
		l.mu.Unlock()
		select {
		case <-w:
		case <-ctx.Done():
			return false
		}
		l.mu.Lock()
	}
	l.mu.Unlock()
	return ctx.Err() == nil
}

// unbind ends c gracefully, bounded by ShutdownTimeout.
func (l *Link) unbind(s *slot, c *conn) {
	sctx, cancel := context.WithTimeout(context.Background(), l.cfg.ShutdownTimeout)
	defer cancel()
	if err := c.sess.Shutdown(sctx); err != nil {
		s.log.Warn("unbind", smpp.LogKeyErr, err)
	}
}
