package ismg

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/tandem-sms/tandem/federation"
	"github.com/tandem-sms/tandem/ismg/smsclink"
)

// Kannel's runtime admin: drain the node before maintenance, set the log
// level, stop and start an SMSC link.

// DrainStatus is what a draining node still holds.
type DrainStatus struct {
	Draining   bool
	MT         int // MTs waiting for the SMSC links (mt:<link>)
	Fwd        int // messages waiting for peer gateways (fwd:<gw>) and sibling nodes (sib:<node>/<sp>)
	Out        int // reports and MO waiting for SPs (out:<spid>)
	SPSessions int
}

// Empty reports whether every delivery queue is empty: the node can stop
// without leaving work behind.
func (d DrainStatus) Empty() bool { return d.MT == 0 && d.Fwd == 0 && d.Out == 0 }

// SetDraining turns drain mode on or off. While on, SUBMITs get Result 8
// (reason draining) and, with gossip, peers stop choosing this node; the
// queues keep flowing out. It is not persisted: a restart serves again.
func (n *Node) SetDraining(on bool) DrainStatus {
	if n.adm.draining.Swap(on) != on {
		n.log.Info("drain mode", "on", on)
		if on {
			n.adm.drainGauge.Set(1)
		} else {
			n.adm.drainGauge.Set(0)
		}
		if n.members != nil {
			h := federation.HealthOK
			if on {
				h = federation.HealthDraining
			}
			_ = n.members.SetHealth(h)
		}
	}
	return n.DrainStatus()
}

// DrainStatus counts what the node still has to deliver.
func (n *Node) DrainStatus() DrainStatus {
	d := DrainStatus{Draining: n.adm.draining.Load(), MT: n.mtDepth()}
	n.fwdNames.Range(func(_, v any) bool {
		d.Fwd += n.st.Len(v.(queueRef).queue())
		return true
	})
	for _, q := range n.st.Queues() {
		if strings.HasPrefix(q, qSibPrefix) {
			d.Fwd += n.st.Len(q) // what waits for a sibling node (sibling.go)
		}
	}
	for _, sp := range *n.sps.Load() {
		d.Out += n.st.Len(sp.q.queue())
		sp.mu.Lock()
		d.SPSessions += len(sp.sessions)
		sp.mu.Unlock()
	}
	return d
}

// LogLevel is the node's log level; ok false when it cannot change
// (no WithLogLevel).
func (n *Node) LogLevel() (slog.Level, bool) {
	if n.adm.level == nil {
		return slog.LevelInfo, false
	}
	return n.adm.level.Level(), true
}

// SetLogLevel sets the log level ("debug", "info", "warn", "error").
func (n *Node) SetLogLevel(s string) (slog.Level, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(s)); err != nil {
		return 0, invalidf("log level %q: want debug, info, warn or error", s)
	}
	if n.adm.level == nil {
		return 0, fmt.Errorf("%w: the log level is fixed (the node was built without WithLogLevel)", ErrInvalid)
	}
	n.adm.level.Set(lv)
	n.log.Warn("log level set", "level", strings.ToLower(lv.String()))
	return lv, nil
}

// LinkState is one SMSC link as the admin API shows it.
type LinkState struct {
	Name    string
	Stopped bool
	BindsUp int
	Binds   int
	Queued  int
}

// ErrNoSuchLink is returned for an unknown SMSC link name.
var ErrNoSuchLink = fmt.Errorf("ismg: no such SMSC link")

// Links lists the SMSC links in configuration order.
func (n *Node) Links() []LinkState {
	out := make([]LinkState, 0, len(n.linkOrder))
	for _, name := range n.linkOrder {
		out = append(out, n.linkState(n.links[name]))
	}
	return out
}

func (n *Node) linkState(lr *linkRuntime) LinkState {
	st := lr.link.Status()
	up := 0
	for _, b := range st.Binds {
		if b.State == smsclink.BindBound {
			up++
		}
	}
	return LinkState{Name: lr.cfg.Name, Stopped: lr.link.Stopped(), BindsUp: up, Binds: len(st.Binds), Queued: n.st.Len(lr.q.queue())}
}

// StopLink unbinds an SMSC link and keeps it down until StartLink (not
// persisted: a restart binds every link). Its MTs wait in mt:<link>,
// SUBMITs routed to it are still accepted up to its high_water.
func (n *Node) StopLink(name string, stop bool) (LinkState, error) {
	lr, ok := n.links[name]
	if !ok {
		return LinkState{}, fmt.Errorf("%w: %q", ErrNoSuchLink, name)
	}
	if stop {
		lr.link.Stop()
	} else {
		lr.link.Start()
	}
	return n.linkState(lr), nil
}
