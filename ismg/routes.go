package ismg

import (
	"fmt"

	"github.com/tandem-sms/tandem/federation"
	"github.com/tandem-sms/tandem/routing"
)

// The node's routes come from a static file (routes.file) or from the
// route cache that follows the GNS (routes.gns). Either way a lookup takes
// the current immutable table once per message and never waits: table()
// is one atomic load.

// table returns the current route table.
func (n *Node) table() *routing.Table {
	if n.cache != nil {
		return n.cache.Table()
	}
	return n.routes.Load()
}

// openRoutes loads the static table (t if given, else routes.file), or
// opens the route cache, which starts from the table it persisted in the
// data dir and follows the GNS once Run starts it.
func (n *Node) openRoutes(t *routing.Table, o options) error {
	rc := n.cfg.Routes
	if len(rc.GNS) == 0 || t != nil {
		if t == nil {
			var err error
			if t, err = routing.LoadFile(rc.File); err != nil {
				return fmt.Errorf("ismg: routes.file: %w", err)
			}
		}
		n.routes.Store(t)
		return nil
	}
	cc := federation.DefaultRouteCacheConfig()
	cc.GNS, cc.TLS, cc.TLSCA, cc.TLSCert, cc.TLSKey, cc.Token = rc.GNS, rc.TLS, rc.TLSCA, rc.TLSCert, rc.TLSKey, rc.Token
	if rc.PersistInterval > 0 {
		cc.PersistInterval = rc.PersistInterval
	}
	cc.DataDir = n.cfg.DataDir
	cc.Logger = o.log.With("component", "routecache")
	cc.Registerer = o.reg
	var err error
	if n.cache, err = federation.NewRouteCache(cc); err != nil {
		return fmt.Errorf("ismg: routes.gns: %w", err)
	}
	return nil
}
